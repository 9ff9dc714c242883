package haltest_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/capturebox/capturebox/hal/haltest"
)

func TestAudioChecksPassOnFakes(t *testing.T) {
	for _, cfg := range []haltest.MicConfig{{}, {Rate: 16000, Channels: 1, Chunk: 21 * time.Millisecond}} {
		synctest.Test(t, func(t *testing.T) {
			mic := haltest.NewFakeMicrophone(cfg)
			f, pcm, err := halcheck.CheckAudioSource(mic)
			if err != nil {
				t.Fatal(err)
			}
			want := mic.Config()
			if f.Rate != want.Rate || f.Channels != want.Channels {
				t.Errorf("format %+v, want %d Hz × %d", f, want.Rate, want.Channels)
			}
			if got := haltest.RMS(pcm, f.Channels); math.Abs(got-mic.ToneRMS()) > 1 {
				t.Errorf("tone RMS %.1f, want %.1f", got, mic.ToneRMS())
			}
			if mic.IsOpen() {
				t.Error("the check left a stream open")
			}
		})
	}
	if err := halcheck.CheckAudioCodec(haltest.PCMCodec{}); err != nil {
		t.Fatal(err)
	}
}

// unflagged hides a microphone's overruns: CheckAudioSource must notice.
type unflagged struct{ *haltest.FakeMicrophone }

func (u unflagged) Open(ctx context.Context) (hal.AudioStream, error) {
	s, err := u.FakeMicrophone.Open(ctx)
	if err != nil {
		return nil, err
	}
	return unflaggedStream{s, u.FakeMicrophone}, nil
}

type unflaggedStream struct {
	hal.AudioStream
	mic *haltest.FakeMicrophone
}

func (s unflaggedStream) Read(ctx context.Context) (hal.AudioChunk, error) {
	c, err := s.AudioStream.Read(ctx)
	c.Overrun = false
	s.mic.Overrun(50 * time.Millisecond) // and lose sound after every chunk
	return c, err
}

func TestCheckAudioSourceCatchesHiddenOverruns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, err := halcheck.CheckAudioSource(unflagged{haltest.NewFakeMicrophone(haltest.MicConfig{})})
		if err == nil || !strings.Contains(err.Error(), "not flagged as an overrun") {
			t.Fatalf("check = %v, want a hidden overrun found", err)
		}
	})
}

// badCodec takes any length: CheckAudioCodec must notice.
type badCodec struct{ haltest.PCMCodec }

func (badCodec) NewEncoder(in hal.AudioFormat) (hal.AudioEncoder, error) { return &lenient{}, nil }

type lenient struct{ closed bool }

func (l *lenient) Encode(pcm []int16) ([]byte, error) {
	if l.closed {
		return nil, errors.New("closed")
	}
	return []byte{1}, nil
}
func (l *lenient) Close() error { l.closed = true; return nil }

func TestCheckAudioCodecCatchesWrongLengths(t *testing.T) {
	if err := halcheck.CheckAudioCodec(badCodec{}); err == nil || !strings.Contains(err.Error(), "takes exactly") {
		t.Fatalf("check = %v, want the lenient encoder caught", err)
	}
}

func TestFakeMicrophone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mic := haltest.NewFakeMicrophone(haltest.MicConfig{Channels: 1})
		ctx := context.Background()
		t0 := time.Now()
		s, err := mic.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, err := s.Read(ctx)
		if err != nil || !c.At.Equal(t0) || len(c.PCM) != 480 || c.Overrun {
			t.Fatalf("first chunk at %v (%d samples, overrun %v), %v; want at start, 480 samples", c.At.Sub(t0), len(c.PCM), c.Overrun, err)
		}
		if now := time.Since(t0); now != 10*time.Millisecond {
			t.Errorf("first chunk delivered after %v, want when its last frame is in (10 ms)", now)
		}

		mic.Mute()
		c, _ = s.Read(ctx)
		if haltest.RMS(c.PCM, 1) != 0 {
			t.Error("muted chunk is not silent")
		}
		mic.Unmute()

		mic.Overrun(25 * time.Millisecond) // three chunks lost
		c, _ = s.Read(ctx)
		if !c.Overrun || c.At.Sub(t0) != 50*time.Millisecond {
			t.Errorf("after an overrun: chunk at %v, overrun %v; want at 50 ms, flagged", c.At.Sub(t0), c.Overrun)
		}

		time.Sleep(200 * time.Millisecond) // a late reader overruns too
		c, _ = s.Read(ctx)
		if !c.Overrun {
			t.Errorf("a reader 20 chunks late got chunk at %v without an overrun", c.At.Sub(t0))
		}
		c2, _ := s.Read(ctx)
		if c2.Overrun || c2.At.Sub(c.At) != 10*time.Millisecond {
			t.Errorf("chunk after the overrun at +%v, overrun %v", c2.At.Sub(c.At), c2.Overrun)
		}

		mic.Unplug()
		if _, err := s.Read(ctx); !errors.Is(err, hal.ErrNoSignal) {
			t.Errorf("Read unplugged = %v, want ErrNoSignal", err)
		}
		if _, err := mic.Open(ctx); !errors.Is(err, hal.ErrNoSignal) {
			t.Errorf("Open unplugged = %v, want ErrNoSignal", err)
		}
		time.Sleep(time.Second)
		mic.Plug()
		back := time.Now()
		c, err = s.Read(ctx)
		if err != nil || !c.Overrun || !c.At.Equal(back) {
			t.Errorf("after Plug: chunk at %v, overrun %v, %v; want at the plug time, flagged", c.At.Sub(back), c.Overrun, err)
		}
	})
}
