package hal

import (
	"context"
	"io"
	"time"
)

// This file holds the sound side of the capture input: a PCM source (an
// ALSA capture device on the box) and the codec that compresses it. They
// are separate from CaptureSource so that the recorder sees the PCM: it
// places the sound on the video's clock from the capture times, notes
// overruns and silence, and frames the encoder's input itself.

// AudioFormat is the PCM a sound input delivers: signed 16-bit samples,
// interleaved by channel.
type AudioFormat struct {
	Rate     int // frames per second, e.g. 48000
	Channels int // 1 or 2
}

// AudioChunk is a run of PCM frames read from a sound input.
type AudioChunk struct {
	// PCM holds whole frames: len(PCM) is a multiple of the stream's
	// channel count. It belongs to the receiver.
	PCM []int16
	// At is the capture time of the first frame, on the clock that stamps
	// the video samples (Sample.At), so that sound and picture line up.
	At time.Time
	// Overrun is set when frames were lost just before this chunk (the
	// input's buffer overflowed because it was read too late); At then
	// lies after a hole.
	Overrun bool
}

// AudioSource is a sound input: an HDMI grabber's audio or a USB
// microphone.
//
// Open starts a stream; only one stream is open at a time, and a second
// Open before the first stream is closed returns an error. A source whose
// device is missing returns an error wrapping ErrNoSignal.
type AudioSource interface {
	Open(ctx context.Context) (AudioStream, error)
}

// AudioStream is an open sound stream.
//
// Read blocks until the next chunk of at least one frame and returns
// chunks in capture order, each At later than the previous one. It returns
// an error wrapping ErrNoSignal when the device goes away, ctx.Err() when
// ctx ends, and io.EOF after Close; it is safe to call Close while another
// goroutine is blocked in Read. Format is fixed for the stream's life.
type AudioStream interface {
	Format() AudioFormat
	Read(ctx context.Context) (AudioChunk, error)
	io.Closer
}

// AudioEncoding describes an encoded sound track: what a file's sample
// entry needs.
type AudioEncoding struct {
	// Codec is "opus", or "pcm" (signed 16-bit little-endian, stored as is).
	Codec string
	// SampleRate and Channels of the decoded sound.
	SampleRate int
	Channels   int
	// FrameDuration is the length of each encoded packet; Encode takes
	// exactly FrameDuration of input.
	FrameDuration time.Duration
	// PreSkip is how many samples (at SampleRate) a decoder drops at the
	// start of the stream: the encoder's look-ahead.
	PreSkip int
}

// FrameSize is the number of input frames per packet at rate.
func (e AudioEncoding) FrameSize(rate int) int {
	return int(e.FrameDuration * time.Duration(rate) / time.Second)
}

// AudioCodec makes audio encoders. Encoding is the same whatever the
// input's format (the codec mixes and converts), so a file's track can be
// declared before the sound input is opened. NewEncoder fails with a clear
// error for an input format it cannot take.
type AudioCodec interface {
	Encoding() AudioEncoding
	NewEncoder(in AudioFormat) (AudioEncoder, error)
}

// AudioEncoder compresses one stream of PCM.
//
// Encode takes exactly Encoding().FrameSize(in.Rate) frames of interleaved
// PCM in the format the encoder was made for, and returns one packet that
// decodes to FrameDuration of sound; any other length is an error. The
// packet belongs to the caller. After Close, Encode returns an error;
// Close may be called more than once.
type AudioEncoder interface {
	Encode(pcm []int16) ([]byte, error)
	io.Closer
}
