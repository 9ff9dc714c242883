//go:build linux

package board

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeCodec is an in-memory bcm2835-codec encoder node, as periph tests a
// driver against an in-memory register map: the encoder's ioctls reach it
// with the kernel's structures, which it reads and answers as the driver
// does, and it checks what the driver would refuse (formats, buffer
// indexes, double queueing, streaming state). Each picture queued on the
// OUTPUT queue, while a CAPTURE buffer is free, comes back "encoded": an
// Annex B access unit with a real SPS and PPS for the size before each IDR
// picture, and a slice whose size follows the bitrate and which carries
// the picture's first luma bytes (to check the picture got there).
type fakeCodec struct {
	mu sync.Mutex

	// Settings of the device before it is used.
	rawFormats []uint32 // OUTPUT formats offered; nil = YU12, NV12
	noH264     bool     // the CAPTURE queue offers no H264 (a decoder)
	goneAfter  int      // after this many pictures, every call fails ENODEV; 0 = never
	stall      bool     // pictures are taken but never encoded
	splitHdr   bool     // parameter sets in a buffer of their own, whatever the header mode

	// State.
	gone      bool
	fmts      [2]v4l2PixFormatMplane // by queue: 0 output, 1 capture
	fmtSet    [2]bool
	bufs      [2][]fakeBuf
	streaming [2]bool
	ctrls     map[uint32]int32
	forceKey  bool
	frames    int // pictures encoded
	sinceKey  int
	mapped    map[uint32]bool
	closed    bool
	hdrSent   bool // the parameter sets of the queued picture went out alone
	order     int  // increases at each queueing and completion

	// Counters for the tests.
	qbuf, dqbuf [2]int
	keyFrames   []int // picture numbers coded as IDR
	sizes       []int // bytes of each access unit
	parms       int
}

type fakeBuf struct {
	data   []byte
	queued bool
	done   bool // filled, waiting for DQBUF
	used   uint32
	flags  uint32
	ts     unix.Timeval
	order  int // when it was done, for DQBUF's order
}

const fakeOffsetCapture = 1 << 30 // mem_offset of CAPTURE buffers, as vb2 separates the queues

func newFakeCodec() *fakeCodec {
	return &fakeCodec{ctrls: map[uint32]int32{cidBitrate: 10_000_000, cidH264IPeriod: 60, cidRepeatSeqHeader: 0}, mapped: map[uint32]bool{}}
}

func queueIndex(typ uint32) (int, bool) {
	switch typ {
	case bufTypeOutputMplane:
		return 0, true
	case bufTypeCaptureMplane:
		return 1, true
	}
	return 0, false
}

func (f *fakeCodec) ioctl(req uintptr, arg unsafe.Pointer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return unix.ENODEV
	}
	if f.closed {
		return unix.EBADF
	}
	switch req {
	case vidiocQueryCap:
		c := (*v4l2Capability)(arg)
		*c = v4l2Capability{}
		copy(c.Driver[:], "bcm2835-codec")
		copy(c.Card[:], "bcm2835-codec-encode")
		copy(c.BusInfo[:], "platform:bcm2835-codec")
		c.DeviceCaps = capVideoM2MMplane | capStreaming
		c.Capabilities = c.DeviceCaps | capDeviceCaps
		return nil
	case vidiocEnumFmt:
		d := (*v4l2Fmtdesc)(arg)
		var list []uint32
		switch d.Type {
		case bufTypeOutputMplane:
			list = f.rawFormats
			if list == nil {
				list = []uint32{pixFmtYUV420, pixFmtNV12}
			}
		case bufTypeCaptureMplane:
			if !f.noH264 {
				list = []uint32{pixFmtH264}
			}
		}
		if int(d.Index) >= len(list) {
			return unix.EINVAL
		}
		d.Pixelformat = list[d.Index]
		return nil
	case vidiocSFmt, vidiocGFmt:
		return f.format(req, (*v4l2Format)(arg))
	case vidiocSParm:
		p := (*v4l2StreamParm)(arg)
		if p.Type != bufTypeOutputMplane || p.TimePerFrameDen == 0 {
			return unix.EINVAL
		}
		f.parms++
		return nil
	case vidiocSCtrl:
		c := (*v4l2Control)(arg)
		switch c.ID {
		case cidBitrate:
			if c.Value < 25_000 || c.Value > 25_000_000 {
				return unix.ERANGE
			}
		case cidH264IPeriod:
			if c.Value < 0 {
				return unix.ERANGE
			}
		case cidRepeatSeqHeader, cidHeaderMode:
			if c.Value != 0 && c.Value != 1 {
				return unix.ERANGE
			}
		case cidForceKeyFrame:
			f.forceKey = true
			return nil
		default:
			return unix.EINVAL
		}
		f.ctrls[c.ID] = c.Value
		return nil
	case vidiocReqBufs:
		return f.reqbufs((*v4l2RequestBuffers)(arg))
	case vidiocQueryBuf, vidiocQBuf, vidiocDQBuf:
		b := (*v4l2Buffer)(arg)
		q, ok := queueIndex(b.Type)
		if !ok || b.Memory != memoryMMAP || b.Length < 1 || b.Planes == nil {
			return unix.EINVAL
		}
		pl := (*v4l2Plane)(b.Planes)
		switch req {
		case vidiocQueryBuf:
			if int(b.Index) >= len(f.bufs[q]) {
				return unix.EINVAL
			}
			pl.Length = uint32(len(f.bufs[q][b.Index].data))
			pl.M = uintptr(f.offset(q, int(b.Index)))
			return nil
		case vidiocQBuf:
			return f.queue(q, b, pl)
		default:
			return f.dequeue(q, b, pl)
		}
	case vidiocStreamOn, vidiocStreamOff:
		q, ok := queueIndex(uint32(*(*int32)(arg)))
		if !ok || len(f.bufs[q]) == 0 {
			return unix.EINVAL
		}
		f.streaming[q] = req == vidiocStreamOn
		if !f.streaming[q] {
			for i := range f.bufs[q] {
				f.bufs[q][i].queued, f.bufs[q][i].done = false, false
			}
		}
		f.run()
		return nil
	}
	return unix.ENOTTY
}

