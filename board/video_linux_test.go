//go:build linux && cgo

package board

import (
	"context"
	"errors"
	"image"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

// yuyvReader produces YUYV frames (a gradient, painted once, with the
// frame number in its first bytes) and decodes them with
// mediadevices' frame decoder, as the V4L2 driver does with a device's
// buffers: the conversion cost is part of the pipeline.
type yuyvReader struct {
	w, h    int
	buf     []byte
	dec     frame.Decoder
	n       atomic.Int64
	stopped atomic.Bool
	pace    pacer
}

// pacer delivers frames at the device's rate, as a capture device's Read
// blocks until its next frame: without it a synthetic reader would spin
// (the stream drops frames that come early), and the benchmarks would
// measure the spinning. A zero period does not wait.
type pacer struct {
	period time.Duration
	next   time.Time
}

func (p *pacer) wait() {
	if p.period <= 0 {
		return
	}
	now := time.Now()
	if p.next.IsZero() || p.next.Before(now.Add(-p.period)) {
		p.next = now // the first frame, or a reader that fell behind
	}
	time.Sleep(time.Until(p.next))
	p.next = p.next.Add(p.period)
}

func newYUYVReader(w, h int) *yuyvReader {
	dec, err := frame.NewDecoder(frame.FormatYUYV)
	if err != nil {
		panic(err)
	}
	r := &yuyvReader{w: w, h: h, buf: make([]byte, w*h*2), dec: dec}
	for y := 0; y < h; y++ {
		row := r.buf[y*w*2 : (y+1)*w*2]
		for x := 0; x < w; x += 2 {
			v := byte(16 + (x+y)%200)
			row[x*2], row[x*2+1], row[x*2+2], row[x*2+3] = v, 128, v, 128
		}
	}
	return r
}

func (r *yuyvReader) Read() (image.Image, func(), error) {
	if r.stopped.Load() {
		return nil, func() {}, io.EOF
	}
	r.pace.wait()
	i := r.n.Add(1)
	for k := 0; k < 8; k++ {
		r.buf[k*2] = byte(i >> (8 * k))
	}
	return r.dec.Decode(r.buf, r.w, r.h)
}

func (r *yuyvReader) stop() error { r.stopped.Store(true); return nil }

// i420Reader produces one I420 picture (a gradient) again and again,
// without conversion or allocation: a source in the encoder's own format,
// so that a pass-through encoder over it leaves only the box's cost.
type i420Reader struct {
	img     *image.YCbCr
	stopped atomic.Bool
	pace    pacer
}

func newI420Reader(w, h int) *i420Reader {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = byte(16 + (x+y)%200)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return &i420Reader{img: img}
}

func (r *i420Reader) Read() (image.Image, func(), error) {
	if r.stopped.Load() {
		return nil, func() {}, io.EOF
	}
	r.pace.wait()
	return r.img, func() {}, nil
}

func (r *i420Reader) stop() error { r.stopped.Store(true); return nil }

// synthSource is a hal.CaptureSource over the real stream and encoder, fed
// by a synthetic reader instead of a device.
type synthSource struct {
	w, h, fps int
	build     encoderBuilder
	raw       bool          // an I420 source (i420Reader), not YUYV converted
	limit     int           // samples before reached is closed; 0 = none
	reached   chan struct{} // closed after limit samples
	mu        sync.Mutex
	open      bool
	n         int
}

func (s *synthSource) Open(ctx context.Context) (hal.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		return nil, ErrBusy
	}
	cfg, err := VideoConfig{Width: s.w, Height: s.h, FPS: s.fps, Bitrate: 4_000_000}.withDefaults()
	if err != nil {
		return nil, err
	}
	period := time.Second / time.Duration(s.fps)
	var r interface {
		video.Reader
		stop() error
	}
	p := prop.Media{Video: prop.Video{Width: s.w, Height: s.h, FrameRate: float32(s.fps), FrameFormat: frame.FormatYUYV}}
	if s.raw {
		ir := newI420Reader(s.w, s.h)
		ir.pace.period = period
		r, p.FrameFormat = ir, frame.FormatI420
	} else {
		yr := newYUYVReader(s.w, s.h)
		yr.pace.period = period
		r = yr
	}
	st, err := startVideoStream(r, p, cfg, "synthetic", r.stop, nil, nil, s.build)
	if err != nil {
		return nil, err
	}
	st.onClose = func() { s.mu.Lock(); s.open = false; s.mu.Unlock() }
	s.open = true
	if s.limit > 0 {
		return &limitStream{Stream: st, s: s}, nil
	}
	return st, nil
}

// limitStream holds the stream quiet after limit samples.
type limitStream struct {
	hal.Stream
	s *synthSource
}

