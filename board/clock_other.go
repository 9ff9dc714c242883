//go:build !linux

package board

import "context"

// KernelClock is the Pi's clock-trust source, on Linux only.
type KernelClock struct{}

// Synchronized returns an error: the board runs on Linux only.
func (KernelClock) Synchronized(ctx context.Context) (bool, error) { return false, errNotLinux }
