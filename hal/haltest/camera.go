package haltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// ErrBusy is returned by FakeCamera.Open while a stream is open.
var ErrBusy = errors.New("haltest: capture source busy")

// CameraConfig configures a FakeCamera. Zero fields take the defaults.
type CameraConfig struct {
	// Width and Height of the picture, at least 32×32; default 160×96.
	// Sizes that are not multiples of 16 are coded with cropping.
	Width, Height int
	// FPS is the frame rate; default 30.
	FPS int
	// KeyInterval is the number of frames from one IDR to the next;
	// default 2×FPS. RequestKeyFrame makes the next frame an IDR.
	KeyInterval int
	// MaxLag is how many frame periods a reader may fall behind before
	// the camera drops frames, as a grabber with a few buffers does;
	// default 4.
	MaxLag int
	// Clock stamps samples and paces frames; nil means time.Now.
	Clock func() time.Time
}

// CameraStats counts what a FakeCamera did.
type CameraStats struct {
	Opens, Closes  int // successful Opens and Closes of streams
	Frames         int // video samples delivered
	KeyFrames      int // of which IDR
	Dropped        int // frames skipped because the reader was late
	KeyRequests    int // RequestKeyFrame calls
	NoSignalErrors int // Open and Next calls that returned ErrNoSignal
}

// FakeCamera is a hal.CaptureSource that delivers real, decodable H.264:
// a test picture (a gradient, a white square that moves one macroblock per
// frame, and the frame number in binary along the bottom row) encoded
// with I_PCM macroblocks, an IDR every KeyInterval frames and P pictures in
// between that code only the macroblocks that changed.
//
// Frames are paced at FPS: frame i of a stream is due at the stream's
// start + i/FPS on the clock, carries that time in Sample.At, and Next
// waits for it with a runtime timer (so under testing/synctest, where
// time.Now is the fake clock, pacing takes no real time). A reader more
// than MaxLag frames late loses the older frames.
//
// Unplug cuts the signal: Next returns an error wrapping hal.ErrNoSignal
// while unplugged, and Open fails the same way. After Plug the open stream
// resumes with an IDR whose time is the moment Next is called again.
type FakeCamera struct {
	cfg   CameraConfig
	clock func() time.Time

	mu        sync.Mutex
	open      *fakeStream
	unplugged bool
	unplugSig chan struct{} // closed on Unplug, replaced on Plug
	openErr   error
	black     bool  // the source sends a black picture (SetBlack)
	seq       int64 // picture number, continuous across streams
	stats     CameraStats
}

var _ hal.CaptureSource = (*FakeCamera)(nil)

// NewFakeCamera returns a plugged-in camera.
func NewFakeCamera(cfg CameraConfig) *FakeCamera {
	if cfg.Width < 32 || cfg.Height < 32 {
		cfg.Width, cfg.Height = 160, 96
	}
	cfg.Width &^= 1 // 4:2:0 cropping works in pairs of pixels
	cfg.Height &^= 1
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.KeyInterval <= 0 {
		cfg.KeyInterval = 2 * cfg.FPS
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 4
	}
	return &FakeCamera{cfg: cfg, clock: clockOrNow(cfg.Clock), unplugSig: make(chan struct{})}
}

// Config returns the configuration with defaults filled in.
func (c *FakeCamera) Config() CameraConfig { return c.cfg }

// FrameDuration is the time between frames.
func (c *FakeCamera) FrameDuration() time.Duration {
	return time.Second / time.Duration(c.cfg.FPS)
}

// Unplug cuts the signal.
func (c *FakeCamera) Unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.unplugged {
		c.unplugged = true
		close(c.unplugSig)
	}
}

// Plug restores the signal.
func (c *FakeCamera) Plug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unplugged {
		c.unplugged = false
		c.unplugSig = make(chan struct{})
	}
}

