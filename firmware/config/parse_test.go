package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testToken    = "9f86d081884c7d659a2feaa0c55ad015"
	testPassword = "hunter2-Sup3r-s3cret!"
)

// sectionOrder is the order testFile writes sections in.
var sectionOrder = []string{"box", "kaltura", "sync", "recording", "upload", "hardware"}

// testFile builds a valid file (the required keys) plus extra lines per
// section; a required key whose name starts an extra line is left out.
func testFile(extra map[string][]string) string {
	base := map[string][]string{
		"box": {`name = "Room 101"`},
		"kaltura": {
			`partner_id = 1234567`,
			`app_token_id = "0_ab12cd34"`,
			`app_token = "` + testToken + `"`,
			`resource_id = 58`,
		},
	}
	var b strings.Builder
	b.WriteString("# test configuration\n")
	for _, sec := range sectionOrder {
		lines := extra[sec]
		var keep []string
	base:
		for _, l := range base[sec] {
			name, _, _ := strings.Cut(l, " =")
			for _, e := range lines {
				if strings.HasPrefix(e, name+" ") || strings.HasPrefix(e, name+"=") {
					continue base
				}
			}
			keep = append(keep, l)
		}
		all := append(keep, lines...)
		if len(all) == 0 {
			continue
		}
		b.WriteString("\n[" + sec + "]\n")
		for _, l := range all {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// lineOfText returns the 1-based line of the first line of file that
// starts with text.
func lineOfText(t *testing.T, file, text string) int {
	t.Helper()
	for i, l := range strings.Split(file, "\n") {
		if strings.HasPrefix(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%q not in file:\n%s", text, file)
	return 0
}

func mustParse(t *testing.T, file string) *Config {
	t.Helper()
	c, err := Parse([]byte(file), "capturebox.toml")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, file)
	}
	return c
}

func problemsOf(t *testing.T, file string) []Problem {
	t.Helper()
	c, err := Parse([]byte(file), "capturebox.toml")
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", file)
	}
	if c != nil {
		t.Fatalf("Parse returned a config with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError: %v", err, err)
	}
	if ve.File != "capturebox.toml" {
		t.Errorf("File = %q", ve.File)
	}
	return ve.Problems
}

func TestParseMinimalAppliesDefaults(t *testing.T) {
	c := mustParse(t, testFile(nil))
	want := Default()
	want.Box.Name = "Room 101"
	want.Kaltura.PartnerID = 1234567
	want.Kaltura.AppTokenID = "0_ab12cd34"
	want.Kaltura.AppToken = testToken
	want.Kaltura.ResourceID = 58
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", c, want)
	}
	if c.Kaltura.AppToken.Reveal() != testToken {
		t.Errorf("Reveal() = %q", c.Kaltura.AppToken.Reveal())
	}
}

func TestParseValues(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, testCAPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, testFile(map[string][]string{
		"box": {`timezone = "America/New_York"`, `data_dir = "/srv/cb"`, `log_level = "DEBUG"`},
		"kaltura": {
			`service_url = "http://127.0.0.1:8080/"`, `allow_insecure_http = true`,
			`app_token_hash_type = "sha256"`, `parent_resource_id = 57`,
			`default_template_entry_id = "1_ab12cd34"`, `ca_file = "` + ca + `"`, `request_timeout = "1m"`,
		},
		"sync": {
			`transport = "ftp"`, `interval = "5m"`, `jitter = "1m"`, `window = "1d12h"`, `record_only = false`,
			`page_size = 100`, `ftp_address = "ftp.example.edu:21"`, `ftp_login = "capture"`,
			`ftp_password = "` + testPassword + `"`, `max_response_size = 16777216`,
		},
		"recording": {`pre_padding = "1m"`, `post_padding = "2m"`, `adhoc_max = "3h"`, `min_length = "0"`, `short_policy = "upload-tagged"`},
		"upload":    {`chunk_size = "1MiB"`, `bandwidth_limit = "2MB"`, `retention = "0"`, `min_free_space = "500MiB"`, `max_backoff = "1h"`},
		"hardware": {
			`led_pin = "gpio5"`, `button_pin = "GPIO6"`, `long_press = "3s"`, `display_port = "/dev/ttyUSB0"`,
			`display_size = "20x4"`, `display_baud = 19200`, `console_port = ""`, `console_baud = 9600`,
			`capture_device = "/dev/video2"`, `audio_device = "hw:1,0"`, `video_encoder = "V4L2M2M"`,
		},
	}))
	checks := []struct {
		name      string
		got, want any
	}{
		{"timezone", c.Box.Location().String(), "America/New_York"},
		{"data_dir", c.Box.DataDir, "/srv/cb"},
		{"log_level", c.Box.LogLevel, "debug"},
		{"slog level", c.Box.SlogLevel().String(), "DEBUG"},
		{"service_url", c.Kaltura.ServiceURL, "http://127.0.0.1:8080"},
		{"hash", c.Kaltura.AppTokenHashType, "SHA256"},
		{"parent", c.Kaltura.ParentResourceID, int64(57)},
		{"template", c.Kaltura.DefaultTemplateEntryID, "1_ab12cd34"},
		{"ca_file", c.Kaltura.CAFile, ca},
		{"timeout", c.Kaltura.RequestTimeout, time.Minute},
		{"transport", c.Sync.Transport, "ftp"},
		{"interval", c.Sync.Interval, 5 * time.Minute},
		{"jitter", c.Sync.Jitter, time.Minute},
		{"window", c.Sync.Window, 36 * time.Hour},
		{"record_only", c.Sync.RecordOnly, false},
		{"page_size", c.Sync.PageSize, 100},
		{"ftp_password", c.Sync.FTPPassword.Reveal(), testPassword},
		{"max_response_size", c.Sync.MaxResponseSize, 16 * MiB},
		{"pre", c.Recording.PrePadding, time.Minute},
		{"post", c.Recording.PostPadding, 2 * time.Minute},
		{"adhoc", c.Recording.AdhocMax, 3 * time.Hour},
		{"min_length", c.Recording.MinLength, time.Duration(0)},
		{"policy", c.Recording.ShortPolicy, ShortUploadTagged},
		{"dir derived from data_dir", c.Recording.Dir, "/srv/cb/recordings"},
		{"chunk", c.Upload.ChunkSize, MiB},
		{"bandwidth", c.Upload.BandwidthLimit, Size(2e6)},
		{"retention", c.Upload.Retention, time.Duration(0)},
		{"free", c.Upload.MinFreeSpace, 500 * MiB},
		{"backoff", c.Upload.MaxBackoff, time.Hour},
		{"led", c.Hardware.LEDPin, "GPIO5"},
		{"long_press", c.Hardware.LongPress, 3 * time.Second},
		{"display", c.Hardware.DisplayPort, "/dev/ttyUSB0"},
		{"console", c.Hardware.ConsolePort, ""},
		{"audio", c.Hardware.AudioDevice, "hw:1,0"},
		{"video_encoder", c.Hardware.VideoEncoder, "v4l2m2m"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if cols, rows := c.Hardware.DisplayDims(); cols != 20 || rows != 4 {
		t.Errorf("DisplayDims = %d, %d", cols, rows)
	}
}

func TestValidationProblems(t *testing.T) {
	tests := []struct {
		section, line string
		key           string // the key the problem must name
		msg           string // a part of its message
	}{
		{"box", `name = ""`, "box.name", "required"},
		{"box", `name = "Room` + "\\u0007" + `"`, "box.name", "control character"},
		{"box", `name = " Room 101"`, "box.name", "spaces"},
		{"box", `timezone = "Mars/Olympus_Mons"`, "box.timezone", "IANA"},
		{"box", `timezone = "Local"`, "box.timezone", "IANA"},
		{"box", `data_dir = "data"`, "box.data_dir", "absolute"},
		{"box", `data_dir = "/data/../data"`, "box.data_dir", "clean"},
		{"box", `log_level = "verbose"`, "box.log_level", `"verbose" is not one of`},
		{"box", `name = 5`, "box.name", "must be a string, not an integer"},
		{"kaltura", `service_url = "http://www.kaltura.com"`, "kaltura.service_url", "must be https"},
		{"kaltura", `service_url = "ftp://www.kaltura.com"`, "kaltura.service_url", "not https"},
		{"kaltura", `service_url = "www.kaltura.com"`, "kaltura.service_url", "absolute URL"},
		{"kaltura", `service_url = "https://admin:pa55word@www.kaltura.com"`, "kaltura.service_url", "user name or password"},
		{"kaltura", `service_url = "https://www.kaltura.com/?x=1"`, "kaltura.service_url", "query"},
		{"kaltura", `partner_id = -5`, "kaltura.partner_id", "greater than 0"},
		{"kaltura", `partner_id = 0`, "kaltura.partner_id", "required"},
		{"kaltura", `partner_id = "1234567"`, "kaltura.partner_id", "must be an integer, not a string"},
		{"kaltura", `app_token_id = "ab12cd34"`, "kaltura.app_token_id", "<dc>_<id>"},
		{"kaltura", `app_token = "` + strings.ToUpper(testToken) + `"`, "kaltura.app_token", "32 lowercase hexadecimal"},
		{"kaltura", `app_token = "` + testToken + `0"`, "kaltura.app_token", "32 lowercase hexadecimal"},
		{"kaltura", `app_token_hash_type = "SHA3"`, "kaltura.app_token_hash_type", "not one of"},
		{"kaltura", `resource_id = 0`, "kaltura.resource_id", "required"},
		{"kaltura", `parent_resource_id = 58`, "kaltura.parent_resource_id", "same as resource_id"},
		{"kaltura", `parent_resource_id = -1`, "kaltura.parent_resource_id", "must be 0"},
		{"kaltura", `default_template_entry_id = "1_short"`, "kaltura.default_template_entry_id", "not an entry id"},
		{"kaltura", `ca_file = "/nonexistent/ca.pem"`, "kaltura.ca_file", "cannot be read"},
		{"kaltura", `ca_file = "ca.pem"`, "kaltura.ca_file", "absolute"},
		{"kaltura", `request_timeout = "0s"`, "kaltura.request_timeout", "out of range"},
		{"kaltura", `request_timeout = 30`, "kaltura.request_timeout", "duration string"},
		{"kaltura", `allow_insecure_http = "yes"`, "kaltura.allow_insecure_http", "true or false"},
		{"sync", `transport = "sftp"`, "sync.transport", `"sftp" is not one of "https", "ftp"`},
		{"sync", `interval = "10s"`, "sync.interval", "from 30s to 1d"},
		{"sync", `interval = "2 minutes"`, "sync.interval", "invalid duration"},
		{"sync", `jitter = "5m"`, "sync.jitter", "sync.interval"},
		{"sync", `jitter = "-1s"`, "sync.jitter", "out of range"},
		{"sync", `window = "400d"`, "sync.window", "out of range"},
		{"sync", `page_size = 1000`, "sync.page_size", "1 to 500"},
		{"sync", `page_size = 0`, "sync.page_size", "1 to 500"},
		{"sync", `ftp_address = "ftp.example.edu"`, "sync.ftp_address", "host:port"},
		{"sync", `ftp_address = "ftp.example.edu:0"`, "sync.ftp_address", "host:port"},
		{"sync", `ftp_login = "12/capture"`, "sync.ftp_login", "slash"},
		{"sync", `max_response_size = "64XB"`, "sync.max_response_size", "invalid size"},
		{"sync", `max_response_size = "10KiB"`, "sync.max_response_size", "from 1MiB to 16MiB"},
		// More than the schedule parser reads (one limit: the fetch would
		// read what the parser then refuses, and the box's memory budget).
		{"sync", `max_response_size = "64MiB"`, "sync.max_response_size", "from 1MiB to 16MiB"},
		{"sync", `max_response_size = -1`, "sync.max_response_size", "negative"},
		{"sync", `max_response_size = 1.5`, "sync.max_response_size", "not a float"},
		{"sync", `record_only = "yes"`, "sync.record_only", "true or false"},
		{"recording", `pre_padding = "-1m"`, "recording.pre_padding", "out of range"},
		{"recording", `post_padding = "1h"`, "recording.post_padding", "out of range"},
		{"recording", `adhoc_max = "30s"`, "recording.adhoc_max", "from 1m to 1d"},
		{"recording", `min_length = "11m"`, "recording.min_length", "out of range"},
		{"recording", `short_policy = "delete"`, "recording.short_policy", "not one of"},
		{"recording", `dir = "recordings"`, "recording.dir", "absolute"},
		{"recording", `silence_after = "2s"`, "recording.silence_after", "out of range"},
		{"upload", `chunk_size = "50KiB"`, "upload.chunk_size", "from 100KiB to 64MiB"},
		{"upload", `chunk_size = "128MiB"`, "upload.chunk_size", "from 100KiB to 64MiB"},
		{"upload", `bandwidth_limit = "1KiB"`, "upload.bandwidth_limit", "too low"},
		{"upload", `bandwidth_limit = -1`, "upload.bandwidth_limit", "negative"},
		{"upload", `retention = "2y"`, "upload.retention", "invalid duration"},
		{"upload", `min_free_space = "2TiB"`, "upload.min_free_space", "out of range"},
		{"upload", `max_backoff = "0s"`, "upload.max_backoff", "out of range"},
		{"hardware", `led_pin = "GPIO40"`, "hardware.led_pin", "GPIO0 to GPIO27"},
		{"hardware", `button_pin = "pin27"`, "hardware.button_pin", "pin name"},
		{"hardware", `button_pin = "GPIO17"`, "hardware.button_pin", "same pin"},
		{"hardware", `long_press = "100ms"`, "hardware.long_press", "from 500ms to 10s"},
		{"hardware", `display_port = "ttyUSB0"`, "hardware.display_port", "absolute"},
		{"hardware", `display_size = "16*2"`, "hardware.display_size", "<columns>x<rows>"},
		{"hardware", `display_size = "80x2"`, "hardware.display_size", "out of range"},
		{"hardware", `led_active = "on"`, "hardware.led_active", "not one of"},
		{"hardware", `display_type = "oled"`, "hardware.display_type", "not one of"},
		{"hardware", `display_size = "24x2"`, "hardware.display_size", "not a SerLCD size"},
		{"hardware", `display_baud = 12345`, "hardware.display_baud", "standard serial speed"},
		{"hardware", `console_baud = 0`, "hardware.console_baud", "standard serial speed"},
		{"hardware", `console_port = "ttyAMA0"`, "hardware.console_port", "absolute"},
		{"hardware", `capture_device = ""`, "hardware.capture_device", "must not be empty"},
		{"hardware", `audio_device = "default"`, "hardware.audio_device", "ALSA"},
		{"hardware", `video_encoder = "x264"`, "hardware.video_encoder", `"auto", "openh264", "v4l2m2m"`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.line, func(t *testing.T) {
			file := testFile(map[string][]string{tt.section: {tt.line}})
			problems := problemsOf(t, file)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(problems), problems)
			}
			p := problems[0]
			wantLine := lineOfText(t, file, tt.line)
			if p.Key != tt.key || p.Line != wantLine || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("problem = %+v\nwant key %s, line %d, message containing %q", p, tt.key, wantLine, tt.msg)
			}
			if strings.Contains(p.Msg, testToken) || strings.Contains(strings.ToLower(p.Msg), testToken) || strings.Contains(p.Msg, "pa55word") {
				t.Errorf("message reveals a secret: %q", p.Msg)
			}
		})
	}
}

