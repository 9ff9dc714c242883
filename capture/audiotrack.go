package capture

import (
	"fmt"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/capturebox/capturebox/hal"
)

// The sound track of a recording file: track 2, beside the video's track
// 1, in the sound's own timescale (its sample rate, 48 kHz for opus).
// Its samples go into the same fragments as the video's, one traf per
// track, so each fsynced fragment holds both. Decode times come from
// capture times, like the video's: a sample's decode time is its At minus
// the file's origin (the first video frame), so both tracks share one
// timeline and a hole in the sound (an overrun, a lost device) is a jump
// of the next fragment's tfdt or a longer sample, never a shift of what
// follows. Sound captured before the origin is not kept.

const audioTrackID = 2

// audioTrack holds what is pending for the sound track.
type audioTrack struct {
	enc     hal.AudioEncoding
	pending []pendingSample
	samples int       // samples written
	end     time.Time // capture time at which the written sound ends
	fragEnd time.Time // where the fragment being written makes it end
}

// addAudioTrak declares the sound track in init.
func addAudioTrak(init *mp4.InitSegment, enc hal.AudioEncoding) error {
	if enc.SampleRate <= 0 || enc.SampleRate > 65535 || enc.Channels < 1 || enc.Channels > 2 || enc.FrameDuration <= 0 {
		return fmt.Errorf("sound track: unusable encoding %+v", enc)
	}
	trak := init.AddEmptyTrack(uint32(enc.SampleRate), "audio", "und")
	var entry *mp4.AudioSampleEntryBox
	switch enc.Codec {
	case "opus":
		// Opus in ISOBMFF: the sample entry's rate is 48 kHz, dOps carries
		// the pre-skip (the encoder's look-ahead that decoders drop).
		entry = mp4.CreateAudioSampleEntryBox("Opus", uint16(enc.Channels), 16, uint16(enc.SampleRate), &mp4.DopsBox{
			OutputChannelCount: byte(enc.Channels),
			PreSkip:            uint16(enc.PreSkip),
			InputSampleRate:    uint32(enc.SampleRate),
		})
	case "pcm":
		// 16-bit little-endian PCM, QuickTime's 'sowt'.
		entry = mp4.CreateAudioSampleEntryBox("sowt", uint16(enc.Channels), 16, uint16(enc.SampleRate), nil)
	default:
		return fmt.Errorf("sound track: codec %q cannot be stored", enc.Codec)
	}
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	return nil
}

// audioTicks converts an offset from the origin to ticks of the sound's
// timescale, rounded to the nearest tick.
func (a *audioTrack) ticks(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	rate := uint64(a.enc.SampleRate)
	ns := uint64(d)
	s, rem := ns/uint64(time.Second), ns%uint64(time.Second)
	return s*rate + (rem*rate+uint64(time.Second)/2)/uint64(time.Second)
}

func (a *audioTrack) duration(t uint64) time.Duration {
	rate := uint64(a.enc.SampleRate)
	return time.Duration(t/rate)*time.Second + time.Duration(t%rate*uint64(time.Second)/rate)
}

// addAudio queues a sound sample for the next fragment. Sound from before
// the origin is dropped. When video has stopped coming (the pending sound
// spans two fragment lengths), the fragment is written without waiting.
func (w *fmp4Writer) addAudio(s hal.Sample) error {
	a := w.audio
	if a == nil || s.At.Before(w.origin) {
		return nil
	}
	if n := len(a.pending); n > 0 && !s.At.After(a.pending[n-1].at) {
		return nil // not after the previous sample: a stream restarted over old time
	}
	a.pending = append(a.pending, pendingSample{at: s.At, dur: s.Duration, data: s.Data})
	if s.At.Sub(a.pending[0].at) >= 2*w.fragDur {
		return w.flush(time.Time{})
	}
	return nil
}

// addAudioSamples moves the pending sound samples into frag. Each
// sample lasts until the next one starts; the last one gets its nominal
// duration, and the next fragment's tfdt places its first sample at its
// own capture time. The pending samples stay until audioWritten, so a
// fragment that fails to be written is tried again whole.
func (w *fmp4Writer) addAudioSamples(frag *mp4.Fragment) error {
	a := w.audio
	if a == nil || len(a.pending) == 0 {
		return nil
	}
	a.fragEnd = time.Time{}
	for i, p := range a.pending {
		start := a.ticks(p.at.Sub(w.origin))
		var end uint64
		if i+1 < len(a.pending) {
			end = a.ticks(a.pending[i+1].at.Sub(w.origin))
		} else {
			end = a.ticks(p.at.Add(p.dur).Sub(w.origin))
		}
		if end <= start {
			end = start + 1
		}
		err := frag.AddFullSampleToTrack(mp4.FullSample{
			Sample:     mp4.Sample{Flags: mp4.SyncSampleFlags, Dur: uint32(end - start), Size: uint32(len(p.data))},
			DecodeTime: start,
			Data:       p.data,
		}, audioTrackID)
		if err != nil {
			return fmt.Errorf("sound sample: %w", err)
		}
		a.fragEnd = w.origin.Add(a.duration(end))
	}
	return nil
}

// audioWritten is called once the fragment holding the pending sound is
// on disk.
func (w *fmp4Writer) audioWritten() {
	if a := w.audio; a != nil && len(a.pending) > 0 {
		a.samples += len(a.pending)
		a.pending = a.pending[:0]
		a.end = a.fragEnd
	}
}

// trackIDs lists the tracks that have samples pending.
func (w *fmp4Writer) trackIDs() []uint32 {
	var ids []uint32
	if len(w.pending) > 0 {
		ids = append(ids, videoTrackID)
	}
	if w.audio != nil && len(w.audio.pending) > 0 {
		ids = append(ids, audioTrackID)
	}
	return ids
}
