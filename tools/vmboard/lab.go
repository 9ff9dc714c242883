// Package vmboard proves the board's drivers on real kernel drivers: the
// console on the PL011 UART of qemu's arm64 "virt" machine, and the GPIO
// character device of qemu's emulated Raspberry Pi 3 (raspi3b), both
// under Debian's own arm64 kernel.
//
// It carries the minimum of a VM lab it needs (find the kernel and busybox
// that scripts/vmlab/fetch.sh puts in .cache/vmlab, build a busybox
// initramfs with modules, boot qemu), in the shape of tools/vmlab, so that
// it can move onto that package. Its tests skip when the lab is missing,
// and fail instead with CAPTUREBOX_REQUIRE_VM=1 (make test-vm-board).
package vmboard

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Lab is the arm64 kernel, its modules and device trees, and busybox.
type Lab struct {
	Dir, Kernel, Modules, Busybox, DTBs string
}

// CacheDir is $CAPTUREBOX_VMLAB_CACHE or .cache/vmlab at the repository
// root (found from the working directory).
func CacheDir() (string, error) {
	if d := os.Getenv("CAPTUREBOX_VMLAB_CACHE"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "vmlab"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("vmboard: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Find loads the arm64 lab from the cache (lab.env, written by
// scripts/vmlab/fetch.sh).
func Find() (*Lab, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "arm64")
	env, err := os.ReadFile(filepath.Join(dir, "lab.env"))
	if err != nil {
		return nil, fmt.Errorf("arm64 VM lab not fetched (scripts/ensure-tools.sh vmlab): %w", err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	l := &Lab{
		Dir:     dir,
		Kernel:  filepath.Join(dir, kv["KERNEL"]),
		Modules: filepath.Join(dir, kv["MODULES"]),
		Busybox: filepath.Join(dir, kv["BUSYBOX"]),
		DTBs:    filepath.Join(dir, "kernel", "usr", "lib", "linux-image-"+kv["KERNEL_VERSION"]),
	}
	for _, p := range []string{l.Kernel, l.Modules, l.Busybox, l.DTBs} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("arm64 VM lab incomplete: %w", err)
		}
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		return nil, fmt.Errorf("qemu-system-aarch64 not installed (scripts/ensure-tools.sh vmlab): %w", err)
	}
	return l, nil
}

// File is a file of the guest's initramfs.
type File struct {
	Path   string
	Mode   fs.FileMode // 0: 0644
	Data   []byte
	Source string // a host file, when Data is nil
}

// Initramfs writes a gzip'd newc initramfs: busybox, the modules (after
// their dependencies, listed in /etc/modules for init to insmod) and files.
func (l *Lab) Initramfs(w io.Writer, modules []string, files []File) error {
	entries := map[string]cpioEntry{
		"bin/busybox": {mode: 0o100755, source: l.Busybox},
		"dev/console": {mode: 0o020600, major: 5, minor: 1},
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc", "data", "lib/modules"} {
		entries[d] = cpioEntry{mode: 0o040755}
	}
	kos, err := resolveModules(l.Modules, modules)
	if err != nil {
		return err
	}
	var list strings.Builder
	for _, ko := range kos {
		entries["lib/modules/"+ko] = cpioEntry{mode: 0o100644, source: filepath.Join(l.Modules, ko)}
		fmt.Fprintln(&list, ko)
	}
	entries["etc/modules"] = cpioEntry{mode: 0o100644, data: []byte(list.String())}
	for _, f := range files {
		mode := uint32(f.Mode.Perm())
		if mode == 0 {
			mode = 0o644
		}
		e := cpioEntry{mode: 0o100000 | mode, data: f.Data, source: f.Source}
		if e.data == nil && e.source == "" {
			e.data = []byte{}
		}
		entries[strings.TrimPrefix(path.Clean("/"+f.Path), "/")] = e
	}
	// Parents before children.
	for p := range entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = cpioEntry{mode: 0o040755}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	cw := &cpioWriter{w: zw}
	for i, p := range names {
		e := entries[p]
		if e.data == nil && e.source != "" {
			if e.data, err = os.ReadFile(e.source); err != nil {
				return fmt.Errorf("initramfs %s: %w", p, err)
			}
		}
		cw.entry(uint32(i+1), p, e)
	}
	cw.entry(uint32(len(names)+1), "TRAILER!!!", cpioEntry{})
	if cw.err != nil {
		return cw.err
	}
	return zw.Close()
}

type cpioEntry struct {
	mode         uint32
	data         []byte
	source       string
	major, minor uint32
}

// cpioWriter writes the "new ASCII" cpio format the kernel unpacks.
type cpioWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *cpioWriter) write(p []byte) {
	if c.err == nil {
		var m int
		m, c.err = c.w.Write(p)
		c.n += int64(m)
	}
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) entry(ino uint32, name string, e cpioEntry) {
	nlink := 1
	if e.mode&0o170000 == 0o040000 {
		nlink = 2
	}
	c.write(fmt.Appendf(nil, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(name)+1, 0))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(e.data)
	c.pad()
}

// resolveModules returns the .ko files (relative to dir) for the named
// modules, each after those it depends on (the depends= of its .modinfo).
func resolveModules(dir string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	idx := map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ko") {
			rel, _ := filepath.Rel(dir, p)
			idx[strings.ReplaceAll(strings.TrimSuffix(d.Name(), ".ko"), "-", "_")] = rel
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var order []string
	done := map[string]bool{}
	var visit func(string) error
	visit = func(name string) error {
		name = strings.ReplaceAll(name, "-", "_")
		if done[name] {
			return nil
		}
		done[name] = true
		rel, ok := idx[name]
		if !ok {
			return fmt.Errorf("module %s not in %s", name, dir)
		}
		f, err := elf.Open(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		defer f.Close()
		if s := f.Section(".modinfo"); s != nil {
			b, err := s.Data()
			if err != nil {
				return err
			}
			for _, kv := range bytes.Split(b, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok && len(v) > 0 {
					for _, d := range strings.Split(string(v), ",") {
						if err := visit(d); err != nil {
							return err
						}
					}
				}
			}
		}
		order = append(order, rel)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}
