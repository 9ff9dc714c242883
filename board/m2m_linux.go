//go:build linux

package board

import (
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"golang.org/x/sys/unix"
)

// m2mConfig sets up the hardware encoder.
type m2mConfig struct {
	Width, Height, FPS int
	Bitrate            int           // bit/s
	KeyInterval        int           // frames between IDR pictures
	Buffers            int           // buffers per queue; zero means 4
	Timeout            time.Duration // longest wait for the device; zero means 2 s
	Log                *slog.Logger  // nil discards
}

// m2mQueue is one of the encoder's two queues and its mapped buffers.
type m2mQueue struct {
	typ  uint32
	name string
	bufs [][]byte
}

// m2mEncoder drives a V4L2 M2M H.264 encoder: each picture is written into
// a free OUTPUT buffer and queued; the coded access unit is dequeued from
// the CAPTURE queue. One picture is in flight at a time: simple, and
// enough while the hardware encodes a picture within a frame period
// (bcm2835-codec is built for 1080p30, H.264 level 4.0); keeping several
// pictures queued would be the next step if a Pi shows otherwise.
//
// Methods other than forceKeyFrame and setBitrate are called from one
// goroutine; those two may be called from any, and take effect at the
// next picture.
type m2mEncoder struct {
	dev     m2mDevice
	path    string
	log     *slog.Logger
	timeout time.Duration
	layout  yuvLayout
	rawSize uint32 // sizeimage of the OUTPUT format

	in, out m2mQueue
	free    []int  // OUTPUT buffers not queued
	header  []byte // SPS/PPS that came in a buffer of their own
	held    int    // CAPTURE buffer lent to the caller, or -1
	seq     int64

	forceKey atomic.Bool
	bitrate  atomic.Int64 // a new bitrate to set, or 0

	closeOnce sync.Once
	closeErr  error
}

