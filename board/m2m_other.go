//go:build !linux

package board

// EncoderDevice is a hardware H.264 encoder found by ProbeEncoders.
type EncoderDevice struct {
	Path, Driver, Card string
}

// ProbeEncoders finds no V4L2 encoders outside Linux.
func ProbeEncoders() []EncoderDevice { return nil }
