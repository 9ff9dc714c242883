package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

const commentedFile = `# Room 101, east wing. Ask Pat before changing.
[box]
name = "Room 101"   # as on the door sign
timezone = "America/New_York"

[kaltura]
partner_id = 1234567
app_token_id = "0_ab12cd34"
app_token = "` + testToken + `"
resource_id = 58

[sync]
# every two minutes is plenty
interval = "2m" # trailing comment

[hardware]
display_port = "/dev/ttyUSB0"
`

// writeFile writes a config file with a mode and returns its path.
func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capturebox.toml")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask aside
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// onlyFile fails if the directory of path holds anything else (a temporary
// file left behind).
func onlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}
}

func TestSetEditsInPlace(t *testing.T) {
	tests := []struct {
		key, value string
		old, new   string // the file after Set is commentedFile with old replaced by new
		check      func(*Config) bool
	}{
		{key: "sync.interval", value: "5m", old: `interval = "2m" # trailing`, new: `interval = "5m" # trailing`,
			check: func(c *Config) bool { return c.Sync.Interval == 5*time.Minute }},
		{key: "box.name", value: "Room 102", old: `name = "Room 101"   # as on`, new: `name = "Room 102"   # as on`,
			check: func(c *Config) bool { return c.Box.Name == "Room 102" }},
		{key: "box.name", value: `"Room \"A\""`, old: `name = "Room 101"`, new: `name = "Room \"A\""`,
			check: func(c *Config) bool { return c.Box.Name == `Room "A"` }},
		{key: "kaltura.partner_id", value: "7_654_321", old: "partner_id = 1234567", new: "partner_id = 7654321",
			check: func(c *Config) bool { return c.Kaltura.PartnerID == 7654321 }},
		{key: "kaltura.app_token", value: strings.Repeat("ab", 16), old: testToken, new: strings.Repeat("ab", 16),
			check: func(c *Config) bool { return c.Kaltura.AppToken.Reveal() == strings.Repeat("ab", 16) }},
		{key: "hardware.display_port", value: "", old: `display_port = "/dev/ttyUSB0"`, new: `display_port = ""`,
			check: func(c *Config) bool { return c.Hardware.DisplayPort == "" }},
		// Missing keys go at the end of their section ...
		{key: "sync.window", value: "7d", old: "# trailing comment\n", new: "# trailing comment\nwindow = \"7d\"\n",
			check: func(c *Config) bool { return c.Sync.Window == 7*Day }},
		{key: "box.log_level", value: "debug", old: "timezone = \"America/New_York\"\n", new: "timezone = \"America/New_York\"\nlog_level = \"debug\"\n",
			check: func(c *Config) bool { return c.Box.LogLevel == "debug" }},
		{key: "sync.record_only", value: "off", old: "# trailing comment\n", new: "# trailing comment\nrecord_only = false\n",
			check: func(c *Config) bool { return !c.Sync.RecordOnly }},
		// ... or in a new section at the end of the file.
		{key: "upload.chunk_size", value: "8MiB", old: "/dev/ttyUSB0\"\n", new: "/dev/ttyUSB0\"\n\n[upload]\nchunk_size = \"8MiB\"\n",
			check: func(c *Config) bool { return c.Upload.ChunkSize == 8*MiB }},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			path := writeFile(t, commentedFile, 0o644)
			if err := Set(path, tt.key, tt.value); err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(commentedFile, tt.old, tt.new, 1)
			if got := readFile(t, path); got != want {
				t.Errorf("file after Set:\n%s\nwant:\n%s", got, want)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("value not set: %+v", c)
			}
			if m := mode(t, path); m != FileMode {
				t.Errorf("mode %v, want %v", m, FileMode)
			}
			onlyFile(t, path)
		})
	}
}

