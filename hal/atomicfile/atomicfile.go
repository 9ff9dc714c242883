// Package atomicfile is the one durable-write helper of the box: a file is
// replaced by writing a temporary file in the same directory, fsyncing it,
// renaming it over the old name and fsyncing the directory, so that after a
// power cut at any instant the name holds either the old content or the new
// content, completely.
//
// It is a leaf (standard library only) that every package may import under
// the fences of design.md §3 (firmware/fences_test.go allows it by name).
//
// github.com/google/renameio/v2 (v2.0.2) was considered and is not used:
// its PendingFile.CloseAtomicallyReplace fsyncs the file and renames it but
// never fsyncs the directory, so the rename itself may be lost on a power
// cut (tempfile.go, CloseAtomicallyReplace). The file system is injected
// through the small FS interface so that tests can prove the order of the
// steps.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is the temporary file a write goes into.
type File interface {
	io.Writer
	// Name is the full path of the temporary file.
	Name() string
	Chmod(mode fs.FileMode) error
	Sync() error
	Close() error
}

// FS is the part of a file system a durable write needs.
type FS interface {
	// CreateTemp creates a new file in dir as os.CreateTemp does.
	CreateTemp(dir, pattern string) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// SyncDir fsyncs the directory dir, making renames in it durable.
	SyncDir(dir string) error
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// TempSuffix ends the name of every temporary file; a crash between create
// and rename can leave one behind, and IsTemp tells readers to skip it.
const TempSuffix = ".tmp"

// IsTemp reports whether name (a base name) is a temporary file of this
// package.
func IsTemp(name string) bool {
	return len(name) > len(TempSuffix) && name[0] == '.' && name[len(name)-len(TempSuffix):] == TempSuffix
}

// WriteFile durably replaces path with data, with permissions perm.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(OS, path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write durably replaces path with what write writes, with permissions
// perm, through fsys: temporary file in the same directory, write, fsync the
// file, close, rename over path, fsync the directory. On any error before
// the rename, path is untouched and the temporary file is removed. write
// gets a buffered writer; it must not keep it.
//
// On a file system without Unix permissions (the FAT boot partition) the
// chmod is refused and the mount options decide the mode; on one that
// cannot fsync a directory (FAT returns EINVAL) the directory sync is
// skipped. Every other error is returned, wrapped with path.
func Write(fsys FS, path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	dir = filepath.Clean(dir)
	f, err := fsys.CreateTemp(dir, "."+base+".*"+TempSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = fsys.Remove(tmp)
		}
	}()
	if cerr := f.Chmod(perm); cerr != nil && !chmodUnsupported(cerr) {
		return fmt.Errorf("write %s: chmod: %w", path, cerr)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	closed = true
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err = fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	if err := syncDir(fsys, dir); err != nil {
		// The new content is in place; only its durability is in doubt.
		return fmt.Errorf("write %s: fsync directory: %w", path, err)
	}
	return nil
}

// Rename renames oldpath to newpath and fsyncs the directory of newpath
// (and of oldpath when it differs), so the rename survives a power cut.
// The caller has already fsynced the file itself.
func Rename(fsys FS, oldpath, newpath string) error {
	if err := fsys.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(oldpath), err)
	}
	nd, od := filepath.Dir(newpath), filepath.Dir(oldpath)
	if err := syncDir(fsys, nd); err != nil {
		return fmt.Errorf("rename %s: fsync directory: %w", filepath.Base(oldpath), err)
	}
	if od != nd {
		if err := syncDir(fsys, od); err != nil {
			return fmt.Errorf("rename %s: fsync directory: %w", filepath.Base(oldpath), err)
		}
	}
	return nil
}

// SyncDir fsyncs dir on fsys, making creations, renames and removals in it
// durable. A file system that cannot fsync a directory is not an error.
func SyncDir(fsys FS, dir string) error {
	if err := syncDir(fsys, dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

func syncDir(fsys FS, dir string) error {
	err := fsys.SyncDir(dir)
	if err != nil && errors.Is(err, syscall.EINVAL) {
		return nil // FAT and some FUSE file systems cannot fsync a directory
	}
	return err
}

// chmodUnsupported reports a chmod refused because the file system keeps no
// Unix permissions: the temporary file was just created by this process, so
// EPERM cannot mean "not the owner".
func chmodUnsupported(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, errors.ErrUnsupported)
}
