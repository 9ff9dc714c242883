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

// timingsOf builds struct v4l2_dv_timings of a progressive BT timing.
func timingsOf(w, h uint32, clock uint64) dvTimings {
	var t dvTimings
	put := func(off int, v uint32) {
		t[off], t[off+1], t[off+2], t[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	put(0, 1) // V4L2_DV_BT_656_1120
	put(4, w)
	put(8, h)
	put(20, uint32(clock))
	put(24, uint32(clock>>32))
	return t
}

// TestDVTimings reads the size, scan and pixel clock where the kernel's
// packed struct has them.
func TestDVTimings(t *testing.T) {
	hd := timingsOf(1280, 720, 74_250_000)
	if w, h := hd.Size(); w != 1280 || h != 720 {
		t.Errorf("Size = %dx%d, want 1280x720", w, h)
	}
	if s := hd.String(); s != "1280x720p 74.25 MHz" {
		t.Errorf("String = %q", s)
	}
	vga := timingsOf(640, 480, 25_175_000)
	if hd.same(vga) || !hd.same(timingsOf(1280, 720, 74_250_000)) {
		t.Error("same compares the wrong bytes")
	}
	big := timingsOf(7680, 4320, 5_940_000_000) // a clock past 32 bits
	if s := big.String(); s != "7680x4320p 5940.00 MHz" {
		t.Errorf("String = %q", s)
	}
}
