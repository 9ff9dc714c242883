// Package board holds the Raspberry Pi implementations of the hal
// contracts. This file and the other video_* files are its capture side:
// a hal.CaptureSource reading a V4L2 capture device (an HDMI-to-USB
// dongle, the TC358743 HDMI-to-CSI bridge, or vivid in the VM lab) through
// github.com/pion/mediadevices and encoding H.264 with the Pi's hardware
// encoder (V4L2 memory-to-memory, m2m_*.go) or openh264.
package board

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// VideoConfig configures the video capture source. Zero fields find the
// hardware by themselves.
type VideoConfig struct {
	// Device is the V4L2 device; "" means the first video capture device.
	Device string
	// Input is the V4L2 input index; -1 means the device's HDMI input
	// when it has one (else the current input).
	Input int
	// Width, Height and FPS: the picture asked of the device; zero means
	// 1920x1080 at 30 fps.
	Width, Height, FPS int
	// Format is the pixel format ("NV12", "YUYV", "UYVY", "MJPEG");
	// "" picks the first of those the device offers, in that order.
	Format string
	// Bitrate of the H.264 stream in bit/s; zero means 4 Mbit/s.
	Bitrate int
	// KeyInterval is the key-frame interval in frames; zero means 2 s.
	KeyInterval int
	// Encoder is the H.264 encoder: "openh264" (software), "v4l2m2m"
	// (the hardware encoder, a V4L2 memory-to-memory device such as the
	// Pi's bcm2835-codec at /dev/video11) or "auto" (or ""): v4l2m2m
	// when ProbeEncoders finds one, else openh264.
	Encoder string
	// Logger receives the source's notes (which encoder, its setup);
	// nil discards them.
	Logger *slog.Logger
	// Clock stamps each frame with its capture time; nil means time.Now.
	Clock func() time.Time
	// SignalPoll is how often the input's signal status is read; zero
	// means 250 ms (a loss is noticed well within 2 s).
	SignalPoll time.Duration
}

// The values of VideoConfig.Encoder.
const (
	EncoderAuto     = "auto"
	EncoderOpenH264 = "openh264"
	EncoderV4L2M2M  = "v4l2m2m"
)

// VideoEncoders are the values VideoConfig.Encoder takes.
var VideoEncoders = []string{EncoderAuto, EncoderOpenH264, EncoderV4L2M2M}

// VideoFormats are the pixel formats the source accepts, in the order it
// prefers them when none is configured.
var VideoFormats = []string{"NV12", "YUYV", "UYVY", "MJPEG"}

// withDefaults fills the zero fields.
func (c VideoConfig) withDefaults() (VideoConfig, error) {
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = 1920, 1080
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Bitrate == 0 {
		c.Bitrate = 4_000_000
	}
	if c.KeyInterval == 0 {
		c.KeyInterval = 2 * c.FPS
	}
	if c.Encoder == "" {
		c.Encoder = "auto"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.SignalPoll == 0 {
		c.SignalPoll = 250 * time.Millisecond
	}
	c.Format = strings.ToUpper(c.Format)
	switch {
	case c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0:
		return c, fmt.Errorf("board: video size %dx%d: want positive even numbers", c.Width, c.Height)
	case c.FPS <= 0 || c.FPS > 240:
		return c, fmt.Errorf("board: video rate %d fps: want 1 to 240", c.FPS)
	case c.Bitrate < 10_000:
		return c, fmt.Errorf("board: video bitrate %d bit/s: want at least 10000", c.Bitrate)
	case !slices.Contains(VideoEncoders, c.Encoder):
		return c, fmt.Errorf("board: video encoder %q: want one of %s", c.Encoder, strings.Join(VideoEncoders, ", "))
	}
	if c.Format != "" {
		ok := false
		for _, f := range VideoFormats {
			ok = ok || f == c.Format
		}
		if !ok {
			return c, fmt.Errorf("board: pixel format %q: want one of %s", c.Format, strings.Join(VideoFormats, ", "))
		}
	}
	return c, nil
}

// VideoDevice is a V4L2 device as the probe finds it.
type VideoDevice struct {
	Path    string
	Driver  string
	Card    string
	Capture bool // a video capture device
	Inputs  []VideoInput
	Current int      // the selected input
	Formats []string // pixel formats (fourcc) of the current input
}

// VideoInput is one input of a device.
type VideoInput struct {
	Index  int
	Name   string
	HDMI   bool // it has DV timings (HDMI/DVI)
	Signal bool // the device reports a signal on it (only meaningful for the current input)
}

// ErrNoVideoDevice is returned when no V4L2 capture device is present.
var ErrNoVideoDevice = errors.New("board: no V4L2 video capture device")

// copyImage returns a copy of img that shares no memory with it (the
// capture driver reuses its frame buffers once a frame is released). A
// Y'CbCr frame stays Y'CbCr; any other becomes RGBA.
func copyImage(img image.Image) image.Image {
	r := img.Bounds()
	if yc, ok := img.(*image.YCbCr); ok {
		out := image.NewYCbCr(r, yc.SubsampleRatio)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			copy(out.Y[out.YOffset(r.Min.X, y):out.YOffset(r.Max.X-1, y)+1], yc.Y[yc.YOffset(r.Min.X, y):])
		}
		// The chroma planes of the copy start at the same sample as the
		// frame's, row by row.
		for y := r.Min.Y; y < r.Max.Y; y++ {
			first, last := yc.COffset(r.Min.X, y), yc.COffset(r.Max.X-1, y)
			o := out.COffset(r.Min.X, y)
			copy(out.Cb[o:o+last-first+1], yc.Cb[first:])
			copy(out.Cr[o:o+last-first+1], yc.Cr[first:])
		}
		return out
	}
	out := image.NewRGBA(r)
	draw.Draw(out, r, img, r.Min, draw.Src)
	return out
}

// frameStamp is what the stream keeps of a frame while the encoder holds
// it: its capture time and whether its picture was black.
type frameStamp struct {
	at    time.Time
	black bool
}

// lumaStep is the spacing, in pixels both ways, of the samples
// blackPicture reads: about 8,000 of a 1080p picture, some microseconds.
const lumaStep = 16

// A picture is black when its mean luma (0-255; video-range black is 16)
// is at most blackMean and at most one sample in blackBright is brighter
// than brightLuma: noise on a black input passes, a dark slide with a
// line of text does not.
const (
	blackMean   = 24
	brightLuma  = 64
	blackBright = 200
)

// blackPicture reports whether img is black, sampled every lumaStep pixels
// in both directions.
func blackPicture(img image.Image) bool {
	b := img.Bounds()
	var sum, n, bright int
	add := func(l uint8) {
		sum += int(l)
		n++
		if l > brightLuma {
			bright++
		}
	}
	if yc, ok := img.(*image.YCbCr); ok {
		for y := b.Min.Y + lumaStep/2; y < b.Max.Y; y += lumaStep {
			row := yc.Y[yc.YOffset(b.Min.X, y):]
			for x := lumaStep / 2; x < b.Dx(); x += lumaStep {
				add(row[x])
			}
		}
	} else {
		for y := b.Min.Y + lumaStep/2; y < b.Max.Y; y += lumaStep {
			for x := b.Min.X + lumaStep/2; x < b.Max.X; x += lumaStep {
				r, g, bl, _ := img.At(x, y).RGBA()
				l, _, _ := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
				add(l)
			}
		}
	}
	return n > 0 && sum <= blackMean*n && bright*blackBright <= n
}
