package firmware

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/firmware/console"
)

// TestUpdateCommand drives "update" on the console: the state before any
// install, refusals that name the problem, and usage. (The install itself,
// through rauc, is tested in firmware/update.)
func TestUpdateCommand(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	b := &box{log: log, console: console.New(log, "> ")}
	b.registerUpdateCommand()
	run := func(line string) string {
		var w bytes.Buffer
		b.console.Exec(t.Context(), &w, line)
		return w.String()
	}
	if out := run("update"); !strings.Contains(out, "update: none since the box started") {
		t.Errorf("update with no install: %q", out)
	}
	if out := run("update ftp://example.edu/b.raucb"); !strings.Contains(out, "scheme") {
		t.Errorf("update with an ftp URL: %q", out)
	}
	if out := run("update -h"); !strings.Contains(out, "update:") {
		t.Errorf("update with an option: %q", out)
	}
	if out := run("update a b"); !strings.Contains(out, "usage: update [URL]") {
		t.Errorf("update with two arguments: %q", out)
	}
	if out := run("help"); !strings.Contains(out, "update") {
		t.Errorf("help does not list update: %q", out)
	}
}
