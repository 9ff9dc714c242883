package halcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// AudioJitter is how far a chunk's At may stray from where the previous
// chunk's At and length put it, for CheckAudioSource; more is a hole that
// the chunk must flag as an Overrun.
const AudioJitter = 20 * time.Millisecond

// CheckAudioSource checks that src keeps the hal.AudioSource and
// hal.AudioStream contracts; src's device must be present. It checks that
// Open gives a stream with a sensible Format and a second Open fails while
// it is open; chunks hold whole frames, and their times increase and follow
// from the previous chunk's length within AudioJitter (unless flagged as
// an overrun) for at least the first 200 ms of sound; Read returns ctx's
// error for an ended ctx, a Read blocked at Close returns, and Read returns
// io.EOF after Close; and after Close the source opens again. It returns
// the PCM it read in the first 200 ms, for a check of the level.
func CheckAudioSource(src hal.AudioSource) (hal.AudioFormat, []int16, error) {
	ctx := context.Background()
	s, err := src.Open(ctx)
	if err != nil {
		return hal.AudioFormat{}, nil, fmt.Errorf("audio: Open: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	f := s.Format()
	if f.Rate < 8000 || f.Rate > 192000 || f.Channels < 1 || f.Channels > 8 {
		return f, nil, fmt.Errorf("audio: Format %+v", f)
	}
	if s2, err := src.Open(ctx); err == nil {
		s2.Close()
		return f, nil, errors.New("audio: a second Open succeeded while a stream was open")
	}
	read := func(s hal.AudioStream) (hal.AudioChunk, error) {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		return s.Read(ctx)
	}
	var pcm []int16
	var prev hal.AudioChunk
	var frames int
	for i := 0; frames < f.Rate/5; i++ {
		c, err := read(s)
		if err != nil {
			return f, pcm, fmt.Errorf("audio: Read after %d frames: %w", frames, err)
		}
		n := len(c.PCM) / f.Channels
		if n == 0 || len(c.PCM)%f.Channels != 0 {
			return f, pcm, fmt.Errorf("audio: chunk %d has %d samples for %d channels", i, len(c.PCM), f.Channels)
		}
		if c.At.IsZero() {
			return f, pcm, fmt.Errorf("audio: chunk %d has no time", i)
		}
		if i > 0 {
			if !c.At.After(prev.At) {
				return f, pcm, fmt.Errorf("audio: chunk %d at %v is not after chunk %d at %v", i, c.At, i-1, prev.At)
			}
			want := prev.At.Add(time.Duration(len(prev.PCM)/f.Channels) * time.Second / time.Duration(f.Rate))
			if d := c.At.Sub(want); !c.Overrun && (d > AudioJitter || d < -AudioJitter) {
				return f, pcm, fmt.Errorf("audio: chunk %d at %v, %v from where chunk %d ends, and not flagged as an overrun", i, c.At, d, i-1)
			}
		}
		prev = c
		frames += n
		pcm = append(pcm, c.PCM...)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Read(cctx); !errors.Is(err, context.Canceled) {
		return f, pcm, fmt.Errorf("audio: Read with a cancelled context returned %v, want context.Canceled", err)
	}

	// A Read blocked at Close returns.
	res := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Read(ctx); err != nil {
				res <- err
				return
			}
		}
	}()
	closed = true
	if err := s.Close(); err != nil {
		return f, pcm, fmt.Errorf("audio: Close: %w", err)
	}
	t := time.NewTimer(CheckTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		if !errors.Is(err, io.EOF) {
			return f, pcm, fmt.Errorf("audio: Read pending at Close returned %v, want io.EOF", err)
		}
	case <-t.C:
		return f, pcm, fmt.Errorf("audio: Read pending at Close still blocked after %v", CheckTimeout)
	}
	if err := s.Close(); err != nil {
		return f, pcm, fmt.Errorf("audio: second Close: %w", err)
	}

	s, err = src.Open(ctx)
	if err != nil {
		return f, pcm, fmt.Errorf("audio: Open after Close: %w", err)
	}
	defer s.Close()
	if _, err := read(s); err != nil {
		return f, pcm, fmt.Errorf("audio: Read after reopening: %w", err)
	}
	if err := s.Close(); err != nil {
		return f, pcm, fmt.Errorf("audio: Close after reopening: %w", err)
	}
	return f, pcm, nil
}

// CheckAudioCodec checks that c keeps the hal.AudioCodec and
// hal.AudioEncoder contracts: a sensible Encoding; encoders for 48 kHz
// mono and stereo input, each taking exactly one frame's worth of PCM
// (a tone, then silence) and refusing other lengths; an input it cannot
// take refused by NewEncoder; and Encode failing after Close, which may be
// repeated.
func CheckAudioCodec(c hal.AudioCodec) error {
	e := c.Encoding()
	if e.Codec != "opus" && e.Codec != "pcm" {
		return fmt.Errorf("codec: Encoding names codec %q, want opus or pcm", e.Codec)
	}
	if e.SampleRate < 8000 || e.Channels < 1 || e.Channels > 2 || e.FrameDuration < 2500*time.Microsecond || e.FrameDuration > 120*time.Millisecond || e.PreSkip < 0 {
		return fmt.Errorf("codec: Encoding %+v", e)
	}
	if c.Encoding() != e {
		return errors.New("codec: Encoding changed between calls")
	}
	for _, ch := range []int{1, 2} {
		in := hal.AudioFormat{Rate: 48000, Channels: ch}
		enc, err := c.NewEncoder(in)
		if err != nil {
			return fmt.Errorf("codec: NewEncoder(%+v): %w", in, err)
		}
		n := e.FrameSize(in.Rate)
		tone := make([]int16, n*ch)
		for i := range n {
			for k := range ch {
				tone[i*ch+k] = int16((i%48 - 24) * 300) // a 1 kHz sawtooth
			}
		}
		for i, pcm := range [][]int16{tone, tone, make([]int16, n*ch)} {
			pkt, err := enc.Encode(pcm)
			if err != nil {
				enc.Close()
				return fmt.Errorf("codec: Encode of packet %d (%+v): %w", i, in, err)
			}
			if len(pkt) == 0 {
				enc.Close()
				return fmt.Errorf("codec: Encode of packet %d (%+v) gave no data", i, in)
			}
		}
		for _, bad := range []int{0, ch, (n - 1) * ch, (n + 1) * ch} {
			if _, err := enc.Encode(make([]int16, bad)); err == nil {
				enc.Close()
				return fmt.Errorf("codec: Encode of %d samples (%+v) succeeded; it takes exactly %d", bad, in, n*ch)
			}
		}
		if err := enc.Close(); err != nil {
			return fmt.Errorf("codec: Close: %w", err)
		}
		if err := enc.Close(); err != nil {
			return fmt.Errorf("codec: second Close: %w", err)
		}
		if _, err := enc.Encode(tone); err == nil {
			return errors.New("codec: Encode after Close succeeded")
		}
	}
	for _, bad := range []hal.AudioFormat{{Rate: 0, Channels: 2}, {Rate: 48000, Channels: 0}, {Rate: 48000, Channels: 9}} {
		if enc, err := c.NewEncoder(bad); err == nil {
			enc.Close()
			return fmt.Errorf("codec: NewEncoder(%+v) succeeded", bad)
		}
	}
	return nil
}
