package config

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// leaks reports whether out contains any 6-character piece of secret.
func leaks(out, secret string) bool {
	for i := 0; i+6 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+6]) {
			return true
		}
	}
	return false
}

func secretConfig(t *testing.T) *Config {
	t.Helper()
	return mustParse(t, testFile(map[string][]string{"sync": {
		`transport = "ftp"`, `ftp_address = "ftp.example.edu:21"`, `ftp_login = "capture"`,
		`ftp_password = "` + testPassword + `"`,
	}}))
}

func checkMasked(t *testing.T, what, out string, wantMask bool) {
	t.Helper()
	if leaks(out, testToken) || leaks(out, testPassword) {
		t.Errorf("%s leaks a secret:\n%s", what, out)
	}
	if wantMask && !strings.Contains(out, Mask) {
		t.Errorf("%s does not show the mask:\n%s", what, out)
	}
}

func TestSecretsMaskedInFmt(t *testing.T) {
	c := secretConfig(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-v"} {
		checkMasked(t, "fmt "+verb+" of *Config", fmt.Sprintf(verb, c), verb != "%d")
		checkMasked(t, "fmt "+verb+" of Config", fmt.Sprintf(verb, *c), verb != "%d")
		checkMasked(t, "fmt "+verb+" of Kaltura", fmt.Sprintf(verb, c.Kaltura), verb != "%d")
		checkMasked(t, "fmt "+verb+" of Secret", fmt.Sprintf(verb, c.Kaltura.AppToken), true)
		checkMasked(t, "fmt "+verb+" of []any", fmt.Sprintf(verb, []any{c.Sync.FTPPassword, &c.Sync, &c.Kaltura, map[string]any{"k": &c.Kaltura}}), verb != "%d")
	}
	checkMasked(t, "Sprint", fmt.Sprint(c, c.Kaltura.AppToken, c.Sync.FTPPassword), true)
	checkMasked(t, "Sprintln", fmt.Sprintln(*c), true)
	checkMasked(t, "error wrap", fmt.Errorf("start session with %v: %w", c.Kaltura.AppToken, errors.New("refused")).Error(), true)
	if got := fmt.Sprintf("%#v", c.Kaltura.AppToken); got != `config.Secret("********")` {
		t.Errorf("%%#v = %s", got)
	}
	if got := fmt.Sprintf("[%v]", Secret("")); got != "[]" {
		t.Errorf("empty secret prints %s", got)
	}
}

func TestSecretsMaskedInSlog(t *testing.T) {
	c := secretConfig(t)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewTextHandler(&buf, nil),
		slog.NewJSONHandler(&buf, nil),
	} {
		buf.Reset()
		log := slog.New(h)
		log.Info("config", "cfg", c)
		log.Info("config value", "cfg", *c)
		log.Info("section", "kaltura", c.Kaltura, "sync", &c.Sync)
		log.Info("token", "token", c.Kaltura.AppToken, "password", c.Sync.FTPPassword)
		log.Info("group", slog.Group("g", slog.Any("t", c.Kaltura.AppToken)))
		log.With("cfg", c).Info("with")
		checkMasked(t, fmt.Sprintf("%T", h), buf.String(), true)
		if !strings.Contains(buf.String(), "Room 101") || !strings.Contains(buf.String(), "ftp.example.edu:21") {
			t.Errorf("%T: log lacks the non-secret values:\n%s", h, buf.String())
		}
	}
}

func TestSecretsMaskedInEncoders(t *testing.T) {
	c := secretConfig(t)
	for _, v := range []any{c, *c, c.Kaltura, c.Sync, c.Kaltura.AppToken} {
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		checkMasked(t, fmt.Sprintf("json %T", v), string(out), true)
		out, err = json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		checkMasked(t, fmt.Sprintf("json indent %T", v), string(out), true)
	}
	out, err := xml.Marshal(c.Kaltura)
	if err != nil {
		t.Fatal(err)
	}
	checkMasked(t, "xml", string(out), true)
}

