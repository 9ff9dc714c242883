package capture_test

import (
	"errors"
	"math"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal/haltest"
)

// space is a disk of limited size shared by the files of a fullFS: a write
// that does not fit writes what fits and fails with ENOSPC, as a real full
// disk does.
type space struct {
	mu    sync.Mutex
	used  int64
	limit int64 // < 0: unlimited
}

func (s *space) fill(extra int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = s.used + extra
}

func (s *space) free() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = -1
}

type fullFS struct{ s *space }

func (f fullFS) Create(path string) (capture.MediaFile, error) {
	file, err := capture.OSMediaFS{}.Create(path)
	if err != nil {
		return nil, err
	}
	return &limitedFile{MediaFile: file, s: f.s}, nil
}

func (fullFS) Remove(path string) error { return os.Remove(path) }

type limitedFile struct {
	capture.MediaFile
	s    *space
	size int64
}

func (f *limitedFile) Write(b []byte) (int, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.limit >= 0 && f.s.used+int64(len(b)) > f.s.limit {
		room := max(f.s.limit-f.s.used, 0)
		n, err := f.MediaFile.Write(b[:room])
		f.s.used += int64(n)
		f.size += int64(n)
		if err == nil {
			err = &os.PathError{Op: "write", Path: "recording", Err: syscall.ENOSPC}
		}
		return n, err
	}
	n, err := f.MediaFile.Write(b)
	f.s.used += int64(n)
	f.size += int64(n)
	return n, err
}

func (f *limitedFile) Truncate(size int64) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if err := f.MediaFile.Truncate(size); err != nil {
		return err
	}
	f.s.used -= f.size - size
	f.size = size
	return nil
}

// TestDiskFullMidRecording fills the disk in the middle of a fragment: the
// short write is cut back to the last whole fragment, the fault is
// reported within 2 s, and when space returns the same recording goes on
// from the next key frame. The file decodes without an error and holds each
// fragment once.
func TestDiskFullMidRecording(t *testing.T) {
	dir := t.TempDir()
	disk := &space{limit: -1}
	var (
		res             capture.Result
		t0, filledAt    time.Time
		faultAt, okAt   time.Time
		faultErr        error
		statusDuringErr error
	)
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		cam := haltest.NewFakeCamera(haltest.CameraConfig{}) // 30 fps, a key frame every 2 s
		// One-second fragments, as the seconds below count them.
		r := newRecorder(t, cam, capture.Config{Dir: dir, FS: fullFS{disk}, FragmentDuration: time.Second, OnDisk: func(h capture.DiskHealth) {
			mu.Lock()
			defer mu.Unlock()
			if !h.OK && faultAt.IsZero() {
				faultAt, faultErr = time.Now(), h.Err
			}
			if h.OK && okAt.IsZero() {
				okAt = time.Now()
			}
		}})
		t0 = time.Now()
		rec, err := r.Start("full", capture.Meta{EventID: 5, Title: "Full disk", Start: t0, End: t0.Add(time.Hour), Part: 1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3500 * time.Millisecond)
		filledAt = time.Now()
		disk.fill(100) // the fragment of second 3–4 does not fit
		time.Sleep(3 * time.Second)
		statusDuringErr = rec.Status().DiskErr
		time.Sleep(1 * time.Second)
		disk.free() // at 7.5 s; the key frame at 8 s starts the rest
		time.Sleep(4500*time.Millisecond - time.Millisecond)
		if res, err = r.Stop("full"); err != nil {
			t.Fatal(err)
		}
	})
	if faultAt.IsZero() || !errors.Is(faultErr, syscall.ENOSPC) {
		t.Fatalf("no disk fault reported (err %v)", faultErr)
	}
	if d := faultAt.Sub(filledAt); d > 2*time.Second {
		t.Errorf("fault reported %v after the disk filled, want within 2 s", d)
	}
	if !errors.Is(statusDuringErr, syscall.ENOSPC) {
		t.Errorf("status during the outage: DiskErr %v", statusDuringErr)
	}
	if okAt.IsZero() || okAt.Sub(t0) > 9*time.Second {
		t.Errorf("recovery reported at %v, want by 9 s", okAt.Sub(t0))
	}
	t.Logf("disk full at %v, fault at %v, writing again at %v", filledAt.Sub(t0), faultAt.Sub(t0), okAt.Sub(t0))
	// Seconds 0–3 are in the file, then from the retry that found space
	// again (the disk was freed at 7.5 s; retries come every RetryInterval
	// from a requested key frame) to 12 s.
	if len(res.Parts) != 2 || !res.Parts[0].Start.Equal(t0) || !res.Parts[0].End.Equal(t0.Add(3*time.Second)) ||
		res.Parts[1].Start.Before(t0.Add(6500*time.Millisecond)) || res.Parts[1].Start.After(t0.Add(8500*time.Millisecond)) ||
		!res.Parts[1].End.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("parts %v, want 0–3 s and about 7.5–12 s", res.Parts)
	}
	wantFrames := 90 + int(math.Round(res.Parts[1].End.Sub(res.Parts[1].Start).Seconds()*30))
	fi, err := os.Stat(res.Path)
	if err != nil || fi.Size() != res.Bytes {
		t.Fatalf("file %v, %v; result says %d bytes", fi, err, res.Bytes)
	}
	samples, _, err := capturetest.ReadSamples(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != wantFrames {
		t.Errorf("%d samples, want %d (the two spans at 30 fps)", len(samples), wantFrames)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].DecodeTime <= samples[i-1].DecodeTime {
			t.Fatalf("sample %d at %d after %d: a fragment is in the file twice", i, samples[i].DecodeTime, samples[i-1].DecodeTime)
		}
	}
	info := capturetest.Probe(t, res.Path) // fails on any ffprobe -v error output
	if info.Frames != wantFrames || math.Abs(info.Duration-12) > 0.001 {
		t.Errorf("ffprobe: %d frames, %.3f s; want %d frames over 12 s", info.Frames, info.Duration, wantFrames)
	}
	sc, err := capture.ReadSidecar(dir, "full")
	if err != nil || sc.State != capture.StateClosed || sc.Error == "" {
		t.Errorf("sidecar %+v, %v; want closed with the outage noted", sc, err)
	}
}

