package capture_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// soundRecorder is a recorder with the fake camera and the fake
// microphone, its sound kept as PCM.
func soundRecorder(t *testing.T, dir string, cfg capture.Config) (*capture.Recorder, *haltest.FakeCamera, *haltest.FakeMicrophone) {
	t.Helper()
	cam := haltest.NewFakeCamera(haltest.CameraConfig{})
	mic := haltest.NewFakeMicrophone(haltest.MicConfig{})
	cfg.Dir, cfg.Audio, cfg.AudioCodec = dir, mic, haltest.PCMCodec{}
	return newRecorder(t, cam, cfg), cam, mic
}

// checkTone fails t unless pcm[from:to] (48 kHz sample indices) holds the
// microphone's tone at its level.
func checkTone(t *testing.T, what string, pcm []int16, from, to int, want float64) {
	t.Helper()
	if got := capturetest.RMS(pcm, from, to); math.Abs(got-want) > want/100 {
		t.Errorf("%s: RMS %.1f, want %.1f (the tone)", what, got, want)
	}
}

func TestRecordingWithSound(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	var mic *haltest.FakeMicrophone
	synctest.Test(t, func(t *testing.T) {
		var r *capture.Recorder
		r, _, mic = soundRecorder(t, dir, capture.Config{})
		if _, err := r.Start("av", capture.Meta{EventID: 1, Start: time.Now(), End: time.Now().Add(time.Hour), Part: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second - time.Millisecond)
		var err error
		if res, err = r.Stop("av"); err != nil {
			t.Fatal(err)
		}
		if mic.IsOpen() {
			t.Error("the sound input is still open after the last recording stopped")
		}
	})
	if res.Duration != 10*time.Second {
		t.Errorf("duration %v", res.Duration)
	}
	sc, err := capture.ReadSidecar(dir, "av")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Audio == nil || sc.Audio.Codec != "pcm" || len(sc.Audio.Gaps) != 0 || len(sc.Audio.Silences) != 0 {
		t.Errorf("sidecar sound notes %+v, want pcm without gaps or silences", sc.Audio)
	}
	samples, ts, err := capturetest.ReadTrack(res.Path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ts != 48000 || len(samples) != 500 {
		t.Fatalf("sound track: %d samples at timescale %d, want 500 of 20 ms at 48000", len(samples), ts)
	}
	for i, s := range samples {
		if s.DecodeTime != uint64(i*960) || s.Dur != 960 || len(s.Data) != 1920 {
			t.Fatalf("sound sample %d at %d for %d ticks (%d bytes), want at %d for 960", i, s.DecodeTime, s.Dur, len(s.Data), i*960)
		}
	}
	video := capturetest.Probe(t, res.Path)
	if video.Frames != 300 {
		t.Errorf("video: %d frames, want 300", video.Frames)
	}
	info := capturetest.ProbeAudio(t, res.Path)
	frame := 1.0 / 30
	if info.Codec != "pcm_s16le" || info.SampleRate != 48000 || info.Channels != 1 ||
		math.Abs(info.Duration-10) > frame || math.Abs(info.Start) > frame {
		t.Errorf("ffprobe sound: %+v; want pcm_s16le 48 kHz mono from 0 for 10 s (±1 frame)", info)
	}
	pcm := capturetest.DecodeAudio(t, res.Path)
	if math.Abs(float64(len(pcm))/48000-10) > frame {
		t.Errorf("decoded %d samples, want 10 s", len(pcm))
	}
	checkTone(t, "whole recording", pcm, 0, len(pcm), mic.ToneRMS())
	t.Logf("sound: %s, %.3f s from %.3f, tone RMS %.1f (want %.1f)", info.Codec, info.Duration, info.Start, capturetest.RMS(pcm, 0, len(pcm)), mic.ToneRMS())
}

// TestSoundGapsAndSilence: an overrun and an unplugged microphone are
// holes in the sound at their capture times, noted as gaps; a muted
// stretch longer than SilenceAfter is noted as a silence; the picture
// goes on throughout.
func TestSoundGapsAndSilence(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	var mic *haltest.FakeMicrophone
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		var r *capture.Recorder
		r, _, mic = soundRecorder(t, dir, capture.Config{SilenceAfter: 2 * time.Second})
		t0 = time.Now()
		if _, err := r.Start("holes", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Second + 5*time.Millisecond)
		mic.Overrun(100 * time.Millisecond) // chunks 2.00–2.10 s lost
		time.Sleep(time.Second)             // 3.005 s
		mic.Mute()
		time.Sleep(3 * time.Second) // 6.005 s
		mic.Unmute()
		time.Sleep(time.Second) // 7.005 s
		mic.Unplug()
		time.Sleep(500 * time.Millisecond)
		mic.Plug()                          // the retry opens it again at about 8 s
		time.Sleep(2494 * time.Millisecond) // to 9.999 s
		var err error
		if res, err = r.Stop("holes"); err != nil {
			t.Fatal(err)
		}
	})
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sc, err := capture.ReadSidecar(dir, "holes")
	if err != nil {
		t.Fatal(err)
	}
	a := sc.Audio
	if a == nil || len(a.Gaps) != 2 || len(a.Silences) != 1 {
		t.Fatalf("sound notes %+v, want two gaps and a silence", a)
	}
	ms := time.Millisecond
	if g := a.Gaps[0]; !g.Start.Equal(at(2000*ms)) || !g.End.Equal(at(2100*ms)) {
		t.Errorf("overrun gap %v..%v, want 2.00..2.10 s", g.Start.Sub(t0), g.End.Sub(t0))
	}
	if g := a.Gaps[1]; g.Start.Before(at(7005*ms)) || g.Start.After(at(7010*ms)) || g.End.Sub(g.Start) < 900*ms || g.End.Sub(g.Start) > 1100*ms {
		t.Errorf("unplug gap %v..%v, want from 7.005 s for about 1 s", g.Start.Sub(t0), g.End.Sub(t0))
	}
	if s := a.Silences[0]; s.Start.Before(at(3000*ms)) || s.Start.After(at(3030*ms)) || s.End.Before(at(6000*ms)) || s.End.After(at(6030*ms)) {
		t.Errorf("silence %v..%v, want about 3..6 s", s.Start.Sub(t0), s.End.Sub(t0))
	}

	// The sound after each hole sits at its capture time.
	samples, _, err := capturetest.ReadTrack(res.Path, 2)
	if err != nil {
		t.Fatal(err)
	}
	var after []uint64
	for i := 1; i < len(samples); i++ {
		if prev := samples[i-1]; samples[i].DecodeTime != prev.DecodeTime+uint64(prev.Dur) || prev.Dur != 960 {
			after = append(after, samples[i].DecodeTime)
		}
	}
	want := uint64(a.Gaps[1].End.Sub(t0)) * 48000 / uint64(time.Second)
	if len(after) != 2 || after[0] != 2100*48 || after[1] != want {
		t.Errorf("sound resumes at ticks %v, want [%d %d] (2.10 s and the replug)", after, 2100*48, want)
	}

	video := capturetest.Probe(t, res.Path)
	if video.Frames != 300 {
		t.Errorf("video: %d frames, want 300 (sound trouble must not touch the picture)", video.Frames)
	}
	capturetest.ProbeAudio(t, res.Path)
	pcm := capturetest.DecodeAudio(t, res.Path)
	checkTone(t, "before the overrun", pcm, 0, 2*48000, mic.ToneRMS())
	if got := capturetest.RMS(pcm, 3100*48, 5900*48); got != 0 {
		t.Errorf("muted stretch has RMS %.1f, want silence", got)
	}
	checkTone(t, "after the replug", pcm, 8200*48, 9900*48, mic.ToneRMS())
}

