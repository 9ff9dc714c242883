package ledger

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// stepWords says a step that happened.
var stepWords = map[Step]string{
	StepSeen:       "seen in the schedule (sync)",
	StepClock:      "clock trusted at the start",
	StepPreflight:  "pre-flight checks passed",
	StepOpened:     "recording started",
	StepFirstFrame: "first picture recorded",
	StepClosed:     "recording closed and saved",
	StepCollected:  "kept for joining with the lecture's other parts",
	StepJoined:     "the lecture's parts joined into one recording",
	StepQueued:     "queued for upload",
	StepHeld:       "kept on the box, not uploaded",
	StepToken:      "upload started (upload token)",
	StepEntry:      "Kaltura entry created",
	StepReady:      "READY in Kaltura",
	StepUnverified: "delivered to Kaltura but not verified",
	StepUpload:     "upload step",
	StepCategories: "entry published to the template's categories",
}

// notWords says a step that did not happen.
var notWords = map[Step]string{
	StepSeen:       "not recorded",
	StepClock:      "not started",
	StepPreflight:  "pre-flight check failed",
	StepOpened:     "recording not started",
	StepFirstFrame: "no picture recorded",
	StepClosed:     "recording not closed normally",
	StepCollected:  "not kept for the join",
	StepJoined:     "the lecture's parts not joined",
	StepQueued:     "not queued for upload",
	StepHeld:       "kept on the box, not uploaded",
	StepToken:      "upload not started",
	StepEntry:      "no Kaltura entry",
	StepReady:      "not READY in Kaltura",
	StepUnverified: "delivered to Kaltura but not verified",
	StepUpload:     "upload stopped",
	StepCategories: "uploaded, but the entry reaches no course",
}

// ReasonWords says a reason code in plain words, with what to do.
var ReasonWords = map[Reason]string{
	NotInSchedule:      "the event was not in the schedule at the time (removed in Kaltura)",
	Cancelled:          "the event was cancelled in Kaltura",
	BlackedOut:         "a blackout in Kaltura covered the event",
	NotARecording:      "the event is not a recording (its type in Kaltura)",
	ClockUntrusted:     "the clock was not trusted (no time from the network, or off from Kaltura's): check the network and NTP",
	NoSignal:           "no signal from the capture input: check the HDMI cable and the source",
	DiskFull:           "the disk was full: free space or check upload.min_free_space",
	DiskError:          "the disk could not be written: check the SD card",
	Crashed:            "the box crashed or lost power; the file was recovered",
	CredentialsRefused: "Kaltura refused the box's credentials: check kaltura.app_token_id and kaltura.app_token",
	NoCategories:       "the event's template entry has no categories: the entry is in no channel or course",
	StoppedEarly:       "stopped early with the button",
	PreflightFailed:    "", // the record's detail says what to fix
	UploadFault:        "the upload was refused",
	StartFailed:        "the recording could not start",
	FinishFailed:       "the recording could not be closed or queued; the box tries again",
}

// Words says r's step and outcome in plain words, without its time.
func Words(r Record) string {
	var s string
	if r.Reason == "" {
		s = stepWords[r.Step]
		if s == "" {
			s = string(r.Step)
		}
	} else {
		s = notWords[r.Step]
		if s == "" {
			s = string(r.Step)
		}
		why, known := ReasonWords[r.Reason]
		if !known {
			why = strings.ReplaceAll(string(r.Reason), "_", " ")
		}
		if why == "" && r.Detail != "" {
			return s + ": " + r.Detail
		}
		s += ": " + why
	}
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// Explain prints records grouped by event, each event with its title,
// Kaltura id and times, then its steps in order, all in loc.
func Explain(w io.Writer, recs []Record, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	type group struct {
		head Record
		recs []Record
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range recs {
		key := r.Event
		if key == "" {
			key = "rec:" + r.Rec
		}
		g, ok := groups[key]
		if !ok {
			g = &group{head: r}
			groups[key] = g
			order = append(order, key)
		}
		if g.head.Title == "" && r.Title != "" {
			g.head.Title = r.Title
		}
		if g.head.Start.IsZero() && !r.Start.IsZero() {
			g.head.Start, g.head.End = r.Start, r.End
		}
		g.recs = append(g.recs, r)
	}
	if len(order) == 0 {
		_, err := fmt.Fprintln(w, "nothing in the ledger for that")
		return err
	}
	for i, key := range order {
		g := groups[key]
		// Steps in time order (a first frame is written when the file
		// closes, with the frame's time); parts named when there are several.
		slices.SortStableFunc(g.recs, func(a, b Record) int { return a.Time.Compare(b.Time) })
		many, first := false, ""
		for _, r := range g.recs {
			if r.Rec != "" {
				if first == "" {
					first = r.Rec
				} else if r.Rec != first {
					many = true
				}
			}
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, heading(g.head, loc))
		for _, r := range g.recs {
			mark := "  "
			if r.Reason != "" {
				mark = "! "
			}
			line := fmt.Sprintf("  %s %s%s", r.Time.In(loc).Format("Mon 2 Jan 15:04:05"), mark, Words(r))
			if r.Rec != "" && (many || r.Step == StepOpened) {
				line += " [recording " + r.Rec + "]"
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
		if last := g.recs[len(g.recs)-1]; last.Reason != "" {
			why := ReasonWords[last.Reason]
			if why == "" {
				why = last.Detail
			}
			fmt.Fprintf(w, "  why: %s\n", why)
		}
	}
	return nil
}

func heading(r Record, loc *time.Location) string {
	title := r.Title
	if title == "" {
		title = "(untitled)"
	}
	var b strings.Builder
	b.WriteString(title)
	if r.Ref != 0 {
		fmt.Fprintf(&b, ", Kaltura event %d", r.Ref)
	} else if r.Event == "" && r.Rec != "" {
		b.WriteString(", recording " + r.Rec)
	}
	if !r.Start.IsZero() {
		s := r.Start.In(loc)
		b.WriteString(", " + s.Format("Mon 2 Jan 2006 15:04"))
		if !r.End.IsZero() {
			b.WriteString("-" + r.End.In(loc).Format("15:04"))
		}
	}
	return b.String()
}

// Why prints what the ledger knows of what (an event: its Kaltura id or
// the box's occurrence key; or a day: "today", "yesterday" or YYYY-MM-DD;
// "" is today), in now's location.
func (l *Ledger) Why(w io.Writer, what string, now time.Time) error {
	loc := now.Location()
	var recs []Record
	var err error
	switch what = strings.TrimSpace(what); strings.ToLower(what) {
	case "", "today":
		recs, err = l.Day(now)
	case "yesterday":
		recs, err = l.Day(now.AddDate(0, 0, -1))
	default:
		if d, perr := time.ParseInLocation("2006-01-02", what, loc); perr == nil {
			recs, err = l.Day(d)
			break
		}
		if !validID(what) {
			return fmt.Errorf("want an event id (a number from Kaltura), a date (YYYY-MM-DD), today or yesterday; got %q", what)
		}
		recs, err = l.Event(what)
	}
	if err != nil {
		return err
	}
	return Explain(w, recs, loc)
}

// validID accepts a Kaltura event id or an occurrence key
// ("<series>@20060102T150405Z").
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r == '@') {
			return false
		}
	}
	return true
}
