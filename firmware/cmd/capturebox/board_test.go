package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
)

func TestBoardGroupUsage(t *testing.T) {
	code, _, errOut := runCmd(t, "board")
	if code != 2 || !strings.Contains(errOut, "board: want 'board probe' or 'board selftest'") {
		t.Errorf("board alone: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "config")
	if code != 2 || !strings.Contains(errOut, "config: want 'config check' or 'config show'") {
		t.Errorf("config alone: exit %d, %q", code, errOut)
	}
}

// TestBoardProbeHere runs the probe on this machine, which is no Pi: it
// still answers every line in words and exits 0.
func TestBoardProbeHere(t *testing.T) {
	if runtime.GOOS != "linux" {
		code, _, errOut := runCmd(t, "board", "probe", "-config", filepath.Join(t.TempDir(), "none.toml"))
		if code != 1 || !strings.Contains(errOut, "need Linux") {
			t.Errorf("probe off Linux: exit %d, %q", code, errOut)
		}
		return
	}
	code, out, errOut := runCmd(t, "board", "probe", "-config", filepath.Join(t.TempDir(), "none.toml"))
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"Config:   ", "not found: the default wiring", "Model:    ", "GPIO:     ", "Display:  none configured", "Console:  /dev/serial0 (115200 baud 8N1)", "Serial:   "} {
		if !strings.Contains(out, want) {
			t.Errorf("probe output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat("/proc/device-tree/model"); err != nil && !strings.Contains(out, "Model:    unknown (no device-tree model") {
		t.Errorf("no device tree here, yet the probe says:\n%s", out)
	}
}

func TestBoardProbeBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[hardware]\nled_pin = \"GPIO99\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "board", "probe", "-config", path)
	if code != 1 || !strings.Contains(errOut, "hardware.led_pin") {
		t.Errorf("probe with a bad config: exit %d, %q", code, errOut)
	}
}

// TestRunWithoutDev: off the Pi (or in a build without a capture driver)
// the box refuses to start and says what it lacks and what to do.
func TestRunWithoutDev(t *testing.T) {
	path := goodConfig(t, "http://127.0.0.1:1", 1, "0_ab12cd34", "0123456789abcdef0123456789abcdef", 1, "")
	code, _, errOut := runCmd(t, "run", "-config", path)
	if code != 1 || !strings.Contains(errOut, "run with -dev") {
		t.Errorf("run without -dev here: exit %d, %q", code, errOut)
	}
}

// TestBoardAudio: the board records sound from ALSA encoded as opus unless
// hardware.audio_device is "none"; a build whose opus encoder cannot work
// (no cgo) refuses to start and names the fix.
func TestBoardAudio(t *testing.T) {
	hw := config.Default().Hardware
	hw.AudioDevice = "none"
	src, codec, err := boardAudio(hw)
	if src != nil || codec != nil || err != nil {
		t.Errorf("audio_device none: %v, %v, %v; want no sound input", src, codec, err)
	}

	hw.AudioDevice = "hw:1,0"
	src, codec, err = boardAudio(hw)
	enc, encErr := board.Opus{}.NewEncoder(hal.AudioFormat{Rate: 48000, Channels: 2})
	if encErr != nil { // this build has no opus encoder
		if err == nil || !strings.Contains(err.Error(), `hardware.audio_device = "none"`) {
			t.Errorf("without an opus encoder: %v, %v, %v; want an error naming the fix", src, codec, err)
		}
		return
	}
	enc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*board.ALSA); !ok {
		t.Errorf("sound input %T, want *board.ALSA", src)
	}
	if _, ok := codec.(board.Opus); !ok || codec.Encoding().Codec != "opus" {
		t.Errorf("sound codec %T, want board.Opus", codec)
	}
}
