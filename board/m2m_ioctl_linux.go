//go:build linux

package board

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The V4L2 memory-to-memory (M2M) ioctl layer of the hardware H.264
// encoder: the Pi's bcm2835-codec at /dev/video11 (Pi Zero 2 W, 3 and 4).
// It speaks the multi-planar API: raw pictures go in on the OUTPUT_MPLANE
// queue, H.264 comes out of the CAPTURE_MPLANE queue, both queues with
// memory-mapped (MMAP) buffers of one plane each.
//
// The structures below are the kernel's (include/uapi/linux/videodev2.h)
// laid out for the Go architecture: fields that are a pointer or an
// unsigned long in C are uintptr or unsafe.Pointer here, so one
// declaration is right on arm (32-bit) and on arm64 and amd64 (64-bit).
// The ioctl numbers are computed from the structures' sizes, as the C
// macros do.

// Buffer types, memory and field values.
const (
	bufTypeCaptureMplane = 9  // V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
	bufTypeOutputMplane  = 10 // V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
	memoryMMAP           = 1  // V4L2_MEMORY_MMAP
	fieldNone            = 1  // V4L2_FIELD_NONE
)

// Capability bits.
const (
	capVideoM2MMplane = 0x00004000 // V4L2_CAP_VIDEO_M2M_MPLANE
	capStreaming      = 0x04000000 // V4L2_CAP_STREAMING
)

// Buffer flags.
const (
	bufFlagKeyframe = 0x00000008 // V4L2_BUF_FLAG_KEYFRAME
	bufFlagError    = 0x00000040 // V4L2_BUF_FLAG_ERROR
	bufFlagLast     = 0x00100000 // V4L2_BUF_FLAG_LAST
)

// Pixel formats (fourcc, little-endian).
const (
	pixFmtYUV420 = 'Y' | 'U'<<8 | '1'<<16 | '2'<<24 // V4L2_PIX_FMT_YUV420, planar I420
	pixFmtNV12   = 'N' | 'V'<<8 | '1'<<16 | '2'<<24 // V4L2_PIX_FMT_NV12
	pixFmtH264   = 'H' | '2'<<8 | '6'<<16 | '4'<<24 // V4L2_PIX_FMT_H264, Annex B
)

// Codec controls (V4L2_CID_CODEC_BASE = V4L2_CTRL_CLASS_CODEC | 0x900).
const (
	cidCodecBase         = 0x00990900
	cidBitrate           = cidCodecBase + 207 // V4L2_CID_MPEG_VIDEO_BITRATE, bit/s
	cidHeaderMode        = cidCodecBase + 216 // V4L2_CID_MPEG_VIDEO_HEADER_MODE: 1 = SPS/PPS joined with the picture
	cidRepeatSeqHeader   = cidCodecBase + 226 // V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER: SPS/PPS before each IDR
	cidForceKeyFrame     = cidCodecBase + 229 // V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME (a button)
	cidH264IPeriod       = cidCodecBase + 358 // V4L2_CID_MPEG_VIDEO_H264_I_PERIOD, frames
	maxPlanes            = 8                  // VIDEO_MAX_PLANES
	m2mDefaultBufCount   = 4
	m2mDefaultCodedBytes = 512 << 10
)

// v4l2PlanePixFormat is struct v4l2_plane_pix_format.
type v4l2PlanePixFormat struct {
	Sizeimage    uint32
	Bytesperline uint32
	Reserved     [6]uint16
}

// v4l2PixFormatMplane is struct v4l2_pix_format_mplane (packed, 192 bytes).
type v4l2PixFormatMplane struct {
	Width, Height, PixelFormat, Field, Colorspace uint32
	PlaneFmt                                      [maxPlanes]v4l2PlanePixFormat
	NumPlanes, Flags, YCbCrEnc, Quantization      uint8
	XferFunc                                      uint8
	Reserved                                      [7]uint8
}

// v4l2Format is struct v4l2_format with its union read as the
// multi-planar pixel format. The union holds pointers (struct
// v4l2_window), so it is aligned as a pointer: [0]uintptr does that.
type v4l2Format struct {
	Type uint32
	Fmt  struct {
		_   [0]uintptr
		Pix v4l2PixFormatMplane
		_   [200 - 192]byte
	}
}

