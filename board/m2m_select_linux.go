//go:build linux

package board

import (
	"errors"
	"fmt"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// encoderBuilder builds the H.264 encoder over a frame reader: the video
// stream's encoder (openh264 or the hardware encoder of m2m_linux.go).
type encoderBuilder func(video.Reader, prop.Media) (codec.ReadCloser, error)

// openM2MDevice opens a hardware encoder's device node.
func openM2MDevice(path string) (m2mDevice, error) { return openSysM2M(path) }

// ErrNoHardwareEncoder is returned when hardware.video_encoder is
// "v4l2m2m" and no V4L2 M2M H.264 encoder is found.
var ErrNoHardwareEncoder = errors.New("board: no V4L2 M2M H.264 encoder at /dev/video10 to /dev/video19 (the Pi 5 has none: use openh264)")

// chooseEncoder returns the builder of cfg.Encoder given the hardware
// encoders found: openh264 is soft; v4l2m2m is the first found, opened
// with open; auto is v4l2m2m when one is found, falling back to soft (with
// a warning) when it cannot start, else soft.
func chooseEncoder(cfg VideoConfig, found []EncoderDevice, open func(string) (m2mDevice, error), soft encoderBuilder) (encoderBuilder, error) {
	log := cfg.Logger
	switch {
	case cfg.Encoder == EncoderOpenH264:
		log.Info("video encoder: openh264 (configured)")
		return soft, nil
	case len(found) == 0 && cfg.Encoder == EncoderV4L2M2M:
		return nil, ErrNoHardwareEncoder
	case len(found) == 0:
		log.Info("video encoder: openh264 (no hardware encoder found)")
		return soft, nil
	}
	dev := found[0]
	hard := func(r video.Reader, p prop.Media) (codec.ReadCloser, error) {
		c, err := newM2MCodec(func() (m2mDevice, error) { return open(dev.Path) }, dev.Path, r, p, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if cfg.Encoder == EncoderV4L2M2M {
		log.Info("video encoder: v4l2m2m (configured)", "device", dev.Path, "card", dev.Card)
		return hard, nil
	}
	log.Info("video encoder: v4l2m2m (auto)", "device", dev.Path, "card", dev.Card)
	return func(r video.Reader, p prop.Media) (codec.ReadCloser, error) {
		enc, err := hard(r, p)
		if err == nil {
			return enc, nil
		}
		log.Warn("video encoder: the hardware encoder did not start; using openh264", "device", dev.Path, "err", err)
		soft, serr := soft(r, p)
		if serr != nil {
			return nil, fmt.Errorf("%w; and openh264: %w", err, serr)
		}
		return soft, nil
	}, nil
}