func TestMissingRequiredKeys(t *testing.T) {
	problems := problemsOf(t, "[box]\ntimezone = \"UTC\"\n")
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
		if p.Line != 0 || !strings.Contains(p.Msg, "required") {
			t.Errorf("problem %+v: want line 0 and 'required'", p)
		}
	}
	want := []string{"box.name", "kaltura.app_token", "kaltura.app_token_id", "kaltura.partner_id", "kaltura.resource_id"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestFTPNeedsCredentials(t *testing.T) {
	file := testFile(map[string][]string{"sync": {`transport = "ftp"`}})
	problems := problemsOf(t, file)
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	want := []string{"sync.ftp_address", "sync.ftp_login", "sync.ftp_password"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string][]string
		tail  string
		key   string
		text  string // the line the problem is on
		msg   string
	}{
		{name: "typo", extra: map[string][]string{"sync": {`intervall = "5m"`}}, key: "sync.intervall", text: "intervall", msg: "did you mean interval?"},
		{name: "wrong section", extra: map[string][]string{"box": {`interval = "5m"`}}, key: "box.interval", text: "interval", msg: "belongs in [sync]"},
		{name: "nothing close", extra: map[string][]string{"upload": {`colour = "blue"`}}, key: "upload.colour", text: "colour", msg: "unknown key"},
		{name: "unknown section", tail: "\n[syncc]\ninterval = \"5m\"\n", key: "syncc", text: "[syncc]", msg: "did you mean sync?"},
		{name: "nested table", tail: "\n[sync.extra]\nx = 1\n", key: "sync.extra", text: "[sync.extra]", msg: "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := testFile(tt.extra) + tt.tail
			problems := problemsOf(t, file)
			if len(problems) != 1 {
				t.Fatalf("got %v, want one problem", problems)
			}
			p := problems[0]
			if p.Key != tt.key || p.Line != lineOfText(t, file, tt.text) || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("problem = %+v, want key %s on the line of %q with %q", p, tt.key, tt.text, tt.msg)
			}
		})
	}
	// A key outside every section.
	file := "stray = 1\n" + testFile(nil)
	problems := problemsOf(t, file)
	if len(problems) != 1 || problems[0].Key != "stray" || problems[0].Line != 1 {
		t.Errorf("stray key: %v", problems)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name   string
		extra  map[string][]string
		text   string
		secret bool
	}{
		{name: "unterminated string", extra: map[string][]string{"sync": {`interval = "2m`}}, text: `interval = "2m`},
		{name: "bare duration", extra: map[string][]string{"sync": {`interval = 2m`}}, text: `interval = 2m`},
		{name: "no value", extra: map[string][]string{"upload": {`chunk_size =`}}, text: `chunk_size =`},
		{name: "duplicate key", extra: map[string][]string{"sync": {`interval = "2m"`, `interval = "3m"`}}, text: `interval = "3m"`},
		{name: "secret", extra: map[string][]string{"kaltura": {`app_token = "9f86d08\q1884c7d659a2feaa0c55ad015"`}}, text: `app_token =`, secret: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := testFile(tt.extra)
			problems := problemsOf(t, file)
			if len(problems) != 1 {
				t.Fatalf("got %v, want one problem", problems)
			}
			p := problems[0]
			if want := lineOfText(t, file, tt.text); p.Line != want {
				t.Errorf("problem %+v: line %d, want %d", p, p.Line, want)
			}
			if !strings.Contains(p.Msg, "invalid TOML") {
				t.Errorf("message %q", p.Msg)
			}
			if tt.secret {
				if p.Key != "kaltura.app_token" || strings.Contains(p.Msg, "9f86") || strings.Contains(p.Msg, "q") && !strings.Contains(p.Msg, "quotes") {
					t.Errorf("secret syntax problem: %+v", p)
				}
			}
		})
	}
}

