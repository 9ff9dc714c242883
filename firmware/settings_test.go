package firmware

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/config/configtest"
	"github.com/capturebox/capturebox/hal/haltest"
)

// Every documented setting does what it says (issue 14): each key the
// example configuration documents must have an entry in settingsTable, and
// each entry proves that changing the key from its default changes what
// the box does. A key documented without an entry fails
// TestEveryDocumentedSettingChangesBehaviour, so a new setting cannot be
// accepted and ignored.
//
// An entry sets the key to a value other than its default (and, in base,
// keys it depends on, set alike in both configurations) and observes the
// box built from each configuration:
//
//   - without probe: the box newBox builds, walked by reflection (every
//     subsystem's options, down to the values its constructor kept). The
//     setting changes behaviour when some value of that walk differs; paths
//     that differ between two builds of the same configuration (times,
//     random seeds) are not counted.
//   - with probe: what the probe observes, for a setting read outside
//     newBox (the main package's logger, the board's devices).
type setting struct {
	key   string            // "section.name"
	value string            // TOML value other than the default
	base  map[string]string // further keys, set in both configurations
	probe func(t *testing.T, cfg *config.Config) string
}

func settingsTable(t *testing.T) []setting {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	srv := httptest.NewTLSServer(nil)
	srv.Close()
	writePEM(t, caFile, srv.Certificate())
	ftp := map[string]string{"sync.transport": `"ftp"`, "sync.ftp_address": `"ftp.example.edu:21"`,
		"sync.ftp_login": `"capture"`, "sync.ftp_password": `"secret"`}
	return []setting{
		{key: "box.name", value: `"Room 202"`},
		{key: "box.timezone", value: `"Europe/London"`},
		{key: "box.data_dir", value: quoteTOML(filepath.Join(dir, "other"))},
		// main builds the box's log handler at this level (firmware/cmd/capturebox).
		{key: "box.log_level", value: `"debug"`, probe: func(t *testing.T, cfg *config.Config) string {
			h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Box.SlogLevel()})
			return fmt.Sprint(h.Enabled(t.Context(), slog.LevelDebug))
		}},
		{key: "box.ledger_max_size", value: `"8MiB"`},
		{key: "sync.max_age", value: `"1h"`},
		// The pre-flight runs in the ledger's subsystem: the probe runs one.
		{key: "recording.preflight", value: `"0s"`},
		{key: "recording.warmup", value: `"1m"`},
		// The metrics server is a subsystem of run, not a value newBox holds.
		{key: "box.metrics_address", value: `"127.0.0.1:9101"`, probe: func(t *testing.T, cfg *config.Config) string {
			b, err := newBox(cfg, Devices{LED: haltest.NewFakeLED(time.Now), Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2})}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range b.healthSubsystems() {
				names = append(names, s.Name)
			}
			return strings.Join(names, " ")
		}},
		// The status page's login: the box's statusAuth holds it.
		{key: "box.status_password", value: `"correct horse battery"`},
		{key: "kaltura.service_url", value: `"https://kaltura.example.edu"`},
		{key: "kaltura.allow_insecure_http", value: `true`},
		{key: "kaltura.partner_id", value: `7654321`},
		{key: "kaltura.app_token_id", value: `"0_zz99yy88"`},
		{key: "kaltura.app_token", value: `"fedcba9876543210fedcba9876543210"`},
		{key: "kaltura.app_token_hash_type", value: `"SHA256"`},
		{key: "kaltura.resource_id", value: `59`},
		{key: "kaltura.parent_resource_id", value: `60`},
		{key: "kaltura.default_template_entry_id", value: `"1_xy12zw34"`},
		{key: "kaltura.ca_file", value: quoteTOML(caFile)},
		{key: "kaltura.request_timeout", value: `"45s"`},
		{key: "sync.transport", value: `"ftp"`, base: map[string]string{"sync.ftp_address": `"ftp.example.edu:21"`,
			"sync.ftp_login": `"capture"`, "sync.ftp_password": `"secret"`}},
		{key: "sync.interval", value: `"5m"`},
		{key: "sync.jitter", value: `"1m"`},
		{key: "sync.window", value: `"7d"`},
		{key: "sync.record_only", value: `false`},
		{key: "sync.page_size", value: `100`},
		{key: "sync.ftp_address", value: `"ftp2.example.edu:2121"`, base: ftp},
		{key: "sync.ftp_login", value: `"recorder"`, base: ftp},
		{key: "sync.ftp_password", value: `"other"`, base: ftp},
		{key: "sync.max_response_size", value: `"8MiB"`},
		{key: "recording.pre_padding", value: `"1m"`},
		{key: "recording.post_padding", value: `"2m"`},
		{key: "recording.adhoc_max", value: `"1h"`},
		{key: "recording.min_length", value: `"30s"`},
		{key: "recording.short_policy", value: `"upload-tagged"`},
		{key: "recording.dir", value: quoteTOML(filepath.Join(dir, "recordings"))},
		{key: "recording.silence_after", value: `"10s"`},
		{key: "recording.black_after", value: `"10s"`},
		{key: "recording.keep_parts_separate", value: `true`},
		{key: "hardware.console_pin", value: `"4321"`},
		{key: "upload.chunk_size", value: `"8MiB"`},
		{key: "upload.bandwidth_limit", value: `"1MiB"`},
		{key: "upload.retention", value: `"14d"`},
		{key: "upload.unverified_retention", value: `"60d"`},
		{key: "upload.min_free_space", value: `"4GiB"`},
		{key: "upload.max_backoff", value: `"5m"`},
	}
}

