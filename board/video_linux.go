//go:build linux && cgo

package board

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/capturebox/capturebox/hal"
)

// VideoSource is the hal.CaptureSource of a V4L2 capture device, encoded
// to H.264 by the hardware encoder or openh264 (VideoConfig.Encoder). One
// stream is open at a time.
type VideoSource struct {
	cfg VideoConfig

	mu    sync.Mutex
	open  bool
	input string // the input's timings at the last Open, in words
}

// NewVideoSource checks cfg and returns the source; the device is looked
// for at each Open, so a dongle plugged in later is found.
func NewVideoSource(cfg VideoConfig) (*VideoSource, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &VideoSource{cfg: cfg}, nil
}

// Config returns the configuration with the defaults filled in.
func (s *VideoSource) Config() VideoConfig { return s.cfg }

// ErrBusy is returned by Open while a stream is open.
var ErrBusy = errors.New("board: capture stream already open")

var frameFormats = map[string]frame.Format{
	"NV12": frame.FormatNV12, "YUYV": frame.FormatYUYV, "UYVY": frame.FormatUYVY, "MJPEG": frame.FormatMJPEG,
	"MJPG": frame.FormatMJPEG, "I420": frame.FormatI420, "YU12": frame.FormatI420,
}

// cameraDriver finds mediadevices' driver for the device node.
func cameraDriver(path string) (driver.Driver, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("board: %s: %w", path, err)
	}
	find := func() driver.Driver {
		for _, d := range driver.GetManager().Query(driver.FilterVideoRecorder()) {
			// The label is "<name>;<target name>", both base names.
			label := d.Info().Label
			if strings.HasSuffix(label, camera.LabelSeparator+filepath.Base(real)) {
				return d
			}
		}
		return nil
	}
	if d := find(); d != nil {
		return d, nil
	}
	camera.Initialize() // a device that appeared after start-up
	if d := find(); d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("board: mediadevices has no camera driver for %s", path)
}

// Open finds the device, selects its input, opens it at the configured
// size and rate and starts the encoder.
func (s *VideoSource) Open(ctx context.Context) (hal.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		return nil, ErrBusy
	}
	path, input, err := findCapture(s.cfg.Device, s.cfg.Input)
	if errors.Is(err, ErrNoVideoDevice) {
		return nil, fmt.Errorf("%w: %w", hal.ErrNoSignal, err)
	}
	if err != nil {
		return nil, err
	}
	mon, err := openV4L2(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", hal.ErrNoSignal, err)
	}
	if ok, err := mon.signal(); err == nil && !ok {
		mon.Close()
		return nil, fmt.Errorf("%w: %s input %d reports no signal", hal.ErrNoSignal, path, input)
	}
	// An HDMI receiver is set to the timings it detects, so that after
	// the source changed resolution the stream opens in the new format.
	timings, hasTimings, err := mon.followTimings()
	if err != nil {
		mon.Close()
		return nil, fmt.Errorf("%w: %s input %d: %w", hal.ErrNoSignal, path, input, err)
	}
	format := s.cfg.Format
	if format == "" {
		have := strings.Join(mon.formats(), " ")
		for _, f := range VideoFormats {
			if strings.Contains(" "+have+" ", " "+f+" ") || (f == "MJPEG" && strings.Contains(have, "MJPG")) {
				format = f
				break
			}
		}
		if format == "" {
			mon.Close()
			return nil, fmt.Errorf("board: %s offers none of %s (it has %s)", path, strings.Join(VideoFormats, ", "), have)
		}
	}
	drv, err := cameraDriver(path)
	if err != nil {
		mon.Close()
		return nil, err
	}
	if err := drv.Open(); err != nil {
		mon.Close()
		return nil, fmt.Errorf("board: open %s: %w", path, err)
	}
	p := prop.Media{Video: prop.Video{
		Width: s.cfg.Width, Height: s.cfg.Height, FrameRate: float32(s.cfg.FPS),
		FrameFormat: frameFormats[format],
	}}
	rec, ok := drv.(driver.VideoRecorder)
	if !ok {
		drv.Close()
		mon.Close()
		return nil, fmt.Errorf("board: %s is not a video recorder", path)
	}
	raw, err := rec.VideoRecord(p)
	if err != nil {
		drv.Close()
		mon.Close()
		return nil, fmt.Errorf("board: %s: %s %dx%d@%d: %w", path, format, s.cfg.Width, s.cfg.Height, s.cfg.FPS, err)
	}
	var found []EncoderDevice
	if s.cfg.Encoder != EncoderOpenH264 {
		found = ProbeEncoders()
	}
	build, err := chooseEncoder(s.cfg, found, openM2MDevice, openH264(s.cfg))
	if err != nil {
		drv.Close()
		mon.Close()
		return nil, err
	}
	var opened *dvTimings
	if hasTimings {
		opened = &timings
	}
	st, err := startVideoStream(raw, p, s.cfg, path, drv.Close, mon, opened, build)
	if err != nil {
		drv.Close()
		mon.Close()
		return nil, err
	}
	s.input = ""
	if hasTimings {
		s.input = timings.String()
	}
	st.onClose = func() {
		s.mu.Lock()
		s.open = false
		s.mu.Unlock()
	}
	s.open = true
	return st, nil
}

