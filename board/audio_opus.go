//go:build cgo

package board

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/mediadevices/pkg/wave/mixer"

	"github.com/capturebox/capturebox/hal"
)

// NewEncoder implements hal.AudioCodec with mediadevices' opus encoder
// (libopus, linked statically from the module). Input of any supported
// rate and channel count is mixed to mono.
func (o Opus) NewEncoder(in hal.AudioFormat) (hal.AudioEncoder, error) {
	if err := opusInput(in); err != nil {
		return nil, err
	}
	p, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("opus: %w", err)
	}
	p.BitRate = o.bitrate()
	p.Latency = opus.Latency20ms
	p.ChannelMixer = &mixer.MonoMixer{}
	e := &opusEncoder{in: in, frames: o.Encoding().FrameSize(in.Rate)}
	// The encoder pulls its input: it gets exactly the packet that
	// Encode hands it, so each Read gives that packet's frame.
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a := e.next
		if a == nil {
			return nil, func() {}, errors.New("opus: encoder asked for more input than one packet")
		}
		e.next = nil
		return a, func() {}, nil
	})
	enc, err := p.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: in.Rate, ChannelCount: opusChannels}})
	if err != nil {
		return nil, fmt.Errorf("opus: %w", err)
	}
	e.enc = enc
	return e, nil
}

type opusEncoder struct {
	in     hal.AudioFormat
	frames int

	mu     sync.Mutex
	enc    codec.ReadCloser
	next   wave.Audio // the input of the Read in progress
	closed bool
}

// Encode implements hal.AudioEncoder.
func (e *opusEncoder) Encode(pcm []int16) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("opus: encoder closed")
	}
	if len(pcm) != e.frames*e.in.Channels {
		return nil, fmt.Errorf("opus: %d samples, want %d frames of %d channels", len(pcm), e.frames, e.in.Channels)
	}
	a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: e.frames, Channels: e.in.Channels, SamplingRate: e.in.Rate})
	copy(a.Data, pcm)
	e.next = a
	pkt, release, err := e.enc.Read()
	if release != nil {
		release()
	}
	e.next = nil
	if err != nil {
		return nil, fmt.Errorf("opus: encode: %w", err)
	}
	if len(pkt) == 0 {
		return nil, errors.New("opus: encoder gave an empty packet")
	}
	return pkt, nil
}

// Close implements hal.AudioEncoder.
func (e *opusEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.enc.Close()
}
