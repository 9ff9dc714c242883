//go:build !cgo

package board

import (
	"errors"

	"github.com/capturebox/capturebox/hal"
)

// ErrNoOpus is returned by Opus.NewEncoder in a build without cgo.
var ErrNoOpus = errors.New("opus: this build has no opus encoder (libopus needs cgo: build with CGO_ENABLED=1)")

// NewEncoder implements hal.AudioCodec; without cgo it always fails with
// ErrNoOpus.
func (o Opus) NewEncoder(in hal.AudioFormat) (hal.AudioEncoder, error) {
	if err := opusInput(in); err != nil {
		return nil, err
	}
	return nil, ErrNoOpus
}