// Input says in words the timings of the input at the last Open
// ("1280x720p 74.25 MHz"), or "" when it has none (not HDMI, not opened).
func (s *VideoSource) Input() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.input
}

// signalMonitor reads an input's signal status.
type signalMonitor interface {
	signal() (bool, error)
	Close() error
}

// openH264 builds openh264 encoders for cfg.
func openH264(cfg VideoConfig) encoderBuilder {
	return func(r video.Reader, p prop.Media) (codec.ReadCloser, error) {
		params, err := openh264.NewParams()
		if err != nil {
			return nil, fmt.Errorf("board: openh264: %w", err)
		}
		params.BitRate = cfg.Bitrate
		params.EnableFrameSkip = false // else half the frames come back empty
		params.IntraPeriod = uint(cfg.KeyInterval)
		enc, err := params.BuildVideoEncoder(r, p)
		if err != nil {
			return nil, fmt.Errorf("board: openh264: %w", err)
		}
		return enc, nil
	}
}

// timingsMonitor is a signalMonitor that also reads the timings an HDMI
// receiver detects.
type timingsMonitor interface {
	queryTimings() (dvTimings, error)
}

// ErrInputChanged is wrapped (with hal.ErrNoSignal) by the error of a
// stream whose HDMI input changed format: the stream ends, and the next
// Open follows the new timings.
var ErrInputChanged = errors.New("input format changed")

// startVideoStream encodes the frames of raw (with openh264 when build is
// nil) and starts the stream's goroutines. stop ends raw (its next Read
// returns io.EOF); mon, if not nil, is polled for the input's signal, and
// when timings is not nil (an HDMI input opened with those) for a change
// of the detected timings, which ends the stream.
func startVideoStream(raw video.Reader, p prop.Media, cfg VideoConfig, path string, stop func() error, mon signalMonitor, timings *dvTimings, build encoderBuilder) (*videoStream, error) {
	st := &videoStream{
		stop: stop, mon: mon, path: path, timings: timings,
		format:   hal.VideoFormat{Width: p.Width, Height: p.Height, FPS: cfg.FPS},
		frame:    time.Second / time.Duration(cfg.FPS),
		samples:  make(chan hal.Sample, 4),
		lostNote: make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		clock:    cfg.Clock,
	}
	if build == nil {
		build = openH264(cfg)
	}
	enc, err := build(video.ReaderFunc(st.readFrame(raw)), p)
	if err != nil {
		return nil, fmt.Errorf("board: H.264 encoder: %w", err)
	}
	kc, _ := enc.Controller().(codec.KeyFrameController)
	st.enc, st.keys = enc, kc
	go st.run()
	if mon != nil {
		go st.watch(cfg.SignalPoll)
	}
	return st, nil
}