// TestSilentTrackNoted: a microphone muted throughout gives a decodable
// silent track, which the level check tells from a tone, and a silence
// over the whole recording in the sidecar.
func TestSilentTrackNoted(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	synctest.Test(t, func(t *testing.T) {
		r, _, mic := soundRecorder(t, dir, capture.Config{SilenceAfter: 3 * time.Second})
		mic.Mute()
		if _, err := r.Start("mute", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		var err error
		if res, err = r.Stop("mute"); err != nil {
			t.Fatal(err)
		}
	})
	sc, err := capture.ReadSidecar(dir, "mute")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Audio == nil || len(sc.Audio.Silences) != 1 || !sc.Audio.Silences[0].Start.Equal(sc.MediaStart) || sc.Audio.Silences[0].End.Sub(sc.MediaStart) < 4900*time.Millisecond {
		t.Errorf("sound notes %+v, want one silence over the recording", sc.Audio)
	}
	pcm := capturetest.DecodeAudio(t, res.Path)
	if len(pcm) < 4*48000 || capturetest.RMS(pcm, 0, len(pcm)) != 0 {
		t.Errorf("decoded %d samples at RMS %.1f, want 5 s of silence", len(pcm), capturetest.RMS(pcm, 0, len(pcm)))
	}
}

// TestRecoverKeepsSound: a recording cut by a crash comes back with both
// tracks, each playable up to the last fragment.
func TestRecoverKeepsSound(t *testing.T) {
	dir := t.TempDir()
	crash := t.TempDir()
	var mic *haltest.FakeMicrophone
	synctest.Test(t, func(t *testing.T) {
		var r *capture.Recorder
		r, _, mic = soundRecorder(t, dir, capture.Config{FragmentDuration: time.Second}) // one-second fragments, as counted below
		if _, err := r.Start("cut", capture.Meta{EventID: 9, Start: time.Now(), End: time.Now().Add(time.Hour), Part: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5500 * time.Millisecond)
		for _, name := range []string{"cut.part.mp4", "cut.json"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if name == "cut.part.mp4" {
				b = b[:len(b)-100] // torn inside the last fragment
			}
			writeFile(t, filepath.Join(crash, name), b)
		}
		if _, err := r.Stop("cut"); err != nil {
			t.Fatal(err)
		}
	})
	results, err := capture.Recover(crash)
	if err != nil || len(results) != 1 {
		t.Fatalf("Recover = %+v, %v", results, err)
	}
	res := results[0]
	if res.Duration != 4*time.Second {
		t.Errorf("recovered %v, want 4 s (the torn fifth second cut off)", res.Duration)
	}
	sc, err := capture.ReadSidecar(crash, "cut")
	if err != nil || sc.State != capture.StateRecovered || sc.Audio == nil || sc.Audio.Codec != "pcm" {
		t.Errorf("sidecar %+v, %v; want recovered with its sound notes", sc, err)
	}
	video := capturetest.Probe(t, res.Path)
	info := capturetest.ProbeAudio(t, res.Path)
	frame := 1.0 / 30
	if video.Frames != 120 || math.Abs(info.Duration-4) > frame {
		t.Errorf("recovered: %d video frames, sound %.3f s; want 120 and 4 s (±1 frame)", video.Frames, info.Duration)
	}
	pcm := capturetest.DecodeAudio(t, res.Path)
	checkTone(t, "recovered sound", pcm, 0, len(pcm), mic.ToneRMS())
}

// Listen measures the sound input's level over a time: the tone's, -Inf
// when muted (below the silence level), and an unplugged input is
// hal.ErrNoSignal.
func TestListen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mic := haltest.NewFakeMicrophone(haltest.MicConfig{Rate: 8000, Channels: 1})
		t0 := time.Now()
		level, err := capture.Listen(t.Context(), mic, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := 20 * math.Log10(mic.ToneRMS()/32768)
		if math.Abs(level-want) > 0.1 || capture.Silent(level, 0) {
			t.Errorf("tone level %.2f dBFS, want %.2f, not silent", level, want)
		}
		if took := time.Since(t0); took < 2*time.Second || took > 2100*time.Millisecond {
			t.Errorf("listened %v, want 2s", took)
		}
		if mic.IsOpen() {
			t.Error("the input is left open")
		}
		mic.Mute()
		if level, err = capture.Listen(t.Context(), mic, 2*time.Second); err != nil || !capture.Silent(level, 0) {
			t.Errorf("muted: level %v, %v; want silent", level, err)
		}
		mic.Unplug()
		if _, err = capture.Listen(t.Context(), mic, 2*time.Second); !errors.Is(err, hal.ErrNoSignal) {
			t.Errorf("unplugged: %v, want ErrNoSignal", err)
		}
	})
}

