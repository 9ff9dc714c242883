// Command guestclock prints the guest's wall clock on standard output,
// "CLOCK <unix seconds with microseconds>", every interval (default
// 100 ms) until it is killed. The VM lab's guests have no date with
// sub-second precision; the power-cut test reads these lines on the
// serial console to know the guest's time at the instant it cuts qemu.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	every := 100 * time.Millisecond
	if len(os.Args) > 1 {
		d, err := time.ParseDuration(os.Args[1])
		if err != nil || d <= 0 {
			fmt.Fprintln(os.Stderr, "usage: guestclock [INTERVAL]")
			os.Exit(2)
		}
		every = d
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fmt.Printf("CLOCK %.6f\n", float64(time.Now().UnixNano())/1e9)
		<-t.C
	}
}
