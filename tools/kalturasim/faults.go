package kalturasim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// FaultKind selects what an injected fault does.
type FaultKind string

// Fault kinds. Transport faults act on the HTTP exchange; the others
// replace or alter the API answer.
const (
	// FaultHTTPStatus answers with HTTP Status (default 503) and an empty body.
	FaultHTTPStatus FaultKind = "http_status"
	// FaultReset reads ResetAfter bytes of the request body (default: half
	// of Content-Length), then closes the connection with a TCP reset.
	FaultReset FaultKind = "reset"
	// FaultDelay waits Delay (through Options.Sleep) before handling.
	FaultDelay FaultKind = "delay"
	// FaultTimeout never answers: it blocks until the client gives up or
	// the server is closed.
	FaultTimeout FaultKind = "timeout"
	// FaultActionBlocked answers ACTION_BLOCKED (the rate limit).
	FaultActionBlocked FaultKind = "action_blocked"
	// FaultLockTimedOut answers LOCK_TIMED_OUT.
	FaultLockTimedOut FaultKind = "lock_timed_out"
	// FaultAPIError answers the exception Code/Message.
	FaultAPIError FaultKind = "api_error"
	// FaultKSExpire expires the call's KS at this use: this call and every
	// later one with the same KS get INVALID_KS/EXPIRED.
	FaultKSExpire FaultKind = "ks_expire"
	// FaultSizeMismatch makes a final chunk (uploadToken.upload with
	// finalChunk=1) answer UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE.
	// Only final-chunk calls count towards Nth.
	FaultSizeMismatch FaultKind = "size_mismatch"
	// FaultConversionError makes the entry of a media.addContent call end
	// in status -1 (ERROR_CONVERTING) instead of READY.
	FaultConversionError FaultKind = "conversion_error"
)

// Fault is one injected failure. It matches calls by Service and Action
// (case-insensitive, "" = any). Among matching calls it fires from the
// Nth one on (0 or 1 = the first), once unless Always is set. With
// Probability > 0 each eligible call fires with that probability (seeded
// random source).
type Fault struct {
	ID          int           `json:"id,omitempty"`
	Kind        FaultKind     `json:"kind"`
	Service     string        `json:"service,omitempty"`
	Action      string        `json:"action,omitempty"`
	Nth         int           `json:"nth,omitempty"`
	Always      bool          `json:"always,omitempty"`
	Probability float64       `json:"probability,omitempty"`
	Status      int           `json:"status,omitempty"`
	Delay       time.Duration `json:"delay,omitempty"`
	ResetAfter  int64         `json:"resetAfter,omitempty"`
	Code        string        `json:"code,omitempty"`
	Message     string        `json:"message,omitempty"`
	// Args are the exception's args (FaultAPIError), in sorted key order.
	Args map[string]string `json:"args,omitempty"`

	seen  int
	fired int
}

// FaultState is a fault with its counters.
type FaultState struct {
	Fault
	Seen  int `json:"seen"`
	Fired int `json:"fired"`
}

// Faults is the server's fault table. Use Server.Faults.
type Faults struct {
	s      *Server
	mu     sync.Mutex
	nextID int
	list   []*Fault
	// changed is closed (and replaced) whenever a fault fires.
	changed chan struct{}
}

func newFaults(s *Server) *Faults { return &Faults{s: s, changed: make(chan struct{})} }

// Wait blocks until the fault with this id has fired at least n times, or
// ctx ends.
func (fs *Faults) Wait(ctx context.Context, id, n int) error {
	for {
		fs.mu.Lock()
		fired := 0
		for _, f := range fs.list {
			if f.ID == id {
				fired = f.fired
			}
		}
		ch := fs.changed
		fs.mu.Unlock()
		if fired >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for fault %d: %w", id, ctx.Err())
		}
	}
}

// Faults returns the fault table.
func (s *Server) Faults() *Faults { return s.faults }

// Add installs f and returns its id.
func (fs *Faults) Add(f Fault) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	f.ID = fs.nextID
	f.Service, f.Action = strings.ToLower(f.Service), strings.ToLower(f.Action)
	f.seen, f.fired = 0, 0
	fs.list = append(fs.list, &f)
	return f.ID
}

// Remove deletes the fault with this id.
func (fs *Faults) Remove(id int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.list {
		if f.ID == id {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
			return
		}
	}
}

// Clear removes every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.list = nil
}

// List returns the faults with their counters.
func (fs *Faults) List() []FaultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FaultState, 0, len(fs.list))
	for _, f := range fs.list {
		out = append(out, FaultState{Fault: *f, Seen: f.seen, Fired: f.fired})
	}
	return out
}

