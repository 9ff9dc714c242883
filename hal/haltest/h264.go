package haltest

import (
	"bytes"
	"math/bits"

	"github.com/capturebox/capturebox/hal/halcheck"
)

// This file is a tiny H.264 encoder for the fake camera. It writes a
// Constrained Baseline stream in which every coded macroblock is I_PCM
// (raw samples, no transform or prediction) and every unchanged macroblock
// of a P picture is P_Skip, so that any conforming decoder reproduces the
// rendered pictures exactly. Pictures are 4:2:0, 8 bits, CAVLC, one slice
// per picture, deblocking off, picture order from frame_num (POC type 2,
// no reordering) and one reference frame.

// bitWriter writes an RBSP most significant bit first.
type bitWriter struct {
	buf  []byte
	cur  byte
	nbit uint
}

func (w *bitWriter) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		w.nbit++
		if w.nbit == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.nbit = 0, 0
		}
	}
}

func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

// ue writes an unsigned Exp-Golomb code.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := bits.Len64(x)
	w.u(n-1, 0)
	w.u(n, x)
}

// se writes a signed Exp-Golomb code.
func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

func (w *bitWriter) aligned() bool { return w.nbit == 0 }

// alignZero pads with zero bits to the next byte boundary.
func (w *bitWriter) alignZero() {
	for !w.aligned() {
		w.u(1, 0)
	}
}

// bytes writes whole bytes; the writer must be aligned.
func (w *bitWriter) bytes(b []byte) {
	if !w.aligned() {
		panic("haltest: unaligned byte write")
	}
	w.buf = append(w.buf, b...)
}

// trailing writes rbsp_trailing_bits and returns the RBSP.
func (w *bitWriter) trailing() []byte {
	w.u(1, 1)
	w.alignZero()
	return w.buf
}

// appendNAL appends a start code, the NAL header and the RBSP with
// emulation prevention bytes.
func appendNAL(dst []byte, refIdc, typ byte, rbsp []byte) []byte {
	dst = append(dst, 0, 0, 0, 1, refIdc<<5|typ)
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// picture is a 4:2:0 picture whose size is a whole number of macroblocks.
type picture struct {
	mbW, mbH  int
	y, cb, cr []byte
}

func newPicture(mbW, mbH int) *picture {
	return &picture{
		mbW: mbW, mbH: mbH,
		y:  make([]byte, mbW*16*mbH*16),
		cb: make([]byte, mbW*8*mbH*8),
		cr: make([]byte, mbW*8*mbH*8),
	}
}

// appendMB appends the 384 I_PCM samples of macroblock (mx, my).
func (p *picture) appendMB(dst []byte, mx, my int) []byte {
	stride := p.mbW * 16
	for row := range 16 {
		o := (my*16+row)*stride + mx*16
		dst = append(dst, p.y[o:o+16]...)
	}
	cstride := p.mbW * 8
	for _, plane := range [][]byte{p.cb, p.cr} {
		for row := range 8 {
			o := (my*8+row)*cstride + mx*8
			dst = append(dst, plane[o:o+8]...)
		}
	}
	return dst
}

// sameMB reports whether macroblock (mx, my) is equal in p and q.
func (p *picture) sameMB(q *picture, mx, my int) bool {
	stride := p.mbW * 16
	for row := range 16 {
		o := (my*16+row)*stride + mx*16
		if !bytes.Equal(p.y[o:o+16], q.y[o:o+16]) {
			return false
		}
	}
	cstride := p.mbW * 8
	for row := range 8 {
		o := (my*8+row)*cstride + mx*8
		if !bytes.Equal(p.cb[o:o+8], q.cb[o:o+8]) || !bytes.Equal(p.cr[o:o+8], q.cr[o:o+8]) {
			return false
		}
	}
	return true
}

// h264Encoder turns pictures into Annex B access units.
type h264Encoder struct {
	width, height int // display size; the coded size is rounded up to 16
	mbW, mbH      int
	fps           int
	sps, pps      []byte // RBSPs
	prev          *picture
	frameNum      uint32
	idrCount      uint32
}

const log2MaxFrameNum = 4

func newH264Encoder(width, height, fps int) *h264Encoder {
	e := &h264Encoder{width: width, height: height, fps: fps, mbW: (width + 15) / 16, mbH: (height + 15) / 16}
	e.sps = e.buildSPS()
	e.pps = buildPPS()
	return e
}

func (e *h264Encoder) level() uint64 {
	fs := e.mbW * e.mbH
	mbps := fs * e.fps
	switch {
	case fs <= 396 && mbps <= 11880:
		return 20
	case fs <= 3600 && mbps <= 108000:
		return 31
	case fs <= 8192 && mbps <= 245760:
		return 40
	default:
		return 51
	}
}

func (e *h264Encoder) buildSPS() []byte {
	var w bitWriter
	w.u(8, 66)   // profile_idc: Baseline
	w.u(8, 0xc0) // constraint_set0 and set1: Constrained Baseline
	w.u(8, e.level())
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type
	w.ue(1)                   // max_num_ref_frames
	w.flag(false)             // gaps_in_frame_num_value_allowed_flag
	w.ue(uint32(e.mbW - 1))   // pic_width_in_mbs_minus1
	w.ue(uint32(e.mbH - 1))   // pic_height_in_map_units_minus1
	w.flag(true)              // frame_mbs_only_flag
	w.flag(true)              // direct_8x8_inference_flag
	cropR, cropB := e.mbW*16-e.width, e.mbH*16-e.height
	w.flag(cropR > 0 || cropB > 0) // frame_cropping_flag
	if cropR > 0 || cropB > 0 {
		w.ue(0)                 // left, in 2-pixel units for 4:2:0
		w.ue(uint32(cropR / 2)) // right
		w.ue(0)                 // top
		w.ue(uint32(cropB / 2)) // bottom
	}
	w.flag(true)  // vui_parameters_present_flag
	w.flag(false) // aspect_ratio_info_present_flag
	w.flag(false) // overscan_info_present_flag
	w.flag(false) // video_signal_type_present_flag
	w.flag(false) // chroma_loc_info_present_flag
	w.flag(true)  // timing_info_present_flag
	w.u(32, 1)    // num_units_in_tick
	w.u(32, uint64(2*e.fps))
	w.flag(true)  // fixed_frame_rate_flag
	w.flag(false) // nal_hrd_parameters_present_flag
	w.flag(false) // vcl_hrd_parameters_present_flag
	w.flag(false) // pic_struct_present_flag
	w.flag(true)  // bitstream_restriction_flag
	w.flag(true)  // motion_vectors_over_pic_boundaries_flag
	w.ue(0)       // max_bytes_per_pic_denom
	w.ue(0)       // max_bits_per_mb_denom
	w.ue(10)      // log2_max_mv_length_horizontal
	w.ue(10)      // log2_max_mv_length_vertical
	w.ue(0)       // max_num_reorder_frames
	w.ue(1)       // max_dec_frame_buffering
	return w.trailing()
}

func buildPPS() []byte {
	var w bitWriter
	w.ue(0)       // pic_parameter_set_id
	w.ue(0)       // seq_parameter_set_id
	w.flag(false) // entropy_coding_mode_flag: CAVLC
	w.flag(false) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)       // num_slice_groups_minus1
	w.ue(0)       // num_ref_idx_l0_default_active_minus1
	w.ue(0)       // num_ref_idx_l1_default_active_minus1
	w.flag(false) // weighted_pred_flag
	w.u(2, 0)     // weighted_bipred_idc
	w.se(0)       // pic_init_qp_minus26
	w.se(0)       // pic_init_qs_minus26
	w.se(0)       // chroma_qp_index_offset
	w.flag(true)  // deblocking_filter_control_present_flag
	w.flag(false) // constrained_intra_pred_flag
	w.flag(false) // redundant_pic_cnt_present_flag
	return w.trailing()
}

