package capture

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/Eyevinn/mp4ff/avc"
)

// annexBNALUs splits as mp4ff's ExtractNalusFromByteStream does (the
// reference), on hand-made streams and on random ones rich in zero bytes.
func TestAnnexBNALUsMatchesMP4FF(t *testing.T) {
	streams := [][]byte{
		nil,
		{},
		{9, 16},                  // no start code
		{0, 0, 1},                // a start code and nothing after it
		{0, 0, 0, 1, 0x67, 1, 2}, // one unit, four-byte start code
		{0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 7, 0, 0}, // AUD, then an IDR ending in zeros
		{0, 0, 1, 0x67, 0, 0, 0, 0, 0, 1, 0x68, 0, 0, 1, 0x65, 1},
		{5, 5, 0, 0, 1, 0x41, 0, 0, 1}, // leading garbage, an empty last unit
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			switch r.IntN(4) {
			case 0, 1:
				b[i] = 0
			case 2:
				b[i] = 1
			default:
				b[i] = byte(r.IntN(256))
			}
		}
		streams = append(streams, b)
	}
	for _, b := range streams {
		want := avc.ExtractNalusFromByteStream(b)
		got := slices.Collect(annexBNALUs(b))
		if len(got) != len(want) {
			t.Fatalf("% x: %d units, mp4ff finds %d (% x)", b, len(got), len(want), want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("% x: unit %d is % x, mp4ff's % x", b, i, got[i], want[i])
			}
		}
	}
}

// toAVCC: each unit but the delimiters, length-prefixed, in one buffer of
// its exact size that does not share annexB's memory.
func TestToAVCC(t *testing.T) {
	in := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 6}
	got := toAVCC(in)
	want := []byte{0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 4, 0x65, 4, 5, 6}
	if !bytes.Equal(got, want) {
		t.Fatalf("toAVCC = % x, want % x", got, want)
	}
	if cap(got) != len(want) {
		t.Errorf("capacity %d, want %d", cap(got), len(want))
	}
	in[len(in)-1] = 0xff
	if got[len(got)-1] != 6 {
		t.Error("the result shares the input's memory")
	}
}
