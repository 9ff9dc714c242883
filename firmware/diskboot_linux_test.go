package firmware_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// The box on a data disk it cannot write (issue 16): a read-only bind
// mount and a full tmpfs, both real, made inside a private mount namespace
// of a child test process, so that nothing outside the test's temporary
// folder sees them. Where mounts are not permitted the tests skip, unless
// CAPTUREBOX_REQUIRE_MOUNT=1.

const (
	diskChildEnv = "CAPTUREBOX_DISK_CHILD"
	diskDirEnv   = "CAPTUREBOX_DISK_DIR"
	requireMount = "CAPTUREBOX_REQUIRE_MOUNT"
)

func TestBootOnReadOnlyDataDisk(t *testing.T) { inMountNamespace(t, "readonly") }

func TestBootOnFullDataDisk(t *testing.T) { inMountNamespace(t, "full") }

func TestDiskFullMidRecordingBox(t *testing.T) { inMountNamespace(t, "midrecording") }

func inMountNamespace(t *testing.T, mode string) {
	if os.Getenv(diskChildEnv) == mode {
		diskScenario(t, mode, os.Getenv(diskDirEnv))
		return
	}
	skip := func(why string) {
		if os.Getenv(requireMount) == "1" {
			t.Fatalf("%s and %s=1", why, requireMount)
		}
		t.Skipf("%s: cannot make a read-only or full disk here", why)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), diskChildEnv+"="+mode, diskDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		skip("no private mount namespace (" + err.Error() + ")")
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		skip("mount refused:\n" + string(out))
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func diskScenario(t *testing.T, mode, dir string) {
	switch mode {
	case "midrecording":
		midRecordingScenario(t, dir)
		return
	case whyDiskFull, whyDiskReadOnly:
		whyDiskScenario(t, mode, dir)
		return
	}
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		cfg := w.cfg
		cfg.Upload.MinFreeSpace = 0 // the disk guard's own fault is not under test
		data := cfg.Box.DataDir
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if mode == "full" {
			if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=2m"); err != nil {
				t.Skipf("mount tmpfs: %v", err)
			}
			defer syscall.Unmount(data, syscall.MNT_DETACH)
		}
		for _, d := range []string{cfg.Recording.Dir, filepath.Join(data, "queue"), filepath.Join(data, "schedule")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// A recording closed just before the box went down, not queued yet.
		rec, err := capture.New(capture.Config{Dir: cfg.Recording.Dir, Source: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 2})})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.Start("lost-lecture", capture.Meta{Title: "Lost lecture"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if _, err := rec.Stop("lost-lecture"); err != nil {
			t.Fatal(err)
		}

		var heal func()
		want := "DISK READ-ONLY"
		switch mode {
		case "readonly":
			if err := syscall.Mount(data, data, "", syscall.MS_BIND, ""); err != nil {
				t.Skipf("bind mount: %v", err)
			}
			defer syscall.Unmount(data, syscall.MNT_DETACH)
			if err := syscall.Mount("", data, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
				t.Skipf("remount read-only: %v", err)
			}
			if err := os.WriteFile(filepath.Join(data, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("the data folder is not read-only: %v", err)
			}
			heal = func() {
				if err := syscall.Mount("", data, "", syscall.MS_REMOUNT|syscall.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
			}
		case "full":
			want = "DISK FULL"
			filler := filepath.Join(data, "filler")
			fillDisk(t, filler, 64<<10)
			heal = func() {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
			}
		}

		led := haltest.NewFakeLED(time.Now)
		display := haltest.NewFakeDisplay(16, 2, time.Now)
		dev := firmware.Devices{LED: led, Display: display, Button: haltest.NewFakeButton(time.Now),
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
		var mu sync.Mutex
		var uploaded []string
		opts := firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}}, Seed: 5,
			OnUploaded: func(id, _ string) { mu.Lock(); uploaded = append(uploaded, id); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- firmware.Run(ctx, cfg, dev, opts) }()

		time.Sleep(10 * time.Second)
		select {
		case err := <-done:
			t.Fatalf("Run returned %v on a %s data disk; the box must come up", err, mode)
		default:
		}
		if got := display.Lines(); len(got) < 2 || !strings.Contains(got[1], want) {
			t.Errorf("display %q, want the fault %q", got, want)
		}
		if led.Pattern() != hal.FastBlink {
			t.Errorf("LED %v, want fast blink for the fault", led.Pattern())
		}

		heal()
		time.Sleep(10 * time.Minute)
		mu.Lock()
		if len(uploaded) != 1 || uploaded[0] != "lost-lecture" {
			t.Errorf("uploaded %v after the disk healed, want [lost-lecture]", uploaded)
		}
		mu.Unlock()
		if got := display.Lines(); len(got) > 1 && strings.Contains(got[1], "DISK") {
			t.Errorf("display %q still shows the disk fault", got)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}

// midRecordingScenario fills the data disk (a real 8 MiB tmpfs) during an
// ad-hoc recording: the fault is on the LED, the display and the console
// within 2 s; when space is freed the same recording goes on, and the file
// that reaches Kaltura decodes without an error.
func midRecordingScenario(t *testing.T, dir string) {
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		cfg := w.cfg
		cfg.Upload.MinFreeSpace = 0
		data := cfg.Box.DataDir
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=8m"); err != nil {
			t.Skipf("mount tmpfs: %v", err)
		}
		defer syscall.Unmount(data, syscall.MNT_DETACH)

		led := haltest.NewFakeLED(time.Now)
		display := haltest.NewFakeDisplay(16, 2, time.Now)
		button := haltest.NewFakeButton(time.Now)
		con := haltest.NewFakeConsole(time.Now)
		dev := firmware.Devices{LED: led, Display: display, Button: button, Console: con,
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 64, Height: 48, FPS: 10, KeyInterval: 20}), TimeSync: haltest.NewFakeTimeSync(true)}
		var mu sync.Mutex
		var uploaded []string
		opts := firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}}, Seed: 5,
			OnUploaded: func(id, _ string) { mu.Lock(); uploaded = append(uploaded, id); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- firmware.Run(ctx, cfg, dev, opts) }()

		time.Sleep(5 * time.Second)
		button.Press() // an ad-hoc recording
		time.Sleep(20 * time.Second)
		if led.Pattern() != hal.On {
			t.Fatalf("LED %v, want on while recording", led.Pattern())
		}
		filler := filepath.Join(data, "filler")
		fillDisk(t, filler, 4<<10)
		full := time.Now()
		time.Sleep(3 * time.Second)

		shown := time.Time{}
		for _, fr := range display.History() {
			if fr.At.After(full.Add(-time.Nanosecond)) && len(fr.Lines) > 1 && strings.Contains(fr.Lines[1], "DISK FULL") {
				shown = fr.At
				break
			}
		}
		if shown.IsZero() || shown.Sub(full) > 2*time.Second {
			t.Errorf("display: DISK FULL shown %v after the disk filled (history %v), want within 2 s", shown.Sub(full), display.History())
		}
		blink := time.Time{}
		for _, c := range led.Timeline() {
			if !c.At.Before(full) && c.Pattern == hal.FastBlink {
				blink = c.At
				break
			}
		}
		if blink.IsZero() || blink.Sub(full) > 2*time.Second {
			t.Errorf("LED: fast blink %v after the disk filled, want within 2 s", blink.Sub(full))
		}
		con.Type("status\n")
		if out, err := con.Expect(ctx, "DISK FULL"); err != nil {
			t.Errorf("console status does not show the fault: %v\n%s", err, out)
		}
		t.Logf("disk full at +%v: display +%v, LED +%v", full.Sub(full), shown.Sub(full), blink.Sub(full))

		time.Sleep(20 * time.Second)
		if err := os.Remove(filler); err != nil { // space returns
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if got := display.Lines(); strings.Contains(strings.Join(got, "|"), "DISK") || led.Pattern() != hal.On {
			t.Errorf("after space returned: display %q, LED %v; want recording, no fault", got, led.Pattern())
		}
		button.Press() // stop
		time.Sleep(10 * time.Minute)
		mu.Lock()
		got := append([]string(nil), uploaded...)
		mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("uploaded %v, want one recording", got)
		}
		sc, err := capture.ReadSidecar(cfg.Recording.Dir, got[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.Parts) != 2 || sc.Error == "" {
			t.Errorf("sidecar parts %v, error %q; want two spans around the outage, noted", sc.Parts, sc.Error)
		}
		info := capturetest.Probe(t, filepath.Join(cfg.Recording.Dir, sc.File)) // no ffprobe error output
		t.Logf("recording %s: %d frames, %.1f s, parts %v", got[0], info.Frames, info.Duration, sc.Parts)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		con.Close() // ends the console's reader
	})
}

// fillDisk writes the file filler in chunks of chunk bytes until its disk
// is full (ENOSPC).
func fillDisk(t *testing.T, filler string, chunk int) {
	t.Helper()
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, chunk))
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
}
