package atomicfile_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// logFS wraps the real file system and logs every step, so the tests can
// prove the order: the file is fsynced before the rename and the directory
// after it.
type logFS struct {
	calls  []string
	failOn string // a step that returns boom
}

var boom = errors.New("boom")

func (l *logFS) step(s string) error {
	l.calls = append(l.calls, s)
	if s == l.failOn {
		return boom
	}
	return nil
}

type logFile struct {
	*os.File
	l *logFS
}

func (f logFile) Write(p []byte) (int, error) {
	if err := f.l.step("write"); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f logFile) Chmod(m fs.FileMode) error {
	if err := f.l.step("chmod"); err != nil {
		return err
	}
	return f.File.Chmod(m)
}

func (f logFile) Sync() error {
	if err := f.l.step("fsync file"); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f logFile) Close() error {
	if err := f.l.step("close"); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

func (l *logFS) CreateTemp(dir, pattern string) (atomicfile.File, error) {
	if err := l.step("create " + filepath.Base(dir)); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return logFile{f, l}, nil
}

func (l *logFS) Rename(o, n string) error {
	if err := l.step("rename"); err != nil {
		return err
	}
	return os.Rename(o, n)
}

func (l *logFS) Remove(name string) error {
	l.calls = append(l.calls, "remove")
	return os.Remove(name)
}

func (l *logFS) SyncDir(dir string) error {
	if err := l.step("fsync dir " + filepath.Base(dir)); err != nil {
		return err
	}
	return atomicfile.OS.SyncDir(dir)
}

func write(fsys atomicfile.FS, path, s string) error {
	return atomicfile.Write(fsys, path, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

func TestWriteOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	l := &logFS{}
	if err := write(l, path, "new"); err != nil {
		t.Fatal(err)
	}
	want := []string{"create " + filepath.Base(dir), "chmod", "write", "fsync file", "close", "rename", "fsync dir " + filepath.Base(dir)}
	if !slices.Equal(l.calls, want) {
		t.Fatalf("steps %q, want %q", l.calls, want)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new" {
		t.Fatalf("content %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	onlyFile(t, dir, "state.json")
}

// A failure at any step before the rename leaves the old content and no
// temporary file; a failed directory fsync is reported.
func TestWriteFailures(t *testing.T) {
	for _, step := range []string{"chmod", "write", "fsync file", "close", "rename", "fsync dir"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			l := &logFS{failOn: step}
			if step == "fsync dir" {
				l.failOn = "fsync dir " + filepath.Base(dir)
			}
			err := write(l, path, "new")
			if !errors.Is(err, boom) {
				t.Fatalf("err %v, want boom", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			b, _ := os.ReadFile(path)
			wantContent := "old"
			if step == "fsync dir" {
				wantContent = "new" // renamed, durability in doubt, reported
			}
			if string(b) != wantContent {
				t.Errorf("content %q, want %q", b, wantContent)
			}
			if slices.Contains(l.calls, "rename") && slices.Index(l.calls, "fsync file") > slices.Index(l.calls, "rename") {
				t.Errorf("renamed before fsync: %q", l.calls)
			}
			onlyFile(t, dir, "state.json")
		})
	}
}

// A file system that cannot fsync a directory (EINVAL, as FAT) or keep a
// mode (EPERM on chmod) is not an error.
func TestWriteOnFATLike(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capturebox.toml")
	fat := fatFS{}
	if err := write(fat, path, "x"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Fatalf("content %q", b)
	}
}

type fatFS struct{}

type fatFile struct{ *os.File }

func (fatFile) Chmod(fs.FileMode) error { return &fs.PathError{Op: "chmod", Err: syscall.EPERM} }

func (fatFS) CreateTemp(dir, p string) (atomicfile.File, error) {
	f, err := os.CreateTemp(dir, p)
	return fatFile{f}, err
}
func (fatFS) Rename(o, n string) error { return os.Rename(o, n) }
func (fatFS) Remove(n string) error    { return os.Remove(n) }
func (fatFS) SyncDir(string) error     { return &fs.PathError{Op: "sync", Err: syscall.EINVAL} }

func TestWriteFileReal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	for _, s := range []string{"one", "two, longer"} {
		if err := atomicfile.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != s {
			t.Fatalf("content %q, want %q", b, s)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	onlyFile(t, dir, "a")
}

func TestRenameSyncsBothDirs(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := &logFS{}
	if err := atomicfile.Rename(l, filepath.Join(a, "f"), filepath.Join(b, "f")); err != nil {
		t.Fatal(err)
	}
	want := []string{"rename", "fsync dir b", "fsync dir a"}
	if !slices.Equal(l.calls, want) {
		t.Fatalf("steps %q, want %q", l.calls, want)
	}
}

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".state.json.123.tmp": true, "state.json": false, ".tmp": false, "x.tmp": false,
	} {
		if got := atomicfile.IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v", name, got)
		}
	}
	// Names made by Write are recognised.
	dir := t.TempDir()
	l := &logFS{failOn: "rename"}
	var tmpName string
	_ = atomicfile.Write(l, filepath.Join(dir, "q"), 0o600, func(w io.Writer) error {
		ents, _ := os.ReadDir(dir)
		tmpName = ents[0].Name()
		return nil
	})
	if !atomicfile.IsTemp(tmpName) {
		t.Errorf("IsTemp(%q) = false for a name Write made", tmpName)
	}
}

func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{name}) {
		t.Errorf("directory holds %q, want only %q", names, name)
	}
}