// slowCodec is PCMCodec behind an encoder that takes perPacket for every
// packet: a sound encoder behind a busy CPU, slower than real time.
type slowCodec struct {
	haltest.PCMCodec
	perPacket time.Duration
}

func (c slowCodec) NewEncoder(in hal.AudioFormat) (hal.AudioEncoder, error) {
	e, err := c.PCMCodec.NewEncoder(in)
	if err != nil {
		return nil, err
	}
	return slowEncoder{e, c.perPacket}, nil
}

type slowEncoder struct {
	hal.AudioEncoder
	perPacket time.Duration
}

func (e slowEncoder) Encode(pcm []int16) ([]byte, error) {
	time.Sleep(e.perPacket)
	return e.AudioEncoder.Encode(pcm)
}

// TestStopKeepsQueuedSound: an encoder at 0.8 times real time is 1.6 s
// behind when an 8 s recording stops; the sound captured before the stop
// but still queued for it reaches the file, and both tracks end together.
func TestStopKeepsQueuedSound(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		mic := haltest.NewFakeMicrophone(haltest.MicConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir, Audio: mic,
			AudioCodec: slowCodec{perPacket: 25 * time.Millisecond}})
		if _, err := r.Start("slow", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8*time.Second - time.Millisecond)
		var err error
		if res, err = r.Stop("slow"); err != nil {
			t.Fatal(err)
		}
	})
	sc, err := capture.ReadSidecar(dir, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Audio == nil || len(sc.Audio.Gaps) != 0 {
		t.Errorf("sound notes %+v, want no gaps", sc.Audio)
	}
	info := capturetest.ProbeAudio(t, res.Path)
	video := capturetest.Probe(t, res.Path)
	if frame := 1.0 / 30; math.Abs(info.Start+info.Duration-video.Duration) > frame {
		t.Errorf("sound %.3f s from %.3f, video %.3f s: the tracks do not end together", info.Duration, info.Start, video.Duration)
	}
}
