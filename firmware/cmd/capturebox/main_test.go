package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "capturebox ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "capturebox help") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
}

// TestHelp runs every way a technician asks for help: each exits 0 and
// lists the flags of what was asked about.
func TestHelp(t *testing.T) {
	flags := map[string][]string{
		"run":             {"-config", "-dev", "-console"},
		"version":         {"no flags"},
		"config check":    {"-config"},
		"config show":     {"-config"},
		"schedule":        {"-config", "-ical", "-resource", "-from", "-to", "-json", "-tz"},
		"upload":          {"-config", "-title", "-template", "-description", "-wait"},
		"board probe":     {"-config"},
		"board selftest":  {"-config", "-jig", "-loopback", "-only"},
		"why":             {"-config"},
		"capture probe":   {"no flags"},
		"capture test":    {"-seconds", "-size", "-fps", "-format", "-bitrate", "-device", "-input", "-dir", "-encoder"},
		"capture recover": {"no flags"},
	}
	if len(flags) != len(commands) {
		t.Fatalf("the test knows %d commands, capturebox has %d", len(flags), len(commands))
	}
	var all []string
	for _, c := range commands {
		want, ok := flags[c.name]
		if !ok {
			t.Fatalf("no expected flags for %q", c.name)
		}
		all = append(all, want...)
		for _, h := range []string{"-h", "--help", "-help"} {
			args := append(strings.Fields(c.name), h)
			code, out, errOut := runCmd(t, args...)
			if code != 0 || errOut != "" {
				t.Errorf("capturebox %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
			}
			if !strings.Contains(out, "usage: capturebox "+c.name) {
				t.Errorf("capturebox %s: no usage line:\n%s", strings.Join(args, " "), out)
			}
			for _, f := range want {
				if !strings.Contains(out, f) {
					t.Errorf("capturebox %s does not list %s:\n%s", strings.Join(args, " "), f, out)
				}
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("capturebox %s: exit %d, stderr %q", args[0], code, errOut)
		}
		for _, c := range commands {
			if !strings.Contains(out, "usage: capturebox "+c.name) {
				t.Errorf("capturebox %s does not show %q", args[0], c.name)
			}
		}
		for _, f := range all {
			if !strings.Contains(out, f) {
				t.Errorf("capturebox %s does not list %s", args[0], f)
			}
		}
	}
	if code, out, _ := runCmd(t, "config", "--help"); code != 0 || !strings.Contains(out, "config check") || !strings.Contains(out, "config show") {
		t.Errorf("config --help: %d\n%s", code, out)
	}
	for _, v := range []string{"--version", "-version", "version"} {
		if code, out, _ := runCmd(t, v); code != 0 || !strings.HasPrefix(out, "capturebox ") {
			t.Errorf("%s: %d %q", v, code, out)
		}
	}
	// A bad flag is a usage error (exit 2) with the command's usage on stderr.
	if code, _, errOut := runCmd(t, "schedule", "-nope"); code != 2 || !strings.Contains(errOut, "-resource") {
		t.Errorf("schedule -nope: %d %q", code, errOut)
	}
}

const token = "0123456789abcdef0123456789abcdef"

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "capturebox.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func goodConfig(t *testing.T, url string, pid int64, tokID, tok string, resource int64, extra string) string {
	dir := t.TempDir()
	return writeConfig(t, fmt.Sprintf(`[box]
name = "Room 204"
data_dir = %q

[kaltura]
service_url = %q
allow_insecure_http = true
partner_id = %d
app_token_id = %q
app_token = %q
app_token_hash_type = "SHA256"
resource_id = %d
%s`, dir, url, pid, tokID, tok, resource, extra))
}

func TestConfigCheck(t *testing.T) {
	bad := writeConfig(t, "[box]\nname = \"Room\"\n\n[sync]\ninterval = \"1s\"\ntransprot = \"ftp\"\n")
	code, out, errOut := runCmd(t, "config", "check", bad)
	if code != 1 {
		t.Fatalf("config check of a bad file exited %d", code)
	}
	for _, want := range []string{bad + ":5: key sync.interval", bad + ":6: key sync.transprot", "kaltura.partner_id"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("config check output lacks %q:\n%s", want, errOut)
		}
	}
	if out != "" {
		t.Errorf("stdout: %q", out)
	}

	good := goodConfig(t, "https://www.kaltura.com", 1234567, "0_abcdefgh", token, 58, "")
	if code, out, errOut := runCmd(t, "config", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check of a good file: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, "config", "show", good)
	if code != 0 || strings.Contains(out, token) || !strings.Contains(out, config.Mask) {
		t.Fatalf("config show leaks the token or does not mask it (%d):\n%s", code, out)
	}
}

