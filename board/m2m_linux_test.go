//go:build linux

package board

import (
	"errors"
	"image"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unsafe"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"golang.org/x/sys/unix"
)

// The structures have the kernel's sizes, and the ioctl numbers the C
// macros give (values read from a 64-bit videodev2.h build; the 32-bit ARM
// ones differ where a pointer or a timeval is inside).
func TestM2MStructLayout(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	want := map[string][2]uintptr{ // name: {64-bit, 32-bit}
		"v4l2_format":              {208, 204},
		"v4l2_pix_format_mplane":   {192, 192},
		"v4l2_buffer":              {88, 68},
		"v4l2_plane":               {64, 60},
		"v4l2_requestbuffers":      {20, 20},
		"v4l2_control":             {8, 8},
		"v4l2_streamparm":          {204, 204},
		"v4l2_capability":          {104, 104},
		"v4l2_fmtdesc (ENUM_FMT)":  {64, 64},
		"v4l2_format union offset": {8, 4},
	}
	got := map[string]uintptr{
		"v4l2_format":              unsafe.Sizeof(v4l2Format{}),
		"v4l2_pix_format_mplane":   unsafe.Sizeof(v4l2PixFormatMplane{}),
		"v4l2_buffer":              unsafe.Sizeof(v4l2Buffer{}),
		"v4l2_plane":               unsafe.Sizeof(v4l2Plane{}),
		"v4l2_requestbuffers":      unsafe.Sizeof(v4l2RequestBuffers{}),
		"v4l2_control":             unsafe.Sizeof(v4l2Control{}),
		"v4l2_streamparm":          unsafe.Sizeof(v4l2StreamParm{}),
		"v4l2_capability":          unsafe.Sizeof(v4l2Capability{}),
		"v4l2_fmtdesc (ENUM_FMT)":  unsafe.Sizeof(v4l2Fmtdesc{}),
		"v4l2_format union offset": unsafe.Offsetof(v4l2Format{}.Fmt),
	}
	col := 0
	if ptr == 4 {
		col = 1
	}
	for name, w := range want {
		if got[name] != w[col] {
			t.Errorf("%s: %d bytes, want %d", name, got[name], w[col])
		}
	}
	if ptr == 8 {
		for name, c := range map[string][2]uintptr{
			"VIDIOC_G_FMT":     {vidiocGFmt, 0xc0d05604},
			"VIDIOC_S_FMT":     {vidiocSFmt, 0xc0d05605},
			"VIDIOC_REQBUFS":   {vidiocReqBufs, 0xc0145608},
			"VIDIOC_QUERYBUF":  {vidiocQueryBuf, 0xc0585609},
			"VIDIOC_QBUF":      {vidiocQBuf, 0xc058560f},
			"VIDIOC_DQBUF":     {vidiocDQBuf, 0xc0585611},
			"VIDIOC_STREAMON":  {vidiocStreamOn, 0x40045612},
			"VIDIOC_STREAMOFF": {vidiocStreamOff, 0x40045613},
			"VIDIOC_S_PARM":    {vidiocSParm, 0xc0cc5616},
			"VIDIOC_S_CTRL":    {vidiocSCtrl, 0xc008561c},
		} {
			if c[0] != c[1] {
				t.Errorf("%s = %#x, want %#x", name, c[0], c[1])
			}
		}
	}
}

// testPicture is a w x h 4:2:2 picture (what the YUYV decoder gives) whose
// first eight luma bytes are n, little-endian, with chroma that tells
// rows and columns apart.
func testPicture(w, h int, n uint64) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio422)
	for i := range img.Y {
		img.Y[i] = byte(16 + i%200)
	}
	for k := 0; k < 8; k++ {
		img.Y[k] = byte(n >> (8 * k))
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w/2; x++ {
			img.Cb[y*img.CStride+x] = byte(x)
			img.Cr[y*img.CStride+x] = byte(y)
		}
	}
	return img
}

