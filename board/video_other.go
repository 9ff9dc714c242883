//go:build !linux || !cgo

package board

import (
	"context"
	"errors"

	"github.com/capturebox/capturebox/hal"
)

// errNoVideo says why this build has no capture: the V4L2 source needs
// Linux and cgo (openh264, and mediadevices' camera driver).
var errNoVideo = errors.New("board: video capture needs a Linux build with cgo (make build-arm)")

// VideoSource is unavailable in this build; Open says why.
type VideoSource struct{ cfg VideoConfig }

// NewVideoSource checks cfg; the source it returns cannot open.
func NewVideoSource(cfg VideoConfig) (*VideoSource, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &VideoSource{cfg: cfg}, nil
}

// Config returns the configuration with the defaults filled in.
func (s *VideoSource) Config() VideoConfig { return s.cfg }

// Input returns "": there is no input to read.
func (s *VideoSource) Input() string { return "" }

// Open implements hal.CaptureSource: it always fails in this build.
func (s *VideoSource) Open(context.Context) (hal.Stream, error) { return nil, errNoVideo }