func TestScheduleFromICal(t *testing.T) {
	fixture := filepath.Join("..", "..", "..", "sync", "icalparse", "testdata", "example_a.ics")
	code, out, errOut := runCmd(t, "schedule", "-ical", fixture, "-resource", "58",
		"-from", "2025-09-15T00:00:00Z", "-to", "2025-09-16T00:00:00Z", "-json")
	if code != 0 {
		t.Fatalf("schedule: %d %s", code, errOut)
	}
	var o map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &o); err != nil {
		t.Fatalf("schedule -json output %q: %v", out, err)
	}
	if o["title"] != "BIO 210 - Guest lecture" || o["start"] != "2025-09-15T13:00:00Z" || o["template_entry_id"] != "1_ab12cd34" {
		t.Errorf("occurrence = %v", o)
	}
}

// TestDevNeedsTheDevBuild: the firmware binary refuses -dev in words; the
// development box is a build of its own.
func TestDevNeedsTheDevBuild(t *testing.T) {
	if devBox != nil {
		t.Skip("built with -tags dev")
	}
	cfg := goodConfig(t, "https://www.kaltura.com", 1234567, "0_abcdefgh", token, 58, "")
	code, _, errOut := runCmd(t, "run", "-dev", "-config", cfg)
	if code != 1 || !strings.Contains(errOut, "-tags dev") {
		t.Errorf("run -dev without the dev build: %d %q", code, errOut)
	}
}

// TestScheduleResourceWithoutICal: -resource alone plans for that resource
// from the configured Kaltura.
func TestScheduleResourceWithoutICal(t *testing.T) {
	sim, err := kalturasim.New(kalturasim.Options{DataDir: t.TempDir(), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	tok, err := sim.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	store := simsched.New(sim.Now)
	store.Register(sim.Register)
	room, err := store.AddResource(sim.PartnerID(), simsched.Resource{Type: 3, Name: "Room 204 Camera"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := goodConfig(t, srv.URL, sim.PartnerID(), tok.ID, tok.Token, 58, "")
	code, _, errOut := runCmd(t, "schedule", "-config", cfg, "-resource", fmt.Sprint(room.ID), "-json")
	if code != 0 {
		t.Fatalf("schedule -resource without -ical: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "schedule", "-config", cfg, "-resource", "x"); code != 2 {
		t.Errorf("schedule -resource x: exit %d %q", code, errOut)
	}
}

func TestUploadCommand(t *testing.T) {
	sim, err := kalturasim.New(kalturasim.Options{DataDir: t.TempDir(), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	tpl, err := sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "tpl", EntitledUsersEdit: "av@uni.example"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sim.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := goodConfig(t, srv.URL, sim.PartnerID(), tok.ID, tok.Token, 58, fmt.Sprintf("default_template_entry_id = %q\n", tpl.ID))
	file := filepath.Join(t.TempDir(), "lecture.mp4")
	content := bytes.Repeat([]byte("capturebox"), 300000)
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "upload", file, "-title", "Guest talk", "-config", cfg)
	if code != 0 {
		t.Fatalf("upload: %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(out)
	e, ok := sim.Entry(id)
	if !ok {
		t.Fatalf("upload printed %q, which is not an entry", id)
	}
	if e.ContentSize != int64(len(content)) || e.Fields["templateEntryId"] != tpl.ID || !strings.HasPrefix(e.Fields["name"], "Guest talk") {
		t.Errorf("entry %+v", e)
	}
	if strings.Contains(errOut, tok.Token) {
		t.Error("the app token reached the log")
	}
}
