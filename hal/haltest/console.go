package haltest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// ConsoleWrite is one Write call on a FakeConsole.
type ConsoleWrite struct {
	At   time.Time
	Data []byte
}

// FakeConsole is an in-memory hal.ConsolePort.
//
// Type queues input for Read; what the firmware writes is kept in full
// (Output) and can be consumed in order with Expect or through Peer, the
// other end of the line. Read blocks on a channel until input arrives or
// the port is closed; after Close, Read returns io.EOF (pending input is
// discarded) and Write returns an error wrapping ErrClosed.
type FakeConsole struct {
	clock func() time.Time

	mu      sync.Mutex
	in      []byte
	inSig   chan struct{} // closed and replaced when input arrives
	out     []byte
	outRead int           // how much of out Expect and Peer have consumed
	outSig  chan struct{} // closed and replaced when output arrives
	writes  []ConsoleWrite
	closed  bool
	done    chan struct{}
}

var _ hal.ConsolePort = (*FakeConsole)(nil)

// NewFakeConsole returns an open console stamping writes with clock (nil
// means time.Now).
func NewFakeConsole(clock func() time.Time) *FakeConsole {
	return &FakeConsole{
		clock:  clockOrNow(clock),
		inSig:  make(chan struct{}),
		outSig: make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// Type queues s as input, as if typed on the far end. It is ignored after
// Close.
func (c *FakeConsole) Type(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.in = append(c.in, s...)
	close(c.inSig)
	c.inSig = make(chan struct{})
}

// Read implements io.Reader.
func (c *FakeConsole) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if len(c.in) > 0 {
			n := copy(p, c.in)
			c.in = c.in[n:]
			c.mu.Unlock()
			return n, nil
		}
		sig := c.inSig
		c.mu.Unlock()
		select {
		case <-sig:
		case <-c.done:
		}
	}
}

// Write implements io.Writer.
func (c *FakeConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("console write: %w", ErrClosed)
	}
	c.out = append(c.out, p...)
	c.writes = append(c.writes, ConsoleWrite{At: c.clock(), Data: bytes.Clone(p)})
	close(c.outSig)
	c.outSig = make(chan struct{})
	return len(p), nil
}

// Close implements io.Closer: pending and later Reads return io.EOF.
// Close may be called more than once.
func (c *FakeConsole) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.in = nil
		close(c.done)
	}
	return nil
}

// Output returns everything written so far.
func (c *FakeConsole) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.out)
}

// Writes returns every Write call with its time.
func (c *FakeConsole) Writes() []ConsoleWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ConsoleWrite(nil), c.writes...)
}

// Expect waits until the output not yet consumed contains want, consumes
// it up to and including want, and returns the consumed text. It fails
// when ctx ends or the console is closed first, returning what was unread.
func (c *FakeConsole) Expect(ctx context.Context, want string) (string, error) {
	for {
		c.mu.Lock()
		unread := c.out[c.outRead:]
		if i := bytes.Index(unread, []byte(want)); i >= 0 {
			got := string(unread[:i+len(want)])
			c.outRead += i + len(want)
			c.mu.Unlock()
			return got, nil
		}
		closed, sig := c.closed, c.outSig
		c.mu.Unlock()
		if closed {
			return string(unread), fmt.Errorf("console expect %q: %w", want, ErrClosed)
		}
		select {
		case <-sig:
		case <-c.done:
		case <-ctx.Done():
			return string(unread), fmt.Errorf("console expect %q: %w (unread %q)", want, ctx.Err(), unread)
		}
	}
}

// Peer returns the far end of the line: writes to it are typed into the
// console, reads from it consume the console's output (sharing the cursor
// with Expect) and return io.EOF once the console is closed and drained.
func (c *FakeConsole) Peer() io.ReadWriter { return consolePeer{c} }

type consolePeer struct{ c *FakeConsole }

func (p consolePeer) Write(b []byte) (int, error) {
	p.c.mu.Lock()
	closed := p.c.closed
	p.c.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("console peer write: %w", ErrClosed)
	}
	p.c.Type(string(b))
	return len(b), nil
}

func (p consolePeer) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c := p.c
	for {
		c.mu.Lock()
		if c.outRead < len(c.out) {
			n := copy(b, c.out[c.outRead:])
			c.outRead += n
			c.mu.Unlock()
			return n, nil
		}
		if c.closed {
			c.mu.Unlock()
			return 0, io.EOF
		}
		sig := c.outSig
		c.mu.Unlock()
		select {
		case <-sig:
		case <-c.done:
		}
	}
}
