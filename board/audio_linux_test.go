//go:build linux

package board_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/capturebox/capturebox/hal/haltest"
)

// Environment of TestALSAConformance, set by the VM lab's test (tools/vmlab).
const (
	// DeviceEnv names the ALSA capture device to check ("hw:0,1");
	// unset, the test is skipped (this machine has no sound card).
	DeviceEnv = "CAPTUREBOX_ALSA_DEVICE"
	// ToneEnv, when set to an RMS level, says that a tone of that level is
	// playing into the device: the captured level must match within 2%.
	ToneEnv = "CAPTUREBOX_ALSA_TONE_RMS"
)

// TestALSAConformance runs the hal.AudioSource checks against a real ALSA
// capture device (in the VM lab: snd-aloop's capture side, with a 1 kHz
// tone played into the other side).
func TestALSAConformance(t *testing.T) {
	dev := os.Getenv(DeviceEnv)
	if dev == "" {
		t.Skipf("%s not set: no ALSA capture device to check here (the VM lab sets it)", DeviceEnv)
	}
	f, pcm, err := halcheck.CheckAudioSource(board.NewALSA(dev, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The level of 10 ms chunks, 90th percentile: in the VM lab the tone's
	// player can starve and leave silent stretches that are not the
	// driver's doing; a silent capture still gives 0.
	var levels []float64
	n := f.Rate / 100 * f.Channels
	for i := 0; i+n <= len(pcm); i += n {
		levels = append(levels, haltest.RMS(pcm[i:i+n], f.Channels))
	}
	slices.Sort(levels)
	var rms float64
	if len(levels) > 0 {
		rms = levels[len(levels)*9/10]
	}
	t.Logf("%s: %d Hz × %d, %d frames read, RMS %.1f overall, %.1f in 90%% of chunks", dev, f.Rate, f.Channels, len(pcm)/f.Channels, haltest.RMS(pcm, f.Channels), rms)
	if s := os.Getenv(ToneEnv); s != "" {
		var want float64
		if _, err := fmt.Sscan(s, &want); err != nil {
			t.Fatalf("%s=%q: %v", ToneEnv, s, err)
		}
		if math.Abs(rms-want) > want*0.02 {
			t.Errorf("captured RMS %.1f, want the tone's %.1f (±2%%)", rms, want)
		}
	}
}

func TestALSAMissingDevice(t *testing.T) {
	_, err := board.NewALSA("hw:97,3", nil).Open(context.Background())
	if !errors.Is(err, hal.ErrNoSignal) {
		t.Errorf("Open of a card that is not there = %v, want hal.ErrNoSignal", err)
	}
	_, err = board.NewALSA("default", nil).Open(context.Background())
	if err == nil || errors.Is(err, hal.ErrNoSignal) {
		t.Errorf("Open of a plugin name = %v, want a clear error about the name", err)
	}
	if _, err := board.AudioInputs(); err != nil {
		t.Errorf("AudioInputs on a machine without sound cards: %v, want none and no error", err)
	}
}
