package main

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

// foreground makes devrun (and the box and simulator it starts) the
// terminal's foreground process group, so that Ctrl-C interrupts them and
// not make: make, killed by the signal, would report an error for a clean
// stop. The returned function hands the terminal back. Without a terminal
// on stdin it does nothing.
func foreground() (restore func()) {
	fd := os.Stdin.Fd()
	var orig int32
	if ioctl(fd, syscall.TIOCGPGRP, &orig) != nil {
		return func() {}
	}
	// A background group that changes the terminal's foreground group gets
	// SIGTTOU; devrun is one for a moment.
	signal.Ignore(syscall.SIGTTOU)
	if syscall.Setpgid(0, 0) != nil {
		return func() {}
	}
	pg := int32(syscall.Getpgrp())
	if ioctl(fd, syscall.TIOCSPGRP, &pg) != nil {
		return func() {}
	}
	return func() { _ = ioctl(fd, syscall.TIOCSPGRP, &orig) }
}

func ioctl(fd uintptr, req uintptr, pgrp *int32) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(pgrp))); e != 0 {
		return e
	}
	return nil
}
