package firmware_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/capturebox/capturebox"

type listed struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
}

func listPackages(t *testing.T) []listed {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goBin, "list", "-json", mod+"/...")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func under(path, dir string) bool {
	p := mod + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// TestFences keeps the package fences of design.md §3.
func TestFences(t *testing.T) {
	type rule struct {
		dir   string
		allow func(imp string) bool
		what  string
	}
	third := func(prefixes ...string) func(string) bool {
		return func(imp string) bool {
			for _, p := range prefixes {
				if imp == p || strings.HasPrefix(imp, p+"/") {
					return true
				}
			}
			return false
		}
	}
	own := func(dirs ...string) func(string) bool {
		return func(imp string) bool {
			for _, d := range dirs {
				if under(imp, d) {
					return true
				}
			}
			return false
		}
	}
	anyOf := func(fs ...func(string) bool) func(string) bool {
		return func(imp string) bool {
			for _, f := range fs {
				if f(imp) {
					return true
				}
			}
			return false
		}
	}
	rules := []rule{
		{"hal/haltest", own("hal"), "hal and the standard library"},
		{"hal", own("hal"), "the standard library only"},
		// hal/atomicfile is the one durable-write helper, a standard-library
		// leaf that every package may import.
		{"upload", own("upload", "hal/atomicfile"), "the standard library and hal/atomicfile only"},
		{"capture", anyOf(own("hal", "capture"), third("github.com/Eyevinn/mp4ff")), "hal, mp4ff"},
		{"sync", anyOf(own("sync", "upload/kaltura", "hal/atomicfile"), third("github.com/emersion/go-ical", "github.com/teambition/rrule-go",
			"github.com/jlaffaye/ftp", "github.com/google/renameio")), "go-ical, rrule-go, the Kaltura client, an FTP client, hal/atomicfile"},
	}
	for _, p := range listPackages(t) {
		if p.Name == "sync" {
			t.Errorf("%s: no package may be named sync", p.ImportPath)
		}
		for _, imp := range p.Imports {
			if under(imp, "tools") && !under(p.ImportPath, "tools") {
				t.Errorf("%s imports %s: nothing outside tools/ imports tools", p.ImportPath, imp)
			}
			if under(imp, "board") && p.ImportPath != mod+"/firmware/cmd/capturebox" && !under(p.ImportPath, "board") {
				t.Errorf("%s imports %s: only firmware/cmd/capturebox imports board", p.ImportPath, imp)
			}
			if imp == "time/tzdata" && p.ImportPath != mod+"/firmware/cmd/capturebox" {
				t.Errorf("%s imports time/tzdata: only the main package does", p.ImportPath)
			}
			if under(imp, "firmware") && !under(p.ImportPath, "firmware") {
				t.Errorf("%s imports %s: firmware is the composition root, nothing imports it", p.ImportPath, imp)
			}
		}
		for _, r := range rules {
			if !under(p.ImportPath, r.dir) {
				continue
			}
			for _, imp := range p.Imports {
				if !isStd(imp) && !r.allow(imp) {
					t.Errorf("%s imports %s; %s may import %s", p.ImportPath, imp, r.dir, r.what)
				}
			}
			break
		}
	}
}

// deps lists the packages the main package links, transitively (go list
// -deps: the build's own graph, test files left out), with build tags.
func deps(t *testing.T, tags string) map[string]bool {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command(goBin, append(args, mod+"/firmware/cmd/capturebox")...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=arm64")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		set[p] = true
	}
	return set
}

// TestNoFakesInTheFirmware: the binary the Pi runs links no HAL fake and no
// development device; only the development build (-tags dev, make run)
// carries them, through firmware/termdev.
func TestNoFakesInTheFirmware(t *testing.T) {
	prod := deps(t, "")
	if !prod[mod+"/firmware"] {
		t.Fatalf("go list -deps does not list firmware: %d packages", len(prod))
	}
	for _, banned := range []string{"hal/haltest", "firmware/termdev", "tools"} {
		for p := range prod {
			if under(p, banned) {
				t.Errorf("the firmware binary links %s", p)
			}
		}
	}
	if dev := deps(t, "dev"); !dev[mod+"/firmware/termdev"] || !dev[mod+"/hal/haltest"] {
		t.Errorf("the development build (-tags dev) does not link the development box")
	}
}
