package upload

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Clock is the queue's and the limiter's source of time. The default uses
// the time package (which testing/synctest fakes); tests may pass their own.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the Clock of the time package.
var SystemClock Clock = realClock{}

func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.After(d):
		return nil
	}
}

// Limiter is a token bucket limiting bytes per second. A nil *Limiter
// limits nothing. It is safe for concurrent use.
type Limiter struct {
	clock Clock
	rate  float64 // bytes per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of bytesPerSec with a burst of a quarter
// second (at least 16 KiB), or nil when bytesPerSec <= 0 (unlimited).
func NewLimiter(bytesPerSec int64, clock Clock) *Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	if clock == nil {
		clock = SystemClock
	}
	burst := float64(bytesPerSec) / 4
	if burst < 16<<10 {
		burst = 16 << 10
	}
	return &Limiter{clock: clock, rate: float64(bytesPerSec), burst: burst, tokens: burst, last: clock.Now()}
}

// maxPiece is the largest single reservation: reads are split to this size.
func (l *Limiter) maxPiece() int {
	return int(l.burst)
}

// WaitN blocks until n bytes may be sent (n must not exceed the burst; Reader
// splits larger reads).
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := l.clock.Now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens += el.Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
	l.tokens -= float64(n)
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	return sleep(ctx, l.clock, time.Duration(deficit/l.rate*float64(time.Second)))
}

// Reader returns r limited by l.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &limitedReader{ctx: ctx, l: l, r: r}
}

type limitedReader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if m := lr.l.maxPiece(); len(p) > m {
		p = p[:m]
	}
	n, err := lr.r.Read(p)
	if n > 0 {
		if werr := lr.l.WaitN(lr.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// Seek delegates to the underlying reader so that a chunk can be rewound
// and resent (Session.Upload does this after renewing the KS).
func (lr *limitedReader) Seek(off int64, whence int) (int64, error) {
	if s, ok := lr.r.(io.Seeker); ok {
		return s.Seek(off, whence)
	}
	return 0, errors.New("upload: reader is not seekable")
}