// v4l2Plane is struct v4l2_plane; M is the union whose mem_offset an
// MMAP buffer uses (its low 32 bits on every architecture we build for:
// all are little-endian).
type v4l2Plane struct {
	Bytesused  uint32
	Length     uint32
	M          uintptr
	DataOffset uint32
	Reserved   [11]uint32
}

// v4l2Buffer is struct v4l2_buffer; in the multi-planar API Planes points
// at Length v4l2Plane structures.
type v4l2Buffer struct {
	Index, Type, Bytesused, Flags, Field uint32
	Timestamp                            unix.Timeval
	Timecode                             [16]byte // struct v4l2_timecode
	Sequence, Memory                     uint32
	Planes                               unsafe.Pointer
	Length, Reserved2, RequestFD         uint32
}

// v4l2RequestBuffers is struct v4l2_requestbuffers.
type v4l2RequestBuffers struct {
	Count, Type, Memory, Capabilities uint32
	Flags                             uint8
	Reserved                          [3]uint8
}

// v4l2Control is struct v4l2_control.
type v4l2Control struct {
	ID    uint32
	Value int32
}

// v4l2StreamParm is struct v4l2_streamparm read as an output queue's
// parameters (struct v4l2_outputparm).
type v4l2StreamParm struct {
	Type                       uint32
	Capability, OutputMode     uint32
	TimePerFrameNum            uint32
	TimePerFrameDen            uint32
	ExtendedMode, WriteBuffers uint32
	Reserved                   [200 - 24]byte
}

// ioc is the kernel's _IOC(dir, 'V', nr, size).
func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'V'<<8 | nr }

const (
	iocWrite = 1
	iocRead  = 2
)

// The ioctls of the M2M encoder (VIDIOC_QUERYCAP and VIDIOC_ENUM_FMT are
// in video_v4l2_linux.go).
var (
	vidiocGFmt      = ioc(iocRead|iocWrite, 4, unsafe.Sizeof(v4l2Format{}))
	vidiocSFmt      = ioc(iocRead|iocWrite, 5, unsafe.Sizeof(v4l2Format{}))
	vidiocReqBufs   = ioc(iocRead|iocWrite, 8, unsafe.Sizeof(v4l2RequestBuffers{}))
	vidiocQueryBuf  = ioc(iocRead|iocWrite, 9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocQBuf      = ioc(iocRead|iocWrite, 15, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDQBuf     = ioc(iocRead|iocWrite, 17, unsafe.Sizeof(v4l2Buffer{}))
	vidiocStreamOn  = ioc(iocWrite, 18, unsafe.Sizeof(int32(0)))
	vidiocStreamOff = ioc(iocWrite, 19, unsafe.Sizeof(int32(0)))
	vidiocSParm     = ioc(iocRead|iocWrite, 22, unsafe.Sizeof(v4l2StreamParm{}))
	vidiocSCtrl     = ioc(iocRead|iocWrite, 28, unsafe.Sizeof(v4l2Control{}))
)

// Poll events the encoder waits for.
const (
	pollIn  = unix.POLLIN  // a capture (coded) buffer is ready
	pollOut = unix.POLLOUT // an output (raw) buffer is free again
	pollErr = unix.POLLERR
	pollHup = unix.POLLHUP
)

// m2mDevice is what the encoder needs of a device node. The real one is a
// file descriptor (sysM2M); the tests inject an in-memory bcm2835-codec
// that reads and writes the same structures through arg.
type m2mDevice interface {
	// ioctl issues req with arg, a pointer to the request's structure.
	ioctl(req uintptr, arg unsafe.Pointer) error
	// mmap maps length bytes of the buffer at offset (a plane's
	// mem_offset from VIDIOC_QUERYBUF).
	mmap(offset uint32, length int) ([]byte, error)
	// munmap undoes mmap.
	munmap(b []byte) error
	// poll waits up to timeout for events; it returns the events that
	// happened, none on a timeout.
	poll(events int16, timeout time.Duration) (int16, error)
	// Close closes the node.
	Close() error
}

// sysM2M is a V4L2 device node opened for the M2M encoder. It is a raw
// descriptor, not an *os.File (see v4l2Dev), opened non-blocking: the
// encoder waits with poll and a timeout, so a device that stops answering
// is an error rather than a hang.
type sysM2M struct{ fd int }

func openSysM2M(path string) (*sysM2M, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("board: open %s: %w", path, err)
	}
	return &sysM2M{fd: fd}, nil
}

func (d *sysM2M) ioctl(req uintptr, arg unsafe.Pointer) error { return ioctl(d.fd, req, arg) }

func (d *sysM2M) mmap(offset uint32, length int) ([]byte, error) {
	return unix.Mmap(d.fd, int64(offset), length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func (d *sysM2M) munmap(b []byte) error { return unix.Munmap(b) }

func (d *sysM2M) poll(events int16, timeout time.Duration) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: events}}
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, nil
		}
		return fds[0].Revents, nil
	}
}