// TestDiskFullWithSound: a full disk in a recording with sound keeps both
// tracks whole. The sound of the failed fragment is dropped with its
// picture (never written twice), no sound is written while the picture
// waits for the retry, and the sound resumes with the picture, to the end.
func TestDiskFullWithSound(t *testing.T) {
	dir := t.TempDir()
	disk := &space{limit: -1}
	var res capture.Result
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		r, _, _ := soundRecorder(t, dir, capture.Config{FS: fullFS{disk}, FragmentDuration: time.Second})
		t0 = time.Now()
		if _, err := r.Start("fullav", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3500 * time.Millisecond)
		disk.fill(100) // the fragment of second 3–4 does not fit
		time.Sleep(4 * time.Second)
		disk.free() // at 7.5 s; the key frame at 8 s starts the rest
		time.Sleep(4500*time.Millisecond - time.Millisecond)
		var err error
		if res, err = r.Stop("fullav"); err != nil {
			t.Fatal(err)
		}
	})
	if len(res.Parts) != 2 {
		t.Fatalf("parts %v, want two spans around the outage", res.Parts)
	}
	resume := res.Parts[1].Start.Sub(t0).Seconds()
	snd := capturetest.ProbeAudio(t, res.Path) // fails on any decoding error
	if snd.Codec != "pcm_s16le" || len(snd.PTS) == 0 {
		t.Fatalf("ffprobe sound: %+v", snd)
	}
	const slack = 0.1 // a sound packet (20 ms) and the fragment's edge
	var before, after int
	for i, pts := range snd.PTS {
		if i > 0 && pts <= snd.PTS[i-1] {
			t.Fatalf("sound packet %d at %.3f s after %.3f s: a fragment's sound is in the file twice", i, pts, snd.PTS[i-1])
		}
		switch {
		case pts < 3+slack:
			before++
		case pts >= resume-slack:
			after++
		default:
			t.Errorf("sound packet at %.3f s, in the outage (3 s to %.3f s)", pts, resume)
		}
	}
	last := snd.PTS[len(snd.PTS)-1]
	if before == 0 || after == 0 || last < 12-0.1 {
		t.Errorf("sound: %d packets before the outage, %d after the resume at %.3f s, the last at %.3f s; want sound on both sides to 12 s",
			before, after, resume, last)
	}
}