func (f *fakeCodec) offset(q, i int) uint32 {
	return uint32(q*fakeOffsetCapture + i*unix.Getpagesize()*1024)
}

func align(v, a uint32) uint32 { return (v + a - 1) / a * a }

// format is S_FMT (and G_FMT) as bcm2835-codec's encoder answers it: the
// size is clamped to 32 to 1920; the raw side's stride is aligned to 64
// bytes for YU12 and 32 for NV12, its height left as asked; the coded
// side's buffers are at least 768 KiB above 720p, 512 KiB up to it; an
// unknown pixel format becomes the queue's first.
func (f *fakeCodec) format(req uintptr, v *v4l2Format) error {
	q, ok := queueIndex(v.Type)
	if !ok {
		return unix.EINVAL
	}
	if req == vidiocGFmt {
		v.Fmt.Pix = f.fmts[q]
		return nil
	}
	if len(f.bufs[q]) > 0 {
		return unix.EBUSY
	}
	p := &v.Fmt.Pix
	p.Width, p.Height = min(p.Width, 1920), min(p.Height, 1920)
	p.Field, p.NumPlanes = fieldNone, 1
	if q == 0 {
		p.Width, p.Height = max(p.Width, 32), max(p.Height, 32)
		if p.PixelFormat != pixFmtYUV420 && p.PixelFormat != pixFmtNV12 {
			p.PixelFormat = pixFmtYUV420
		}
		a := uint32(64)
		if p.PixelFormat == pixFmtNV12 {
			a = 32
		}
		bpl := align(max(p.Width, p.PlaneFmt[0].Bytesperline), a)
		p.PlaneFmt[0] = v4l2PlanePixFormat{Bytesperline: bpl, Sizeimage: bpl * p.Height * 3 / 2}
	} else {
		p.PixelFormat = pixFmtH264
		least := uint32(512 << 10)
		if p.Width*p.Height > 1280*720 {
			least = 768 << 10
		}
		p.PlaneFmt[0] = v4l2PlanePixFormat{Sizeimage: max(p.PlaneFmt[0].Sizeimage, least)}
	}
	f.fmts[q], f.fmtSet[q] = *p, true
	return nil
}

func (f *fakeCodec) reqbufs(r *v4l2RequestBuffers) error {
	q, ok := queueIndex(r.Type)
	if !ok || r.Memory != memoryMMAP {
		return unix.EINVAL
	}
	if f.streaming[q] {
		return unix.EBUSY
	}
	if r.Count == 0 {
		f.bufs[q] = nil
		return nil
	}
	if !f.fmtSet[q] || len(f.bufs[q]) > 0 {
		return unix.EBUSY
	}
	r.Count = min(max(r.Count, 2), 16)
	for range r.Count {
		f.bufs[q] = append(f.bufs[q], fakeBuf{data: make([]byte, f.fmts[q].PlaneFmt[0].Sizeimage)})
	}
	return nil
}

