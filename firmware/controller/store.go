package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// FileStore keeps the controller's State as JSON in one file, replaced
// durably on every save (hal/atomicfile: temporary file, fsync, rename,
// fsync of the directory), so that after a power cut the file holds the
// last saved state or the one before, never a torn one and never a rename
// the directory forgot.
type FileStore struct {
	Path string
	// FS is the file system writes go through; nil is atomicfile.OS.
	FS atomicfile.FS
}

// Load reads the state; a missing file is the empty state. A corrupt file
// must not stop the box: it is kept aside as Path+".bad" and the empty
// state returned.
func (s *FileStore) Load() (State, error) {
	st := NewState()
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("controller state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		_ = os.Rename(s.Path, s.Path+".bad")
		return NewState(), nil
	}
	if st.Running == nil {
		st.Running = map[string]Rec{}
	}
	if st.Stopped == nil {
		st.Stopped = map[string]bool{}
	}
	if st.Parts == nil {
		st.Parts = map[string]int{}
	}
	if st.Lecture == nil {
		st.Lecture = map[string][]string{}
	}
	return st, nil
}

// Save replaces the file with st.
func (s *FileStore) Save(st State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("controller state: %w", err)
	}
	fsys := s.FS
	if fsys == nil {
		fsys = atomicfile.OS
	}
	return atomicfile.Write(fsys, s.Path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