func writePEM(t *testing.T, path string, cert *x509.Certificate) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func quoteTOML(s string) string { return fmt.Sprintf("%q", s) }

const exampleConfig = "config/capturebox.example.toml"

// documentedKeys returns the keys the example documents, in file order.
// boardSetting reports whether the main package reads the key to open the
// board (firmware/cmd/capturebox, which alone imports board): its test
// TestBoardSettings proves those keys, this one the rest.
func boardSetting(key string) bool {
	return strings.HasPrefix(key, "hardware.") && key != "hardware.console_pin"
}

func documentedKeys(t *testing.T, example string) []string {
	t.Helper()
	keys := configtest.DocumentedKeys(example)
	if len(keys) < 10 {
		t.Fatalf("only %d keys found in %s", len(keys), exampleConfig)
	}
	return keys
}

// withValues returns the example with each key of values set (its line,
// commented or not, replaced).
func withValues(t *testing.T, example string, values map[string]string) []byte {
	t.Helper()
	out, err := configtest.WithValues(example, values)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// boxWalk builds the box of cfg and returns its reflective walk, path →
// value. The data directory is emptied first, so that two builds of one
// configuration see the same disk.
func boxWalk(t *testing.T, cfg *config.Config) map[string]string {
	t.Helper()
	if err := os.RemoveAll(cfg.Box.DataDir); err != nil {
		t.Fatal(err)
	}
	if cfg.Recording.Dir != "" && !strings.HasPrefix(cfg.Recording.Dir, cfg.Box.DataDir) {
		if err := os.RemoveAll(cfg.Recording.Dir); err != nil {
			t.Fatal(err)
		}
	}
	dev := Devices{LED: haltest.NewFakeLED(nil), Button: haltest.NewFakeButton(nil),
		Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
	b, err := newBox(cfg, dev, Options{Seed: 1})
	if err != nil {
		return map[string]string{"newBox error": err.Error()}
	}
	defer func() {
		if _, err := b.recorder.Close(); err != nil {
			t.Errorf("closing the recorder: %v", err)
		}
	}()
	w := walker{out: map[string]string{}, seen: map[uintptr]bool{}}
	w.walk("box", reflect.ValueOf(b), 0)
	return w.out
}

type walker struct {
	out  map[string]string
	seen map[uintptr]bool
}

const maxDepth = 14

var configType = reflect.TypeOf(config.Config{})

func (w *walker) walk(path string, v reflect.Value, depth int) {
	if depth > maxDepth || len(w.out) > 200000 {
		return
	}
	switch v.Kind() {
	case reflect.Invalid:
		w.out[path] = "<nil>"
	case reflect.Pointer:
		if v.IsNil() {
			w.out[path] = "<nil>"
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.walk(path, v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			w.out[path] = "<nil>"
			return
		}
		w.walk(path+"("+v.Elem().Type().String()+")", v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == configType {
			return // the configuration itself proves nothing: what was made of it does
		}
		for i := 0; i < v.NumField(); i++ {
			w.walk(path+"."+v.Type().Field(i).Name, v.Field(i), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			w.out[path] = "<nil>"
			return
		}
		w.out[path+".len"] = fmt.Sprint(v.Len())
		if v.Type().Elem().Kind() == reflect.Uint8 {
			w.out[path] = fmt.Sprintf("%x", v.Bytes()[:min(v.Len(), 256)])
			return
		}
		for i := 0; i < min(v.Len(), 64); i++ {
			w.walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1)
		}
	case reflect.Map:
		w.out[path+".len"] = fmt.Sprint(v.Len())
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys[:min(len(keys), 64)] {
			w.walk(fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k), depth+1)
		}
	case reflect.Func:
		w.out[path] = fmt.Sprint("func nil=", v.IsNil())
	case reflect.Chan:
		w.out[path] = fmt.Sprint("chan cap=", v.Cap())
	case reflect.UnsafePointer:
	case reflect.Bool:
		w.out[path] = fmt.Sprint(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.out[path] = fmt.Sprint(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.out[path] = fmt.Sprint(v.Uint())
	case reflect.Float32, reflect.Float64:
		w.out[path] = fmt.Sprint(v.Float())
	case reflect.String:
		w.out[path] = v.String()
	default:
		w.out[path] = v.Kind().String()
	}
}

// differences lists the paths where a and b differ, leaving out noise.
func differences(a, b map[string]string, noise map[string]bool) []string {
	var d []string
	for k, va := range a {
		if vb, ok := b[k]; (!ok || va != vb) && !noise[k] {
			d = append(d, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !noise[k] {
			d = append(d, k)
		}
	}
	sort.Strings(d)
	return d
}

func TestEveryDocumentedSettingChangesBehaviour(t *testing.T) {
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	example := string(raw)
	table := map[string]setting{}
	for _, s := range settingsTable(t) {
		if _, dup := table[s.key]; dup {
			t.Fatalf("two entries for %s", s.key)
		}
		table[s.key] = s
	}
	documented := documentedKeys(t, example)
	isDocumented := map[string]bool{}
	for _, k := range documented {
		isDocumented[k] = true
	}
	for k := range table {
		if !isDocumented[k] {
			t.Errorf("settingsTable has %s, which %s does not document", k, exampleConfig)
		}
	}
	var missing []string
	for _, k := range documented {
		if _, ok := table[k]; !ok && !boardSetting(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d keys documented in %s have no entry in settingsTable (show that each changes what the box does, or do not document it): %s",
			len(missing), exampleConfig, strings.Join(missing, ", "))
	}
	data := filepath.Join(t.TempDir(), "data")
	build := func(t *testing.T, values map[string]string) *config.Config {
		t.Helper()
		all := map[string]string{"box.data_dir": quoteTOML(data)}
		for k, v := range values {
			all[k] = v
		}
		cfg, err := config.Parse(withValues(t, example, all), exampleConfig)
		if err != nil {
			t.Fatalf("%v", err)
		}
		return cfg
	}
	for _, key := range documented {
		if boardSetting(key) {
			continue // firmware/cmd/capturebox TestBoardSettings proves it
		}
		t.Run(key, func(t *testing.T) {
			s, ok := table[key]
			if !ok {
				t.Fatalf("%s is documented in %s but has no entry in settingsTable: show that it changes what the box does, or do not document it", key, exampleConfig)
			}
			changed := map[string]string{}
			for k, v := range s.base {
				changed[k] = v
			}
			changed[key] = s.value
			def, chg := build(t, s.base), build(t, changed)
			if s.probe != nil {
				if a, b := s.probe(t, def), s.probe(t, chg); a == b {
					t.Fatalf("%s = %s: the probe sees no change (%q)", key, s.value, a)
				}
				return
			}
			first, second := boxWalk(t, def), boxWalk(t, def)
			noise := map[string]bool{}
			for _, p := range differences(first, second, nil) {
				noise[p] = true
			}
			d := differences(first, boxWalk(t, chg), noise)
			if len(d) == 0 {
				t.Fatalf("%s = %s changes nothing the box holds", key, s.value)
			}
			t.Logf("%s = %s changes %d values, first %s", key, s.value, len(d), d[0])
		})
	}
}
