package haltest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// MicConfig configures a FakeMicrophone. Zero fields take the defaults.
type MicConfig struct {
	// Rate is the sample rate; default 48000.
	Rate int
	// Channels is 1 or 2; default 2 (the same tone on both).
	Channels int
	// Chunk is how much sound each Read returns, as an ALSA period;
	// default 10 ms. It must be a whole number of frames at Rate.
	Chunk time.Duration
	// Tone is the tone's frequency in Hz; default 1000.
	Tone float64
	// Amplitude is the tone's peak; default 8000 (RMS 8000/√2 = 5656.9).
	Amplitude int
	// MaxLag is how many chunks a reader may fall behind before the
	// microphone overruns and drops the older ones, as ALSA's ring buffer
	// does; default 8.
	MaxLag int
	// Clock stamps chunks and paces them; nil means time.Now.
	Clock func() time.Time
}

// MicStats counts what a FakeMicrophone did.
type MicStats struct {
	Opens, Closes int
	Chunks        int // chunks delivered
	Frames        int // frames delivered
	Overruns      int // chunks delivered with Overrun set
}

// FakeMicrophone is a hal.AudioSource that plays a sine tone.
//
// Chunk i of a stream covers frames [i·n, (i+1)·n) since the stream's
// start (n frames per Chunk); it is delivered once its last frame is due
// on the clock, with At the capture time of its first frame, so under
// testing/synctest pacing takes no real time. The tone's phase follows the
// frame index, so the sound is continuous across chunks.
//
// Mute makes the tone silent (zeros) until Unmute. Overrun makes the
// stream lose a stretch of frames, as a late reader of a real device
// would: the next chunk comes after the hole, with Overrun set. A reader
// more than MaxLag chunks late overruns the same way. Unplug makes Read
// and Open fail with hal.ErrNoSignal; after Plug the open stream resumes
// at the current time, with Overrun set.
type FakeMicrophone struct {
	cfg   MicConfig
	clock func() time.Time
	n     int // frames per chunk

	mu        sync.Mutex
	open      *fakeAudioStream
	muted     bool
	unplugged bool
	unplugSig chan struct{}
	stats     MicStats
}

var _ hal.AudioSource = (*FakeMicrophone)(nil)

// NewFakeMicrophone returns a plugged-in microphone.
func NewFakeMicrophone(cfg MicConfig) *FakeMicrophone {
	if cfg.Rate <= 0 {
		cfg.Rate = 48000
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 2
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = 10 * time.Millisecond
	}
	if cfg.Tone <= 0 {
		cfg.Tone = 1000
	}
	if cfg.Amplitude <= 0 {
		cfg.Amplitude = 8000
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 8
	}
	n := int(cfg.Chunk * time.Duration(cfg.Rate) / time.Second)
	if n < 1 {
		n = 1
	}
	cfg.Chunk = time.Duration(n) * time.Second / time.Duration(cfg.Rate)
	return &FakeMicrophone{cfg: cfg, clock: clockOrNow(cfg.Clock), n: n, unplugSig: make(chan struct{})}
}

// Config returns the configuration with defaults filled in.
func (m *FakeMicrophone) Config() MicConfig { return m.cfg }

// ToneRMS is the RMS level of the tone: Amplitude/√2.
func (m *FakeMicrophone) ToneRMS() float64 { return float64(m.cfg.Amplitude) / math.Sqrt2 }

// Mute silences the tone.
func (m *FakeMicrophone) Mute() { m.mu.Lock(); m.muted = true; m.mu.Unlock() }

// Unmute brings the tone back.
func (m *FakeMicrophone) Unmute() { m.mu.Lock(); m.muted = false; m.mu.Unlock() }

// Overrun makes the open stream lose d of sound (rounded up to whole
// chunks) before its next chunk.
func (m *FakeMicrophone) Overrun(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.open; s != nil {
		s.index += int64((d + m.cfg.Chunk - 1) / m.cfg.Chunk)
		s.overrun = true
	}
}

// Unplug removes the device.
func (m *FakeMicrophone) Unplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.unplugged {
		m.unplugged = true
		close(m.unplugSig)
	}
}

// Plug brings the device back.
func (m *FakeMicrophone) Plug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unplugged {
		m.unplugged = false
		m.unplugSig = make(chan struct{})
	}
}

// Stats returns the counters.
func (m *FakeMicrophone) Stats() MicStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// IsOpen reports whether a stream is open.
func (m *FakeMicrophone) IsOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open != nil
}

// Open implements hal.AudioSource.
func (m *FakeMicrophone) Open(ctx context.Context) (hal.AudioStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.unplugged {
		return nil, fmt.Errorf("fake microphone open: %w", hal.ErrNoSignal)
	}
	if m.open != nil {
		return nil, fmt.Errorf("fake microphone open: %w", ErrBusy)
	}
	s := &fakeAudioStream{mic: m, base: m.clock(), done: make(chan struct{})}
	m.open = s
	m.stats.Opens++
	return s, nil
}

type fakeAudioStream struct {
	mic  *FakeMicrophone
	done chan struct{}

	// Guarded by mic.mu.
	base    time.Time // when frame 0 was captured
	index   int64     // next chunk
	overrun bool
	lost    bool
	closed  bool
}

