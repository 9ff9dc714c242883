package board

import (
	"image"
	"image/color"
	"testing"
)

// blackPicture tells a black picture (video-range black, a little noise) from
// a dark but real one and from an ordinary one, for YCbCr and RGB images.
func TestBlackPicture(t *testing.T) {
	yc := func(w, h int, luma func(x, y int) uint8) image.Image {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[img.YOffset(x, y)] = luma(x, y)
			}
		}
		return img
	}
	rgb := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for i := range rgb.Pix {
		rgb.Pix[i] = 0xff
	}
	dark := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			dark.Set(x, y, color.RGBA{8, 8, 8, 255})
		}
	}
	for _, tc := range []struct {
		name  string
		img   image.Image
		black bool
	}{
		{"video-range black", yc(1920, 1080, func(int, int) uint8 { return 16 }), true},
		{"black with noise", yc(1920, 1080, func(x, y int) uint8 { return uint8(14 + (x*7+y*13)%6) }), true},
		{"a dark slide with white text", yc(1920, 1080, func(x, y int) uint8 {
			if y%40 < 12 {
				return 235
			}
			return 20
		}), false},
		{"black with one line of text", yc(1920, 1080, func(x, y int) uint8 {
			if y >= 500 && y < 540 && x > 200 && x < 1700 {
				return 235
			}
			return 16
		}), false},
		{"grey", yc(1280, 720, func(int, int) uint8 { return 128 }), false},
		{"RGB white", rgb, false},
		{"RGB near black", dark, true},
		{"a sub-image of black", yc(64, 64, func(int, int) uint8 { return 16 }).(*image.YCbCr).SubImage(image.Rect(16, 16, 48, 48)), true},
	} {
		if got := blackPicture(tc.img); got != tc.black {
			t.Errorf("%s: black %v, want %v", tc.name, got, tc.black)
		}
	}
}

func BenchmarkBlackPicture1080p(b *testing.B) {
	img := image.NewYCbCr(image.Rect(0, 0, 1920, 1080), image.YCbCrSubsampleRatio420)
	for b.Loop() {
		blackPicture(img)
	}
}