// videoStream is an open stream: run reads encoded frames and hands them
// to Next through samples; watch polls the input's signal status.
type videoStream struct {
	stop    func() error // ends the raw reader
	onClose func()
	mon     signalMonitor
	timings *dvTimings // the HDMI input's timings at Open, if any
	path    string
	format  hal.VideoFormat
	frame   time.Duration
	clock   func() time.Time
	enc     codec.ReadCloser
	keys    codec.KeyFrameController

	samples  chan hal.Sample
	lostNote chan struct{} // a loss was noticed
	quit     chan struct{}
	done     chan struct{}

	mu        sync.Mutex
	stamps    []frameStamp // the frames inside the encoder, in order
	lastFrame time.Time    // capture time of the last frame passed on
	err       error        // the reader's terminal error
	lost      error        // set while the input has no signal
	needKey   bool
	closed    bool
	closeErr  error

	// stillAsked is set while a Still waits; the next frame read is then
	// copied to the waiters in stills, which are buffered.
	stillAsked atomic.Bool
	stills     []chan image.Image // guarded by mu
}

// readFrame wraps the camera reader: each frame's capture time is the
// moment it left the driver, and frames that come faster than the
// configured rate (an HDMI source at 60 Hz recorded at 30 fps) are dropped
// before the encoder, which never sees them.
func (st *videoStream) readFrame(r video.Reader) func() (image.Image, func(), error) {
	return func() (image.Image, func(), error) {
		for {
			img, release, err := r.Read()
			if err != nil {
				return img, release, err
			}
			now := st.clock()
			st.mu.Lock()
			if !st.lastFrame.IsZero() && now.Sub(st.lastFrame) < st.frame*3/4 {
				st.mu.Unlock()
				release()
				continue
			}
			st.lastFrame = now
			st.mu.Unlock()
			black := blackPicture(img)
			st.mu.Lock()
			st.stamps = append(st.stamps, frameStamp{at: now, black: black})
			st.mu.Unlock()
			if st.stillAsked.Load() {
				st.giveStill(img)
			}
			return img, release, nil
		}
	}
}

func (st *videoStream) run() {
	defer close(st.done)
	defer st.enc.Close()
	for {
		b, release, err := st.enc.Read()
		if err != nil {
			st.mu.Lock()
			if st.closed {
				err = io.EOF
			} else if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: %s: %w", hal.ErrNoSignal, st.path, err)
			}
			st.err = err
			st.mu.Unlock()
			return
		}
		data := append([]byte(nil), b...)
		release()
		st.mu.Lock()
		var fs frameStamp
		if len(st.stamps) > 0 {
			fs, st.stamps = st.stamps[0], st.stamps[1:]
		} else {
			fs.at = st.clock()
		}
		lost, needKey := st.lost, st.needKey
		key := isIDR(data)
		if lost == nil && needKey && key {
			st.needKey = false
		}
		st.mu.Unlock()
		if len(data) == 0 || lost != nil || (needKey && !key) {
			if needKey && !key && lost == nil {
				st.requestKey()
			}
			continue // no picture while the signal is lost, and none before the key frame after it
		}
		smp := hal.Sample{Kind: hal.Video, Codec: "h264", At: fs.at, Duration: st.frame, Key: key, Data: data, Black: fs.black}
		select {
		case st.samples <- smp:
		case <-st.quit:
			return
		}
	}
}

// watch turns the input's status into signal loss and return.
func (st *videoStream) watch(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-st.quit:
			return
		case <-t.C:
		}
		ok, err := st.mon.signal()
		if ok && err == nil && st.changed() {
			return // the stream ends; the next Open follows the new timings
		}
		st.mu.Lock()
		switch {
		case err != nil:
			st.lost = fmt.Errorf("%w: %s: %w", hal.ErrNoSignal, st.path, err)
		case !ok && st.lost == nil:
			st.lost = fmt.Errorf("%w: %s reports no signal", hal.ErrNoSignal, st.path)
			select { // wake a Next that waits for a frame
			case st.lostNote <- struct{}{}:
			default:
			}
		case ok && st.lost != nil:
			st.lost, st.needKey = nil, true
		}
		st.mu.Unlock()
	}
}

