package capture_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// losingSource loses, as a device does, every tenth frame that is not a
// key frame.
type losingSource struct{ cam *haltest.FakeCamera }

func (s losingSource) Open(ctx context.Context) (hal.Stream, error) {
	st, err := s.cam.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &losingStream{Stream: st}, nil
}

type losingStream struct {
	hal.Stream
	n int
}

func (l *losingStream) Next(ctx context.Context) (hal.Sample, error) {
	for {
		smp, err := l.Stream.Next(ctx)
		if err != nil {
			return smp, err
		}
		if l.n++; l.n%10 == 0 && !smp.Key {
			continue
		}
		return smp, nil
	}
}

// TestDroppedFrames: the frames a source loses are counted in the
// recording's status (the capture_dropped_frames metric), from the gaps
// in the capture timestamps; a recording that loses none counts none.
func TestDroppedFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r, err := capture.New(capture.Config{Dir: t.TempDir(), Source: losingSource{cam}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start("lossy", capture.Meta{Title: "lossy"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second + time.Millisecond) // 301 frames: the 300th lost, the 301st not
		st := r.Recordings()
		lost := 0
		for i := 1; i <= 300; i++ {
			if i%10 == 0 && (i-1)%60 != 0 {
				lost++
			}
		}
		if len(st) != 1 || st[0].Dropped != lost || st[0].Frames+st[0].Dropped != 301 {
			t.Errorf("status %+v, want %d dropped of 301", st, lost)
		}
		if _, err := r.Stop("lossy"); err != nil {
			t.Fatal(err)
		}

		clean := newRecorder(t, haltest.NewFakeCamera(haltest.CameraConfig{}), capture.Config{})
		if _, err := clean.Start("clean", capture.Meta{Title: "clean"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if st := clean.Recordings(); len(st) != 1 || st[0].Dropped != 0 {
			t.Errorf("status %+v, want none dropped", st)
		}
		if _, err := clean.Stop("clean"); err != nil {
			t.Fatal(err)
		}
	})
}
