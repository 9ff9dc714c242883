//go:build linux

package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gen2brain/alsa"

	"github.com/capturebox/capturebox/hal"
)

// ALSA is the box's sound input: an ALSA capture device, read through
// github.com/gen2brain/alsa (a pure-Go TinyALSA), so that the static binary
// needs no libasound. (mediadevices' own microphone driver dlopens
// libasound and, in a static binary, records silence without an error.)
//
// It opens the device as 16-bit PCM at 48 kHz (16 kHz when the device has
// no 48 kHz), stereo or mono, in periods of 10 ms, and stamps each chunk
// with the capture time of its first frame: the clock's time when the
// chunk was read, less the frames that were still waiting in the device's
// buffer (SNDRV_PCM_IOCTL_DELAY) and the chunk's own length. That puts the
// sound on the clock that stamps the video. The stream stops on an
// overrun (its stop threshold is the buffer size), so an overrun is seen:
// it is restarted and its next chunk is flagged.
type ALSA struct {
	device string
	clock  func() time.Time

	mu   sync.Mutex
	open *alsaStream
}

var _ hal.AudioSource = (*ALSA)(nil)

// NewALSA returns the sound input for device: "" or "auto" for the first
// ALSA capture device, or "hw:<card>,<device>". clock stamps the chunks and
// must be the clock that stamps the video (nil means time.Now).
func NewALSA(device string, clock func() time.Time) *ALSA {
	if clock == nil {
		clock = time.Now
	}
	return &ALSA{device: device, clock: clock}
}

// alsaPeriod is how much sound each read returns.
const alsaPeriod = 10 * time.Millisecond

// alsaPeriods is how many periods the device's buffer holds: how late the
// reader may be before the device overruns (half a second).
const alsaPeriods = 50

// AudioInput is an ALSA capture device found on the machine.
type AudioInput struct {
	Card, Device int
	Name         string // e.g. "hw:1,0"
	Description  string // the card's and the device's names
}

// AudioInputs lists the ALSA capture devices, first card first.
func AudioInputs() ([]AudioInput, error) {
	cards, err := alsa.EnumerateCards()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // no sound support at all: no inputs
		}
		return nil, fmt.Errorf("list sound cards: %w", err)
	}
	var out []AudioInput
	for _, c := range cards {
		for _, d := range c.Devices {
			if d.IsPlayback {
				continue
			}
			out = append(out, AudioInput{
				Card: c.ID, Device: d.ID,
				Name:        fmt.Sprintf("hw:%d,%d", c.ID, d.ID),
				Description: fmt.Sprintf("%s: %s", c.Description, d.Description),
			})
		}
	}
	return out, nil
}

// resolve finds the card and device to open.
func (a *ALSA) resolve() (card, dev uint, err error) {
	if a.device == "" || a.device == "auto" {
		ins, err := AudioInputs()
		if err != nil {
			return 0, 0, err
		}
		if len(ins) == 0 {
			return 0, 0, fmt.Errorf("no ALSA capture device: %w", hal.ErrNoSignal)
		}
		return uint(ins[0].Card), uint(ins[0].Device), nil
	}
	var c, d uint
	if n, err := fmt.Sscanf(a.device, "hw:%d,%d", &c, &d); err != nil || n != 2 {
		return 0, 0, fmt.Errorf("sound device %q is not \"auto\" or \"hw:<card>,<device>\"", a.device)
	}
	return c, d, nil
}

// Open implements hal.AudioSource.
func (a *ALSA) Open(ctx context.Context) (hal.AudioStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open != nil {
		return nil, errors.New("alsa: sound input busy")
	}
	card, dev, err := a.resolve()
	if err != nil {
		return nil, fmt.Errorf("alsa: %w", err)
	}
	pcm, err := openCapture(card, dev)
	if err != nil {
		return nil, fmt.Errorf("alsa hw:%d,%d: %w", card, dev, err)
	}
	s := &alsaStream{
		src: a, pcm: pcm, name: fmt.Sprintf("hw:%d,%d", card, dev),
		format: hal.AudioFormat{Rate: int(pcm.Rate()), Channels: int(pcm.Channels())},
	}
	s.buf = make([]int16, int(pcm.PeriodSize())*s.format.Channels)
	if err := pcm.Start(); err != nil {
		pcm.Close()
		return nil, fmt.Errorf("alsa %s: start: %w", s.name, err)
	}
	a.open = s
	return s, nil
}

// openCapture opens the device in the first format it takes.
func openCapture(card, dev uint) (*alsa.PCM, error) {
	var errs []error
	for _, rate := range []uint32{48000, 16000} {
		for _, ch := range []uint32{2, 1} {
			period := uint32(alsaPeriod * time.Duration(rate) / time.Second)
			cfg := alsa.Config{
				Channels: ch, Rate: rate, Format: alsa.SNDRV_PCM_FORMAT_S16_LE,
				PeriodSize: period, PeriodCount: alsaPeriods,
				StartThreshold: 1,
				// Stop on an overrun instead of overwriting unread sound
				// in silence: the reader then sees it.
				StopThreshold: period * alsaPeriods,
			}
			pcm, err := alsa.PcmOpen(card, dev, alsa.PCM_IN|alsa.PCM_NONBLOCK, &cfg)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
					return nil, fmt.Errorf("%w: %w", hal.ErrNoSignal, err)
				}
				errs = append(errs, fmt.Errorf("%d Hz × %d: %w", rate, ch, err))
				continue
			}
			if pcm.Rate() != rate || pcm.Channels() != ch {
				errs = append(errs, fmt.Errorf("asked for %d Hz × %d, got %d Hz × %d", rate, ch, pcm.Rate(), pcm.Channels()))
				pcm.Close()
				continue
			}
			return pcm, nil
		}
	}
	return nil, fmt.Errorf("no usable capture format (16-bit, 48 or 16 kHz, stereo or mono): %w", errors.Join(errs...))
}

