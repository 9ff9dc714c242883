//go:build linux

package board

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// OpenJig opens a bench jig's pin that presses the button: a GPIO output
// wired to the button's line through a 1 kΩ resistor. High is idle (the
// pull-up already holds the line high), low presses. press holds the
// button down for hold, releases it and waits for the release to settle,
// as halcheck.CheckButton wants; release frees the pin.
func OpenJig(pinName string) (press func(hold time.Duration), release func() error, err error) {
	n, err := ParsePin(pinName)
	if err != nil {
		return nil, nil, fmt.Errorf("jig: %w", err)
	}
	chips, err := gpioChips()
	if err != nil {
		return nil, nil, fmt.Errorf("jig: %w", err)
	}
	chip, line, err := headerLine(chips, n)
	if err != nil {
		return nil, nil, fmt.Errorf("jig: %w", err)
	}
	pin, rel, err := openOutput(chip, line)
	if err != nil {
		return nil, nil, fmt.Errorf("jig on GPIO%d: %w", n, err)
	}
	if err := pin.Out(gpio.High); err != nil {
		rel()
		return nil, nil, fmt.Errorf("jig on GPIO%d: %w", n, err)
	}
	press = func(hold time.Duration) {
		_ = pin.Out(gpio.Low)
		time.Sleep(hold)
		_ = pin.Out(gpio.High)
		time.Sleep(4 * DefaultSettle)
	}
	return press, rel, nil
}
