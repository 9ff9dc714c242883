package supervisor

import (
	"bytes"
	"sync"
)

// Ring keeps the last N lines written to it. It is an io.Writer meant to sit
// behind the box's slog handler (through io.MultiWriter) so that the console
// can show the log tail. Partial lines are held until their newline.
type Ring struct {
	mu      sync.Mutex
	lines   []string
	next    int
	full    bool
	partial []byte
}

// NewRing returns a Ring that keeps n lines (at least 1).
func NewRing(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{lines: make([]string, n)}
}

// Write implements io.Writer. It never fails.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			break
		}
		line := string(append(r.partial, p[:i]...))
		r.partial = r.partial[:0]
		r.lines[r.next] = line
		r.next = (r.next + 1) % len(r.lines)
		if r.next == 0 {
			r.full = true
		}
		p = p[i+1:]
	}
	return n, nil
}

// Lines returns up to the last n complete lines, oldest first (n <= 0: all kept).
func (r *Ring) Lines(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
	if n > 0 && n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}
