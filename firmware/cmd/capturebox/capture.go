package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal"
)

// captureProbeFlags is "capturebox capture probe": the capture hardware
// found, in words.
func captureProbeFlags(_ *flag.FlagSet, e env) func(context.Context) error {
	return func(context.Context) error { return captureProbe(e.stdout) }
}

// captureRecoverFlags is "capturebox capture recover DIR".
func captureRecoverFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	return func(context.Context) error { return captureRecover(fs.Args(), e.stdout) }
}

// captureProbe prints, in words, the capture hardware found.
func captureProbe(w io.Writer) error {
	devs, err := board.ProbeVideo()
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		fmt.Fprintln(w, "video: no V4L2 devices")
	}
	for _, d := range devs {
		if !d.Capture {
			fmt.Fprintf(w, "video: %s %s (%s): not a capture device\n", d.Path, d.Card, d.Driver)
			continue
		}
		fmt.Fprintf(w, "video: %s %s (%s), formats %s\n", d.Path, d.Card, d.Driver, strings.Join(d.Formats, " "))
		for _, in := range d.Inputs {
			var notes []string
			if in.HDMI {
				notes = append(notes, "HDMI")
			}
			if in.Index == d.Current {
				notes = append(notes, "selected")
				if in.Signal {
					notes = append(notes, "signal")
				} else {
					notes = append(notes, "no signal")
				}
			}
			fmt.Fprintf(w, "  input %d: %s %s\n", in.Index, in.Name, strings.Join(notes, ", "))
		}
	}
	encs := board.ProbeEncoders()
	for i, e := range encs {
		note := ""
		if i == 0 {
			note = ", chosen by video_encoder = \"auto\""
		}
		fmt.Fprintf(w, "encoder: v4l2m2m %s %s (%s), hardware H.264%s\n", e.Path, e.Card, e.Driver, note)
	}
	if len(encs) == 0 {
		fmt.Fprintln(w, "encoder: openh264 (software H.264), chosen by video_encoder = \"auto\": no V4L2 M2M H.264 encoder at /dev/video10 to /dev/video19")
	} else {
		fmt.Fprintln(w, "encoder: openh264 (software H.264), with video_encoder = \"openh264\"")
	}
	if b, err := os.ReadFile("/proc/asound/cards"); err == nil {
		fmt.Fprintf(w, "sound cards:\n%s", b)
	} else {
		fmt.Fprintln(w, "sound cards: none")
	}
	return nil
}

// captureTestFlags is "capturebox capture test [flags] FILE": it records N
// seconds from the found (or named) device into FILE, no config needed.
func captureTestFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	o := captureTestOptions{
		seconds: fs.Float64("seconds", 10, "how long to record, in `seconds`"),
		device:  fs.String("device", "", "V4L2 `device` (default: the first capture device)"),
		input:   fs.Int("input", -1, "V4L2 `input` (default: the HDMI input, if any)"),
		size:    fs.String("size", "1920x1080", "picture `size` WxH"),
		fps:     fs.Int("fps", 30, "frame `rate`"),
		format:  fs.String("format", "", "pixel `format`: "+strings.Join(board.VideoFormats, ", ")+" (default: the first the device has)"),
		bitrate: fs.Int("bitrate", 4_000_000, "H.264 `bitrate`, bit/s"),
		dir:     fs.String("dir", "", "recordings `folder` to record in (default: a new folder beside FILE, removed after)"),
		encoder: fs.String("encoder", board.EncoderAuto, "H.264 `encoder`: "+strings.Join(board.VideoEncoders, ", ")),
		id:      fs.String("id", "capture-test", "recording `id` in the recordings folder (with -dir, one id per run)"),
	}
	return func(ctx context.Context) error { return captureTest(ctx, fs, o, e.stdout, e.stderr) }
}

type captureTestOptions struct {
	seconds             *float64
	device, size        *string
	format, dir, id     *string
	encoder             *string
	input, fps, bitrate *int
}

