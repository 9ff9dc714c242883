//go:build linux

package board

import (
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

var (
	gpioOnce sync.Once
	gpioErr  error
)

// gpioChips initialises periph's Linux GPIO character-device driver (and
// only it: the memory-mapped bcm283x driver is not loaded) and returns the
// chips found, the header's first.
func gpioChips() ([]*gpioioctl.GPIOChip, error) {
	gpioOnce.Do(func() {
		if _, err := driverreg.Init(); err != nil {
			gpioErr = fmt.Errorf("GPIO: %w", err)
		}
	})
	if gpioErr != nil {
		return nil, gpioErr
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, fmt.Errorf("GPIO: no /dev/gpiochip* can be opened (missing, or no permission: the box runs as root or in group gpio)")
	}
	return gpioioctl.Chips, nil
}

// headerLine finds the line of BCM pin n: line n of the SoC's pin
// controller ("pinctrl-bcm2835" on the Pi Zero 2 W and 3, "pinctrl-bcm2711"
// on the 4, "pinctrl-rp1" on the 5), or else a line named "GPIO<n>", or
// else line n of the first chip.
func headerLine(chips []*gpioioctl.GPIOChip, n int) (*gpioioctl.GPIOChip, *gpioioctl.GPIOLine, error) {
	for _, c := range chips {
		if strings.HasPrefix(c.Label(), "pinctrl-") && c.LineCount() > n {
			return c, c.Lines()[n], nil
		}
	}
	name := fmt.Sprintf("GPIO%d", n)
	for _, c := range chips {
		if l := c.ByName(name); l != nil {
			return c, l, nil
		}
	}
	// Not a Pi (a development board, the VM lab's PL061): line n of the
	// first chip.
	if len(chips) > 0 && chips[0].LineCount() > n {
		return chips[0], chips[0].Lines()[n], nil
	}
	var have []string
	for _, c := range chips {
		have = append(have, fmt.Sprintf("%s (%s, %d lines)", c.Name(), c.Label(), c.LineCount()))
	}
	return nil, nil, fmt.Errorf("GPIO%d: no pin controller has it (chips: %s)", n, strings.Join(have, ", "))
}

// ledPin is the LED line as an output that can be read back: a one-line
// line set (GPIO_V2_LINE_GET_VALUES on an output returns the driven value).
type ledPin interface {
	gpio.PinOut
	Read() gpio.Level
}

// openOutput requests line as an output and returns it with its release.
func openOutput(chip *gpioioctl.GPIOChip, line *gpioioctl.GPIOLine) (ledPin, func() error, error) {
	if line.Name() == "" || chip.ByName(line.Name()) != line {
		// Unnamed or ambiguous: the line itself (no read-back after Out).
		if err := line.Out(gpio.Low); err != nil {
			return nil, nil, err
		}
		return &outLine{GPIOLine: line}, func() error { line.Close(); return nil }, nil
	}
	ls, err := chip.LineSet(gpioioctl.LineOutput, gpio.NoEdge, gpio.PullNoChange, line.Name())
	if err != nil {
		return nil, nil, err
	}
	return ls.Lines()[0], ls.Close, nil
}

// outLine is a line that is not in a set: GPIOLine.Read would turn it into
// an input, so Read returns the level last driven, not one read back.
type outLine struct {
	*gpioioctl.GPIOLine
	mu  sync.Mutex
	lvl gpio.Level
}

func (o *outLine) Out(l gpio.Level) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.GPIOLine.Out(l); err != nil {
		return err
	}
	o.lvl = l
	return nil
}

func (o *outLine) Read() gpio.Level {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lvl
}

// Open detects the model, opens the LED and the button on the GPIO
// character device, and the display and console serial ports. GPIO
// failures are errors; a display or console that cannot be opened is a
// warning (logged, and in Board.Warnings), and is nil in the Board.
func Open(cfg Config) (*Board, error) {
	cfg.defaults()
	log := cfg.Logger
	b := &Board{}
	model, err := ReadModel(cfg.ModelPath)
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	b.Model = model
	if !IsRaspberryPi(model) {
		b.Warnings = append(b.Warnings, fmt.Sprintf("model %q is not a Raspberry Pi: the pins may not be where the wiring says", model))
	}
	fail := func(err error) (*Board, error) {
		b.Close()
		return nil, fmt.Errorf("board: %w", err)
	}
	ledN, err := ParsePin(cfg.LEDPin)
	if err != nil {
		return fail(fmt.Errorf("LED: %w", err))
	}
	btnN, err := ParsePin(cfg.ButtonPin)
	if err != nil {
		return fail(fmt.Errorf("button: %w", err))
	}
	if ledN == btnN {
		return fail(fmt.Errorf("the LED and the button are both on GPIO%d", ledN))
	}
	chips, err := gpioChips()
	if err != nil {
		return fail(err)
	}

	chip, line, err := headerLine(chips, ledN)
	if err != nil {
		return fail(fmt.Errorf("LED: %w", err))
	}
	pin, release, err := openOutput(chip, line)
	if err != nil {
		return fail(fmt.Errorf("LED on GPIO%d (%s line %d): %w", ledN, chip.Name(), line.Number(), err))
	}
	b.onClose(release)
	if b.LED, err = NewLED(pin, cfg.LEDActiveLow); err != nil {
		return fail(err)
	}
	b.onClose(b.LED.Close)

	chip, bline, err := headerLine(chips, btnN)
	if err != nil {
		return fail(fmt.Errorf("button: %w", err))
	}
	b.onClose(func() error { bline.Close(); return nil })
	if b.Button, err = NewButton(bline, ButtonOptions{LongPress: cfg.LongPress, Logger: log}); err != nil {
		return fail(fmt.Errorf("button on GPIO%d (%s line %d): %w", btnN, chip.Name(), bline.Number(), err))
	}
	b.onClose(b.Button.Close)

	if cfg.DisplayPort != "" {
		d, err := OpenDisplay(cfg.DisplayPort, DisplayOptions{Cols: cfg.DisplayCols, Rows: cfg.DisplayRows, Mode: cfg.DisplayMode, Baud: cfg.DisplayBaud, Logger: log})
		if err != nil {
			b.Warnings = append(b.Warnings, fmt.Sprintf("no display: %v", err))
		} else {
			b.Display = d
			b.onClose(d.Close)
		}
	}
	if cfg.ConsolePort != "" {
		c, err := OpenConsole(cfg.ConsolePort, cfg.ConsoleBaud)
		if err != nil {
			b.Warnings = append(b.Warnings, fmt.Sprintf("no console: %v", err))
		} else {
			b.Console = c
			b.onClose(c.Close)
		}
	}
	for _, w := range b.Warnings {
		log.Warn("board: " + w)
	}
	log.Info("board opened", "model", model, "led", cfg.LEDPin, "button", cfg.ButtonPin, "display", cfg.DisplayPort, "console", cfg.ConsolePort)
	return b, nil
}
