// Package update installs a firmware update: a signed RAUC bundle, by URL or
// path, written by RAUC into the root filesystem slot that is not running.
// RAUC checks the bundle's signature against the keyring of the running
// system and marks the new slot primary; the box boots it on its next start
// and marks it good only after it has synced a schedule (the SD image's
// capturebox-health), else boots the previous slot again.
//
// An install takes minutes, so it runs in the background: Start returns at
// once and Status tells how it went. One install at a time.
package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Runner runs a program and returns its combined output. The box runs
// processes (ExecRunner); tests give a fake.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// State of the last install.
type State string

const (
	Idle       State = "idle"
	Installing State = "installing"
	Installed  State = "installed" // reboot to run it
	Failed     State = "failed"
)

// Status is what the console shows.
type Status struct {
	State    State
	Source   string // the bundle, with any password masked
	Started  time.Time
	Finished time.Time
	Err      string // why it failed, from RAUC's output
}

// Options configure an Installer.
type Options struct {
	Runner  Runner
	Log     *slog.Logger
	Now     func() time.Time
	RAUC    string        // the rauc program; default "rauc"
	Timeout time.Duration // of one install; default 30 minutes
}

// Installer runs "rauc install".
type Installer struct {
	opts Options

	mu     sync.Mutex
	status Status
	done   chan struct{} // closed when the running install ends
}

// New returns an Installer.
func New(o Options) *Installer {
	if o.RAUC == "" {
		o.RAUC = "rauc"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Installer{opts: o, status: Status{State: Idle}}
}

// ErrBusy is returned by Start while an install runs.
var ErrBusy = errors.New("update: an install is already running")

const maxSource = 2048

// CheckSource says whether src is a bundle RAUC may be given: an http or
// https URL, or an absolute path of a .raucb file. It returns the form to
// show (a URL's password masked).
func CheckSource(src string) (shown string, err error) {
	if src == "" {
		return "", errors.New("update: no bundle given (update URL)")
	}
	if len(src) > maxSource {
		return "", fmt.Errorf("update: the bundle location is %d characters long (at most %d)", len(src), maxSource)
	}
	for _, r := range src {
		if r <= ' ' || r == 0x7f {
			return "", errors.New("update: the bundle location has a space or control character")
		}
	}
	if strings.HasPrefix(src, "/") {
		if path.Clean(src) != src || !strings.HasSuffix(src, ".raucb") {
			return "", fmt.Errorf("update: %q is not a clean absolute path of a .raucb bundle", src)
		}
		return src, nil
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", fmt.Errorf("update: bundle URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("update: bundle URL scheme %q (http or https, or an absolute path)", u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("update: bundle URL %q has no host", u.Redacted())
	}
	return u.Redacted(), nil
}

// Start begins installing the bundle at src in the background, detached
// from ctx's cancellation (RAUC survives an interrupted install, but a box
// shutting down should not abandon one it can finish). It returns ErrBusy
// while an install runs and an error for a source CheckSource refuses.
func (i *Installer) Start(ctx context.Context, src string) error {
	shown, err := CheckSource(src)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.status.State == Installing {
		return ErrBusy
	}
	i.status = Status{State: Installing, Source: shown, Started: i.opts.Now()}
	i.done = make(chan struct{})
	done := i.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.opts.Timeout)
	i.opts.Log.Info("update: installing", "bundle", shown)
	go func() {
		defer close(done)
		defer cancel()
		out, err := i.opts.Runner.Run(ctx, i.opts.RAUC, "install", src)
		i.finish(shown, out, err)
	}()
	return nil
}

func (i *Installer) finish(shown string, out []byte, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.status.Finished = i.opts.Now()
	if err != nil {
		i.status.State = Failed
		i.status.Err = failure(out, err)
		i.opts.Log.Error("update: install failed", "bundle", shown, "err", i.status.Err)
		return
	}
	i.status.State = Installed
	i.opts.Log.Info("update: installed; the new slot runs after a reboot", "bundle", shown)
}

// failure is the reason to show: RAUC's last line that says "error" or
// "failed", else its last line, else err.
func failure(out []byte, err error) string {
	last, lastErr := "", ""
	for _, l := range strings.Split(string(bytes.ToValidUTF8(out, []byte("?"))), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		last = l
		if low := strings.ToLower(l); strings.Contains(low, "error") || strings.Contains(low, "failed") {
			lastErr = l
		}
	}
	if lastErr != "" {
		last = lastErr
	}
	if len(last) > 200 {
		last = last[:200] + "..."
	}
	if last == "" {
		return err.Error()
	}
	return fmt.Sprintf("%v: %s", err, last)
}

// Status returns the state of the last install.
func (i *Installer) Status() Status {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status
}

// Wait blocks until the running install (if any) ends or ctx is done.
func (i *Installer) Wait(ctx context.Context) error {
	i.mu.Lock()
	done := i.done
	i.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// String is the console's line for s.
func (s Status) String() string {
	switch s.State {
	case Installing:
		return fmt.Sprintf("update: installing %s since %s", s.Source, s.Started.UTC().Format(time.DateTime))
	case Installed:
		return fmt.Sprintf("update: %s installed at %s; reboot to run it (it is kept only if the box then syncs a schedule)", s.Source, s.Finished.UTC().Format(time.DateTime))
	case Failed:
		return fmt.Sprintf("update: %s FAILED at %s: %s", s.Source, s.Finished.UTC().Format(time.DateTime), s.Err)
	default:
		return "update: none since the box started"
	}
}
