package firmware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/plan"
)

// A pre-flight runs recording.preflight before each scheduled start (and
// again at each ledger tick until the start while it fails): the clock is
// trusted, the disk has room for the projected recording (the disk
// guard's Room), the Kaltura session is valid, the schedule is fresh, and
// the capture input had a signal when last seen (the capture is closed
// while idle: an input unplugged since is found at the start), and the
// sound input is not silent (preflightListen of it, below the recorder's
// silence level: "NO SOUND"). A failure is a "preflight" fault, so the pre-start slow blink becomes the fault
// blink and the display and console say what to fix while there is time;
// it clears once the checks pass or the event starts. Each outcome is in
// the ledger.

// lastGoodSync is when the box last had a good schedule: this run's last
// good sync, or the fetch of the schedule it loaded from its cache.
func (b *box) lastGoodSync() time.Time {
	st := b.syncer.Status()
	last := st.LastSuccess
	if st.FetchedAt.After(last) {
		last = st.FetchedAt
	}
	return last
}

// scheduleAge shows the "schedule" fault while the last good sync is
// older than sync.max_age (bl.maxAge; 0: never).
func (bl *boxLedger) scheduleAge(now time.Time) {
	b := bl.b
	if bl.maxAge <= 0 {
		return
	}
	last := b.lastGoodSync()
	if last.IsZero() {
		last = bl.since // no schedule yet: counted from the box's start
	}
	if now.Sub(last) > bl.maxAge {
		b.faults.set("schedule", "SCHEDULE OLD")
		return
	}
	b.faults.clear("schedule")
}

// staleAfter is how old the last good sync may be at a pre-flight.
func (b *box) staleAfter() time.Duration {
	return max(10*b.cfg.Sync.Interval, 30*time.Minute)
}

// preflightCheck is one check: it returns what to fix, or "".
type preflightCheck struct {
	name string
	// fault heads the fault's text when this check fails first; ""
	// is "PREFLIGHT".
	fault string
	run   func(ctx context.Context, b *box, e plan.Entry, now time.Time) string
}

// preflightListen is how long the pre-flight listens to the sound input.
const preflightListen = 2 * time.Second

var preflightChecks = []preflightCheck{
	{"clock", "", func(_ context.Context, b *box, _ plan.Entry, _ time.Time) string {
		if !b.trust.Trusted() {
			if why := b.trust.why(); why != "" {
				return "the clock is not trusted: " + why + ": check NTP"
			}
			return "the clock is not trusted: check the network and NTP"
		}
		return ""
	}},
	{"disk", "", func(_ context.Context, b *box, e plan.Entry, _ time.Time) string {
		d := e.End.Sub(e.Start) + b.cfg.Recording.PrePadding + b.cfg.Recording.PostPadding
		ok, short, err := b.guard.Room(d)
		switch {
		case err != nil:
			return "the disk cannot be read: " + err.Error()
		case !ok:
			return fmt.Sprintf("no room on the disk for %s of recording: %d MB short (free space, upload.min_free_space)", clock(d), (short+999_999)/1_000_000)
		}
		return ""
	}},
	{"session", "", func(ctx context.Context, b *box, _ plan.Entry, _ time.Time) string {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := b.session.KS(ctx); err != nil {
			return "no Kaltura session: check kaltura.app_token_id, kaltura.app_token and the network (" + err.Error() + ")"
		}
		if p := b.queue.Paused(); p != nil {
			return "Kaltura refuses the uploads: check " + p.Setting
		}
		return ""
	}},
	{"schedule", "", func(_ context.Context, b *box, _ plan.Entry, now time.Time) string {
		last := b.lastGoodSync()
		if last.IsZero() || now.Sub(last) > b.staleAfter() {
			return "the schedule is not fresh: last good sync " + b.when(last) + "; check the network and Kaltura"
		}
		return ""
	}},
	{"signal", "", func(_ context.Context, b *box, _ plan.Entry, _ time.Time) string {
		if h := b.recorder.Health(); !h.Signal {
			return "no signal from the capture input: check the HDMI cable and the source"
		}
		return ""
	}},
	{"sound", "NO SOUND", soundCheck},
}

// soundCheck listens to the sound input for preflightListen. It is not
// run without a sound input, while the recorder holds the input (a
// recording or a warm-up: only one stream is open at a time; the
// recording notes its own silences), nor so close to the start that the
// warm-up or the recording would find the input busy.
func soundCheck(ctx context.Context, b *box, e plan.Entry, now time.Time) string {
	start := e.Start.Add(-b.cfg.Recording.PrePadding)
	if b.dev.Audio == nil || b.recorder.Capturing() || start.Sub(now) <= b.warm.lead+preflightListen+time.Second {
		return ""
	}
	level, err := capture.Listen(ctx, b.dev.Audio, preflightListen)
	switch {
	case ctx.Err() != nil:
		return "" // the box is stopping
	case errors.Is(err, hal.ErrNoSignal):
		return "no sound input: check the microphone and its cable"
	case err != nil:
		return "the sound input cannot be read: " + err.Error()
	case capture.Silent(level, 0):
		return fmt.Sprintf("the sound input is silent (below %g dBFS for %s): check the microphone, its cable and its mute switch", capture.DefaultSilenceLevel, preflightListen)
	}
	return ""
}

// preflight runs the checks for the events whose padded start is within
// recording.preflight of now.
func (bl *boxLedger) preflight(ctx context.Context, now time.Time) {
	b := bl.b
	lead := bl.lead
	s := b.syncer.Current()
	if lead <= 0 || s == nil {
		return
	}
	var failed []string
	for _, e := range s.Plan.Entries {
		start := e.Start.Add(-b.cfg.Recording.PrePadding)
		if !e.Record || now.Before(start.Add(-lead)) || !now.Before(start) {
			continue
		}
		var problems, names []string
		for _, c := range preflightChecks {
			if p := c.run(ctx, b, e, now); p != "" {
				problems = append(problems, p)
				names = append(names, c.name)
				head := c.fault
				if head == "" {
					head = "PREFLIGHT"
				}
				failed = append(failed, head+" "+p)
			}
		}
		r := occRecord(e.Occurrence, ledger.StepPreflight)
		r.Time = now
		if len(problems) > 0 {
			r.Reason, r.Detail = ledger.PreflightFailed, strings.Join(problems, "; ")
			b.log.Error("pre-flight check failed", "event", e.Key, "title", e.Title, "start", start, "fix", r.Detail)
		}
		bl.mu.Lock()
		// Written when what fails changes (the words hold times that do).
		which := strings.Join(names, " ")
		last, seen := bl.preflights[e.Key]
		bl.preflights[e.Key] = which
		bl.mu.Unlock()
		if !seen || last != which {
			bl.add(r)
		}
	}
	if len(failed) > 0 {
		b.faults.set("preflight", failed[0])
	} else {
		b.faults.clear("preflight")
	}
}
