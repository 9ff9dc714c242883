package board

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultModelPath is where Linux shows the device tree's model string.
const DefaultModelPath = "/proc/device-tree/model"

// Config is the board's wiring (the [hardware] keys of the configuration
// file). Zero values take the defaults noted.
type Config struct {
	// LEDPin and ButtonPin are BCM pin names, "GPIO0" to "GPIO27".
	// Defaults "GPIO17" and "GPIO27".
	LEDPin, ButtonPin string
	// LEDActiveLow: the LED lights when its pin is low.
	LEDActiveLow bool
	// LongPress is the button's long-press threshold. Default 2s.
	LongPress time.Duration
	// DisplayPort is the display's serial device; "" for none.
	DisplayPort string
	// DisplayMode, DisplayCols, DisplayRows and DisplayBaud describe it.
	// Defaults SerLCD, 16x2, 9600.
	DisplayMode              DisplayMode
	DisplayCols, DisplayRows int
	DisplayBaud              int
	// ConsolePort is the console's serial device; "" for none.
	// ConsoleBaud its speed, default 115200.
	ConsolePort string
	ConsoleBaud int
	// ModelPath is read for the model. Default DefaultModelPath.
	ModelPath string
	// Logger receives the board's warnings. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.LEDPin == "" {
		c.LEDPin = "GPIO17"
	}
	if c.ButtonPin == "" {
		c.ButtonPin = "GPIO27"
	}
	if c.DisplayCols <= 0 || c.DisplayRows <= 0 {
		c.DisplayCols, c.DisplayRows = 16, 2
	}
	if c.DisplayBaud <= 0 {
		c.DisplayBaud = 9600
	}
	if c.ConsoleBaud <= 0 {
		c.ConsoleBaud = 115200
	}
	if c.ModelPath == "" {
		c.ModelPath = DefaultModelPath
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ParsePin returns the BCM number of a pin name such as "GPIO17".
func ParsePin(name string) (int, error) {
	s, ok := strings.CutPrefix(strings.ToUpper(name), "GPIO")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n < 0 || n > 27 {
		return 0, fmt.Errorf("pin %q is not a header pin name, GPIO0 to GPIO27", name)
	}
	return n, nil
}

// ReadModel returns the board's model from the device tree (path, usually
// DefaultModelPath), such as "Raspberry Pi 3 Model B Rev 1.2".
func ReadModel(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no device-tree model at %s: not a Raspberry Pi (or not Linux)", path)
		}
		return "", fmt.Errorf("reading the model: %w", err)
	}
	m := strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	if m == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return m, nil
}

// IsRaspberryPi reports whether a device-tree model names a Raspberry Pi.
func IsRaspberryPi(model string) bool { return strings.HasPrefix(model, "Raspberry Pi") }

// Board is the opened hardware. Display and Console are nil when not
// configured or when they could not be opened (Warnings says why): the
// box records without them.
type Board struct {
	Model    string
	LED      *LED
	Button   *Button
	Display  *Display
	Console  *SerialConsole
	Warnings []string

	closers []func() error // in opening order; Close runs them backwards
}

// Close turns the LED off, stops the button, closes the display and the
// console and releases every GPIO line. It may be called more than once.
func (b *Board) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	b.closers = nil
	return errors.Join(errs...)
}

func (b *Board) onClose(f func() error) { b.closers = append(b.closers, f) }
