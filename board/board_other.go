//go:build !linux

package board

import (
	"errors"
	"io"
	"runtime"
	"time"
)

// errNotLinux says why nothing opens here.
var errNotLinux = errors.New("board: the Raspberry Pi drivers need Linux (GPIO character device, serial ports); this is " + runtime.GOOS + ": run capturebox with -dev")

// Open returns an error: the board runs on Linux only.
func Open(cfg Config) (*Board, error) { return nil, errNotLinux }

// Probe returns an error: the board runs on Linux only.
func Probe(cfg Config, w io.Writer) error { return errNotLinux }

// SerialConsole is the serial console, on Linux only.
type SerialConsole struct{}

// OpenConsole returns an error: the board runs on Linux only.
func OpenConsole(path string, baud int) (*SerialConsole, error) { return nil, errNotLinux }

// Read returns an error.
func (c *SerialConsole) Read([]byte) (int, error) { return 0, errNotLinux }

// Write returns an error.
func (c *SerialConsole) Write([]byte) (int, error) { return 0, errNotLinux }

// Close does nothing.
func (c *SerialConsole) Close() error { return nil }

// Path returns "".
func (c *SerialConsole) Path() string { return "" }

// OpenDisplay returns an error: the board runs on Linux only.
func OpenDisplay(path string, opt DisplayOptions) (*Display, error) { return nil, errNotLinux }

// OpenJig returns an error: the board runs on Linux only.
func OpenJig(pinName string) (press func(hold time.Duration), release func() error, err error) {
	return nil, nil, errNotLinux
}
