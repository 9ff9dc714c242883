package vmlab

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// newcWriter writes a cpio archive in the "new ASCII" (newc) format, the one
// the Linux kernel unpacks as an initramfs.
type newcWriter struct {
	w   io.Writer
	ino uint32
	n   int64
	err error
}

func (c *newcWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	m, err := c.w.Write(p)
	c.n += int64(m)
	c.err = err
}

func (c *newcWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one member. mode carries the file type bits (S_IFREG...).
func (c *newcWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	c.ino++
	nlink := uint32(1)
	if mode&sIFMT == sIFDIR {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
	c.write(data)
	c.pad()
}

func (c *newcWriter) close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
	sIFCHR = 0o020000
)

// tree is the content of an initramfs before it is written: directories
// are implied by the files in them.
type tree struct {
	files map[string]treeFile
}

type treeFile struct {
	mode   uint32
	data   []byte
	source string // host file read at write time, when data is nil
	major  uint32
	minor  uint32
}

func newTree() *tree { return &tree{files: map[string]treeFile{}} }

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

func (t *tree) add(p string, f treeFile) { t.files[clean(p)] = f }

func (t *tree) dir(p string) { t.add(p, treeFile{mode: sIFDIR | 0o755}) }

// write emits the archive: every parent directory before its children.
func (t *tree) write(w io.Writer) error {
	all := map[string]treeFile{}
	for p, f := range t.files {
		all[p] = f
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				if _, ok := t.files[d]; !ok {
					all[d] = treeFile{mode: sIFDIR | 0o755}
				}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names) // a parent sorts before its children
	c := &newcWriter{w: w}
	for _, p := range names {
		f := all[p]
		data := f.data
		if data == nil && f.source != "" {
			b, err := os.ReadFile(f.source)
			if err != nil {
				return fmt.Errorf("vmlab: initramfs member %s: %w", p, err)
			}
			data = b
		}
		c.entry(p, f.mode, f.major, f.minor, data)
	}
	return c.close()
}