func TestAllProblemsCollected(t *testing.T) {
	file := testFile(map[string][]string{
		"box":      {`log_level = "loud"`},
		"sync":     {`interval = 120`, `page_size = 501`},
		"hardware": {`led_pin = "GPIO99"`},
	})
	file += "\n[upload]\nchunk = 1\n"
	problems := problemsOf(t, file)
	var got []string
	for _, p := range problems {
		got = append(got, p.Key)
	}
	want := []string{"box.log_level", "sync.interval", "sync.page_size", "hardware.led_pin", "upload.chunk"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys %v, want %v (sorted by line)", got, want)
	}
	for i := 1; i < len(problems); i++ {
		if problems[i].Line <= problems[i-1].Line {
			t.Errorf("problems not in line order: %v", problems)
		}
	}
}

func TestValidationErrorFormat(t *testing.T) {
	file := testFile(map[string][]string{"sync": {`interval = "1s"`}})
	_, err := Parse([]byte(file), "/boot/capturebox.toml")
	line := lineOfText(t, file, `interval = "1s"`)
	want := "/boot/capturebox.toml:" + strconv.Itoa(line) + ": key sync.interval: 1s is out of range: must be from 30s to 1d"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	p := Problem{Key: "box.name", Msg: "required: no default, set it in the file"}
	if got := p.In("f.toml"); got != "f.toml: key box.name: required: no default, set it in the file" {
		t.Errorf("In = %q", got)
	}
	if got := (Problem{Line: 3, Msg: "invalid TOML"}).String(); got != "3: invalid TOML" {
		t.Errorf("String = %q", got)
	}
}