func captureTest(ctx context.Context, fs *flag.FlagSet, o captureTestOptions, stdout, stderr io.Writer) error {
	seconds, device, input, size, fps, format, bitrate, dir := o.seconds, o.device, o.input, o.size, o.fps, o.format, o.bitrate, o.dir
	if fs.NArg() != 1 {
		return usageError{"capture test: want exactly one FILE"}
	}
	out := fs.Arg(0)
	w, h, ok := parseSize(*size)
	if !ok {
		return usageError{fmt.Sprintf("capture test: size %q is not WxH", *size)}
	}
	if *seconds <= 0 {
		return usageError{"capture test: -seconds must be positive"}
	}
	src, err := board.NewVideoSource(board.VideoConfig{
		Device: *device, Input: *input, Width: w, Height: h, FPS: *fps, Format: *format, Bitrate: *bitrate,
		Encoder: *o.encoder, Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	span := time.Duration(*seconds * float64(time.Second))
	lim := &spanSource{src: src, span: span, full: make(chan struct{})}
	recDir := *dir
	if recDir == "" {
		recDir, err = os.MkdirTemp(filepath.Dir(out), ".capture-test-")
		if err != nil {
			return fmt.Errorf("capture test: %w", err)
		}
		defer os.RemoveAll(recDir)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	rec, err := capture.New(capture.Config{
		Dir: recDir, Source: lim, Logger: log,
		OnHealth: func(h capture.Health) {
			if h.Signal {
				// The input's format, read when the stream opened (an
				// HDMI input that changed resolution comes back in it).
				in := ""
				if i := src.Input(); i != "" {
					in = " input " + i
				}
				fmt.Fprintf(stderr, "capture: signal at %s%s\n", h.Since.Format(time.RFC3339Nano), in)
			} else {
				fmt.Fprintf(stderr, "capture: FAULT no signal at %s: %v\n", h.Since.Format(time.RFC3339Nano), h.Err)
			}
		},
	})
	if err != nil {
		return err
	}
	id := *o.id
	if !capture.ValidID(id) {
		return usageError{fmt.Sprintf("capture test: -id %q cannot name a file", id)}
	}
	if _, err := rec.Start(id, capture.Meta{Title: "capture test"}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "capture: recording %v into %s\n", span, recDir)
	select {
	case <-lim.full:
	case <-ctx.Done():
	}
	res, err := rec.Stop(id)
	rec.Close()
	if err != nil {
		return fmt.Errorf("capture test: %w", err)
	}
	if *dir == "" {
		if err := os.Rename(res.Path, out); err != nil {
			return fmt.Errorf("capture test: %w", err)
		}
		if err := os.Rename(res.Sidecar, out+".json"); err != nil {
			return fmt.Errorf("capture test: %w", err)
		}
	}
	f := src.Config()
	fmt.Fprintf(stdout, "capture: %s frames=%d duration=%.6f size=%dx%d fps=%d bytes=%d parts=%d\n",
		out, lim.frames(), res.Duration.Seconds(), f.Width, f.Height, f.FPS, res.Bytes, len(res.Parts))
	return nil
}

// captureRecover closes the recordings a crash left open in DIR.
func captureRecover(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError{"capture recover: want DIR"}
	}
	res, err := capture.Recover(args[0])
	for _, r := range res {
		fmt.Fprintf(stdout, "recovered: %s duration=%.6f bytes=%d\n", r.Path, r.Duration.Seconds(), r.Bytes)
	}
	return err
}

func parseSize(s string) (int, int, bool) {
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	return w, h, err1 == nil && err2 == nil && w > 0 && h > 0
}

// spanSource passes the video samples of the first span of capture time
// (from the first video sample) and then nothing, so a test recording
// holds exactly the frames captured in that span.
type spanSource struct {
	src  hal.CaptureSource
	span time.Duration
	full chan struct{}

	mu    sync.Mutex
	first time.Time
	n     int
	done  bool
}

func (s *spanSource) frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *spanSource) Open(ctx context.Context) (hal.Stream, error) {
	st, err := s.src.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &spanStream{Stream: st, s: s}, nil
}

type spanStream struct {
	hal.Stream
	s *spanSource
}

func (t *spanStream) Next(ctx context.Context) (hal.Sample, error) {
	for {
		smp, err := t.Stream.Next(ctx)
		if err != nil {
			return smp, err
		}
		s := t.s
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			<-ctx.Done() // hold the stream quiet until the recording stops
			return hal.Sample{}, ctx.Err()
		}
		if s.first.IsZero() {
			if !smp.Key {
				s.mu.Unlock()
				continue
			}
			s.first = smp.At
		}
		if smp.At.Sub(s.first) >= s.span {
			s.done = true
			close(s.full)
			s.mu.Unlock()
			continue
		}
		s.n++
		s.mu.Unlock()
		return smp, nil
	}
}
