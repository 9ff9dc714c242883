//go:build cgo

package board_test

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/capturebox/capturebox/hal/haltest"
)

func TestOpusPassesCheck(t *testing.T) {
	if err := halcheck.CheckAudioCodec(board.Opus{}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []hal.AudioFormat{{Rate: 44100, Channels: 2}, {Rate: 96000, Channels: 2}} {
		if _, err := (board.Opus{}).NewEncoder(in); err == nil {
			t.Errorf("NewEncoder(%+v) succeeded; opus does not take that rate", in)
		}
	}
}

// TestRecordingWithOpus records 10 s from the fake camera and the fake
// microphone's 1 kHz tone (amplitude 8000) through the real opus encoder:
// ffprobe decodes both streams without an error, the sound lasts as long
// as the picture (within a frame), and its level is the tone's.
func TestRecordingWithOpus(t *testing.T) {
	for _, tc := range []struct {
		name string
		mic  haltest.MicConfig
		mute bool
	}{
		{name: "stereo 48k", mic: haltest.MicConfig{}},
		{name: "mono 16k", mic: haltest.MicConfig{Rate: 16000, Channels: 1}},
		{name: "muted", mic: haltest.MicConfig{}, mute: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var res capture.Result
			var mic *haltest.FakeMicrophone
			synctest.Test(t, func(t *testing.T) {
				mic = haltest.NewFakeMicrophone(tc.mic) // its channels belong to the bubble
				cam := haltest.NewFakeCamera(haltest.CameraConfig{})
				r, err := capture.New(capture.Config{Dir: dir, Source: cam, Audio: mic, AudioCodec: board.Opus{}})
				if err != nil {
					t.Fatal(err)
				}
				if tc.mute {
					mic.Mute()
				}
				if _, err := r.Start("opus", capture.Meta{}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10*time.Second - time.Millisecond)
				if res, err = r.Stop("opus"); err != nil {
					t.Fatal(err)
				}
			})
			video := capturetest.Probe(t, res.Path)
			info := capturetest.ProbeAudio(t, res.Path)
			frame := 1.0 / 30
			if video.Frames != 300 || info.Codec != "opus" || info.SampleRate != 48000 || info.Channels != 1 ||
				math.Abs(info.Duration-video.Duration) > frame || math.Abs(info.Start) > frame {
				t.Errorf("ffprobe: video %d frames %.3f s; sound %+v; want 300 frames and opus 48 kHz mono as long (±1 frame)", video.Frames, video.Duration, info)
			}
			pcm := capturetest.DecodeAudio(t, res.Path)
			// The first 100 ms hold the codec's start-up; measure after.
			rms := capturetest.RMS(pcm, 4800, len(pcm))
			t.Logf("opus %s: %d packets, %.3f s from %.3f, decoded RMS %.1f (tone %.1f)", tc.name, info.Packets, info.Duration, info.Start, rms, mic.ToneRMS())
			if tc.mute {
				if rms > 10 {
					t.Errorf("muted: decoded RMS %.1f, want silence", rms)
				}
				sc, err := capture.ReadSidecar(dir, "opus")
				if err != nil || sc.Audio == nil || sc.Audio.Codec != "opus" {
					t.Errorf("sidecar %+v, %v", sc.Audio, err)
				}
				return
			}
			if math.Abs(rms-mic.ToneRMS()) > mic.ToneRMS()*0.05 {
				t.Errorf("decoded RMS %.1f, want the tone's %.1f within 5%%", rms, mic.ToneRMS())
			}
		})
	}
}