func TestBOMAndCRLF(t *testing.T) {
	file := "\xEF\xBB\xBF" + strings.ReplaceAll(testFile(map[string][]string{"sync": {`interval = "5m"`}}), "\n", "\r\n")
	c := mustParse(t, file)
	if c.Sync.Interval != 5*time.Minute {
		t.Errorf("interval = %v", c.Sync.Interval)
	}
	bad := "\xEF\xBB\xBF" + strings.ReplaceAll(testFile(map[string][]string{"sync": {`interval = "5s"`}}), "\n", "\r\n")
	problems := problemsOf(t, bad)
	if len(problems) != 1 || problems[0].Line != lineOfText(t, testFile(map[string][]string{"sync": {`interval = "5s"`}}), `interval = "5s"`) {
		t.Errorf("problems %v", problems)
	}
}

func TestLoadAndCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte(testFile(nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(testFile(map[string][]string{"sync": {`transport = "carrier pigeon"`}})), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(good); err != nil || c.Box.Name != "Room 101" {
		t.Errorf("Load(good) = %v, %v", c, err)
	}
	if p := Check(good); p != nil {
		t.Errorf("Check(good) = %v", p)
	}
	c, err := Load(bad)
	var ve *ValidationError
	if c != nil || !errors.As(err, &ve) || ve.File != bad {
		t.Errorf("Load(bad) = %v, %v", c, err)
	}
	if p := Check(bad); len(p) != 1 || p[0].Key != "sync.transport" {
		t.Errorf("Check(bad) = %v", p)
	}
	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
	if p := Check(missing); len(p) != 1 || p[0].Key != "" || !strings.Contains(p[0].Msg, "no such file") {
		t.Errorf("Check(missing) = %v", p)
	}
}

func TestKeysAndLookup(t *testing.T) {
	keys := Keys()
	if len(keys) != len(schema.fields) || keys[0] != "box.name" {
		t.Fatalf("Keys() = %v", keys)
	}
	c := mustParse(t, testFile(nil))
	for _, tt := range []struct{ key, want string }{
		{"sync.interval", `"2m"`},
		{"sync.page_size", "500"},
		{"sync.record_only", "true"},
		{"upload.chunk_size", `"4MiB"`},
		{"kaltura.app_token", `"********"`},
		{"sync.ftp_password", `""`},
	} {
		if got, ok := c.Lookup(tt.key); !ok || got != tt.want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.key, got, ok, tt.want)
		}
	}
	if _, ok := c.Lookup("sync.nope"); ok {
		t.Error("Lookup(unknown) ok")
	}
	if !IsSecret("kaltura.app_token") || !IsSecret("sync.ftp_password") || IsSecret("kaltura.app_token_id") {
		t.Error("IsSecret wrong")
	}
	if !IsRequired("box.name") || IsRequired("box.timezone") {
		t.Error("IsRequired wrong")
	}
}

// testCAPEM returns a freshly made self-signed certificate in PEM.
func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "campus proxy CA"},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestCheckGolden pins the text "capturebox config check" prints for a file
// with one of each kind of mistake.
func TestCheckGolden(t *testing.T) {
	path := filepath.Join("testdata", "broken.toml")
	var b strings.Builder
	for _, p := range Check(path) {
		b.WriteString(p.In(path) + "\n")
	}
	want, err := os.ReadFile(filepath.Join("testdata", "broken.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("Check output:\n%s\nwant (testdata/broken.golden):\n%s", b.String(), want)
	}
	if leaks(b.String(), "9F86D081884C7D659A2FEAA0C55AD015") {
		t.Error("Check output shows the token")
	}
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		b.Fatal(err)
	}
	data = []byte(commentedKeyRE.ReplaceAllString(string(data), "$1"))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, exampleFile); err != nil {
			b.Fatal(err)
		}
	}
}