func (d *sysM2M) Close() error { return unix.Close(d.fd) }

// ErrEncoderGone is wrapped by the errors of an encoder whose device
// disappeared (ENODEV): the stream ends with it, and the box shows the
// fault, rather than waiting for frames that cannot come.
var ErrEncoderGone = errors.New("board: the H.264 encoder device is gone")

// m2mErr wraps an ioctl's error with the device and the request.
func m2mErr(path, what string, err error) error {
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%w: %s: %s: %w", ErrEncoderGone, path, what, err)
	}
	return fmt.Errorf("board: v4l2m2m %s: %s: %w", path, what, err)
}

// m2mEncodeCaps reports whether dev is an M2M multi-planar device that
// encodes H.264 (its capture queue offers H264) from YUV420 or NV12 (its
// output queue offers one of them), with the driver and card names.
func m2mEncodeCaps(dev m2mDevice) (ok bool, driver, card string, err error) {
	var c v4l2Capability
	if err := dev.ioctl(vidiocQueryCap, unsafe.Pointer(&c)); err != nil {
		return false, "", "", err
	}
	driver, card = cstr(c.Driver[:]), cstr(c.Card[:])
	caps := c.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = c.DeviceCaps
	}
	if caps&capVideoM2MMplane == 0 || caps&capStreaming == 0 {
		return false, driver, card, nil
	}
	coded := m2mFormats(dev, bufTypeCaptureMplane)
	raw := m2mFormats(dev, bufTypeOutputMplane)
	return coded[pixFmtH264] && (raw[pixFmtYUV420] || raw[pixFmtNV12]), driver, card, nil
}

// m2mFormats lists the pixel formats of a queue.
func m2mFormats(dev m2mDevice, typ uint32) map[uint32]bool {
	out := map[uint32]bool{}
	for i := uint32(0); i < 64; i++ {
		f := v4l2Fmtdesc{Index: i, Type: typ}
		if dev.ioctl(vidiocEnumFmt, unsafe.Pointer(&f)) != nil {
			break
		}
		out[f.Pixelformat] = true
	}
	return out
}

// m2mEncoderNodes are where the Pi's codec appears: bcm2835-codec
// registers /dev/video10 (decoder), 11 (encoder) and 12 (ISP), and the
// ISP and the other codecs 13 to 18.
func m2mEncoderNodes() []string {
	out := make([]string, 0, 10)
	for i := 10; i <= 19; i++ {
		out = append(out, fmt.Sprintf("/dev/video%d", i))
	}
	return out
}

// EncoderDevice is a hardware H.264 encoder found by ProbeEncoders.
type EncoderDevice struct {
	Path, Driver, Card string
}

// ProbeEncoders lists the V4L2 M2M H.264 encoders at /dev/video10 to
// /dev/video19 (the Pi's bcm2835-codec encoder is /dev/video11); the
// "auto" encoder uses the first.
func ProbeEncoders() []EncoderDevice {
	var out []EncoderDevice
	for _, p := range m2mEncoderNodes() {
		d, err := openSysM2M(p)
		if err != nil {
			continue
		}
		ok, drv, card, err := m2mEncodeCaps(d)
		d.Close()
		if err == nil && ok {
			out = append(out, EncoderDevice{Path: p, Driver: drv, Card: card})
		}
	}
	return out
}