func TestSetRefusesAndKeepsFile(t *testing.T) {
	tests := []struct {
		key, value string
		wantKey    string
		wantLine   bool
		msg        string
	}{
		{key: "sync.interval", value: "1s", wantKey: "sync.interval", wantLine: true, msg: "out of range"},
		{key: "sync.interval", value: "soon", wantKey: "sync.interval", wantLine: true, msg: "invalid duration"},
		{key: "sync.jitter", value: "10m", wantKey: "sync.jitter", wantLine: true, msg: "sync.interval"},
		{key: "kaltura.partner_id", value: "many", wantKey: "kaltura.partner_id", msg: "not an integer"},
		{key: "sync.record_only", value: "maybe", wantKey: "sync.record_only", msg: "not true or false"},
		{key: "sync.intervall", value: "5m", wantKey: "sync.intervall", msg: "did you mean interval?"},
		{key: "nosuch.key", value: "5m", wantKey: "nosuch.key", msg: "unknown key"},
		{key: "sync.transport", value: "ftp", wantKey: "sync.ftp_address", msg: "required when"},
		{key: "box.name", value: `"unterminated`, wantKey: "box.name", msg: "valid TOML string"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			path := writeFile(t, commentedFile, 0o644)
			err := Set(path, tt.key, tt.value)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Set error = %v, want a *ValidationError", err)
			}
			found := false
			for _, p := range ve.Problems {
				if p.Key == tt.wantKey && strings.Contains(p.Msg, tt.msg) && (p.Line > 0) == tt.wantLine {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %v lack key %s with %q (line given: %v)", ve.Problems, tt.wantKey, tt.msg, tt.wantLine)
			}
			if got := readFile(t, path); got != commentedFile {
				t.Errorf("file changed:\n%s", got)
			}
			if m := mode(t, path); m != 0o644 {
				t.Errorf("mode changed to %v", m)
			}
			onlyFile(t, path)
		})
	}
}

func TestSetOnBrokenFile(t *testing.T) {
	broken := strings.Replace(commentedFile, `interval = "2m"`, `interval = "2m`, 1)
	path := writeFile(t, broken, 0o600)
	err := Set(path, "box.name", "Room 7")
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Line != lineOfText(t, broken, "interval") {
		t.Errorf("Set on a broken file: %v", err)
	}
	if readFile(t, path) != broken {
		t.Error("file changed")
	}
	if err := Set(filepath.Join(t.TempDir(), "none.toml"), "box.name", "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Set on a missing file: %v", err)
	}
}

func TestSetKeepsCRLFAndBOM(t *testing.T) {
	orig := "\xEF\xBB\xBF" + strings.ReplaceAll(commentedFile, "\n", "\r\n")
	path := writeFile(t, orig, 0o600)
	if err := Set(path, "sync.window", "3d"); err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "sync.interval", "3m"); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(orig, "interval = \"2m\" # trailing comment\r\n", "interval = \"3m\" # trailing comment\r\nwindow = \"3d\"\r\n", 1)
	if got := readFile(t, path); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestUnset(t *testing.T) {
	typo := strings.Replace(commentedFile, "[sync]\n", "[sync]\nintervall = \"5m\" # oops\n", 1)
	path := writeFile(t, typo, 0o644)
	if _, err := Load(path); err == nil {
		t.Fatal("typo accepted")
	}
	if err := Unset(path, "sync.intervall"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != commentedFile {
		t.Errorf("after Unset:\n%s", got)
	}
	if err := Unset(path, "box.timezone"); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.Box.Timezone != "UTC" {
		t.Errorf("after Unset timezone: %v, %v", c, err)
	}
	before := readFile(t, path)
	err = Unset(path, "kaltura.partner_id")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Key != "kaltura.partner_id" {
		t.Errorf("Unset of a required key: %v", err)
	}
	if err := Unset(path, "sync.window"); err == nil || !strings.Contains(err.Error(), "not in the file") {
		t.Errorf("Unset of an absent key: %v", err)
	}
	if readFile(t, path) != before {
		t.Error("refused Unset changed the file")
	}
	if m := mode(t, path); m != FileMode {
		t.Errorf("mode %v", m)
	}
}

func TestSaveKeepsCommentsAndMode(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Sync.Interval = 3 * time.Minute
	c.Upload.BandwidthLimit = 2 * MiB
	c.Box.Timezone = "UTC"
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(commentedFile, `interval = "2m"`, `interval = "3m"`, 1)
	want = strings.Replace(want, `"America/New_York"`, `"UTC"`, 1)
	want += "\n[upload]\nbandwidth_limit = \"2MiB\"\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file after Save:\n%s\nwant:\n%s", got, want)
	}
	if m := mode(t, path); m != FileMode {
		t.Errorf("mode %v, want %v", m, FileMode)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.encoded(true)) != string(c.encoded(true)) {
		t.Errorf("Load after Save differs")
	}
	onlyFile(t, path)

	// Saving the same configuration again changes nothing.
	if err := Save(path, back); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != want {
		t.Errorf("second Save changed the file:\n%s", got)
	}
}

