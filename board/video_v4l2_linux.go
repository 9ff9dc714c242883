//go:build linux

package board

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The V4L2 ioctls the source needs beyond mediadevices: device
// capabilities, the inputs and their signal status, and the pixel formats.
// The structures have the same layout and size on arm, arm64 and amd64
// (the size is part of each ioctl's number).
const (
	vidiocQueryCap  = 0x80685600 // _IOR('V', 0, struct v4l2_capability)
	vidiocEnumFmt   = 0xc0405602 // _IOWR('V', 2, struct v4l2_fmtdesc)
	vidiocEnumInput = 0xc050561a // _IOWR('V', 26, struct v4l2_input)
	vidiocGInput    = 0x80045626 // _IOR('V', 38, int)
	vidiocSInput    = 0xc0045627 // _IOWR('V', 39, int)
	vidiocQueryDV   = 0x80845663 // _IOR('V', 99, struct v4l2_dv_timings)
	vidiocSDV       = 0xc0845657 // _IOWR('V', 87, struct v4l2_dv_timings)
	vidiocGDV       = 0xc0845658 // _IOWR('V', 88, struct v4l2_dv_timings)

	capVideoCapture  = 0x00000001
	capDeviceCaps    = 0x80000000
	inCapDVTimings   = 0x00000002
	inStNoPower      = 0x00000001
	inStNoSignal     = 0x00000002
	bufTypeVideoCapt = 1
)

type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

// v4l2Input is struct v4l2_input: 80 bytes on every architecture. Its
// v4l2_std_id is a __u64, which the C ABI aligns to 8 on 32-bit ARM too,
// padding the struct from 76 to 80 bytes; Go aligns a uint64 to 4 there,
// so a uint64 field would make the struct 76 bytes and let the kernel
// write 4 bytes past it. Std is two words and the tail padding explicit.
type v4l2Input struct {
	Index        uint32
	Name         [32]byte
	Type         uint32
	Audioset     uint32
	Tuner        uint32
	Std          [2]uint32
	Status       uint32
	Capabilities uint32
	Reserved     [3]uint32
	_            uint32
}

type v4l2Fmtdesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	Pixelformat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func fourcc(v uint32) string {
	return strings.TrimRight(string([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), " ")
}

// v4l2Dev is an open V4L2 device node, for the ioctls above.
//
// It is a raw descriptor, not an *os.File: Go's poller would add a
// non-blocking descriptor to epoll, and polling a capture queue that has
// no buffers makes videobuf2 start its read() emulation, which allocates
// buffers and leaves the device busy (VIDIOC_S_INPUT and VIDIOC_S_FMT then
// fail with EBUSY).
type v4l2Dev struct{ n int }

func openV4L2(path string) (*v4l2Dev, error) {
	n, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("board: open %s: %w", path, err)
	}
	return &v4l2Dev{n: n}, nil
}

func (d *v4l2Dev) Close() error { return unix.Close(d.n) }
func (d *v4l2Dev) fd() int      { return d.n }

func (d *v4l2Dev) capability() (v4l2Capability, error) {
	var c v4l2Capability
	err := ioctl(d.fd(), vidiocQueryCap, unsafe.Pointer(&c))
	return c, err
}

func (d *v4l2Dev) isCapture() bool {
	c, err := d.capability()
	if err != nil {
		return false
	}
	caps := c.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = c.DeviceCaps
	}
	return caps&capVideoCapture != 0
}

func (d *v4l2Dev) inputs() ([]v4l2Input, error) {
	var all []v4l2Input
	for i := uint32(0); i < 64; i++ {
		in := v4l2Input{Index: i}
		if err := ioctl(d.fd(), vidiocEnumInput, unsafe.Pointer(&in)); err != nil {
			if err == unix.EINVAL {
				break
			}
			return all, fmt.Errorf("board: VIDIOC_ENUMINPUT %d: %w", i, err)
		}
		all = append(all, in)
	}
	return all, nil
}

func (d *v4l2Dev) input() (int, error) {
	var i int32
	err := ioctl(d.fd(), vidiocGInput, unsafe.Pointer(&i))
	return int(i), err
}

func (d *v4l2Dev) setInput(i int) error {
	v := int32(i)
	if err := ioctl(d.fd(), vidiocSInput, unsafe.Pointer(&v)); err != nil {
		return fmt.Errorf("board: VIDIOC_S_INPUT %d: %w", i, err)
	}
	return nil
}