// Fired returns how often the fault with this id fired.
func (fs *Faults) Fired(id int) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		if f.ID == id {
			return f.fired
		}
	}
	return 0
}

// fault classes, by where they are evaluated.
type faultClass int

const (
	faultTransport faultClass = iota
	faultKSExpire
	faultAPI
)

func (k FaultKind) class() faultClass {
	switch k {
	case FaultHTTPStatus, FaultReset, FaultDelay, FaultTimeout:
		return faultTransport
	case FaultKSExpire:
		return faultKSExpire
	}
	return faultAPI
}

// take decides whether a fault of class cls fires for service.action;
// applies reports whether a call is eligible for a given fault.
func (fs *Faults) take(cls faultClass, service, action string, applies func(*Fault) bool) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		if f.Kind.class() != cls || (f.Service != "" && f.Service != service) || (f.Action != "" && f.Action != action) {
			continue
		}
		if applies != nil && !applies(f) {
			continue
		}
		f.seen++
		if f.seen < f.Nth || (!f.Always && f.fired > 0) {
			continue
		}
		if f.Probability > 0 && fs.s.randFloat() >= f.Probability {
			continue
		}
		f.fired++
		close(fs.changed)
		fs.changed = make(chan struct{})
		cp := *f
		return &cp
	}
	return nil
}

// match returns the API-level fault that fires for this call, if any.
// Faults handled inside an action (size mismatch, conversion error) are
// taken there, with takeAction.
func (fs *Faults) match(r *call, cls faultClass) *Fault {
	return fs.take(cls, r.service, r.action, func(f *Fault) bool {
		return f.Kind != FaultSizeMismatch && f.Kind != FaultConversionError
	})
}

// takeAction returns a fault of kind k that fires for this call.
func (fs *Faults) takeAction(r *call, k FaultKind) *Fault {
	return fs.take(faultAPI, r.service, r.action, func(f *Fault) bool { return f.Kind == k })
}

// exception is the API error an API-level fault answers.
func (f *Fault) exception(service, action string) *kapi.Exception {
	switch f.Kind {
	case FaultActionBlocked:
		return errActionBlocked(service, action)
	case FaultLockTimedOut:
		return errLockTimedOut()
	default:
		code := f.Code
		if code == "" {
			code = CodeInternalServerError
		}
		msg := f.Message
		if msg == "" {
			msg = "Injected fault"
		}
		keys := make([]string, 0, len(f.Args))
		for k := range f.Args {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var args []string
		for _, k := range keys {
			args = append(args, k, f.Args[k])
		}
		return kapi.Errorf(code, msg, args...)
	}
}

// transportFault applies a transport fault; it reports whether the
// request was fully handled (answered or dropped).
func (s *Server) transportFault(w http.ResponseWriter, r *http.Request, service, action string) bool {
	f := s.faults.take(faultTransport, service, action, nil)
	if f == nil {
		return false
	}
	s.log.Info("fault", "kind", string(f.Kind), "service", service, "action", action)
	switch f.Kind {
	case FaultDelay:
		if err := s.sleep(r.Context(), f.Delay); err != nil {
			return true
		}
		return false
	case FaultHTTPStatus:
		code := f.Status
		if code == 0 {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		return true
	case FaultTimeout:
		// Read the request as a server would, then never answer. Only
		// once the body is consumed does net/http watch the connection,
		// so a client that gives up cancels the request context.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return true
	case FaultReset:
		n := f.ResetAfter
		if n <= 0 {
			n = r.ContentLength / 2
		}
		if n > 0 {
			_, _ = io.CopyN(io.Discard, r.Body, n)
		}
		resetConn(w)
		return true
	}
	return false
}

// resetConn drops the connection with a TCP reset where it can.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// faultFromParams builds a Fault from the admin HTTP form.
func faultFromParams(p map[string]string) Fault {
	f := Fault{Kind: FaultKind(p["kind"]), Service: p["service"], Action: p["action"], Code: p["code"], Message: p["message"]}
	f.Nth, _ = strconv.Atoi(p["nth"])
	f.Always = p["always"] == "1" || p["always"] == "true"
	f.Probability, _ = strconv.ParseFloat(p["probability"], 64)
	f.Status, _ = strconv.Atoi(p["status"])
	if ms, err := strconv.ParseInt(p["delayMs"], 10, 64); err == nil {
		f.Delay = time.Duration(ms) * time.Millisecond
	}
	f.ResetAfter, _ = strconv.ParseInt(p["resetAfter"], 10, 64)
	return f
}