type alsaStream struct {
	src    *ALSA
	pcm    *alsa.PCM
	name   string
	format hal.AudioFormat
	buf    []int16

	closed atomic.Bool
	io     sync.Mutex // held by Read while it uses pcm; Close takes it before closing
	// Guarded by io.
	overrun    bool          // frames were lost before the next chunk
	last, next time.Time     // the last chunk's time, and where its end puts the next
	drift      time.Duration // filtered raw time minus the count
}

// Format implements hal.AudioStream.
func (s *alsaStream) Format() hal.AudioFormat { return s.format }

// Read implements hal.AudioStream. It polls the device in slices of 100 ms
// so that a cancelled ctx or a Close is seen within that time.
func (s *alsaStream) Read(ctx context.Context) (hal.AudioChunk, error) {
	s.io.Lock()
	defer s.io.Unlock()
	for {
		if s.closed.Load() {
			return hal.AudioChunk{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return hal.AudioChunk{}, err
		}
		xruns := s.pcm.Xruns()
		n, err := s.pcm.Read(s.buf)
		if s.pcm.Xruns() != xruns {
			s.overrun = true // Read re-prepared the stream after an overrun
		}
		if n > 0 {
			now := s.src.clock()
			delay, derr := s.pcm.Delay()
			if derr != nil || delay < 0 {
				delay = 0
			}
			raw := now.Add(-s.frames(n + delay))
			c := hal.AudioChunk{PCM: append([]int16(nil), s.buf[:n*s.format.Channels]...)}
			c.At, c.Overrun = s.stamp(raw, n)
			return c, nil
		}
		switch {
		case err == nil, errors.Is(err, syscall.EAGAIN):
		case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ESTRPIPE):
			if err := s.restart(); err != nil {
				return hal.AudioChunk{}, err
			}
			continue
		default:
			return hal.AudioChunk{}, s.lost(err)
		}
		ready, err := s.pcm.Wait(100)
		if err != nil {
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ESTRPIPE) {
				if err := s.restart(); err != nil {
					return hal.AudioChunk{}, err
				}
				continue
			}
			return hal.AudioChunk{}, s.lost(err)
		}
		_ = ready // on a timeout, go round and check ctx and Close
	}
}

// Stamping. raw, the clock's time when a chunk was read less the frames
// waiting behind it and its own length, is right on average but jitters by
// a few milliseconds (the device's pointer moves in steps, the reader is
// scheduled late), so chunk times follow the frame count, slewed towards
// the raw times by at most alsaSlew a chunk: that follows any drift between
// the sound card's clock and the system's, keeps the times increasing and
// continuous, and keeps them on the capture clock. A raw time more than
// alsaResync away from the count (a stall, or a hole the device did not
// report) re-anchors the count there and flags the chunk like an overrun.
const (
	alsaSlew   = 200 * time.Microsecond
	alsaResync = 100 * time.Millisecond
)

func (s *alsaStream) frames(n int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(s.format.Rate)
}

// stamp returns the capture time of a chunk of n frames whose raw time is
// raw, and whether it comes after a hole.
func (s *alsaStream) stamp(raw time.Time, n int) (time.Time, bool) {
	overrun := s.overrun
	s.overrun = false
	var at time.Time
	e := raw.Sub(s.next)
	switch {
	case s.next.IsZero() || overrun || e > alsaResync || e < -alsaResync:
		at, s.drift = raw, 0
		if !s.last.IsZero() {
			overrun = true
			if !at.After(s.last) {
				at = s.last.Add(time.Nanosecond)
			}
		}
	default:
		s.drift += (e - s.drift) / 16
		corr := max(-alsaSlew, min(alsaSlew, s.drift))
		s.drift -= corr
		at = s.next.Add(corr)
	}
	s.last, s.next = at, at.Add(s.frames(n))
	return at, overrun
}

// restart recovers from an overrun that Read did not.
func (s *alsaStream) restart() error {
	s.overrun = true
	if err := s.pcm.Prepare(); err != nil {
		return s.lost(err)
	}
	if err := s.pcm.Start(); err != nil {
		return s.lost(err)
	}
	return nil
}

// lost wraps a device error: a device that went away is hal.ErrNoSignal.
func (s *alsaStream) lost(err error) error {
	if errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EBADFD) {
		return fmt.Errorf("alsa %s: %w: %w", s.name, hal.ErrNoSignal, err)
	}
	return fmt.Errorf("alsa %s: %w", s.name, err)
}

// Close implements hal.AudioStream. A Read in progress returns io.EOF
// within its poll slice.
func (s *alsaStream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.io.Lock()
	err := s.pcm.Close()
	s.io.Unlock()
	s.src.mu.Lock()
	if s.src.open == s {
		s.src.open = nil
	}
	s.src.mu.Unlock()
	if err != nil {
		return fmt.Errorf("alsa %s: close: %w", s.name, err)
	}
	return nil
}
