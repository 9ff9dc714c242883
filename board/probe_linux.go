//go:build linux

package board

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// Probe tells a technician, in words, what the box finds: the model, the
// GPIO chips, the LED and button pins and their state, and the display
// and console ports. It flashes the LED once (driven on and off, and read
// back each time) unless another program holds its line. It writes to w
// and returns an error only when w fails; what is missing is reported.
func Probe(cfg Config, w io.Writer) error {
	cfg.defaults()
	p := &printer{w: w}
	model, err := ReadModel(cfg.ModelPath)
	switch {
	case err != nil:
		p.f("Model:    unknown (%v)\n", err)
	case IsRaspberryPi(model):
		p.f("Model:    %s\n", model)
	default:
		p.f("Model:    %s (not a Raspberry Pi)\n", model)
	}

	chips, err := gpioChips()
	if err != nil {
		p.f("GPIO:     none: %v\n", strings.TrimPrefix(err.Error(), "GPIO: "))
	} else {
		for _, c := range chips {
			p.f("GPIO:     %s %q, %d lines (%s)\n", c.Name(), c.Label(), c.LineCount(), c.Path())
		}
		probeLED(p, chips, cfg)
		probeButton(p, chips, cfg)
	}

	probePort(p, "Display", cfg.DisplayPort, fmt.Sprintf("%s %dx%d at %d baud", cfg.DisplayMode, cfg.DisplayCols, cfg.DisplayRows, cfg.DisplayBaud))
	probePort(p, "Console", cfg.ConsolePort, fmt.Sprintf("%d baud 8N1", cfg.ConsoleBaud))
	found := serialPorts()
	if len(found) == 0 {
		p.f("Serial:   no serial ports found\n")
	} else {
		p.f("Serial:   %s\n", strings.Join(found, ", "))
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func levelWord(l gpio.Level) string {
	if l {
		return "high"
	}
	return "low"
}

func probeLED(p *printer, chips []*gpioioctl.GPIOChip, cfg Config) {
	n, err := ParsePin(cfg.LEDPin)
	if err != nil {
		p.f("LED:      %v\n", err)
		return
	}
	chip, line, err := headerLine(chips, n)
	if err != nil {
		p.f("LED:      %v\n", err)
		return
	}
	active := "active high"
	if cfg.LEDActiveLow {
		active = "active low"
	}
	where := fmt.Sprintf("GPIO%d (%s line %d %q, %s)", n, chip.Name(), line.Number(), line.Name(), active)
	if c := line.Consumer(); c != "" {
		p.f("LED:      %s is in use by %s: not touched\n", where, c)
		return
	}
	pin, release, err := openOutput(chip, line)
	if err != nil {
		p.f("LED:      %s cannot be driven: %v\n", where, err)
		return
	}
	defer release()
	var steps []string
	ok := true
	for _, lit := range []bool{true, false} {
		lvl := gpio.Level(lit != cfg.LEDActiveLow)
		if err := pin.Out(lvl); err != nil {
			p.f("LED:      %s: driving it %s failed: %v\n", where, levelWord(lvl), err)
			return
		}
		got := pin.Read()
		steps = append(steps, fmt.Sprintf("drove %s, read back %s", levelWord(lvl), levelWord(got)))
		ok = ok && got == lvl
	}
	verdict := "works (flashed once)"
	if !ok {
		verdict = "DOES NOT READ BACK what was driven: check the wiring"
	}
	p.f("LED:      %s %s: %s\n", where, verdict, strings.Join(steps, "; "))
}

func probeButton(p *printer, chips []*gpioioctl.GPIOChip, cfg Config) {
	n, err := ParsePin(cfg.ButtonPin)
	if err != nil {
		p.f("Button:   %v\n", err)
		return
	}
	chip, line, err := headerLine(chips, n)
	if err != nil {
		p.f("Button:   %v\n", err)
		return
	}
	where := fmt.Sprintf("GPIO%d (%s line %d %q, to ground, pull-up)", n, chip.Name(), line.Number(), line.Name())
	if c := line.Consumer(); c != "" {
		p.f("Button:   %s is in use by %s: not touched\n", where, c)
		return
	}
	defer line.Close()
	if err := line.In(gpio.PullUp, gpio.NoEdge); err != nil {
		p.f("Button:   %s cannot be read: %v\n", where, err)
		return
	}
	state := "released (reads high)"
	if line.Read() == gpio.Low {
		state = "PRESSED (reads low): held down, or shorted to ground"
	}
	p.f("Button:   %s is %s\n", where, state)
}

func probePort(p *printer, what, path, settings string) {
	label := fmt.Sprintf("%-9s ", what+":")
	if path == "" {
		p.f("%snone configured\n", label)
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		p.f("%s%s (%s) NOT FOUND: %v\n", label, path, settings, err)
		return
	}
	target := ""
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		target = " -> " + real
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		p.f("%s%s%s (%s) is not a character device\n", label, path, target, settings)
		return
	}
	p.f("%s%s%s (%s) present\n", label, path, target, settings)
}

// serialPorts lists the serial devices present: the Pi's UARTs, USB serial
// adapters and the serial0/serial1 aliases.
func serialPorts() []string {
	var out []string
	for _, pat := range []string{"/dev/serial[0-9]", "/dev/ttyAMA*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyS*"} {
		m, _ := filepath.Glob(pat)
		sort.Strings(m)
		for _, path := range m {
			if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
				path += " -> " + real
			}
			out = append(out, path)
		}
	}
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("and %d more", len(out)-12))
	}
	return out
}
