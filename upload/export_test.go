package upload

// SetHook installs a crash-simulation hook (tests only).
func (o *QueueOptions) SetHook(h func(point string) error) { o.hook = h }

// ErrCrash is the sentinel a hook returns to simulate a crash.
var ErrCrash = errCrash

// Backoff exposes the backoff computation.
var Backoff = backoff
