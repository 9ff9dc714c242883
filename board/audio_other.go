//go:build !linux

package board

import (
	"context"
	"errors"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// ErrNoALSA is returned by the sound input outside Linux.
var ErrNoALSA = errors.New("alsa: sound capture needs Linux")

// ALSA is the box's sound input; outside Linux it has no device.
type ALSA struct{}

var _ hal.AudioSource = (*ALSA)(nil)

// NewALSA returns a sound input that fails with ErrNoALSA.
func NewALSA(device string, clock func() time.Time) *ALSA { return &ALSA{} }

// Open implements hal.AudioSource; it fails with ErrNoALSA.
func (a *ALSA) Open(ctx context.Context) (hal.AudioStream, error) { return nil, ErrNoALSA }

// AudioInput is an ALSA capture device found on the machine.
type AudioInput struct {
	Card, Device int
	Name         string
	Description  string
}

// AudioInputs fails with ErrNoALSA outside Linux.
func AudioInputs() ([]AudioInput, error) { return nil, ErrNoALSA }
