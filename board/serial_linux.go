//go:build linux

package board

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/tarm/serial"

	"github.com/capturebox/capturebox/hal"
)

// readPoll is the serial read timeout (termios VTIME): a pending Read
// notices Close within it.
const readPoll = 100 * time.Millisecond

// openSerial opens a serial device at baud, 8N1, raw.
func openSerial(path string, baud int) (*serial.Port, error) {
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, Size: 8, Parity: serial.ParityNone, StopBits: serial.Stop1, ReadTimeout: readPoll})
	if err != nil {
		return nil, fmt.Errorf("serial port %s at %d baud: %w", path, baud, err)
	}
	return p, nil
}

// SerialConsole is the field-service console on a serial port: 8N1, raw
// (no echo, no line editing by the kernel: the console does its own). It
// implements hal.ConsolePort.
type SerialConsole struct {
	path   string
	port   *serial.Port
	closed atomic.Bool
}

var _ hal.ConsolePort = (*SerialConsole)(nil)

// OpenConsole opens the console on the serial device path at baud.
func OpenConsole(path string, baud int) (*SerialConsole, error) {
	p, err := openSerial(path, baud)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &SerialConsole{path: path, port: p}, nil
}

// Path is the device the console is on.
func (c *SerialConsole) Path() string { return c.path }

// Read implements hal.ConsolePort: it blocks until a byte arrives and
// returns io.EOF once the port is closed.
func (c *SerialConsole) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if c.closed.Load() {
			return 0, io.EOF
		}
		n, err := c.port.Read(b)
		if n > 0 {
			return n, nil
		}
		if c.closed.Load() {
			return 0, io.EOF
		}
		// A read that timed out with nothing (VTIME) is io.EOF from os.File.
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("console %s: read: %w", c.path, err)
		}
	}
}

// Write implements hal.ConsolePort.
func (c *SerialConsole) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, fmt.Errorf("console %s: %w", c.path, errClosed)
	}
	n, err := c.port.Write(b)
	if err != nil {
		return n, fmt.Errorf("console %s: write: %w", c.path, err)
	}
	return n, nil
}

// Close implements hal.ConsolePort; a pending Read returns within readPoll.
func (c *SerialConsole) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.port.Close(); err != nil {
		return fmt.Errorf("console %s: close: %w", c.path, err)
	}
	return nil
}

// OpenDisplay opens a serial character display on path at opt.Baud.
func OpenDisplay(path string, opt DisplayOptions) (*Display, error) {
	if opt.Baud <= 0 {
		opt.Baud = 9600
	}
	p, err := openSerial(path, opt.Baud)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	d, err := NewDisplay(p, opt)
	if err != nil {
		p.Close()
		return nil, err
	}
	return d, nil
}
