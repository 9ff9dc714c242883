package board

import (
	"fmt"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// Opus is the box's sound codec: opus, through github.com/pion/mediadevices'
// encoder (libopus as a static library inside that module, for linux
// amd64, arm64 and armv7; cgo), mono at 48 kHz in 20 ms packets.
//
// Why opus and not AAC: no well-kept Go AAC encoder exists (the Go AAC
// packages are decoders or cgo wrappers of unmaintained C encoders), while
// mediadevices, which the box already uses for video, ships libopus ready to
// link statically, and mp4ff writes opus sample entries (Opus + dOps).
// Opus is also the better codec for speech at the bit rates a lecture
// upload wants, and ffmpeg and browsers play it from MP4. A build without
// cgo has the type but no encoder: NewEncoder says so (ErrNoOpus).
//
// Lecture sound is mixed to one channel: what a room microphone or an
// HDMI source's stereo mix carries is speech, and mono halves the bits.
type Opus struct {
	// Bitrate in bits per second; 0 means DefaultOpusBitrate.
	Bitrate int
}

// DefaultOpusBitrate is the opus bit rate unless set: ample for mono
// speech and music at 48 kHz.
const DefaultOpusBitrate = 64000

// opusChannels is the channel count of the encoded sound.
const opusChannels = 1

// opusPreSkip is libopus's look-ahead in 48 kHz samples for the VOIP and
// AUDIO applications (2.5 ms + 4 ms), which mediadevices does not report:
// what decoders drop at the start of the stream.
const opusPreSkip = 312

var _ hal.AudioCodec = Opus{}

// Encoding implements hal.AudioCodec.
func (o Opus) Encoding() hal.AudioEncoding {
	return hal.AudioEncoding{Codec: "opus", SampleRate: 48000, Channels: opusChannels, FrameDuration: 20 * time.Millisecond, PreSkip: opusPreSkip}
}

func (o Opus) bitrate() int {
	if o.Bitrate <= 0 {
		return DefaultOpusBitrate
	}
	return o.Bitrate
}

// opusInput checks that libopus takes in.
func opusInput(in hal.AudioFormat) error {
	switch in.Rate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return fmt.Errorf("opus: input rate %d Hz; opus takes 8, 12, 16, 24 or 48 kHz", in.Rate)
	}
	if in.Channels < 1 || in.Channels > 8 {
		return fmt.Errorf("opus: %d input channels", in.Channels)
	}
	return nil
}
