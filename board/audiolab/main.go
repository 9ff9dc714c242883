// Command audiolab is the sound side of the VM lab (tools/vmlab): small
// programs in one static binary that run inside the guest. It lives under
// board because it uses the board's sound drivers (only board and main
// import board).
//
//	audiolab tone   -device hw:0,0 [-freq 1000] [-amp 8000] [-seconds 30]
//	audiolab record -device hw:0,1 -seconds 5 -dir /tmp/rec [-id lab]
//
//	audiolab bench
//
// tone plays a sine tone into an ALSA playback device (snd-aloop's device
// 0, whose sound comes out of its capture device 1), printing
// "audiolab: playing" once the stream runs. record records like the box
// does: capture.Recorder with the fake camera for the picture and, for the
// sound, the box's own ALSA input (board.NewALSA) and opus codec
// (board.Opus), and prints the result as JSON. bench times the opus
// encoder.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/gen2brain/alsa"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: audiolab tone|record [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "tone":
		err = tone(os.Args[2:])
	case "record":
		err = record(os.Args[2:])
	case "bench":
		err = bench()
	default:
		err = fmt.Errorf("unknown command %q (want tone or record)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "audiolab:", err)
		os.Exit(1)
	}
}

func tone(args []string) error {
	fs := flag.NewFlagSet("tone", flag.ExitOnError)
	device := fs.String("device", "hw:0,0", "ALSA playback device")
	freq := fs.Float64("freq", 1000, "tone frequency in Hz")
	amp := fs.Float64("amp", 8000, "tone amplitude (peak)")
	rate := fs.Int("rate", 48000, "sample rate")
	channels := fs.Int("channels", 2, "channels")
	seconds := fs.Float64("seconds", 30, "how long to play")
	fs.Parse(args)
	period := *rate / 100
	open := func() (*alsa.PCM, error) {
		pcm, err := alsa.PcmOpenByName(*device, alsa.PCM_OUT, &alsa.Config{
			Channels: uint32(*channels), Rate: uint32(*rate), Format: alsa.SNDRV_PCM_FORMAT_S16_LE,
			PeriodSize: uint32(period), PeriodCount: 8,
		})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", *device, err)
		}
		return pcm, nil
	}
	pcm, err := open()
	if err != nil {
		return err
	}
	defer func() { pcm.Close() }()
	errors := 0
	buf := make([]int16, period**channels)
	total := int(*seconds * float64(*rate))
	w := 2 * math.Pi * *freq / float64(*rate)
	for n := 0; n < total; n += period {
		for i := range period {
			v := int16(math.Round(*amp * math.Sin(w*float64((n+i)%*rate))))
			for c := range *channels {
				buf[i**channels+c] = v
			}
		}
		if _, err := pcm.Write(buf); err != nil {
			// Starved of CPU under emulation, the stream can fail (snd-aloop
			// was seen to return EIO): open it again and play on.
			if errors++; errors > 20 {
				return fmt.Errorf("play: %w", err)
			}
			fmt.Println("audiolab: play error, reopening:", err)
			pcm.Close()
			if pcm, err = open(); err != nil {
				return err
			}
		}
		// The stream starts once half its buffer is filled. snd-aloop
		// was seen to give a capture stream opened within the playback's
		// first tenth of a second nothing but silence, so the tone counts
		// as playing once half a second of it has been written.
		if n == 50*period {
			if st := pcm.State(); st != alsa.SNDRV_PCM_STATE_RUNNING {
				return fmt.Errorf("play: stream in state %v after a buffer was written", st)
			}
			fmt.Println("audiolab: playing")
		}
	}
	return nil
}

// bench encodes 5 s of a tone with the box's opus codec and prints how
// long it took: whether this machine encodes faster than real time.
func bench() error {
	enc, err := board.Opus{}.NewEncoder(hal.AudioFormat{Rate: 48000, Channels: 2})
	if err != nil {
		return err
	}
	defer enc.Close()
	frame := make([]int16, 960*2)
	start := time.Now()
	for p := range 250 {
		for i := range 960 {
			v := int16(8000 * math.Sin(2*math.Pi*1000*float64(p*960+i)/48000))
			frame[2*i], frame[2*i+1] = v, v
		}
		if _, err := enc.Encode(frame); err != nil {
			return err
		}
	}
	el := time.Since(start)
	fmt.Printf("audiolab: opus encoded 5 s in %v (%.2f× real time)\n", el, 5/el.Seconds())
	return nil
}

func record(args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	device := fs.String("device", "auto", "ALSA capture device")
	seconds := fs.Float64("seconds", 5, "how long to record")
	dir := fs.String("dir", "/tmp/rec", "recordings folder")
	id := fs.String("id", "lab", "recording id")
	codecName := fs.String("codec", "opus", "sound codec: opus (the box's), or pcm (stored as is)")
	fs.Parse(args)
	var codec hal.AudioCodec = board.Opus{}
	if *codecName == "pcm" {
		codec = haltest.PCMCodec{}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := capture.New(capture.Config{
		Dir:        *dir,
		Source:     haltest.NewFakeCamera(haltest.CameraConfig{}),
		Audio:      board.NewALSA(*device, time.Now),
		AudioCodec: codec,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	if _, err := r.Start(*id, capture.Meta{Title: "audiolab"}); err != nil {
		return err
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	res, err := r.Stop(*id)
	if err != nil {
		return err
	}
	sc, err := capture.ReadSidecar(*dir, *id)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(struct {
		Path     string
		Bytes    int64
		Duration time.Duration
		Audio    *capture.AudioNotes
	}{res.Path, res.Bytes, res.Duration, sc.Audio})
}
