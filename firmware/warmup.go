package firmware

import (
	"context"
	"time"
)

// warmHold is how long past a scheduled start a warm-up keeps the capture
// open for the controller's start to find it running; after that, with
// nothing recording (the lecture cancelled at the last moment), the input
// closes.
const warmHold = time.Minute

// warmRecheck bounds each wait, so that a schedule that changed (a lecture
// added within the warm-up) is seen within it.
const warmRecheck = 5 * time.Second

// warmer is the warm-up subsystem: lead (recording.warmup) before each
// scheduled recording's start (with pre padding, pre) it opens the capture
// input (capture.Recorder.Warm), so that the file begins with the first
// frame at or after the start. What starts when is the plan's answer
// (plan.NextStart); this loop only waits for it.
type warmer struct {
	lead, pre time.Duration
}

func (w warmer) run(b *box) func(context.Context) error {
	return func(ctx context.Context) error { return w.loop(ctx, b) }
}

func (w warmer) loop(ctx context.Context, b *box) error {
	lead, pre := w.lead, w.pre
	if lead <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	var warmed time.Time // the start last warmed for
	for {
		now := time.Now()
		wait := warmRecheck
		if st, ok := b.Schedule().NextStart(now, pre); ok {
			if at := st.Add(-lead); !now.Before(at) {
				if !st.Equal(warmed) {
					if err := b.recorder.Warm(st.Add(warmHold)); err != nil {
						b.log.Warn("cannot warm up the capture", "start", st, "err", err)
					} else {
						warmed = st
					}
				}
				wait = min(wait, st.Sub(now))
			} else {
				wait = min(wait, at.Sub(now))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