// Slice and macroblock types used here.
const (
	sliceP      = 0
	sliceI      = 2
	mbTypeIPCM  = 25     // in an I slice
	mbTypePIPCM = 5 + 25 // I_PCM in a P slice
)

// encode returns the access unit for pic: an IDR with SPS and PPS when key
// (or when there is no previous picture), otherwise a P picture coding only
// the macroblocks that differ from the previous picture.
func (e *h264Encoder) encode(pic *picture, key bool) (au []byte, isKey bool) {
	if e.prev == nil {
		key = true
	}
	var w bitWriter
	w.ue(0) // first_mb_in_slice
	if key {
		w.ue(sliceI)
	} else {
		w.ue(sliceP)
	}
	w.ue(0) // pic_parameter_set_id
	if key {
		e.frameNum = 0
	} else {
		e.frameNum = (e.frameNum + 1) % (1 << log2MaxFrameNum)
	}
	w.u(log2MaxFrameNum, uint64(e.frameNum))
	if key {
		w.ue(e.idrCount % 65536) // idr_pic_id: differs between neighbouring IDRs
		e.idrCount++
	} else {
		w.flag(false) // num_ref_idx_active_override_flag
		w.flag(false) // ref_pic_list_modification_flag_l0
	}
	// dec_ref_pic_marking
	if key {
		w.flag(false) // no_output_of_prior_pics_flag
		w.flag(false) // long_term_reference_flag
	} else {
		w.flag(false) // adaptive_ref_pic_marking_mode_flag
	}
	w.se(0) // slice_qp_delta
	w.ue(1) // disable_deblocking_filter_idc: off

	skip := uint32(0)
	for my := range e.mbH {
		for mx := range e.mbW {
			if !key && pic.sameMB(e.prev, mx, my) {
				skip++
				continue
			}
			if key {
				w.ue(mbTypeIPCM)
			} else {
				w.ue(skip) // mb_skip_run
				skip = 0
				w.ue(mbTypePIPCM)
			}
			w.alignZero() // pcm_alignment_zero_bit
			w.buf = pic.appendMB(w.buf, mx, my)
		}
	}
	if skip > 0 {
		w.ue(skip)
	}
	rbsp := w.trailing()

	if key {
		au = appendNAL(au, 3, halcheck.NALSPS, e.sps)
		au = appendNAL(au, 3, halcheck.NALPPS, e.pps)
		au = appendNAL(au, 3, halcheck.NALIDR, rbsp)
	} else {
		au = appendNAL(au, 2, halcheck.NALNonIDR, rbsp)
	}
	e.prev = pic
	return au, key
}
