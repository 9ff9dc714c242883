package capture_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal/haltest"
)

// TestBlackPictureNoted: a black picture that lasts recording.black_after
// is noted in the sidecar as soon as it has (a crash keeps the note),
// extended until the picture returns; a shorter one is not; one still
// going when the recording stops is noted to the end.
func TestBlackPictureNoted(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{FPS: 10})
		r := newRecorder(t, cam, capture.Config{Dir: dir, BlackAfter: 20 * time.Second})
		t0 = time.Now()
		if _, err := r.Start("dark", capture.Meta{Title: "dark"}); err != nil {
			t.Fatal(err)
		}
		at := func(d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }
		at(10*time.Second + time.Millisecond)
		cam.SetBlack(true) // from the frame at 10.1 s
		at(31 * time.Second)
		sc, err := capture.ReadSidecar(dir, "dark")
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.Black) != 1 {
			t.Fatalf("while recording, 20.9 s into the black: sidecar notes %v, want the black so far", sc.Black)
		}
		at(40*time.Second + time.Millisecond)
		cam.SetBlack(false)
		at(50*time.Second + time.Millisecond)
		cam.SetBlack(true) // 10 s: too short
		at(60*time.Second + time.Millisecond)
		cam.SetBlack(false)
		at(70*time.Second + time.Millisecond)
		cam.SetBlack(true) // 20 s, to the stop
		at(90*time.Second + 50*time.Millisecond)
		if res, err = r.Stop("dark"); err != nil {
			t.Fatal(err)
		}
	})
	want := []capture.Span{
		{Start: t0.Add(10*time.Second + 100*time.Millisecond), End: t0.Add(40*time.Second + 100*time.Millisecond)},
		{Start: t0.Add(70*time.Second + 100*time.Millisecond), End: t0.Add(90*time.Second + 100*time.Millisecond)},
	}
	sc, err := capture.ReadSidecar(dir, "dark")
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]capture.Span{sc.Black, res.Notes.Black} {
		if len(got) != len(want) {
			t.Fatalf("black %v, want %v", got, want)
		}
		for i := range want {
			if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
				t.Errorf("black %d: %v..%v, want %v..%v", i, got[i].Start.Sub(t0), got[i].End.Sub(t0), want[i].Start.Sub(t0), want[i].End.Sub(t0))
			}
		}
	}
}