func (f *fakeCodec) queue(q int, b *v4l2Buffer, pl *v4l2Plane) error {
	if int(b.Index) >= len(f.bufs[q]) {
		return unix.EINVAL
	}
	fb := &f.bufs[q][b.Index]
	if fb.queued || fb.done {
		return unix.EINVAL // vb2: "buffer is not in dequeued state"
	}
	if q == 0 {
		if pl.Bytesused != f.fmts[0].PlaneFmt[0].Sizeimage {
			return fmt.Errorf("fake codec: output buffer %d queued with %d bytes, the format's picture is %d", b.Index, pl.Bytesused, f.fmts[0].PlaneFmt[0].Sizeimage)
		}
		fb.ts = b.Timestamp
	}
	fb.queued = true
	f.order++
	fb.order = f.order
	f.qbuf[q]++
	f.run()
	return nil
}

func (f *fakeCodec) dequeue(q int, b *v4l2Buffer, pl *v4l2Plane) error {
	best := -1
	for i, fb := range f.bufs[q] {
		if fb.done && (best < 0 || fb.order < f.bufs[q][best].order) {
			best = i
		}
	}
	if best < 0 {
		return unix.EAGAIN
	}
	fb := &f.bufs[q][best]
	fb.done = false
	b.Index, b.Flags, b.Timestamp, b.Field = uint32(best), fb.flags, fb.ts, fieldNone
	pl.Bytesused, pl.Length, pl.DataOffset = fb.used, uint32(len(fb.data)), 0
	f.dqbuf[q]++
	return nil
}

// run encodes the queued pictures while a CAPTURE buffer is free.
func (f *fakeCodec) run() {
	for f.streaming[0] && f.streaming[1] && !f.stall && !f.gone {
		in, out := -1, -1
		for i, b := range f.bufs[0] {
			if b.queued && (in < 0 || b.order < f.bufs[0][in].order) {
				in = i
			}
		}
		for i, b := range f.bufs[1] {
			if b.queued {
				out = i
				break
			}
		}
		if in < 0 || out < 0 {
			return
		}
		f.encode(&f.bufs[0][in], &f.bufs[1][out])
		if f.goneAfter > 0 && f.frames >= f.goneAfter {
			f.gone = true
		}
	}
}

func (f *fakeCodec) encode(raw, coded *fakeBuf) {
	period := int(f.ctrls[cidH264IPeriod])
	key := f.hdrSent || f.frames == 0 || f.forceKey || (period > 0 && f.sinceKey >= period)
	var au []byte
	if key && !f.hdrSent && (f.ctrls[cidRepeatSeqHeader] == 1 || f.frames == 0) {
		au = append(au, annexB(7, fakeSPS(int(f.fmts[1].Width), int(f.fmts[1].Height)))...)
		au = append(au, annexB(8, fakePPS())...)
		if f.splitHdr {
			// The parameter sets alone; the picture stays queued for
			// the next CAPTURE buffer.
			f.hdrSent = true
			f.finish(coded, au, 0, raw.ts)
			return
		}
	}
	f.hdrSent, f.forceKey = false, false
	if key {
		f.sinceKey = 0
		f.keyFrames = append(f.keyFrames, f.frames)
	}
	// The slice: its size follows the bitrate (a key picture three times
	// a predicted one's); its first bytes are the picture's first luma
	// bytes.
	n := int(f.ctrls[cidBitrate]) / 8 / 30
	if key {
		n *= 3
	}
	payload := make([]byte, max(n, 16))
	copy(payload, raw.data[:8])
	for i := 8; i < len(payload); i++ {
		payload[i] = byte(i)
	}
	typ := byte(1)
	if key {
		typ = 5
	}
	au = append(au, annexB(typ, payload)...)
	if len(au) > len(coded.data) {
		au = au[:len(coded.data)]
	}
	f.sinceKey++
	f.frames++
	f.sizes = append(f.sizes, len(au))
	flags := uint32(0)
	if key {
		flags = bufFlagKeyframe
	}
	f.finish(coded, au, flags, raw.ts)
	f.order++
	raw.queued, raw.done, raw.used, raw.order = false, true, 0, f.order
}

// finish hands a CAPTURE buffer back filled.
func (f *fakeCodec) finish(coded *fakeBuf, au []byte, flags uint32, ts unix.Timeval) {
	copy(coded.data, au)
	f.order++
	coded.queued, coded.done = false, true
	coded.used, coded.flags, coded.ts, coded.order = uint32(len(au)), flags, ts, f.order
}

