package upload

import (
	"os"
	"path/filepath"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// syncDir fsyncs dir, making a removal in it durable.
func syncDir(dir string) error { return atomicfile.SyncDir(atomicfile.OS, dir) }

// removeStaleTemps deletes temporary files a crash left in dir.
func removeStaleTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