func TestShowMasksSecrets(t *testing.T) {
	c := secretConfig(t)
	var b strings.Builder
	if err := c.Show(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkMasked(t, "Show", out, true)
	for _, want := range []string{"[kaltura]\n", `app_token = "********"`, `ftp_password = "********"`, `name = "Room 101"`, `interval = "2m"`, `window = "14d"`} {
		if !strings.Contains(out, want) {
			t.Errorf("Show lacks %q:\n%s", want, out)
		}
	}
	// Show is TOML, with every key: parse it back, secrets aside.
	back := strings.Replace(out, `app_token = "********"`, `app_token = "`+testToken+`"`, 1)
	back = strings.Replace(back, `ftp_password = "********"`, `ftp_password = "x"`, 1)
	c2 := mustParse(t, back)
	c2.Sync.FTPPassword = c.Sync.FTPPassword
	if string(c2.encoded(true)) != string(c.encoded(true)) {
		t.Errorf("Show does not round-trip:\n%s", out)
	}
}

func TestMasked(t *testing.T) {
	c := secretConfig(t)
	m := c.Masked()
	if m.Kaltura.AppToken.Reveal() != Mask || m.Sync.FTPPassword.Reveal() != Mask {
		t.Errorf("Masked() keeps secrets")
	}
	if c.Kaltura.AppToken.Reveal() != testToken {
		t.Errorf("Masked() changed the original")
	}
	var empty Config
	if empty.Masked().Kaltura.AppToken != "" {
		t.Errorf("Masked() sets an empty secret")
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	// A wrong token: the problem names the key, never the value.
	bad := strings.ToUpper(testToken)
	_, err := Parse([]byte(testFile(map[string][]string{"kaltura": {`app_token = "` + bad + `"`}})), "f")
	if err == nil || leaks(err.Error(), bad) || leaks(strings.ToUpper(err.Error()), bad) {
		t.Errorf("error %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "capturebox.toml")
	if err := os.WriteFile(path, []byte(testFile(nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	err = Set(path, "kaltura.app_token", bad)
	if err == nil || leaks(err.Error(), bad) || leaks(strings.ToUpper(err.Error()), bad) {
		t.Errorf("Set error %v", err)
	}
	err = Set(path, "kaltura.app_token", `"`+testPassword)
	if err == nil || leaks(err.Error(), testPassword) {
		t.Errorf("Set error %v", err)
	}
	// A Config built in code with a bad secret.
	c := secretConfig(t)
	c.Sync.FTPPassword = ""
	c.Kaltura.AppToken = Secret(bad)
	err = Save(path, c)
	if err == nil || leaks(err.Error(), bad) || leaks(strings.ToUpper(err.Error()), bad) {
		t.Errorf("Save error %v", err)
	}
}

// The status page's password (box.status_password) and the console PIN
// are secrets like the credentials: masked in fmt and slog, named (never
// shown) by CheckMode, and a short password is refused with its key.
func TestBoxAndHardwareSecrets(t *testing.T) {
	const pin = "482915"
	c := mustParse(t, testFile(map[string][]string{
		"box":      {`status_password = "` + testPassword + `"`},
		"hardware": {`console_pin = "` + pin + `"`},
	}))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "box", c.Box, "hardware", &c.Hardware, "cfg", c)
	for what, out := range map[string]string{
		"fmt %+v Box":       fmt.Sprintf("%+v", c.Box),
		"fmt %#v *Box":      fmt.Sprintf("%#v", &c.Box),
		"fmt %v Hardware":   fmt.Sprintf("%v", c.Hardware),
		"fmt %+v Config":    fmt.Sprintf("%+v", c),
		"slog":              buf.String(),
		"fmt %s []any{Box}": fmt.Sprintf("%s", []any{&c.Box, c.Hardware}),
	} {
		checkMasked(t, what, out, true)
		if strings.Contains(out, pin) {
			t.Errorf("%s leaks the console PIN:\n%s", what, out)
		}
	}
	path := writeFile(t, testFile(map[string][]string{"box": {`status_password = "` + testPassword + `"`}}), 0o644)
	r, err := CheckMode(path, c, false)
	if err != nil {
		t.Fatal(err)
	}
	if w := r.Warning(); !strings.Contains(w, "box.status_password") || !strings.Contains(w, "hardware.console_pin") || leaks(w, testPassword) {
		t.Errorf("CheckMode warning %q", w)
	}
	ps := problemsOf(t, testFile(map[string][]string{"box": {`status_password = "pw12345"`}}))
	if len(ps) != 1 || ps[0].Key != "box.status_password" || strings.Contains(ps[0].Msg, "pw12345") {
		t.Errorf("problems %v", ps)
	}
}