// SetBlack makes the source's picture black (a laptop asleep, a muted
// input) or not: the samples delivered from now on are marked Black.
func (c *FakeCamera) SetBlack(black bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.black = black
}

// SetOpenError makes Open fail with err (nil clears it), for faults other
// than a missing signal.
func (c *FakeCamera) SetOpenError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.openErr = err
}

// Stats returns the counters.
func (c *FakeCamera) Stats() CameraStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// IsOpen reports whether a stream is open.
func (c *FakeCamera) IsOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open != nil
}

// Open implements hal.CaptureSource.
func (c *FakeCamera) Open(ctx context.Context) (hal.Stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.openErr != nil {
		return nil, fmt.Errorf("fake camera open: %w", c.openErr)
	}
	if c.unplugged {
		c.stats.NoSignalErrors++
		return nil, fmt.Errorf("fake camera open: %w", hal.ErrNoSignal)
	}
	if c.open != nil {
		return nil, fmt.Errorf("fake camera open: %w", ErrBusy)
	}
	s := &fakeStream{
		cam:  c,
		enc:  newH264Encoder(c.cfg.Width, c.cfg.Height, c.cfg.FPS),
		base: c.clock(),
		done: make(chan struct{}),
	}
	c.open = s
	c.stats.Opens++
	return s, nil
}

// Picture renders picture number seq of the test pattern at the coded
// (macroblock-aligned) size, as luma only: what a decoder must output for
// that frame, before cropping. Tests compare decoded frames with it.
func (c *FakeCamera) Picture(seq int64) (luma []byte, codedWidth, codedHeight int) {
	e := newH264Encoder(c.cfg.Width, c.cfg.Height, c.cfg.FPS)
	p := renderPattern(e.mbW, e.mbH, seq)
	return p.y, e.mbW * 16, e.mbH * 16
}

// renderPattern draws picture number seq.
func renderPattern(mbW, mbH int, seq int64) *picture {
	return renderOn(background(mbW, mbH), seq)
}

// background draws the static part of the pattern.
func background(mbW, mbH int) *picture {
	p := newPicture(mbW, mbH)
	w := mbW * 16
	for y := range mbH * 16 {
		for x := range w {
			p.y[y*w+x] = byte(32 + (x*3+y*2)%160)
		}
	}
	cw := mbW * 8
	for y := range mbH * 8 {
		for x := range cw {
			p.cb[y*cw+x] = byte(96 + (x/8*7)%64)
			p.cr[y*cw+x] = byte(96 + (y/8*11)%64)
		}
	}
	return p
}

// renderOn draws picture number seq on a copy of the background bg.
func renderOn(bg *picture, seq int64) *picture {
	mbW, mbH := bg.mbW, bg.mbH
	p := &picture{mbW: mbW, mbH: mbH, y: bytes.Clone(bg.y), cb: bytes.Clone(bg.cb), cr: bytes.Clone(bg.cr)}
	w, cw := mbW*16, mbW*8
	fill := func(mx, my int, luma byte) {
		for y := range 16 {
			for x := range 16 {
				p.y[(my*16+y)*w+mx*16+x] = luma
			}
		}
		for y := range 8 {
			for x := range 8 {
				p.cb[(my*8+y)*cw+mx*8+x] = 128
				p.cr[(my*8+y)*cw+mx*8+x] = 128
			}
		}
	}
	rows := mbH - 1 // the bottom row holds the counter
	pos := int(seq % int64(mbW*rows))
	fill(pos%mbW, pos/mbW, 235)
	for b := range mbW {
		luma := byte(24)
		if seq>>uint(b)&1 == 1 {
			luma = 210
		}
		fill(mbW-1-b, mbH-1, luma)
	}
	return p
}

type fakeStream struct {
	cam  *FakeCamera
	enc  *h264Encoder
	done chan struct{}
	bg   *picture // the static background, drawn at the first frame

	// Guarded by cam.mu.
	base      time.Time // when frame index 0 is due
	index     int64     // next frame index since base
	sinceKey  int
	keyReq    bool
	lost      bool // the signal was lost; rebase and send an IDR when back
	closed    bool
	delivered bool
}

