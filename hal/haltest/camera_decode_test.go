package haltest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// lookFFmpeg returns the path of tool, or skips the test when it is not
// installed (unless CAPTUREBOX_REQUIRE_FFPROBE=1, which makes it fail).
func lookFFmpeg(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CAPTUREBOX_REQUIRE_FFPROBE") == "1" {
			t.Fatalf("%s not on PATH and CAPTUREBOX_REQUIRE_FFPROBE=1: install Debian package ffmpeg", tool)
		}
		t.Skipf("%s not on PATH: install Debian package ffmpeg to run this test (CI sets CAPTUREBOX_REQUIRE_FFPROBE=1)", tool)
	}
	return p
}

// TestFakeCameraDecodes decodes the camera's Annex B stream with ffmpeg and
// compares every decoded picture, pixel for pixel, with the pattern the
// camera rendered, for a size that needs cropping and one that does not.
func TestFakeCameraDecodes(t *testing.T) {
	ffmpeg := lookFFmpeg(t, "ffmpeg")
	for _, tc := range []struct{ w, h, fps, gop, frames int }{
		{160, 96, 30, 10, 45},
		{200, 90, 25, 50, 60},
	} {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			var stream bytes.Buffer
			var cam *FakeCamera
			var keys []int
			synctest.Test(t, func(t *testing.T) {
				cam = NewFakeCamera(CameraConfig{Width: tc.w, Height: tc.h, FPS: tc.fps, KeyInterval: tc.gop})
				s, err := cam.Open(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				start := time.Now()
				for i := range tc.frames {
					smp, err := s.Next(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if want := start.Add(time.Duration(i) * time.Second / time.Duration(tc.fps)); !smp.At.Equal(want) {
						t.Fatalf("frame %d at %v, want %v", i, smp.At.Sub(start), want.Sub(start))
					}
					if smp.Key {
						keys = append(keys, i)
					}
					if i == 17 {
						s.RequestKeyFrame()
					}
					stream.Write(smp.Data)
				}
			})
			var want []int
			for i, last := 0, -tc.gop; i < tc.frames; i++ {
				if i-last >= tc.gop || i == 18 {
					want = append(want, i)
					last = i
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Errorf("key frames %v, want %v (IDR every %d and on request)", keys, want, tc.gop)
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "in.h264")
			if err := os.WriteFile(in, stream.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ffmpeg, "-v", "error", "-xerror", "-f", "h264", "-i", in,
				"-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg decode: %v: %s", err, out)
			}
			ysize := tc.w * tc.h
			size := ysize + 2*(tc.w/2)*(tc.h/2)
			if len(out) != tc.frames*size {
				t.Fatalf("decoded %d bytes = %d frames, want %d frames", len(out), len(out)/size, tc.frames)
			}
			for f := range tc.frames {
				luma, cw, _ := cam.Picture(int64(f))
				got := out[f*size : f*size+ysize]
				for y := range tc.h {
					if !bytes.Equal(got[y*tc.w:(y+1)*tc.w], luma[y*cw:y*cw+tc.w]) {
						t.Fatalf("frame %d row %d differs from the rendered pattern", f, y)
					}
				}
			}
		})
	}
}
