//go:build linux

package board

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKernelClock reads this machine's kernel clock state and checks the
// answer against adjtimex read directly.
func TestKernelClock(t *testing.T) {
	got, err := KernelClock{}.Synchronized(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		t.Fatal(err)
	}
	if want := state != 5 && tx.Status&0x40 == 0; got != want {
		t.Errorf("Synchronized = %v, adjtimex says %v (state %d, status %#x)", got, want, state, tx.Status)
	}
	t.Logf("this machine's clock synchronised: %v", got)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (KernelClock{}).Synchronized(ctx); err == nil {
		t.Error("no error for an ended context")
	}
}
