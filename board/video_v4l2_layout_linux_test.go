//go:build linux

package board

import (
	"testing"
	"unsafe"
)

// TestV4L2StructSizes checks each structure against the size encoded in
// its ioctl's number (bits 16-29), on whatever architecture the test is
// built for: make test-qemu runs it as armv7 and arm64 too, where a
// uint64 in struct v4l2_input once made the Go struct 76 bytes on 32-bit
// ARM against the kernel's 80.
func TestV4L2StructSizes(t *testing.T) {
	size := func(req uintptr) uintptr { return req >> 16 & 0x3fff }
	for _, c := range []struct {
		name string
		req  uintptr
		got  uintptr
	}{
		{"v4l2_capability", vidiocQueryCap, unsafe.Sizeof(v4l2Capability{})},
		{"v4l2_fmtdesc", vidiocEnumFmt, unsafe.Sizeof(v4l2Fmtdesc{})},
		{"v4l2_input", vidiocEnumInput, unsafe.Sizeof(v4l2Input{})},
	} {
		if c.got != size(c.req) {
			t.Errorf("struct %s is %d bytes in Go, the ioctl 0x%x says %d", c.name, c.got, c.req, size(c.req))
		}
	}
	if off := unsafe.Offsetof(v4l2Input{}.Status); off != 56 {
		t.Errorf("v4l2_input.status at offset %d, the kernel's is 56", off)
	}
}
