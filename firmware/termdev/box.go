package termdev

import (
	"context"
	"io"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/hal/haltest"
)

// Box is the development box: the LED and display drawn on out, the
// console on in and out, the button as the console commands "press" and
// "hold", a synthetic camera, a synthetic microphone (a tone) and a clock
// that is always synchronised. Only the development build of capturebox
// (go build -tags dev) imports this package, so the firmware the Pi runs
// links none of the fakes.
type Box struct {
	Devices firmware.Devices
	// Commands are the console commands that stand in for the button.
	Commands []console.Command

	button *haltest.FakeButton
}

// NewBox returns the development devices for a cols x rows display.
func NewBox(in io.Reader, out io.Writer, cols, rows int) *Box {
	button := haltest.NewFakeButton(time.Now)
	b := &Box{button: button}
	b.Devices = firmware.Devices{
		LED:      NewLED(out),
		Display:  NewDisplay(out, cols, rows),
		Button:   button,
		Console:  &stdioPort{r: in, w: out},
		Capture:  haltest.NewFakeCamera(haltest.CameraConfig{Width: 320, Height: 180, FPS: 25}),
		TimeSync: haltest.NewFakeTimeSync(true),
		// A 1 kHz tone, stored as PCM (16 kHz mono keeps the files small):
		// the development box records sound.
		Audio:      haltest.NewFakeMicrophone(haltest.MicConfig{Rate: 16000, Channels: 1}),
		AudioCodec: haltest.PCMCodec{Rate: 16000},
	}
	b.Commands = []console.Command{
		{Name: "press", Alias: []string{"p"}, Help: "press the button (short press)", Run: b.press},
		{Name: "hold", Alias: []string{"h"}, Help: "hold the button two seconds (long press)", Run: b.hold},
	}
	return b
}

func (b *Box) press(_ context.Context, w io.Writer, _ []string) error {
	b.button.Press()
	_, err := io.WriteString(w, "button pressed\n")
	return err
}

func (b *Box) hold(_ context.Context, w io.Writer, _ []string) error {
	b.button.LongPress()
	_, err := io.WriteString(w, "button held (long press)\n")
	return err
}

// Close releases the devices.
func (b *Box) Close() {
	_ = b.Devices.LED.Close()
	_ = b.Devices.Display.Close()
	b.button.Close()
}

// stdioPort is the development console: standard input and output.
type stdioPort struct {
	r io.Reader
	w io.Writer
}

func (p *stdioPort) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *stdioPort) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *stdioPort) Close() error                { return nil }
