package board

import (
	"fmt"
	"image"
	"image/color"
)

// yuvLayout is where a 4:2:0 picture's planes lie in one buffer, as a
// V4L2 driver reports it for a single-plane format: the luma rows are
// Stride bytes apart and Height rows tall (the driver may pad both), the
// chroma follows, as two planes of half stride (I420, V4L2's YU12) or one
// interleaved plane of full stride (NV12).
type yuvLayout struct {
	NV12          bool
	Width, Height int // the picture
	Stride        int // bytes per luma row
	Rows          int // luma rows in the buffer (at least Height)
}

// size is the bytes the layout needs.
func (l yuvLayout) size() int { return l.Stride*l.Rows + l.Stride*l.Rows/2 }

// write converts img into buf in the layout. A *image.YCbCr (what
// mediadevices' frame decoders give) is copied plane by plane, its chroma
// subsampled to 4:2:0 by taking every other row or column; any other
// image goes through color.YCbCrModel, pixel by pixel.
func (l yuvLayout) write(buf []byte, img image.Image) error {
	if len(buf) < l.size() {
		return fmt.Errorf("board: picture buffer of %d bytes, want %d", len(buf), l.size())
	}
	b := img.Bounds()
	if b.Dx() != l.Width || b.Dy() != l.Height {
		return fmt.Errorf("board: picture of %dx%d, the encoder was set up for %dx%d", b.Dx(), b.Dy(), l.Width, l.Height)
	}
	yc, ok := img.(*image.YCbCr)
	if !ok {
		yc = toYCbCr(img)
	}
	for y := 0; y < l.Height; y++ {
		copy(buf[y*l.Stride:y*l.Stride+l.Width], yc.Y[y*yc.YStride:y*yc.YStride+l.Width])
	}
	cw, ch := l.Width/2, l.Height/2
	chroma := buf[l.Stride*l.Rows:]
	// xs and ys step through the source's chroma for each 4:2:0 sample.
	xs, ys := 1, 1
	switch yc.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		xs, ys = 2, 2
	case image.YCbCrSubsampleRatio422:
		ys = 2
	case image.YCbCrSubsampleRatio440:
		xs = 2
	case image.YCbCrSubsampleRatio420:
	default:
		yc = toYCbCr(img)
	}
	half := l.Stride / 2
	for y := 0; y < ch; y++ {
		cb := yc.Cb[y*ys*yc.CStride:]
		cr := yc.Cr[y*ys*yc.CStride:]
		if l.NV12 {
			row := chroma[y*l.Stride : y*l.Stride+2*cw]
			for x := 0; x < cw; x++ {
				row[2*x], row[2*x+1] = cb[x*xs], cr[x*xs]
			}
			continue
		}
		u := chroma[y*half : y*half+cw]
		v := chroma[half*l.Rows/2+y*half : half*l.Rows/2+y*half+cw]
		if xs == 1 {
			copy(u, cb[:cw])
			copy(v, cr[:cw])
			continue
		}
		for x := 0; x < cw; x++ {
			u[x], v[x] = cb[x*xs], cr[x*xs]
		}
	}
	return nil
}

// toYCbCr converts any image to 4:2:0 YCbCr, slowly.
func toYCbCr(img image.Image) *image.YCbCr {
	b := img.Bounds()
	out := image.NewYCbCr(image.Rect(0, 0, b.Dx(), b.Dy()), image.YCbCrSubsampleRatio420)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.YCbCrModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.YCbCr)
			out.Y[out.YOffset(x, y)] = c.Y
			if x%2 == 0 && y%2 == 0 {
				i := out.COffset(x, y)
				out.Cb[i], out.Cr[i] = c.Cb, c.Cr
			}
		}
	}
	return out
}
