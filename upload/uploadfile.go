package upload

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// UploadFileOptions configure UploadFile.
type UploadFileOptions struct {
	QueueOptions
	// WaitReady makes UploadFile follow the entry until it is READY;
	// otherwise it returns once the content is attached.
	WaitReady bool
	// MaxAttempts bounds consecutive transient failures; default 8.
	MaxAttempts int
}

// UploadFile uploads one file now, without the durable queue (for the
// `capturebox upload FILE --title …` command): the same steps as the queue,
// state kept in memory. It returns the entry id. A configuration fault or
// too many transient failures end it with an error.
func UploadFile(ctx context.Context, r Recording, opts UploadFileOptions) (entryID string, err error) {
	if opts.API == nil {
		return "", errors.New("upload: API is nil")
	}
	if r.ID == "" {
		r.ID = "manual-" + uploadFileName(r.Path)
	}
	o := opts.QueueOptions
	o.normalize()
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	fi, err := os.Stat(r.Path)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	now := o.Clock.Now()
	st := itemState{Version: 1, Rec: r, State: StateQueued, Size: fi.Size(), FileName: uploadFileName(r.Path), EnqueuedAt: now}
	var ready string
	eng := &engine{api: o.API, o: &o, log: o.Logger, clock: o.Clock, limiter: o.Limiter, onReady: func(s itemState) { ready = s.EntryID }}
	rt := runtime{firstSeen: now}
	commit := func(next itemState) error { st = next.clone(); return nil }
	failures := 0
	for {
		if st.State == StateReady || (!opts.WaitReady && st.State == StateContentAdded) {
			if ready != "" {
				return ready, nil
			}
			return st.EntryID, nil
		}
		err := eng.step(ctx, st, &rt, commit)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return st.EntryID, ctx.Err()
		}
		var w *waitError
		var itf *itemFault
		switch {
		case errors.As(err, &w):
			if serr := sleep(ctx, o.Clock, w.d); serr != nil {
				return st.EntryID, serr
			}
			continue
		case errors.As(err, &itf):
			return st.EntryID, fmt.Errorf("upload: %w", err)
		case kaltura.Classify(err) == kaltura.ClassConfig:
			return st.EntryID, fmt.Errorf("upload: configuration fault (check %s): %w", settingFor(err), err)
		}
		failures++
		if failures >= opts.MaxAttempts {
			return st.EntryID, fmt.Errorf("upload: giving up after %d attempts (state %s): %w", failures, st.State, err)
		}
		o.Logger.Warn("upload step failed; retrying", "state", st.State, "err", err)
		if serr := sleep(ctx, o.Clock, backoff(failures, o.MinBackoff, o.MaxBackoff, o.Rand)); serr != nil {
			return st.EntryID, serr
		}
	}
}
