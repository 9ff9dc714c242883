package capture

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// BenchmarkWrite1080p measures writing 4 s of 1080p30 (I_PCM IDR every
// 2 s, P frames in between) to a fragmented MP4, one fsynced fragment per
// second, as one recording does on the box. The samples are made up front.
func BenchmarkWrite1080p(b *testing.B) {
	var now time.Time
	clock := func() time.Time { now = now.Add(time.Second / 30); return now }
	cam := haltest.NewFakeCamera(haltest.CameraConfig{Width: 1920, Height: 1080, FPS: 30, Clock: clock})
	s, err := cam.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var samples []hal.Sample
	var size int64
	for range 120 {
		smp, err := s.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, smp)
		size += int64(len(smp.Data))
	}
	s.Close()
	dir := b.TempDir()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		w, err := createFMP4(OSMediaFS{}, filepath.Join(dir, "b"+string(rune('a'+i%26))+time.Duration(i).String()+".mp4"), samples[0], time.Second)
		if err != nil {
			b.Fatal(err)
		}
		for _, smp := range samples {
			if err := w.add(smp); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.close(); err != nil {
			b.Fatal(err)
		}
	}
}