// signal reports whether the current input has a signal: its status,
// and on an HDMI input the timings the receiver detects
// (VIDIOC_QUERY_DV_TIMINGS fails with ENOLINK, ENOLCK or ERANGE without a
// usable signal).
func (d *v4l2Dev) signal() (bool, error) {
	cur, err := d.input()
	if err != nil {
		return false, fmt.Errorf("board: VIDIOC_G_INPUT: %w", err)
	}
	in := v4l2Input{Index: uint32(cur)}
	if err := ioctl(d.fd(), vidiocEnumInput, unsafe.Pointer(&in)); err != nil {
		return false, fmt.Errorf("board: VIDIOC_ENUMINPUT %d: %w", cur, err)
	}
	if in.Status&(inStNoSignal|inStNoPower) != 0 {
		return false, nil
	}
	if in.Capabilities&inCapDVTimings != 0 {
		var t [132]byte
		switch err := ioctl(d.fd(), vidiocQueryDV, unsafe.Pointer(&t)); err {
		case nil:
		case unix.ENOLINK, unix.ENOLCK, unix.ERANGE:
			return false, nil
		default:
			return true, fmt.Errorf("board: VIDIOC_QUERY_DV_TIMINGS: %w", err)
		}
	}
	return true, nil
}

// dvTimings is struct v4l2_dv_timings (132 bytes, packed): the type at 0,
// then struct v4l2_bt_timings: width 4, height 8, interlaced 12,
// polarities 16, the 64-bit pixel clock at 20.
type dvTimings [132]byte

// Size is the active picture's width and height.
func (t dvTimings) Size() (w, h int) {
	return int(le32(t[4:])), int(le32(t[8:]))
}

// String is the timings in words: 1280x720p, 148.5 MHz pixel clock.
func (t dvTimings) String() string {
	w, h := t.Size()
	scan := "p"
	if le32(t[12:]) != 0 {
		scan = "i"
	}
	clock := uint64(le32(t[24:]))<<32 | uint64(le32(t[20:]))
	return fmt.Sprintf("%dx%d%s %.2f MHz", w, h, scan, float64(clock)/1e6)
}

// same reports whether two timings describe the same signal: the type,
// size, scan, polarities and pixel clock (the first 28 bytes).
func (t dvTimings) same(u dvTimings) bool {
	return bytes.Equal(t[:28], u[:28])
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// hasDVTimings reports whether the current input is one with DV timings
// (HDMI, DVI).
func (d *v4l2Dev) hasDVTimings() bool {
	cur, err := d.input()
	if err != nil {
		return false
	}
	in := v4l2Input{Index: uint32(cur)}
	return ioctl(d.fd(), vidiocEnumInput, unsafe.Pointer(&in)) == nil && in.Capabilities&inCapDVTimings != 0
}

// queryTimings is what the receiver detects on its input
// (VIDIOC_QUERY_DV_TIMINGS).
func (d *v4l2Dev) queryTimings() (dvTimings, error) {
	var t dvTimings
	if err := ioctl(d.fd(), vidiocQueryDV, unsafe.Pointer(&t)); err != nil {
		return t, fmt.Errorf("board: VIDIOC_QUERY_DV_TIMINGS: %w", err)
	}
	return t, nil
}

// timings is what the receiver is set to (VIDIOC_G_DV_TIMINGS).
func (d *v4l2Dev) timings() (dvTimings, error) {
	var t dvTimings
	if err := ioctl(d.fd(), vidiocGDV, unsafe.Pointer(&t)); err != nil {
		return t, fmt.Errorf("board: VIDIOC_G_DV_TIMINGS: %w", err)
	}
	return t, nil
}

// setTimings sets the receiver to t (VIDIOC_S_DV_TIMINGS), as an HDMI
// receiver needs after its source changed format; the device must not be
// streaming.
func (d *v4l2Dev) setTimings(t dvTimings) error {
	if err := ioctl(d.fd(), vidiocSDV, unsafe.Pointer(&t)); err != nil {
		return fmt.Errorf("board: VIDIOC_S_DV_TIMINGS %s: %w", t, err)
	}
	return nil
}

// followTimings sets the receiver to the timings it detects when they
// differ from those it is set to, and returns them; ok is false on an
// input without DV timings or when none are detected.
func (d *v4l2Dev) followTimings() (t dvTimings, ok bool, err error) {
	if !d.hasDVTimings() {
		return t, false, nil
	}
	q, err := d.queryTimings()
	if err != nil {
		return t, false, nil // no signal: Open's signal check says so
	}
	cur, err := d.timings()
	if err != nil {
		return t, false, err
	}
	if !q.same(cur) {
		if err := d.setTimings(q); err != nil {
			return t, false, err
		}
	}
	return q, true, nil
}

func (d *v4l2Dev) formats() []string {
	var out []string
	for i := uint32(0); i < 64; i++ {
		f := v4l2Fmtdesc{Index: i, Type: bufTypeVideoCapt}
		if ioctl(d.fd(), vidiocEnumFmt, unsafe.Pointer(&f)) != nil {
			break
		}
		out = append(out, fourcc(f.Pixelformat))
	}
	return out
}

// videoNodes lists /dev/video* in numeric order.
func videoNodes() []string {
	paths, _ := filepath.Glob("/dev/video*")
	num := func(p string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "/dev/video"))
		if err != nil {
			return 1 << 30
		}
		return n
	}
	sort.Slice(paths, func(i, j int) bool { return num(paths[i]) < num(paths[j]) })
	return paths
}

