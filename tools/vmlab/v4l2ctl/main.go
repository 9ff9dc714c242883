//go:build linux

// Command v4l2ctl sets a V4L2 control by its name, inside the VM lab's
// guests (which have no v4l-utils): v4l2ctl DEVICE "CONTROL NAME" VALUE.
// The capture VM tests use it to switch vivid's HDMI input to "no signal"
// ("DV Timings Signal Mode" 1) and back (0).
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	vidiocQueryCtrl = 0xc0445624 // _IOWR('V', 36, struct v4l2_queryctrl)
	vidiocSCtrl     = 0xc008561c // _IOWR('V', 28, struct v4l2_control)
	ctrlFlagNext    = 0x80000000
)

type queryctrl struct {
	ID, Type                uint32
	Name                    [32]byte
	Min, Max, Step, Default int32
	Flags                   uint32
	Reserved                [2]uint32
}

type control struct {
	ID    uint32
	Value int32
}

func ioctl(fd int, req uintptr, p unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p)); e != 0 {
		return e
	}
	return nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, `usage: v4l2ctl DEVICE "CONTROL NAME" VALUE`)
		os.Exit(2)
	}
	val, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "v4l2ctl: value:", err)
		os.Exit(2)
	}
	fd, err := unix.Open(os.Args[1], unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "v4l2ctl:", err)
		os.Exit(1)
	}
	defer unix.Close(fd)
	q := queryctrl{ID: ctrlFlagNext}
	var names []string
	for ioctl(fd, vidiocQueryCtrl, unsafe.Pointer(&q)) == nil {
		name := q.Name[:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		names = append(names, fmt.Sprintf("%q (%d..%d)", name, q.Min, q.Max))
		if string(name) == os.Args[2] {
			c := control{ID: q.ID, Value: int32(val)}
			if err := ioctl(fd, vidiocSCtrl, unsafe.Pointer(&c)); err != nil {
				fmt.Fprintf(os.Stderr, "v4l2ctl: set %q (0x%x) to %d: %v\n", os.Args[2], q.ID, val, err)
				os.Exit(1)
			}
			// The guest's busybox date has no sub-second format: the
			// tests read this line to time what follows the change.
			fmt.Printf("v4l2ctl: %q = %d at %.6f\n", os.Args[2], val, float64(time.Now().UnixNano())/1e9)
			return
		}
		q = queryctrl{ID: q.ID | ctrlFlagNext}
	}
	fmt.Fprintf(os.Stderr, "v4l2ctl: %s has no control %q; it has %s\n", os.Args[1], os.Args[2], strings.Join(names, ", "))
	os.Exit(1)
}