// newM2MEncoder sets dev up to encode cfg's pictures and starts it. dev is
// closed when setting up fails.
func newM2MEncoder(dev m2mDevice, path string, cfg m2mConfig) (_ *m2mEncoder, err error) {
	if cfg.Buffers == 0 {
		cfg.Buffers = m2mDefaultBufCount
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &m2mEncoder{
		dev: dev, path: path, log: cfg.Log, timeout: cfg.Timeout, held: -1,
		in:  m2mQueue{typ: bufTypeOutputMplane, name: "output"},
		out: m2mQueue{typ: bufTypeCaptureMplane, name: "capture"},
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	ok, drv, card, err := m2mEncodeCaps(dev)
	if err != nil {
		return nil, m2mErr(path, "VIDIOC_QUERYCAP", err)
	}
	if !ok {
		return nil, fmt.Errorf("board: %s (%s, %s) is not a V4L2 M2M H.264 encoder", path, drv, card)
	}
	rawFmt := uint32(pixFmtYUV420)
	if !m2mFormats(dev, bufTypeOutputMplane)[pixFmtYUV420] {
		rawFmt = pixFmtNV12
	}
	// The coded format first: the Pi's encoder derives the OUTPUT
	// format's constraints from it.
	var coded v4l2Format
	coded.Type = bufTypeCaptureMplane
	coded.Fmt.Pix = v4l2PixFormatMplane{Width: uint32(cfg.Width), Height: uint32(cfg.Height), PixelFormat: pixFmtH264, Field: fieldNone, NumPlanes: 1}
	coded.Fmt.Pix.PlaneFmt[0].Sizeimage = m2mDefaultCodedBytes
	if err := dev.ioctl(vidiocSFmt, unsafe.Pointer(&coded)); err != nil {
		return nil, m2mErr(path, "VIDIOC_S_FMT capture H264", err)
	}
	if coded.Fmt.Pix.PixelFormat != pixFmtH264 {
		return nil, fmt.Errorf("board: v4l2m2m %s: capture format %s, want H264", path, fourcc(coded.Fmt.Pix.PixelFormat))
	}
	var raw v4l2Format
	raw.Type = bufTypeOutputMplane
	raw.Fmt.Pix = v4l2PixFormatMplane{Width: uint32(cfg.Width), Height: uint32(cfg.Height), PixelFormat: rawFmt, Field: fieldNone, NumPlanes: 1}
	raw.Fmt.Pix.PlaneFmt[0].Bytesperline = uint32(cfg.Width)
	if err := dev.ioctl(vidiocSFmt, unsafe.Pointer(&raw)); err != nil {
		return nil, m2mErr(path, "VIDIOC_S_FMT output "+fourcc(rawFmt), err)
	}
	p := raw.Fmt.Pix
	e.layout = yuvLayout{NV12: p.PixelFormat == pixFmtNV12, Width: cfg.Width, Height: cfg.Height,
		Stride: int(p.PlaneFmt[0].Bytesperline), Rows: int(p.Height)}
	e.rawSize = p.PlaneFmt[0].Sizeimage
	switch {
	case p.PixelFormat != pixFmtYUV420 && p.PixelFormat != pixFmtNV12:
		return nil, fmt.Errorf("board: v4l2m2m %s: output format %s, want YU12 or NV12", path, fourcc(p.PixelFormat))
	case p.NumPlanes != 1:
		return nil, fmt.Errorf("board: v4l2m2m %s: output format has %d planes, want 1", path, p.NumPlanes)
	case int(p.Width) != cfg.Width || int(p.Height) < cfg.Height || e.layout.Stride < cfg.Width:
		return nil, fmt.Errorf("board: v4l2m2m %s: the device takes %dx%d (stride %d), not %dx%d", path, p.Width, p.Height, e.layout.Stride, cfg.Width, cfg.Height)
	case int(e.rawSize) < e.layout.size():
		return nil, fmt.Errorf("board: v4l2m2m %s: output buffers of %d bytes, a %dx%d picture needs %d", path, e.rawSize, cfg.Width, cfg.Height, e.layout.size())
	}
	parm := v4l2StreamParm{Type: bufTypeOutputMplane, TimePerFrameNum: 1, TimePerFrameDen: uint32(cfg.FPS)}
	if err := dev.ioctl(vidiocSParm, unsafe.Pointer(&parm)); err != nil {
		// The rate only tunes the rate control; an encoder without it
		// still encodes.
		e.log.Warn("v4l2m2m: the device does not take a frame rate", "device", path, "err", err)
	}
	for _, c := range []struct {
		name    string
		id      uint32
		v       int
		require bool
	}{
		{"bitrate", cidBitrate, cfg.Bitrate, true},
		{"H.264 I period", cidH264IPeriod, cfg.KeyInterval, true},
		{"repeat sequence header", cidRepeatSeqHeader, 1, false},
		{"header mode joined", cidHeaderMode, 1, false},
	} {
		if err := e.setControl(c.id, c.v); err != nil {
			if c.require || errors.Is(err, ErrEncoderGone) {
				return nil, fmt.Errorf("%w (%s %d)", err, c.name, c.v)
			}
			// Without inline headers the SPS/PPS still come, in a buffer
			// of their own before the first picture: Encode joins them.
			e.log.Warn("v4l2m2m: control not supported", "device", path, "control", c.name, "err", err)
		}
	}
	if err := e.alloc(&e.in, cfg.Buffers); err != nil {
		return nil, err
	}
	if err := e.alloc(&e.out, cfg.Buffers); err != nil {
		return nil, err
	}
	for i := range e.in.bufs {
		e.free = append(e.free, i)
	}
	for i := range e.out.bufs {
		if err := e.queueCapture(i); err != nil {
			return nil, err
		}
	}
	for _, q := range []*m2mQueue{&e.in, &e.out} {
		t := int32(q.typ)
		if err := dev.ioctl(vidiocStreamOn, unsafe.Pointer(&t)); err != nil {
			return nil, m2mErr(path, "VIDIOC_STREAMON "+q.name, err)
		}
	}
	e.log.Info("v4l2m2m: H.264 encoder started", "device", path, "driver", drv, "card", card,
		"size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), "format", fourcc(p.PixelFormat),
		"stride", e.layout.Stride, "bitrate", cfg.Bitrate, "key_interval", cfg.KeyInterval)
	return e, nil
}

// setControl sets a control with VIDIOC_S_CTRL.
func (e *m2mEncoder) setControl(id uint32, v int) error {
	c := v4l2Control{ID: id, Value: int32(v)}
	if err := e.dev.ioctl(vidiocSCtrl, unsafe.Pointer(&c)); err != nil {
		return m2mErr(e.path, fmt.Sprintf("VIDIOC_S_CTRL %#x", id), err)
	}
	return nil
}

// alloc requests n MMAP buffers on q and maps them.
func (e *m2mEncoder) alloc(q *m2mQueue, n int) error {
	rb := v4l2RequestBuffers{Count: uint32(n), Type: q.typ, Memory: memoryMMAP}
	if err := e.dev.ioctl(vidiocReqBufs, unsafe.Pointer(&rb)); err != nil {
		return m2mErr(e.path, "VIDIOC_REQBUFS "+q.name, err)
	}
	if rb.Count == 0 {
		return fmt.Errorf("board: v4l2m2m %s: the device gave no %s buffers", e.path, q.name)
	}
	for i := uint32(0); i < rb.Count; i++ {
		var pl [1]v4l2Plane
		b := v4l2Buffer{Index: i, Type: q.typ, Memory: memoryMMAP, Planes: unsafe.Pointer(&pl[0]), Length: 1}
		if err := e.dev.ioctl(vidiocQueryBuf, unsafe.Pointer(&b)); err != nil {
			return m2mErr(e.path, fmt.Sprintf("VIDIOC_QUERYBUF %s %d", q.name, i), err)
		}
		m, err := e.dev.mmap(uint32(pl[0].M), int(pl[0].Length))
		if err != nil {
			return m2mErr(e.path, fmt.Sprintf("mmap %s buffer %d", q.name, i), err)
		}
		q.bufs = append(q.bufs, m)
	}
	return nil
}

func (e *m2mEncoder) queueCapture(i int) error {
	var pl [1]v4l2Plane
	pl[0].Length = uint32(len(e.out.bufs[i]))
	b := v4l2Buffer{Index: uint32(i), Type: e.out.typ, Memory: memoryMMAP, Planes: unsafe.Pointer(&pl[0]), Length: 1}
	if err := e.dev.ioctl(vidiocQBuf, unsafe.Pointer(&b)); err != nil {
		return m2mErr(e.path, fmt.Sprintf("VIDIOC_QBUF capture %d", i), err)
	}
	return nil
}

// dequeue takes a finished buffer off q; ok is false when none is ready.
func (e *m2mEncoder) dequeue(q *m2mQueue) (b v4l2Buffer, pl v4l2Plane, ok bool, err error) {
	b = v4l2Buffer{Type: q.typ, Memory: memoryMMAP, Planes: unsafe.Pointer(&pl), Length: 1}
	err = e.dev.ioctl(vidiocDQBuf, unsafe.Pointer(&b))
	if err == unix.EAGAIN {
		return b, pl, false, nil
	}
	if err != nil {
		return b, pl, false, m2mErr(e.path, "VIDIOC_DQBUF "+q.name, err)
	}
	if int(b.Index) >= len(q.bufs) {
		return b, pl, false, fmt.Errorf("board: v4l2m2m %s: VIDIOC_DQBUF %s gave buffer %d of %d", e.path, q.name, b.Index, len(q.bufs))
	}
	return b, pl, true, nil
}

// wait polls for events; a timeout or an error condition is an error.
func (e *m2mEncoder) wait(events int16, what string) error {
	rev, err := e.dev.poll(events, e.timeout)
	switch {
	case err != nil:
		return m2mErr(e.path, "poll", err)
	case rev == 0:
		return fmt.Errorf("board: v4l2m2m %s: no %s within %v: the encoder stopped answering", e.path, what, e.timeout)
	case rev&events == 0 && rev&(pollErr|pollHup) != 0:
		// Ask the device why: an unplugged one fails every ioctl with
		// ENODEV.
		var c v4l2Capability
		if err := e.dev.ioctl(vidiocQueryCap, unsafe.Pointer(&c)); err != nil {
			return m2mErr(e.path, "waiting for "+what+": VIDIOC_QUERYCAP", err)
		}
		return fmt.Errorf("board: v4l2m2m %s: the device reports an error (poll %#x) while waiting for %s", e.path, rev, what)
	}
	return nil
}

// reclaim takes back the OUTPUT buffers the encoder is done with; with
// block it waits for one when none is free.
func (e *m2mEncoder) reclaim(block bool) error {
	for {
		b, _, ok, err := e.dequeue(&e.in)
		if err != nil {
			return err
		}
		if ok {
			e.free = append(e.free, int(b.Index))
			continue
		}
		if len(e.free) > 0 || !block {
			return nil
		}
		if err := e.wait(pollOut, "free picture buffer"); err != nil {
			return err
		}
	}
}

// m2mFrame is one coded access unit.
type m2mFrame struct {
	Data []byte
	Key  bool // the device flagged it V4L2_BUF_FLAG_KEYFRAME
}

// encode encodes img. The access unit lies in a mapped buffer until the
// next call of encode or release; release hands the buffer back early.
func (e *m2mEncoder) encode(img image.Image) (m2mFrame, error) {
	if err := e.release(); err != nil {
		return m2mFrame{}, err
	}
	// A control the device refuses is no reason to stop recording: the
	// stream goes on at the old bitrate, or with the next periodic key
	// frame. A device that is gone is.
	if v := e.bitrate.Swap(0); v != 0 {
		if err := e.setControl(cidBitrate, int(v)); errors.Is(err, ErrEncoderGone) {
			return m2mFrame{}, err
		} else if err != nil {
			e.log.Warn("v4l2m2m: bitrate not changed", "device", e.path, "bitrate", v, "err", err)
		}
	}
	if e.forceKey.Swap(false) {
		if err := e.setControl(cidForceKeyFrame, 1); errors.Is(err, ErrEncoderGone) {
			return m2mFrame{}, err
		} else if err != nil {
			e.log.Warn("v4l2m2m: key frame not forced", "device", e.path, "err", err)
		}
	}
	if err := e.reclaim(true); err != nil {
		return m2mFrame{}, err
	}
	i := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	if err := e.layout.write(e.in.bufs[i], img); err != nil {
		e.free = append(e.free, i)
		return m2mFrame{}, err
	}
	e.seq++
	pl := v4l2Plane{Bytesused: e.rawSize, Length: uint32(len(e.in.bufs[i]))}
	b := v4l2Buffer{Index: uint32(i), Type: e.in.typ, Memory: memoryMMAP, Field: fieldNone,
		Planes: unsafe.Pointer(&pl), Length: 1,
		Timestamp: unix.NsecToTimeval(e.seq * int64(time.Microsecond))}
	if err := e.dev.ioctl(vidiocQBuf, unsafe.Pointer(&b)); err != nil {
		e.free = append(e.free, i)
		return m2mFrame{}, m2mErr(e.path, fmt.Sprintf("VIDIOC_QBUF output %d", i), err)
	}
	for {
		if err := e.wait(pollIn, "coded picture"); err != nil {
			return m2mFrame{}, err
		}
		cb, cpl, ok, err := e.dequeue(&e.out)
		if err != nil {
			return m2mFrame{}, err
		}
		if !ok {
			continue
		}
		if err := e.reclaim(false); err != nil {
			return m2mFrame{}, err
		}
		buf := e.out.bufs[cb.Index]
		lo, hi := int(cpl.DataOffset), int(cpl.Bytesused)
		if hi > len(buf) || lo > hi {
			return m2mFrame{}, fmt.Errorf("board: v4l2m2m %s: capture buffer %d holds bytes %d to %d of %d", e.path, cb.Index, lo, hi, len(buf))
		}
		data := buf[lo:hi]
		switch {
		case cb.Flags&bufFlagError != 0:
			e.log.Warn("v4l2m2m: the device flagged a coded buffer as damaged; dropped", "device", e.path, "index", cb.Index)
			fallthrough
		case len(data) == 0:
			if err := e.queueCapture(int(cb.Index)); err != nil {
				return m2mFrame{}, err
			}
			if cb.Flags&bufFlagLast != 0 {
				return m2mFrame{}, io.EOF
			}
			continue
		case !hasSlice(data):
			// Parameter sets alone: they go before the next picture.
			e.header = append(e.header, data...)
			if err := e.queueCapture(int(cb.Index)); err != nil {
				return m2mFrame{}, err
			}
			continue
		}
		f := m2mFrame{Data: data, Key: cb.Flags&bufFlagKeyframe != 0}
		if len(e.header) > 0 {
			f.Data = append(e.header, data...)
			e.header = nil
			if err := e.queueCapture(int(cb.Index)); err != nil {
				return m2mFrame{}, err
			}
			return f, nil
		}
		e.held = int(cb.Index)
		return f, nil
	}
}

// release hands the lent CAPTURE buffer back to the device.
func (e *m2mEncoder) release() error {
	if e.held < 0 {
		return nil
	}
	i := e.held
	e.held = -1
	return e.queueCapture(i)
}

// forceKeyFrame makes the next picture an IDR picture.
func (e *m2mEncoder) forceKeyFrame() { e.forceKey.Store(true) }

// setBitrate changes the bitrate from the next picture on.
func (e *m2mEncoder) setBitrate(bps int) { e.bitrate.Store(int64(bps)) }

// Close stops both queues, frees the buffers and closes the device.
func (e *m2mEncoder) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		for _, q := range []*m2mQueue{&e.out, &e.in} {
			if len(q.bufs) == 0 {
				continue
			}
			t := int32(q.typ)
			if err := e.dev.ioctl(vidiocStreamOff, unsafe.Pointer(&t)); err != nil {
				errs = append(errs, m2mErr(e.path, "VIDIOC_STREAMOFF "+q.name, err))
			}
			for _, b := range q.bufs {
				if err := e.dev.munmap(b); err != nil {
					errs = append(errs, m2mErr(e.path, "munmap", err))
				}
			}
			q.bufs = nil
			rb := v4l2RequestBuffers{Type: q.typ, Memory: memoryMMAP}
			if err := e.dev.ioctl(vidiocReqBufs, unsafe.Pointer(&rb)); err != nil {
				errs = append(errs, m2mErr(e.path, "VIDIOC_REQBUFS 0 "+q.name, err))
			}
		}
		if err := e.dev.Close(); err != nil {
			errs = append(errs, fmt.Errorf("board: close %s: %w", e.path, err))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// m2mCodec is the M2M encoder as mediadevices' codec.ReadCloser over a
// frame reader, for the video stream; it is its own controller
// (codec.KeyFrameController and codec.BitRateController).
type m2mCodec struct {
	r   video.Reader
	enc *m2mEncoder
}

// newM2MCodec opens the encoder on the device open returns, for the
// frames of r in the format p.
func newM2MCodec(open func() (m2mDevice, error), path string, r video.Reader, p prop.Media, cfg VideoConfig) (*m2mCodec, error) {
	dev, err := open()
	if err != nil {
		return nil, err
	}
	enc, err := newM2MEncoder(dev, path, m2mConfig{
		Width: p.Width, Height: p.Height, FPS: cfg.FPS, Bitrate: cfg.Bitrate, KeyInterval: cfg.KeyInterval, Log: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &m2mCodec{r: r, enc: enc}, nil
}

// Read implements codec.ReadCloser: it reads a picture and encodes it.
// The bytes are the device's buffer: valid until release or the next Read.
func (c *m2mCodec) Read() ([]byte, func(), error) {
	img, done, err := c.r.Read()
	if err != nil {
		return nil, func() {}, err
	}
	f, err := c.enc.encode(img)
	done()
	if err != nil {
		return nil, func() {}, err
	}
	return f.Data, func() {
		if err := c.enc.release(); err != nil {
			c.enc.log.Warn("v4l2m2m: requeue a coded buffer", "err", err)
		}
	}, nil
}

// Close implements codec.ReadCloser.
func (c *m2mCodec) Close() error { return c.enc.Close() }

// Controller implements codec.Controllable.
func (c *m2mCodec) Controller() codec.EncoderController { return c }

// ForceKeyFrame implements codec.KeyFrameController.
func (c *m2mCodec) ForceKeyFrame() error { c.enc.forceKeyFrame(); return nil }

// SetBitRate implements codec.BitRateController.
func (c *m2mCodec) SetBitRate(bps int) error {
	if bps < 10_000 {
		return fmt.Errorf("board: v4l2m2m bitrate %d bit/s: want at least 10000", bps)
	}
	c.enc.setBitrate(bps)
	return nil
}
