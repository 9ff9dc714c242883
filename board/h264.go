package board

import "bytes"

// Annex B helpers shared by the video stream and the hardware encoder.

// isIDR reports whether an Annex B access unit holds an IDR slice.
func isIDR(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if b[i+3]&0x1f == 5 {
				return true
			}
			i += 2
		}
	}
	return false
}

// hasSlice reports whether an Annex B buffer holds a coded slice (NAL
// types 1 to 5), not only parameter sets or other NAL units.
func hasSlice(b []byte) bool {
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 || i+3 >= len(b) {
			return false
		}
		if t := b[i+3] & 0x1f; t >= 1 && t <= 5 {
			return true
		}
		b = b[i+3:]
	}
}