func (s *fakeStream) due(i int64) time.Time {
	return s.base.Add(time.Duration(i * int64(time.Second) / int64(s.cam.cfg.FPS)))
}

// Format implements hal.Stream.
func (s *fakeStream) Format() hal.VideoFormat {
	return hal.VideoFormat{Width: s.cam.cfg.Width, Height: s.cam.cfg.Height, FPS: s.cam.cfg.FPS}
}

// RequestKeyFrame implements hal.Stream; it is safe to call while another
// goroutine waits in Next.
func (s *fakeStream) RequestKeyFrame() {
	c := s.cam
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.KeyRequests++
	s.keyReq = true
}

// Close implements hal.Stream.
func (s *fakeStream) Close() error {
	c := s.cam
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if c.open == s {
		c.open = nil
	}
	c.stats.Closes++
	return nil
}

// Next implements hal.Stream.
func (s *fakeStream) Next(ctx context.Context) (hal.Sample, error) {
	c := s.cam
	for {
		c.mu.Lock()
		if s.closed {
			c.mu.Unlock()
			return hal.Sample{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return hal.Sample{}, err
		}
		if c.unplugged {
			s.lost = true
			c.stats.NoSignalErrors++
			c.mu.Unlock()
			return hal.Sample{}, fmt.Errorf("fake camera: %w", hal.ErrNoSignal)
		}
		now := c.clock()
		if s.lost {
			s.lost = false
			s.base, s.index = now, 0
			s.keyReq = true
		}
		due := s.due(s.index)
		if wait := due.Sub(now); wait > 0 {
			unplug := c.unplugSig
			c.mu.Unlock()
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
		// Late by more than MaxLag frames: skip to the latest due frame.
		period := c.FrameDuration()
		if late := int64(now.Sub(due) / period); late > int64(c.cfg.MaxLag) {
			s.index += late
			c.seq += late
			c.stats.Dropped += int(late)
			due = s.due(s.index)
		}
		key := !s.delivered || s.keyReq || s.sinceKey+1 >= c.cfg.KeyInterval
		if s.bg == nil {
			s.bg = background(s.enc.mbW, s.enc.mbH)
		}
		au, key := s.enc.encode(renderOn(s.bg, c.seq), key)
		if key {
			s.sinceKey, s.keyReq = 0, false
			c.stats.KeyFrames++
		} else {
			s.sinceKey++
		}
		s.delivered = true
		s.index++
		c.seq++
		c.stats.Frames++
		black := c.black
		c.mu.Unlock()
		return hal.Sample{
			Kind:     hal.Video,
			Codec:    "h264",
			At:       due,
			Duration: s.due(s.index).Sub(due),
			Key:      key,
			Data:     au,
			Black:    black,
		}, nil
	}
}

// Still implements hal.Stiller: the test pattern of the last picture
// delivered (of the first, before any), in colour, at the configured size.
// It does not wait.
func (s *fakeStream) Still(ctx context.Context) (image.Image, error) {
	c := s.cam
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.closed:
		return nil, io.EOF
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case c.unplugged || s.lost:
		return nil, fmt.Errorf("fake camera still: %w", hal.ErrNoSignal)
	}
	if s.bg == nil {
		s.bg = background(s.enc.mbW, s.enc.mbH)
	}
	seq := c.seq
	if s.delivered {
		seq--
	}
	p := renderOn(s.bg, seq)
	w, cw := s.enc.mbW*16, s.enc.mbW*8
	img := &image.YCbCr{Y: p.y, Cb: p.cb, Cr: p.cr, YStride: w, CStride: cw,
		SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, w, s.enc.mbH*16)}
	return img.SubImage(image.Rect(0, 0, c.cfg.Width, c.cfg.Height)), nil
}
