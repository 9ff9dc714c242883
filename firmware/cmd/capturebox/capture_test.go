package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/board"
)

// capture probe says which H.264 encoder video_encoder = "auto" picks:
// the hardware encoder when one is found, else openh264 and why.
func TestCaptureProbeNamesTheEncoder(t *testing.T) {
	code, out, errOut := runCmd(t, "capture", "probe")
	if code != 0 {
		t.Fatalf("capture probe: %d %s", code, errOut)
	}
	want := `encoder: openh264 (software H.264), chosen by video_encoder = "auto": no V4L2 M2M H.264 encoder`
	if encs := board.ProbeEncoders(); len(encs) > 0 {
		want = "encoder: v4l2m2m " + encs[0].Path
	}
	if !strings.Contains(out, want) {
		t.Fatalf("capture probe says\n%s\nwant a line with %q", out, want)
	}
}

// capture test -encoder takes the values of hardware.video_encoder.
func TestCaptureTestEncoderFlag(t *testing.T) {
	code, _, errOut := runCmd(t, "capture", "test", "-encoder", "x264", filepath.Join(t.TempDir(), "out.mp4"))
	if code == 0 || !strings.Contains(errOut, `video encoder "x264"`) {
		t.Fatalf("-encoder x264: %d %s", code, errOut)
	}
}
