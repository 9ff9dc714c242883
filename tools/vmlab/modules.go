package vmlab

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// modName normalises a module name: the kernel treats '-' and '_' alike.
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleIndex maps each module's name to its .ko file, relative to the
// modules folder (lib/modules/<version>).
func moduleIndex(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		idx[modName(strings.TrimSuffix(d.Name(), ".ko"))] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmlab: index modules in %s: %w", dir, err)
	}
	return idx, nil
}

// moduleDepends reads the depends= field of a module's .modinfo section.
func moduleDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, fmt.Errorf("vmlab: module %s: %w", file, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("vmlab: module %s has no .modinfo section", file)
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("vmlab: module %s: read .modinfo: %w", file, err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// resolveModules returns the .ko files (relative to dir) to insmod for the
// named modules, each after the modules it depends on.
func resolveModules(dir string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	idx, err := moduleIndex(dir)
	if err != nil {
		return nil, err
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		name = modName(name)
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("vmlab: module dependency cycle at %s", name)
		}
		rel, ok := idx[name]
		if !ok {
			if from != "" {
				return fmt.Errorf("vmlab: module %s (needed by %s) not found in %s", name, from, dir)
			}
			return fmt.Errorf("vmlab: module %s not found in %s", name, dir)
		}
		state[name] = 1
		deps, err := moduleDepends(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, rel)
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}