func TestSaveFresh(t *testing.T) {
	c := mustParse(t, testFile(map[string][]string{"sync": {`window = "3d"`}}))
	for name, old := range map[string]*string{
		"no file":     nil,
		"broken file": ptr("[box\nname = 1\n"),
		"typo file":   ptr(testFile(map[string][]string{"box": {`nmae = "x"`}})),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "capturebox.toml")
			if old != nil {
				path = writeFile(t, *old, 0o644)
			}
			if err := Save(path, c); err != nil {
				t.Fatal(err)
			}
			got := readFile(t, path)
			if got != string(c.encoded(true)) {
				t.Errorf("fresh file:\n%s", got)
			}
			back, err := Load(path)
			if err != nil || back.Sync.Window != 3*Day || back.Kaltura.AppToken.Reveal() != testToken {
				t.Errorf("Load after Save: %v, %v", back, err)
			}
			if m := mode(t, path); m != FileMode {
				t.Errorf("mode %v", m)
			}
			onlyFile(t, path)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSaveRefusesInvalidAndKeepsOldFile(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Sync.PageSize = 501
	c.Hardware.LEDPin = "GPIO99"
	err = Save(path, c)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("Save error = %v, want two problems", err)
	}
	for _, p := range ve.Problems {
		if p.Line != 0 {
			t.Errorf("problem %+v has a line of the generated text", p)
		}
	}
	if readFile(t, path) != commentedFile {
		t.Error("old file changed")
	}
	if m := mode(t, path); m != 0o644 {
		t.Errorf("old file's mode changed to %v", m)
	}
	onlyFile(t, path)
	// A masked configuration is not a valid one: the mask is not a token.
	good, _ := Load(path)
	if err := Save(path, good.Masked()); err == nil {
		t.Error("Save of a masked config accepted")
	}
	if readFile(t, path) != commentedFile {
		t.Error("old file changed")
	}
}

// readOnlyDir is a file system whose directory refuses new files, as a
// read-only mount does. (Root ignores directory permissions, so a chmod
// cannot make the refusal; it is injected, and the rest of the write goes
// to the real file system.)
type readOnlyDir struct{ atomicfile.FS }

func (readOnlyDir) CreateTemp(dir, _ string) (atomicfile.File, error) {
	return nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.EROFS}
}

func TestSaveUnwritableDirectoryKeepsOldFile(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, _ := Load(path)
	c.Sync.Interval = 4 * time.Minute
	fileSystem = readOnlyDir{atomicfile.OS}
	defer func() { fileSystem = atomicfile.OS }()
	if err := Save(path, c); !errors.Is(err, syscall.EROFS) {
		t.Errorf("Save into a read-only directory: %v, want EROFS", err)
	}
	if err := Set(path, "sync.interval", "6m"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("Set into a read-only directory: %v, want EROFS", err)
	}
	if readFile(t, path) != commentedFile {
		t.Error("old file changed")
	}
	if m := mode(t, path); m != 0o644 {
		t.Errorf("old file's mode changed to %v", m)
	}
	onlyFile(t, path)
}

// failDirSync lets the rename happen and fails the directory fsync: the new
// file is in place, but Save must report that its durability is in doubt.
type failDirSync struct{ atomicfile.FS }

func (failDirSync) SyncDir(string) error { return syscall.EIO }

func TestSaveReportsFailedDirectorySync(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, _ := Load(path)
	c.Sync.Interval = 4 * time.Minute
	fileSystem = failDirSync{atomicfile.OS}
	defer func() { fileSystem = atomicfile.OS }()
	if err := Save(path, c); !errors.Is(err, syscall.EIO) {
		t.Errorf("Save with a failing directory fsync: %v, want EIO", err)
	}
}

func TestCheckModeTightensExposedSecrets(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Not allowed to write: a warning, the file unchanged.
	r, err := CheckMode(path, c, false)
	if err != nil {
		t.Fatal(err)
	}
	w := r.Warning()
	if !r.Exposed() || r.Tightened || !strings.Contains(w, "kaltura.app_token") || !strings.Contains(w, "0644") {
		t.Errorf("report %+v, warning %q", r, w)
	}
	if strings.Contains(w, testToken) {
		t.Error("the warning holds the token")
	}
	if m := mode(t, path); m != 0o644 {
		t.Errorf("mode changed to %v without permission", m)
	}
	// Allowed: tightened to 0600 and said so.
	r, err = CheckMode(path, c, true)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Tightened || !strings.Contains(r.Warning(), "tightened to 0600") {
		t.Errorf("report %+v, warning %q", r, r.Warning())
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	// Now private: nothing to say.
	r, err = CheckMode(path, c, true)
	if err != nil || r.Exposed() || r.Warning() != "" {
		t.Errorf("private file: %+v, %v", r, err)
	}
}

func TestCheckModeWithoutSecretsIsQuiet(t *testing.T) {
	path := writeFile(t, commentedFile, 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Kaltura.AppToken, c.Sync.FTPPassword = "", ""
	r, err := CheckMode(path, c, true)
	if err != nil || r.Exposed() || r.Warning() != "" || r.Tightened {
		t.Errorf("report %+v, %v", r, err)
	}
	if m := mode(t, path); m != 0o644 {
		t.Errorf("mode changed to %v", m)
	}
}
