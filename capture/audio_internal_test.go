package capture

import (
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

func newTestPipe(t *testing.T) *audioPipe {
	t.Helper()
	codec := haltest.PCMCodec{}
	in := hal.AudioFormat{Rate: 48000, Channels: 1}
	enc, err := codec.NewEncoder(in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newAudioPipe(enc, codec.Encoding(), in, DefaultSilenceLevel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func chunk(at time.Time, frames int, overrun bool) hal.AudioChunk {
	pcm := make([]int16, frames)
	for i := range pcm {
		pcm[i] = 1000
	}
	return hal.AudioChunk{PCM: pcm, At: at, Overrun: overrun}
}

// TestAudioPipeTiming: packet times follow the sample count while the
// chunks' capture times agree with it within ResyncThreshold, and follow
// the capture times when they do not.
func TestAudioPipeTiming(t *testing.T) {
	p := newTestPipe(t)
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	var got []time.Duration
	push := func(c hal.AudioChunk) *Span {
		t.Helper()
		frames, gap, err := p.push(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if f.s.Duration != 20*ms || len(f.s.Data) != 1920 || f.silent {
				t.Fatalf("packet %+v", f)
			}
			got = append(got, f.s.At.Sub(t0))
		}
		return gap
	}
	check := func(step string, want ...time.Duration) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: packets at %v, want %v", step, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: packets at %v, want %v", step, got, want)
			}
		}
		got = got[:0]
	}

	// Jittery times within the threshold: the count rules.
	for i, jitter := range []time.Duration{0, 7 * ms, -9 * ms, 30 * ms} {
		if gap := push(chunk(t0.Add(time.Duration(i)*10*ms+jitter), 480, false)); gap != nil {
			t.Fatalf("gap %v for jitter %v", gap, jitter)
		}
	}
	check("jitter", 0, 20*ms)

	// 50 ms late without an overrun flag: re-anchored, the hole noted.
	gap := push(chunk(t0.Add(90*ms), 720, false)) // predicted at 40 ms
	if gap == nil || gap.Start.Sub(t0) != 40*ms || gap.End.Sub(t0) != 90*ms {
		t.Fatalf("gap %+v, want 40..90 ms", gap)
	}
	check("late chunk") // 720 frames: not a whole packet yet

	// An overrun with a partial packet: finished with silence, then the
	// chunk at its own time.
	gap = push(chunk(t0.Add(200*ms), 960, true)) // predicted at 105 ms
	if gap == nil || gap.Start.Sub(t0) != 105*ms || gap.End.Sub(t0) != 200*ms {
		t.Fatalf("gap %+v, want 105..200 ms", gap)
	}
	if len(got) != 2 {
		t.Fatalf("packets %v", got)
	}
	check("overrun", 90*ms, 200*ms)

	// 50 ms early (the input's clock runs fast): the first 50 ms of the
	// chunk go, the rest stays on the count.
	gap = push(chunk(t0.Add(170*ms), 4800, false)) // predicted at 220 ms
	if gap != nil {
		t.Fatalf("gap %+v for an early chunk", gap)
	}
	check("early chunk", 220*ms, 240*ms)
	if len(p.buf) != 2400-2*960 {
		t.Errorf("%d frames pending, want %d", len(p.buf), 2400-2*960)
	}
}
