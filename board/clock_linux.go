//go:build linux

package board

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capturebox/capturebox/hal"
)

// KernelClock is the hal.TimeSync of a Pi: the Pi has no real-time clock,
// so its clock is right only once an NTP client has disciplined the
// kernel's clock, which adjtimex(2) tells.
type KernelClock struct{}

var _ hal.TimeSync = KernelClock{}

// Synchronized implements hal.TimeSync.
func (KernelClock) Synchronized(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var tx unix.Timex // modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("clock: adjtimex: %w", err)
	}
	return clockSynced(state, tx.Status), nil
}