// ProbeVideo describes every V4L2 device.
func ProbeVideo() ([]VideoDevice, error) {
	var out []VideoDevice
	for _, p := range videoNodes() {
		d, err := openV4L2(p)
		if err != nil {
			out = append(out, VideoDevice{Path: p, Card: err.Error()})
			continue
		}
		out = append(out, d.describe(p))
		d.Close()
	}
	return out, nil
}

func (d *v4l2Dev) describe(path string) VideoDevice {
	vd := VideoDevice{Path: path, Current: -1}
	c, err := d.capability()
	if err != nil {
		vd.Card = err.Error()
		return vd
	}
	vd.Driver, vd.Card, vd.Capture = cstr(c.Driver[:]), cstr(c.Card[:]), d.isCapture()
	if !vd.Capture {
		return vd
	}
	vd.Current, _ = d.input()
	signal, _ := d.signal()
	ins, _ := d.inputs()
	for _, in := range ins {
		vd.Inputs = append(vd.Inputs, VideoInput{
			Index:  int(in.Index),
			Name:   cstr(in.Name[:]),
			HDMI:   isHDMI(in),
			Signal: int(in.Index) == vd.Current && signal,
		})
	}
	vd.Formats = d.formats()
	return vd
}

func isHDMI(in v4l2Input) bool {
	return in.Capabilities&inCapDVTimings != 0 || strings.Contains(strings.ToUpper(cstr(in.Name[:])), "HDMI")
}

// findCapture resolves the configured device and input: the device (or the
// first capture device) and the input (or its HDMI input, else the current
// one). It selects that input on the device.
func findCapture(device string, input int) (string, int, error) {
	paths := []string{device}
	if device == "" {
		paths = videoNodes()
	}
	for _, p := range paths {
		d, err := openV4L2(p)
		if err != nil {
			if device != "" {
				return "", 0, err
			}
			continue
		}
		ok := d.isCapture()
		if !ok {
			d.Close()
			if device != "" {
				return "", 0, fmt.Errorf("board: %s is not a video capture device", p)
			}
			continue
		}
		in, err := chooseInput(d, input)
		d.Close()
		if err != nil {
			return "", 0, fmt.Errorf("board: %s: %w", p, err)
		}
		return p, in, nil
	}
	return "", 0, ErrNoVideoDevice
}

func chooseInput(d *v4l2Dev, input int) (int, error) {
	ins, err := d.inputs()
	if err != nil {
		return 0, err
	}
	if input < 0 {
		input = -1
		for _, in := range ins {
			if isHDMI(in) {
				input = int(in.Index)
				break
			}
		}
		if input < 0 {
			cur, err := d.input()
			if err != nil {
				return 0, nil // a device without inputs to choose
			}
			return cur, nil
		}
	} else if input >= len(ins) {
		return 0, fmt.Errorf("input %d: the device has %d inputs", input, len(ins))
	}
	if cur, err := d.input(); err == nil && cur == input {
		return input, nil
	}
	return input, d.setInput(input)
}