func newTestM2M(t *testing.T, f *fakeCodec, w, h int) *m2mEncoder {
	t.Helper()
	e, err := newM2MEncoder(f, "fake:/dev/video11", m2mConfig{Width: w, Height: h, FPS: 30, Bitrate: 2_000_000, KeyInterval: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// picNumber reads back the first luma bytes the fake put in the slice.
func picNumber(t *testing.T, au []byte) uint64 {
	t.Helper()
	var slice []byte
	for _, n := range avc.ExtractNalusFromByteStream(au) {
		if typ := n[0] & 0x1f; typ == 1 || typ == 5 {
			slice = n[1:]
		}
	}
	if len(slice) < 8 {
		t.Fatalf("no slice in % x", au[:min(len(au), 32)])
	}
	// Undo the emulation prevention of the first bytes.
	var raw []byte
	zeros := 0
	for _, b := range slice {
		if zeros == 2 && b == 3 {
			zeros = 0
			continue
		}
		raw = append(raw, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
		if len(raw) == 8 {
			break
		}
	}
	var n uint64
	for k := 7; k >= 0; k-- {
		n = n<<8 | uint64(raw[k])
	}
	return n
}

// The encoder sets the formats, controls and buffers up as the Pi's
// codec wants them, and a picture in is an access unit out, through both
// queues.
func TestM2MEncodeFake(t *testing.T) {
	f := newFakeCodec()
	const w, h = 200, 180 // 200 bytes a row: the device pads YU12 rows to 256
	e := newTestM2M(t, f, w, h)
	out := f.fmts[0]
	if out.PixelFormat != pixFmtYUV420 || out.PlaneFmt[0].Bytesperline != 256 || out.Height != 180 || f.fmts[1].PixelFormat != pixFmtH264 {
		t.Fatalf("formats: output %s %d/%dx%d, capture %s", fourcc(out.PixelFormat), out.PlaneFmt[0].Bytesperline, out.Width, out.Height, fourcc(f.fmts[1].PixelFormat))
	}
	if e.layout != (yuvLayout{Width: w, Height: h, Stride: 256, Rows: 180}) {
		t.Fatalf("layout %+v", e.layout)
	}
	if f.ctrls[cidBitrate] != 2_000_000 || f.ctrls[cidH264IPeriod] != 10 || f.ctrls[cidRepeatSeqHeader] != 1 || f.ctrls[cidHeaderMode] != 1 || f.parms != 1 {
		t.Fatalf("controls %v, S_PARM %d", f.ctrls, f.parms)
	}
	if !f.streaming[0] || !f.streaming[1] || len(f.mapped) != 2*m2mDefaultBufCount {
		t.Fatalf("streaming %v, %d buffers mapped", f.streaming, len(f.mapped))
	}
	const n = 25
	for i := 0; i < n; i++ {
		fr, err := e.encode(testPicture(w, h, uint64(1000+i)))
		if err != nil {
			t.Fatalf("picture %d: %v", i, err)
		}
		if got := picNumber(t, fr.Data); got != uint64(1000+i) {
			t.Fatalf("picture %d came back as %d", i, got)
		}
		if key := i%10 == 0; fr.Key != key || isIDR(fr.Data) != key {
			t.Fatalf("picture %d: flagged key %v, IDR %v, want %v", i, fr.Key, isIDR(fr.Data), key)
		}
		if fr.Key {
			spss, ppss := avc.GetParameterSetsFromByteStream(fr.Data)
			if len(spss) != 1 || len(ppss) != 1 {
				t.Fatalf("key picture %d: %d SPS, %d PPS", i, len(spss), len(ppss))
			}
			sps, err := avc.ParseSPSNALUnit(spss[0], false)
			if err != nil || sps.Width != w || sps.Height != h {
				t.Fatalf("SPS %+v, %v", sps, err)
			}
		}
	}
	if err := e.release(); err != nil {
		t.Fatal(err)
	}
	// Every picture went through both queues; the capture buffers are
	// all queued again, waiting for pictures.
	if f.qbuf[0] != n || f.dqbuf[0] < n-1 || f.dqbuf[1] != n || f.qbuf[1] != n+m2mDefaultBufCount {
		t.Fatalf("QBUF %v DQBUF %v after %d pictures", f.qbuf, f.dqbuf, n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if f.streaming[0] || f.streaming[1] || len(f.mapped) != 0 || len(f.bufs[0])+len(f.bufs[1]) != 0 || !f.closed {
		t.Fatalf("after Close: streaming %v, %d mapped, buffers %d+%d, closed %v", f.streaming, len(f.mapped), len(f.bufs[0]), len(f.bufs[1]), f.closed)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A forced key frame: the next capture buffer is flagged KEYFRAME.
func TestM2MForceKeyFrame(t *testing.T) {
	f := newFakeCodec()
	e := newTestM2M(t, f, 64, 64)
	for i := 0; i < 13; i++ {
		if i == 4 || i == 7 {
			e.forceKeyFrame()
		}
		fr, err := e.encode(testPicture(64, 64, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if key := i == 0 || i == 4 || i == 7; fr.Key != key || isIDR(fr.Data) != key {
			t.Fatalf("picture %d: key %v IDR %v, want %v", i, fr.Key, isIDR(fr.Data), key)
		}
	}
	// The I period counts from the forced key frame.
	if want := []int{0, 4, 7}; !equalInts(f.keyFrames, want) {
		t.Fatalf("key frames %v, want %v", f.keyFrames, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The bitrate control reaches the device, at once and when changed.
func TestM2MBitrate(t *testing.T) {
	f := newFakeCodec()
	e := newTestM2M(t, f, 64, 64)
	size := func() int {
		fr, err := e.encode(testPicture(64, 64, 1))
		if err != nil {
			t.Fatal(err)
		}
		return len(fr.Data)
	}
	size() // the key frame
	high := size()
	e.setBitrate(500_000)
	low := size()
	if f.ctrls[cidBitrate] != 500_000 || low*3 > high {
		t.Fatalf("bitrate %d: %d bytes a picture at 2 Mbit/s, %d at 0.5", f.ctrls[cidBitrate], high, low)
	}
	// A bitrate the device refuses is logged; the stream goes on at the
	// old one.
	var logged strings.Builder
	e.log = slog.New(slog.NewTextHandler(&logged, nil))
	e.setBitrate(100_000_000)
	if _, err := e.encode(testPicture(64, 64, 1)); err != nil {
		t.Fatalf("a bitrate the device refuses stopped the encoder: %v", err)
	}
	if f.ctrls[cidBitrate] != 500_000 || !strings.Contains(logged.String(), "bitrate not changed") || !strings.Contains(logged.String(), "VIDIOC_S_CTRL") {
		t.Fatalf("bitrate %d, log %q", f.ctrls[cidBitrate], logged.String())
	}
}

// The device disappears mid-stream: the next picture fails, saying so,
// and Close still returns.
func TestM2MDeviceGone(t *testing.T) {
	f := newFakeCodec()
	f.goneAfter = 3
	e := newTestM2M(t, f, 64, 64)
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = e.encode(testPicture(64, 64, uint64(i)))
	}
	if !errors.Is(err, ErrEncoderGone) || !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "fake:/dev/video11") {
		t.Fatalf("after the device went: %v", err)
	}
	if _, err := e.encode(testPicture(64, 64, 9)); !errors.Is(err, ErrEncoderGone) {
		t.Fatalf("again: %v", err)
	}
	if err := e.Close(); !errors.Is(err, unix.ENODEV) {
		t.Fatalf("Close of a gone device: %v", err)
	}
}

// A device that takes pictures and never answers is an error, not a hang.
func TestM2MStall(t *testing.T) {
	f := newFakeCodec()
	f.stall = true
	e := newTestM2M(t, f, 64, 64)
	if _, err := e.encode(testPicture(64, 64, 1)); err == nil || !strings.Contains(err.Error(), "stopped answering") {
		t.Fatalf("stalled device: %v", err)
	}
}

// Parameter sets in a buffer of their own are joined to the picture.
func TestM2MSplitHeader(t *testing.T) {
	f := newFakeCodec()
	f.splitHdr = true
	e := newTestM2M(t, f, 64, 64)
	for i := 0; i < 12; i++ {
		fr, err := e.encode(testPicture(64, 64, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		spss, _ := avc.GetParameterSetsFromByteStream(fr.Data)
		if key := i%10 == 0; !isIDR(fr.Data) == key || (len(spss) == 1) != key || picNumber(t, fr.Data) != uint64(i) {
			t.Fatalf("picture %d: IDR %v, %d SPS", i, isIDR(fr.Data), len(spss))
		}
	}
}

// NV12 when the device offers no YU12; a decoder node is refused.
func TestM2MFormatsAndRefusal(t *testing.T) {
	f := newFakeCodec()
	f.rawFormats = []uint32{pixFmtNV12}
	e := newTestM2M(t, f, 100, 64)
	if !e.layout.NV12 || e.layout.Stride != 128 || f.fmts[0].PixelFormat != pixFmtNV12 {
		t.Fatalf("layout %+v", e.layout)
	}
	if _, err := e.encode(testPicture(100, 64, 5)); err != nil {
		t.Fatal(err)
	}
	dec := newFakeCodec()
	dec.noH264 = true
	_, err := newM2MEncoder(dec, "fake:/dev/video10", m2mConfig{Width: 64, Height: 64, FPS: 30, Bitrate: 1e6, KeyInterval: 30})
	if err == nil || !strings.Contains(err.Error(), "not a V4L2 M2M H.264 encoder") || !dec.closed {
		t.Fatalf("a decoder node: %v (closed %v)", err, dec.closed)
	}
	if _, err := newM2MEncoder(newFakeCodec(), "fake", m2mConfig{Width: 4000, Height: 64, FPS: 30, Bitrate: 1e6, KeyInterval: 30}); err == nil || !strings.Contains(err.Error(), "the device takes 1920x64") {
		t.Fatalf("a size the device refuses: %v", err)
	}
}

// The picture lands in the layout the device reported, converted to 4:2:0.
func TestYUVLayoutWrite(t *testing.T) {
	src := testPicture(8, 4, 0)
	for _, l := range []yuvLayout{{Width: 8, Height: 4, Stride: 32, Rows: 16}, {NV12: true, Width: 8, Height: 4, Stride: 32, Rows: 16}} {
		buf := make([]byte, l.size())
		if err := l.write(buf, src); err != nil {
			t.Fatal(err)
		}
		for y := 0; y < 4; y++ {
			for x := 0; x < 8; x++ {
				if buf[y*l.Stride+x] != src.Y[y*src.YStride+x] {
					t.Fatalf("%+v: luma (%d,%d)", l, x, y)
				}
			}
		}
		c := buf[l.Stride*l.Rows:]
		for y := 0; y < 2; y++ {
			for x := 0; x < 4; x++ {
				var u, v byte
				if l.NV12 {
					u, v = c[y*l.Stride+2*x], c[y*l.Stride+2*x+1]
				} else {
					u, v = c[y*l.Stride/2+x], c[l.Stride*l.Rows/4+y*l.Stride/2+x]
				}
				if u != byte(x) || v != byte(2*y) {
					t.Fatalf("%+v: chroma (%d,%d) = %d,%d, want %d,%d", l, x, y, u, v, x, 2*y)
				}
			}
		}
	}
	if err := (yuvLayout{Width: 8, Height: 4, Stride: 8, Rows: 4}).write(make([]byte, 48), testPicture(6, 4, 0)); err == nil {
		t.Fatal("a picture of the wrong size was written")
	}
	// Any image type goes through the slow path.
	rgba := image.NewRGBA(image.Rect(0, 0, 8, 4))
	if err := (yuvLayout{Width: 8, Height: 4, Stride: 8, Rows: 4}).write(make([]byte, 48), rgba); err != nil {
		t.Fatal(err)
	}
}

// imageReader hands out test pictures; after n it says io.EOF.
type imageReader struct {
	w, h, i, n int
}

func (r *imageReader) Read() (image.Image, func(), error) {
	if r.i >= r.n {
		return nil, func() {}, io.EOF
	}
	r.i++
	return testPicture(r.w, r.h, uint64(r.i)), func() {}, nil
}

// chooseEncoder: the configured encoder, auto's choice and its fallback.
func TestChooseEncoder(t *testing.T) {
	soft := func(video.Reader, prop.Media) (codec.ReadCloser, error) { return nil, errors.New("soft") }
	found := []EncoderDevice{{Path: "/dev/video11", Driver: "bcm2835-codec", Card: "bcm2835-codec-encode"}}
	fake := func(string) (m2mDevice, error) { return newFakeCodec(), nil }
	broken := func(p string) (m2mDevice, error) { return nil, unix.EBUSY }
	p := prop.Media{Video: prop.Video{Width: 64, Height: 64}}
	cfg := func(enc string) VideoConfig {
		c, err := VideoConfig{Encoder: enc, Logger: slog.New(slog.DiscardHandler)}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		enc   string
		found []EncoderDevice
		open  func(string) (m2mDevice, error)
		want  string // "hard", "soft" or an error
	}{
		{"openh264", found, fake, "soft"},
		{"auto", nil, fake, "soft"},
		{"auto", found, fake, "hard"},
		{"auto", found, broken, "soft"},
		{"v4l2m2m", found, fake, "hard"},
		{"v4l2m2m", nil, fake, "no V4L2 M2M H.264 encoder"},
		{"v4l2m2m", found, broken, "device or resource busy"},
	} {
		build, err := chooseEncoder(cfg(c.enc), c.found, c.open, soft)
		var got string
		if err == nil {
			var enc codec.ReadCloser
			enc, err = build(&imageReader{w: 64, h: 64, n: 1}, p)
			switch {
			case err != nil && err.Error() == "soft":
				got = "soft"
			case err != nil:
				got = err.Error()
			default:
				got = "hard"
				enc.Close()
			}
		} else {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s with %d found: %s, want %s", c.enc, len(c.found), got, c.want)
		}
	}
}

// BenchmarkM2MEncodeFake is the hardware encoder's own cost per 1080p
// picture on the in-memory device: 4:2:2 to I420 into the mapped buffer,
// the controls, and both queues (the stream's copy of the access unit and
// the camera's decoding are not in it; BenchmarkPipelineM2MFake has them).
func BenchmarkM2MEncodeFake(b *testing.B) {
	f := newFakeCodec()
	e, err := newM2MEncoder(f, "fake:/dev/video11", m2mConfig{Width: 1920, Height: 1080, FPS: 30, Bitrate: 4_000_000, KeyInterval: 60})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	img := testPicture(1920, 1080, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.encode(img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}
