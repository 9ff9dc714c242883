// Package hal defines the device contracts of the capture box: the
// recording LED, the status button, the optional character display, the
// console port, the clock-trust source and the capture input.
//
// Each contract is small and role-shaped, in the manner of periph.io's
// gpio.PinIn and gpio.PinOut. The Raspberry Pi implementations live in
// package board; fakes with call logs and the conformance checks that both
// must pass live in package hal/haltest. This package imports only the
// standard library.
package hal

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"time"
)

// Pattern is what the recording LED shows.
type Pattern int

// The LED patterns of design.md §2.
const (
	// Off: idle.
	Off Pattern = iota
	// On: recording.
	On
	// SlowBlink: in the minute before a scheduled start.
	SlowBlink
	// FastBlink: a fault that needs a person.
	FastBlink
)

// String returns the pattern's name, as the console and logs print it.
func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case On:
		return "on"
	case SlowBlink:
		return "slow-blink"
	case FastBlink:
		return "fast-blink"
	}
	return fmt.Sprintf("pattern(%d)", int(p))
}

// Valid reports whether p is one of the defined patterns.
func (p Pattern) Valid() bool { return p >= Off && p <= FastBlink }

// ErrInvalidPattern is returned by LED.Show for a pattern it does not know.
var ErrInvalidPattern = errors.New("hal: invalid LED pattern")

// LED is the recording lamp.
//
// Show switches to a pattern and keeps it until the next call; the
// implementation owns the blink timing (slow blink is 1 Hz, fast blink 4 Hz).
// Showing the pattern already shown is a no-op. An unknown pattern returns
// ErrInvalidPattern and leaves the LED as it was. After Close the LED is off
// and Show returns an error; Close may be called more than once.
type LED interface {
	Show(Pattern) error
	io.Closer
}

// ButtonKind tells a short press from a long one.
type ButtonKind int

const (
	// Press is a short press: the button went down and came up again
	// before the long-press threshold.
	Press ButtonKind = iota + 1
	// LongPress is sent once, at the moment the button has been held down
	// for the long-press threshold, without waiting for the release. No
	// Press follows it for the same hold.
	LongPress
)

// String returns "press" or "long-press".
func (k ButtonKind) String() string {
	switch k {
	case Press:
		return "press"
	case LongPress:
		return "long-press"
	}
	return fmt.Sprintf("button(%d)", int(k))
}

// DefaultLongPress is the hold time that makes a long press (design.md §2).
const DefaultLongPress = 2 * time.Second

// ButtonEvent is one debounced gesture on the status button.
type ButtonEvent struct {
	Kind ButtonKind
	At   time.Time // when the gesture was recognised
}

// Button is the status button.
//
// Events returns the same channel on every call. The channel delivers
// debounced gestures in order; it is closed by Close, and a slow reader
// loses no gesture older than the channel's buffer (at least 8).
type Button interface {
	Events() <-chan ButtonEvent
	io.Closer
}

// Display is an optional character display (a common HD44780-style LCD on
// a serial backpack).
//
// Size reports the columns and rows. Show replaces the whole screen: line i
// goes on row i, lines beyond the last row are ignored, missing lines are
// blank, and each line is cut or padded to the width. Text is shown as
// printable ASCII; other runes appear as '?'. After Close, Show returns an
// error; Close may be called more than once.
type Display interface {
	Size() (cols, rows int)
	Show(lines ...string) error
	io.Closer
}

// ConsolePort is the field-service console: the Pi's serial port on the
// box, standard input and output on a developer machine. Reads block until
// a byte arrives or the port is closed; Close makes pending reads return.
// After Close, Read returns io.EOF and Write returns an error.
type ConsolePort interface {
	io.ReadWriteCloser
}

// TimeSync tells whether the wall clock can be trusted. The Pi has no
// real-time clock: until NTP has synchronised, time.Now may be far off.
type TimeSync interface {
	// Synchronized reports whether the system clock is known to be right.
	Synchronized(ctx context.Context) (bool, error)
}

// MediaKind tells video samples from audio samples.
type MediaKind int

const (
	// Video samples are encoded access units (H.264 Annex B).
	Video MediaKind = iota + 1
	// Audio samples are encoded frames.
	Audio
)

// String returns "video" or "audio".
func (k MediaKind) String() string {
	switch k {
	case Video:
		return "video"
	case Audio:
		return "audio"
	}
	return fmt.Sprintf("media(%d)", int(k))
}

// Sample is one encoded unit from the capture input.
type Sample struct {
	Kind MediaKind
	// Codec names the encoding: "h264" (Annex B access unit) for video,
	// "aac" or "opus" for audio.
	Codec string
	// At is the capture time of the sample on the wall clock.
	At time.Time
	// Duration is how long the sample lasts.
	Duration time.Duration
	// Key marks a video sample that can be decoded on its own (an IDR
	// access unit with its parameter sets).
	Key bool
	// Data is the encoded payload. It belongs to the receiver.
	Data []byte
	// Black marks a video sample whose picture was black as the source
	// saw it before encoding (a laptop asleep, a muted input: video-range
	// black at luma 16); the recorder notes long stretches of it.
	Black bool
}

// VideoFormat describes the picture a capture stream delivers.
type VideoFormat struct {
	Width, Height int
	FPS           int
}

// ErrNoSignal is returned by CaptureSource.Open and Stream.Next when there is
// no input (HDMI unplugged, no USB capture device).
var ErrNoSignal = errors.New("hal: no capture signal")

// CaptureSource is the capture input: the HDMI/USB grabber and its
// microphone, with their encoders.
//
// Open starts a stream; only one stream is open at a time, and a second
// Open before the first stream is closed returns an error. A source with
// nothing plugged in returns an error wrapping ErrNoSignal.
type CaptureSource interface {
	Open(ctx context.Context) (Stream, error)
}

// Stream is an open capture stream.
//
// Next blocks until the next sample and returns samples in capture order
// per kind; the first video sample is a key frame. It returns an error
// wrapping ErrNoSignal when the signal is lost, ctx.Err() when ctx ends, and
// io.EOF after Close. After ErrNoSignal a stream may deliver again once the
// signal returns (starting with a key frame), or keep failing; callers close
// and reopen the source, with a pause, when it keeps failing. Format reports
// the video format. RequestKeyFrame asks the encoder for a key frame as soon
// as possible (used to cut a recording at an exact instant); it is safe to
// call while another goroutine is blocked in Next.
type Stream interface {
	Next(ctx context.Context) (Sample, error)
	Format() VideoFormat
	RequestKeyFrame()
	io.Closer
}

// Stiller is what a Stream may also be: a source of stills of the picture
// it captures, for the status page.
//
// Still returns a copy of a recent picture, at the stream's format size,
// that belongs to the caller. It may wait for the next picture to pass
// (then until ctx ends); while the signal is lost it returns an error
// wrapping ErrNoSignal, after Close io.EOF. It is safe to call while
// another goroutine is blocked in Next, and costs the capture path
// nothing while no still is asked for.
type Stiller interface {
	Still(ctx context.Context) (image.Image, error)
}
