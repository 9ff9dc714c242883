//go:build linux && cgo

package board

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

// fakeM2M builds hardware encoders for cfg, each on a new in-memory
// bcm2835-codec; set, if not nil, sets the fake up first.
func fakeM2M(set func(*fakeCodec)) func(VideoConfig) encoderBuilder {
	return func(cfg VideoConfig) encoderBuilder {
		return func(r video.Reader, p prop.Media) (codec.ReadCloser, error) {
			f := newFakeCodec()
			if set != nil {
				set(f)
			}
			return newM2MCodec(func() (m2mDevice, error) { return f, nil }, "fake:/dev/video11", r, p, cfg)
		}
	}
}

// encoders are the encoders the video stream can use, each held to the
// same checks: openh264 and the hardware encoder (on the fake device; no
// V4L2 M2M driver runs on this machine or in the VM lab's kernels).
var encoders = []struct {
	name  string
	build func(VideoConfig) encoderBuilder
}{
	{"openh264", openH264},
	{"v4l2m2m-fake", fakeM2M(nil)},
	{"v4l2m2m-fake-split-headers", fakeM2M(func(f *fakeCodec) { f.splitHdr = true })},
}

// TestEncoderConformance holds every encoder to what the stream and the
// recorder rely on: the hal stream checks over the real videoStream, and
// the encoder's own contract (an access unit per picture, an IDR with its
// SPS and PPS first and every KeyInterval pictures, a key frame on demand,
// the bitrate changed while running, io.EOF at the end of the pictures).
func TestEncoderConformance(t *testing.T) {
	for _, enc := range encoders {
		t.Run(enc.name, func(t *testing.T) {
			t.Run("stream", func(t *testing.T) {
				cfg, _ := VideoConfig{Width: 320, Height: 240, FPS: 30, Bitrate: 4_000_000}.withDefaults()
				if err := halcheck.CheckCaptureSource(&synthSource{w: 320, h: 240, fps: 30, build: enc.build(cfg)}); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("encoder", func(t *testing.T) { checkEncoder(t, enc.build) })
		})
	}
}

func checkEncoder(t *testing.T, build func(VideoConfig) encoderBuilder) {
	const w, h, n, keyEvery, forceAt = 320, 240, 24, 10, 13
	cfg, err := VideoConfig{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000, KeyInterval: keyEvery}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := build(cfg)(&imageReader{w: w, h: h, n: n}, prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 30, FrameFormat: frame.FormatI420}})
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := enc.Controller().(codec.KeyFrameController)
	if !ok {
		t.Fatal("the encoder cannot force a key frame")
	}
	rates, ok := enc.Controller().(codec.BitRateController)
	if !ok {
		t.Fatal("the encoder cannot change its bitrate")
	}
	var got []int
	for i := 0; ; i++ {
		if i == forceAt {
			if err := keys.ForceKeyFrame(); err != nil {
				t.Fatal(err)
			}
		}
		if i == 5 {
			if err := rates.SetBitRate(500_000); err != nil {
				t.Fatal(err)
			}
		}
		b, release, err := enc.Read()
		if errors.Is(err, io.EOF) {
			if i != n {
				t.Fatalf("io.EOF after %d pictures of %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatalf("picture %d: %v", i, err)
		}
		if len(b) == 0 || !hasSlice(b) {
			t.Fatalf("picture %d: no slice in %d bytes", i, len(b))
		}
		if isIDR(b) {
			got = append(got, i)
			spss, ppss := avc.GetParameterSetsFromByteStream(b)
			if len(spss) == 0 || len(ppss) == 0 {
				t.Fatalf("IDR picture %d without SPS/PPS", i)
			}
			sps, err := avc.ParseSPSNALUnit(spss[0], false)
			if err != nil || sps.Width != w || sps.Height != h {
				t.Fatalf("IDR picture %d: SPS %+v, %v", i, sps, err)
			}
		}
		release()
	}
	// Key frames at 0 and 10; forced at 13, and the period counts on
	// from there (23).
	if want := []int{0, 10, 13, 23}; !equalInts(got, want) {
		t.Errorf("IDR pictures %v, want %v", got, want)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
}

// A hardware encoder that disappears mid-stream ends the stream with a
// fault that says so (the recorder shows it), instead of leaving Next
// waiting.
func TestM2MDeviceGoneEndsStream(t *testing.T) {
	cfg, _ := VideoConfig{Width: 320, Height: 240, FPS: 30}.withDefaults()
	src := &synthSource{w: 320, h: 240, fps: 30, build: fakeM2M(func(f *fakeCodec) { f.goneAfter = 5 })(cfg)}
	st, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard against a hang, not a wait
	defer cancel()
	for i := 0; ; i++ {
		_, err := st.Next(ctx)
		if err == nil {
			continue
		}
		if i < 4 || i > 5 || !errors.Is(err, hal.ErrNoSignal) || !errors.Is(err, ErrEncoderGone) || !strings.Contains(err.Error(), "no such device") {
			t.Fatalf("after %d samples: %v", i, err)
		}
		break
	}
	if _, err := st.Next(ctx); !errors.Is(err, ErrEncoderGone) {
		t.Fatalf("again: %v", err)
	}
}
