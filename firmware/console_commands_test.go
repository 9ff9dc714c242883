package firmware_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/hal/haltest"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// goSyntax is what a technician must never read: a Go struct or pointer,
// a monotonic clock reading, a nil, a field name in CamelCase.
var goSyntax = regexp.MustCompile(`[{}]|m=[+-]|<nil>|\b[A-Z][a-z]+[A-Z][A-Za-z]*\b|0x[0-9a-f]{6,}`)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConsoleCommands runs every console command on a box that is
// recording and uploading, under synctest: each answers in words (no Go
// syntax), within a second of fake time (no command waits on a timer or a
// timeout), and the commands that change the box do so and are logged.
func TestConsoleCommands(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var logBuf lockedBuffer
		ring := supervisor.NewRing(200)
		log := slog.New(slog.NewTextHandler(io.MultiWriter(&logBuf, ring), nil))
		w := newWorld(t, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
		defer w.sim.Close()
		if _, err := w.store.AddEvent(w.pid, simsched.Event{Summary: "CHEM 101 Lecture", ResourceIDs: []int64{w.room.ID}, TemplateEntryID: w.tpl.ID,
			StartDate: t0.Add(time.Minute).Unix(), EndDate: t0.Add(time.Hour).Unix()}); err != nil {
			t.Fatal(err)
		}
		w.cfg.Hardware.ConsolePIN = "4711"
		cfgPath := filepath.Join(dir, "capturebox.toml")
		if err := config.Save(cfgPath, w.cfg); err != nil {
			t.Fatal(err)
		}
		port := haltest.NewFakeConsole(time.Now)
		var reboots atomic.Int32
		led, display := haltest.NewFakeLED(time.Now), haltest.NewFakeDisplay(16, 2, time.Now)
		dev := firmware.Devices{LED: led, Display: display,
			Button: haltest.NewFakeButton(time.Now), Console: port,
			Capture:  haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 4}),
			TimeSync: haltest.NewFakeTimeSync(true)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- firmware.Run(ctx, w.cfg, dev, firmware.Options{Logger: log, Ring: ring, ConfigPath: cfgPath, Seed: 5,
				HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}},
				Reboot:     func() error { reboots.Add(1); return nil }})
		}()
		stopped := false
		stopBox := func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
				port.Close()
				dev.Button.Close()
			}
		}
		defer stopBox()
		const prompt = "capturebox> "
		// The service PIN from the configuration guards the console.
		if _, err := port.Expect(ctx, "service PIN: "); err != nil {
			t.Fatal(err)
		}
		port.Type("status\n")
		if out, err := port.Expect(ctx, "service PIN: "); err != nil || !strings.Contains(out, "wrong PIN") {
			t.Fatalf("a command before the PIN: %q %v", out, err)
		}
		port.Type("4711\n")
		if _, err := port.Expect(ctx, prompt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute) // the lecture is recording
		answers := map[string]string{}
		ask := func(line string) string {
			t.Helper()
			start := time.Now()
			port.Type(line + "\r\n")
			out, err := port.Expect(ctx, prompt)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if d := time.Since(start); d >= time.Second {
				t.Errorf("%q answered after %v of fake time: a command waited", line, d)
			}
			out = strings.TrimSuffix(out, prompt)
			if m := goSyntax.FindString(out); m != "" {
				t.Errorf("%q answers with Go syntax %q:\n%s", line, m, out)
			}
			answers[line] = out
			t.Logf("> %s\n%s", line, out)
			return out
		}
		token := hex.EncodeToString(bytes.Repeat([]byte{0xab}, 16))
		for _, line := range []string{"help", "status", "schedule", "recordings", "uploads", "time", "network", "version",
			"config", "config show", "config check", "config set sync.interval 5m", "config set kaltura.app_token " + token,
			"config set sync.interval soon", "log 5", "test led", "test button", "test display", "test capture", "test nothing",
			"retry nosuch", "upload nosuch", "start", "frobnicate", "sync now", "reboot"} {
			ask(line)
		}
		// The self-tests drove the devices and handed them back.
		time.Sleep(6 * time.Second)
		var seen []string
		for _, c := range led.Timeline() {
			seen = append(seen, c.Pattern.String())
		}
		if !strings.Contains(strings.Join(seen, " "), "on fast-blink off on") {
			t.Errorf("LED timeline during the self-test: %v", seen)
		}
		if got := display.Lines(); !strings.HasPrefix(got[0], "REC") {
			t.Errorf("display after its self-test: %q", got)
		}
		if out := answers["recordings"]; !strings.Contains(out, "recording now") || strings.Contains(out, "0:00:00") {
			t.Errorf("recordings does not show the running lecture's length:\n%s", out)
		}
		if out := answers["status"]; !strings.Contains(out, "clock      done") && !strings.Contains(out, "done: the clock is synchronised") {
			t.Errorf("status does not say the clock gate is done:\n%s", out)
		}
		if out := answers["status"]; strings.Contains(out, "stopped") {
			t.Errorf("status says stopped:\n%s", out)
		}
		if out := answers["schedule"]; !strings.Contains(out, "last good sync") || !strings.Contains(out, "CHEM 101 Lecture") {
			t.Errorf("schedule:\n%s", out)
		}
		if out := answers["start"]; !strings.Contains(out, "already recording") {
			t.Errorf("start while recording: %s", out)
		}
		if out := answers["frobnicate"]; !strings.Contains(out, "unknown command") || !strings.Contains(out, "config set") {
			t.Errorf("unknown command: %s", out)
		}
		if out := answers["config set sync.interval soon"]; !strings.Contains(out, "error") {
			t.Errorf("a bad value was accepted: %s", out)
		}
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `interval = "5m"`) || !strings.Contains(string(data), token) {
			t.Errorf("config set did not save the file:\n%s", data)
		}
		if st, err := os.Stat(cfgPath); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("config file mode after set: %v %v", st.Mode(), err)
		}
		if reboots.Load() != 1 {
			t.Errorf("reboot called the reboot function %d times", reboots.Load())
		}

		// Stop the lecture: it is closed and kept for the join at the
		// event's end (one lecture, one entry); the console says so.
		ask("stop")
		time.Sleep(2 * time.Second)
		for _, line := range []string{"uploads", "recordings", "status"} {
			ask(line)
		}
		if out := answers["recordings"]; !strings.Contains(out, "part of a lecture, joined when the event ends") {
			t.Errorf("recordings after stop: %s", out)
		}
		ask("start")
		time.Sleep(10 * time.Second)
		if out := ask("recordings"); !strings.Contains(out, "recording now") {
			t.Errorf("start did not start an ad-hoc recording:\n%s", out)
		}
		ask("stop")
		stopBox()

		logged := logBuf.String()
		for _, want := range []string{"command=\"config set\"", "command=start", "command=stop", "command=reboot", "command=\"sync now\""} {
			if !strings.Contains(logged, want) {
				t.Errorf("the log lacks %s", want)
			}
		}
		if strings.Contains(logged, token) || strings.Contains(port.Output(), token) || strings.Contains(logged, "4711") {
			t.Error("the app token reached the log or the console")
		}
		if strings.Contains(logged, "part=") && strings.Count(logged, "subsystem=capture") > 0 {
			for _, l := range strings.Split(logged, "\n") {
				if strings.Count(l, " part=") > 1 {
					t.Errorf("a log line carries part twice: %s", l)
				}
			}
		}
	})
}