func (l *limitStream) Next(ctx context.Context) (hal.Sample, error) {
	l.s.mu.Lock()
	if l.s.n >= l.s.limit {
		l.s.mu.Unlock()
		<-ctx.Done()
		return hal.Sample{}, ctx.Err()
	}
	l.s.mu.Unlock()
	smp, err := l.Stream.Next(ctx)
	if err == nil {
		l.s.mu.Lock()
		if l.s.n++; l.s.n == l.s.limit {
			close(l.s.reached)
		}
		l.s.mu.Unlock()
	}
	return smp, err
}

// TestStreamConformance runs the hal conformance checks on the stream and
// openh264 encoder the V4L2 source uses (the VM test runs the device side).
func TestStreamConformance(t *testing.T) {
	if err := halcheck.CheckCaptureSource(&synthSource{w: 320, h: 240, fps: 30}); err != nil {
		t.Fatal(err)
	}
}

func TestIsIDR(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{[]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3}, true},
		{[]byte{0, 0, 0, 1, 0x41, 1, 2}, false},
		{nil, false},
	} {
		if got := isIDR(c.b); got != c.want {
			t.Errorf("isIDR(% x) = %v", c.b, got)
		}
	}
}

func TestVideoConfigDefaults(t *testing.T) {
	c, err := VideoConfig{}.withDefaults()
	if err != nil || c.Width != 1920 || c.Height != 1080 || c.FPS != 30 || c.KeyInterval != 60 || c.Encoder != "auto" {
		t.Fatalf("defaults %+v, %v", c, err)
	}
	for _, bad := range []VideoConfig{{Width: 641, Height: 480}, {FPS: 500}, {Format: "H264"}, {Encoder: "x264"}, {Bitrate: 5}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// passThrough is an encoder that converts nothing and returns one fixed
// access unit per frame: with it the benchmark measures the box's own work.
type passThrough struct {
	r  video.Reader
	au []byte
}

func (e *passThrough) Read() ([]byte, func(), error) {
	_, release, err := e.r.Read()
	if err != nil {
		return nil, func() {}, err
	}
	release()
	return e.au, func() {}, nil
}
func (e *passThrough) Close() error                        { return nil }
func (e *passThrough) Controller() codec.EncoderController { return nil }

// oneIDR encodes one frame with openh264: the pass-through encoder's output.
func oneIDR(tb testing.TB, w, h int) []byte {
	src := &synthSource{w: w, h: h, fps: 30}
	st, err := src.Open(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	smp, err := st.Next(context.Background())
	if err != nil || !smp.Key {
		tb.Fatalf("first sample key=%v err=%v", smp.Key, err)
	}
	return smp.Data
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return int64(ru.Maxrss) // KiB on Linux (int32 on 32-bit ARM)
}

// benchPipeline records b.N frames of 1080p from the synthetic source
// through the encoder into a fragmented MP4 (capture.Recorder, fsync per
// fragment) and reports frames per second, CPU per frame, frames lost and
// the process's peak resident memory.
func benchPipeline(b *testing.B, build encoderBuilder, raw bool) {
	const w, h, fps = 1920, 1080, 30
	src := &synthSource{w: w, h: h, fps: fps, build: build, raw: raw, limit: b.N, reached: make(chan struct{})}
	dir := b.TempDir()
	rec, err := capture.New(capture.Config{Dir: dir, Source: src})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	if _, err := rec.Start("bench", capture.Meta{Title: "bench"}); err != nil {
		b.Fatal(err)
	}
	// The recording ends when the stream has delivered b.N frames.
	<-src.reached
	var frames int
	for _, s := range rec.Recordings() {
		frames = s.Frames
	}
	res, err := rec.Stop("bench")
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	rec.Close()
	if err != nil && !errors.Is(err, capture.ErrNoMedia) {
		b.Fatal(err)
	}
	if res.Path != "" {
		os.Remove(res.Path)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "fps")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/frame")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
	b.ReportMetric(float64(b.N-frames), "frames-dropped")
	b.ReportMetric(float64(maxRSS())/1024, "maxRSS-MiB")
}

// BenchmarkPipelineOpenH264 is 1080p through openh264 to disk.
func BenchmarkPipelineOpenH264(b *testing.B) { benchPipeline(b, nil, false) }

// BenchmarkPipelinePassThrough is the same without encoding, from a
// source already in the encoder's format (I420): the box's own cost per
// frame (stream, timestamps, fragmented MP4, fsync per fragment).
func BenchmarkPipelinePassThrough(b *testing.B) {
	au := oneIDR(b, 1920, 1080)
	benchPipeline(b, func(r video.Reader, _ prop.Media) (codec.ReadCloser, error) {
		return &passThrough{r: r, au: au}, nil
	}, true)
}

// BenchmarkPipelinePassThroughYUYV adds the YUYV to I420 conversion a
// YUYV device needs before openh264 (mediadevices' frame decoder).
func BenchmarkPipelinePassThroughYUYV(b *testing.B) {
	au := oneIDR(b, 1920, 1080)
	benchPipeline(b, func(r video.Reader, _ prop.Media) (codec.ReadCloser, error) {
		return &passThrough{r: r, au: au}, nil
	}, false)
}

// BenchmarkPipelineM2MFake is the same through the hardware encoder's
// code (format setup, picture conversion into the mapped OUTPUT buffer,
// both queues, the CAPTURE buffer lent to the stream) on the in-memory
// bcm2835-codec, whose "encoding" costs next to nothing: the box's cost
// per frame on the Pi's hardware encoder path, less the hardware's.
func BenchmarkPipelineM2MFake(b *testing.B) {
	b.ReportAllocs()
	cfg, _ := VideoConfig{Width: 1920, Height: 1080, FPS: 30, Bitrate: 4_000_000}.withDefaults()
	benchPipeline(b, fakeM2M(nil)(cfg), false)
}

// A still of the V4L2 stream is a copy of a frame before the encoder, at
// the stream's size, holding the device's picture (the reader's gradient),
// and it is the caller's: the reader reusing its buffer does not change it.
func TestStreamStill(t *testing.T) {
	src := &synthSource{w: 320, h: 240, fps: 30}
	s, err := src.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stiller, ok := s.(hal.Stiller)
	if !ok {
		t.Fatalf("%T is not a hal.Stiller", s)
	}
	go func() { // the encoder pulls frames only while samples are taken
		for {
			if _, err := s.Next(t.Context()); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	img, err := stiller.Still(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("still is %v, want 320x240", b)
	}
	yc, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("still is %T, want *image.YCbCr", img)
	}
	// Past the frame number in the first bytes: the gradient 16+(x+y)%200.
	for _, p := range []image.Point{{40, 0}, {100, 7}, {318, 239}} {
		if got, want := yc.Y[yc.YOffset(p.X, p.Y)], byte(16+(p.X+p.Y)%200); got != want {
			t.Errorf("luma at %v = %d, want %d", p, got, want)
		}
	}
	second, err := stiller.Still(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if &second.(*image.YCbCr).Y[0] == &yc.Y[0] {
		t.Error("two stills share their memory")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := stiller.Still(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Still after Close: %v, want io.EOF", err)
	}
}

// hdmiMonitor is an HDMI input's signal monitor whose detected timings
// the test switches.
type hdmiMonitor struct {
	mu  sync.Mutex
	now dvTimings
}

func (m *hdmiMonitor) signal() (bool, error) { return true, nil }
func (m *hdmiMonitor) Close() error          { return nil }
func (m *hdmiMonitor) queryTimings() (dvTimings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now, nil
}
func (m *hdmiMonitor) set(t dvTimings) { m.mu.Lock(); m.now = t; m.mu.Unlock() }

// TestStreamEndsOnInputChange: when the HDMI input's detected timings
// leave those the stream was opened with, Next fails with ErrInputChanged
// (a no-signal fault, naming both formats) and keeps failing, so the
// recorder opens the source again in the new format.
func TestStreamEndsOnInputChange(t *testing.T) {
	cfg, err := VideoConfig{Width: 64, Height: 64, FPS: 30, SignalPoll: 10 * time.Millisecond}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	hd, vga := timingsOf(1280, 720, 74_250_000), timingsOf(640, 480, 25_175_000)
	mon := &hdmiMonitor{now: hd}
	r := newYUYVReader(64, 64)
	p := prop.Media{Video: prop.Video{Width: 64, Height: 64, FrameRate: 30, FrameFormat: frame.FormatYUYV}}
	st, err := startVideoStream(r, p, cfg, "hdmi", r.stop, mon, &hd, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := st.Next(ctx); err != nil {
		t.Fatalf("first sample: %v", err)
	}
	mon.set(vga)
	for {
		_, err := st.Next(ctx)
		if err == nil {
			continue // frames encoded before the watch noticed
		}
		if !errors.Is(err, ErrInputChanged) || !errors.Is(err, hal.ErrNoSignal) {
			t.Fatalf("Next after the change: %v, want ErrInputChanged and hal.ErrNoSignal", err)
		}
		if want := "from 1280x720p 74.25 MHz to 640x480p 25.18 MHz"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		break
	}
	if _, err := st.Next(ctx); !errors.Is(err, ErrInputChanged) {
		t.Errorf("Next again: %v, want ErrInputChanged still", err)
	}
}