// at is the capture time of the first frame of chunk i.
func (s *fakeAudioStream) at(i int64) time.Time {
	m := s.mic
	return s.base.Add(time.Duration(i * int64(m.n) * int64(time.Second) / int64(m.cfg.Rate)))
}

// Format implements hal.AudioStream.
func (s *fakeAudioStream) Format() hal.AudioFormat {
	return hal.AudioFormat{Rate: s.mic.cfg.Rate, Channels: s.mic.cfg.Channels}
}

// Close implements hal.AudioStream.
func (s *fakeAudioStream) Close() error {
	m := s.mic
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if m.open == s {
		m.open = nil
	}
	m.stats.Closes++
	return nil
}

// Read implements hal.AudioStream.
func (s *fakeAudioStream) Read(ctx context.Context) (hal.AudioChunk, error) {
	m := s.mic
	for {
		m.mu.Lock()
		if s.closed {
			m.mu.Unlock()
			return hal.AudioChunk{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return hal.AudioChunk{}, err
		}
		if m.unplugged {
			s.lost = true
			m.mu.Unlock()
			return hal.AudioChunk{}, fmt.Errorf("fake microphone: %w", hal.ErrNoSignal)
		}
		now := m.clock()
		if s.lost {
			// Back after an unplug: frames resume now.
			s.lost, s.overrun = false, true
			s.base, s.index = now, 0
		}
		ready := s.at(s.index + 1) // when the chunk's last frame is in
		if wait := ready.Sub(now); wait > 0 {
			unplug := m.unplugSig
			m.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			case <-s.done:
			case <-unplug:
			}
			t.Stop()
			continue
		}
		// A reader more than MaxLag chunks late loses the older ones.
		if late := int64(now.Sub(ready) / m.cfg.Chunk); late > int64(m.cfg.MaxLag) {
			s.index += late
			s.overrun = true
		}
		ch := hal.AudioChunk{At: s.at(s.index), Overrun: s.overrun, PCM: make([]int16, m.n*m.cfg.Channels)}
		if !m.muted {
			first := s.index * int64(m.n)
			w := 2 * math.Pi * m.cfg.Tone / float64(m.cfg.Rate)
			for i := range m.n {
				// The phase is taken modulo the rate so that it stays
				// exact however long the stream runs.
				v := int16(math.Round(float64(m.cfg.Amplitude) * math.Sin(w*float64((first+int64(i))%int64(m.cfg.Rate)))))
				for c := range m.cfg.Channels {
					ch.PCM[i*m.cfg.Channels+c] = v
				}
			}
		}
		if s.overrun {
			m.stats.Overruns++
		}
		s.overrun = false
		s.index++
		m.stats.Chunks++
		m.stats.Frames += m.n
		m.mu.Unlock()
		return ch, nil
	}
}

// PCMCodec is a hal.AudioCodec that stores sound as is: 16-bit
// little-endian mono PCM (at 48 kHz unless Rate says) in packets of 20 ms, mixing stereo
// input down. Tests use it where a compressing codec (opus, in package
// board) is not built; a decoder reproduces its input exactly.
type PCMCodec struct {
	// Rate is the one input rate the codec takes, and the track's rate;
	// zero means PCMRate. A low rate keeps hours of simulated sound small.
	Rate int
}

var _ hal.AudioCodec = PCMCodec{}

// PCMRate is the rate of a PCMCodec whose Rate is zero.
const PCMRate = 48000

func (c PCMCodec) rate() int {
	if c.Rate > 0 {
		return c.Rate
	}
	return PCMRate
}

// Encoding implements hal.AudioCodec.
func (c PCMCodec) Encoding() hal.AudioEncoding {
	return hal.AudioEncoding{Codec: "pcm", SampleRate: c.rate(), Channels: 1, FrameDuration: 20 * time.Millisecond}
}

// NewEncoder implements hal.AudioCodec.
func (c PCMCodec) NewEncoder(in hal.AudioFormat) (hal.AudioEncoder, error) {
	if in.Rate != c.rate() {
		return nil, fmt.Errorf("pcm codec: input rate %d Hz, want %d", in.Rate, c.rate())
	}
	if in.Channels != 1 && in.Channels != 2 {
		return nil, fmt.Errorf("pcm codec: %d channels, want 1 or 2", in.Channels)
	}
	return &pcmEncoder{in: in, frames: c.Encoding().FrameSize(in.Rate)}, nil
}

type pcmEncoder struct {
	in     hal.AudioFormat
	frames int
	mu     sync.Mutex
	closed bool
}

func (e *pcmEncoder) Encode(pcm []int16) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("pcm codec: encoder closed")
	}
	if len(pcm) != e.frames*e.in.Channels {
		return nil, fmt.Errorf("pcm codec: %d samples, want %d frames of %d channels", len(pcm), e.frames, e.in.Channels)
	}
	out := make([]byte, 2*e.frames)
	for i := range e.frames {
		var sum int
		for c := range e.in.Channels {
			sum += int(pcm[i*e.in.Channels+c])
		}
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(sum/e.in.Channels)))
	}
	return out, nil
}

func (e *pcmEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}

// RMS returns the root mean square of the samples of one channel of
// interleaved PCM (channel 0 of channels).
func RMS(pcm []int16, channels int) float64 {
	if channels < 1 {
		channels = 1
	}
	var sum float64
	var n int
	for i := 0; i < len(pcm); i += channels {
		v := float64(pcm[i])
		sum += v * v
		n++
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}