// changed reports whether the HDMI input's detected timings differ from
// those the stream was opened with; if so the stream is lost for good
// (Next returns ErrInputChanged).
func (st *videoStream) changed() bool {
	tm, ok := st.mon.(timingsMonitor)
	if !ok || st.timings == nil {
		return false
	}
	now, err := tm.queryTimings()
	if err != nil || now.same(*st.timings) {
		return false // no timings: the signal check notices
	}
	st.mu.Lock()
	st.lost = fmt.Errorf("%w: %s: %w from %s to %s", hal.ErrNoSignal, st.path, ErrInputChanged, st.timings, now)
	st.mu.Unlock()
	select { // wake a Next that waits for a frame
	case st.lostNote <- struct{}{}:
	default:
	}
	return true
}

func (st *videoStream) requestKey() {
	if st.keys != nil {
		st.keys.ForceKeyFrame()
	}
}

// giveStill hands a copy of img to the Stills waiting for one.
func (st *videoStream) giveStill(img image.Image) {
	still := copyImage(img)
	st.mu.Lock()
	waiters := st.stills
	st.stills = nil
	st.stillAsked.Store(false)
	st.mu.Unlock()
	for _, ch := range waiters {
		ch <- still
	}
}

// Still implements hal.Stiller: a copy of the next frame the device
// delivers, taken before the encoder. It waits for that frame, or until
// ctx ends or the stream closes; while the input has no signal it returns
// the loss at once.
func (st *videoStream) Still(ctx context.Context) (image.Image, error) {
	ch := make(chan image.Image, 1)
	st.mu.Lock()
	closed, lost := st.closed, st.lost
	if !closed && lost == nil {
		st.stills = append(st.stills, ch)
		st.stillAsked.Store(true)
	}
	st.mu.Unlock()
	switch {
	case closed:
		return nil, io.EOF
	case lost != nil:
		return nil, lost
	}
	select {
	case img := <-ch:
		return img, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-st.quit:
		return nil, io.EOF
	case <-st.done:
		return nil, io.EOF
	}
}

// Format implements hal.Stream.
func (st *videoStream) Format() hal.VideoFormat { return st.format }

// RequestKeyFrame implements hal.Stream.
func (st *videoStream) RequestKeyFrame() { st.requestKey() }

// Next implements hal.Stream.
func (st *videoStream) Next(ctx context.Context) (hal.Sample, error) {
	if err := ctx.Err(); err != nil {
		return hal.Sample{}, err
	}
	st.mu.Lock()
	closed, lost := st.closed, st.lost
	st.mu.Unlock()
	if closed {
		return hal.Sample{}, io.EOF
	}
	if lost != nil {
		return hal.Sample{}, lost
	}
	select {
	case smp := <-st.samples:
		return smp, nil
	case <-st.lostNote:
		st.mu.Lock()
		lost := st.lost
		st.mu.Unlock()
		if lost != nil {
			return hal.Sample{}, lost
		}
		return st.Next(ctx) // the signal came back meanwhile
	case <-st.done:
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.closed {
			return hal.Sample{}, io.EOF
		}
		return hal.Sample{}, st.err
	case <-ctx.Done():
		return hal.Sample{}, ctx.Err()
	case <-st.quit:
		return hal.Sample{}, io.EOF
	}
}

// Close implements hal.Stream: it stops the device and the encoder.
func (st *videoStream) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return st.closeErr
	}
	st.closed = true
	st.mu.Unlock()
	close(st.quit)
	err := st.stop() // the reader returns io.EOF, run closes the encoder
	<-st.done
	if st.mon != nil {
		if cerr := st.mon.Close(); err == nil {
			err = cerr
		}
	}
	if st.onClose != nil {
		st.onClose()
	}
	if err != nil {
		err = fmt.Errorf("board: close %s: %w", st.path, err)
	}
	st.mu.Lock()
	st.closeErr = err
	st.mu.Unlock()
	return err
}