func (f *fakeCodec) mmap(offset uint32, length int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return nil, unix.ENODEV
	}
	for q := range f.bufs {
		for i, b := range f.bufs[q] {
			if f.offset(q, i) == offset {
				if length != len(b.data) {
					return nil, unix.EINVAL
				}
				f.mapped[offset] = true
				return b.data, nil
			}
		}
	}
	return nil, unix.EINVAL
}

func (f *fakeCodec) munmap(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for q := range f.bufs {
		for i, fb := range f.bufs[q] {
			off := f.offset(q, i)
			if f.mapped[off] && len(b) > 0 && &fb.data[0] == &b[0] {
				delete(f.mapped, off)
				return nil
			}
		}
	}
	return unix.EINVAL
}

// poll answers at once: the events ready now, none (a timeout) if none.
func (f *fakeCodec) poll(events int16, _ time.Duration) (int16, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return pollErr | pollHup, nil
	}
	var rev int16
	for q, ev := range []int16{pollOut, pollIn} {
		for _, b := range f.bufs[q] {
			if b.done {
				rev |= ev & events
			}
		}
	}
	return rev, nil
}

func (f *fakeCodec) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return unix.EBADF
	}
	f.closed = true
	return nil
}

// disappear unplugs the device: every call from now fails with ENODEV.
func (f *fakeCodec) disappear() {
	f.mu.Lock()
	f.gone = true
	f.mu.Unlock()
}

// annexB is a NAL unit of type typ (nal_ref_idc 3) with start code, its
// payload escaped (emulation prevention bytes).
func annexB(typ byte, rbsp []byte) []byte {
	out := []byte{0, 0, 0, 1, 0x60 | typ}
	zeros := 0
	for _, b := range rbsp {
		if zeros == 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// bitWriter writes an RBSP: bits, and Exp-Golomb codes.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) bit(v uint) {
	if w.n%8 == 0 {
		w.b = append(w.b, 0)
	}
	if v != 0 {
		w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

func (w *bitWriter) bits(v uint, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(v >> i & 1)
	}
}

func (w *bitWriter) ue(v uint) {
	n := 0
	for x := v + 1; x > 1; x >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v+1, n+1)
}

func (w *bitWriter) trailing() []byte {
	w.bit(1)
	for w.n%8 != 0 {
		w.bit(0)
	}
	return w.b
}

// fakeSPS is a Baseline profile, level 4 sequence parameter set for a
// w x h picture (cropped from whole macroblocks), as the Pi's encoder
// writes one.
func fakeSPS(w, h int) []byte {
	var b bitWriter
	b.bits(66, 8) // profile_idc: Baseline
	b.bits(0xc0, 8)
	b.bits(40, 8) // level_idc
	b.ue(0)       // seq_parameter_set_id
	b.ue(0)       // log2_max_frame_num_minus4
	b.ue(2)       // pic_order_cnt_type
	b.ue(1)       // max_num_ref_frames
	b.bit(0)      // gaps_in_frame_num_value_allowed_flag
	mbw, mbh := (w+15)/16, (h+15)/16
	b.ue(uint(mbw - 1))
	b.ue(uint(mbh - 1))
	b.bit(1) // frame_mbs_only_flag
	b.bit(1) // direct_8x8_inference_flag
	if cw, ch := mbw*16-w, mbh*16-h; cw != 0 || ch != 0 {
		b.bit(1)
		b.ue(0)
		b.ue(uint(cw / 2))
		b.ue(0)
		b.ue(uint(ch / 2))
	} else {
		b.bit(0)
	}
	b.bit(0) // vui_parameters_present_flag
	return b.trailing()
}

// fakePPS is the picture parameter set that goes with fakeSPS.
func fakePPS() []byte {
	var b bitWriter
	b.ue(0)      // pic_parameter_set_id
	b.ue(0)      // seq_parameter_set_id
	b.bit(0)     // entropy_coding_mode_flag: CAVLC
	b.bit(0)     // bottom_field_pic_order_in_frame_present_flag
	b.ue(0)      // num_slice_groups_minus1
	b.ue(0)      // num_ref_idx_l0_default_active_minus1
	b.ue(0)      // num_ref_idx_l1_default_active_minus1
	b.bit(0)     // weighted_pred_flag
	b.bits(0, 2) // weighted_bipred_idc
	b.ue(0)      // pic_init_qp_minus26 (se 0)
	b.ue(0)      // pic_init_qs_minus26
	b.ue(0)      // chroma_qp_index_offset
	b.bit(1)     // deblocking_filter_control_present_flag
	b.bit(0)     // constrained_intra_pred_flag
	b.bit(0)     // redundant_pic_cnt_present_flag
	return b.trailing()
}
