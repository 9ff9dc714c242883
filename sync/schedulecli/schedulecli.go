// Package schedulecli is the `capturebox schedule` command: it prints the
// occurrences the box would record, as JSON lines or as a table in local
// time, either from the configured Kaltura or from iCal files.
//
//	capturebox schedule [--config FILE] [--resource ID] [--from RFC3339]
//	    [--to RFC3339] [--json] [--tz ZONE]
//	capturebox schedule --ical FILE [--ical FILE...] [FILE...]
//	    [--resource ID] [--from RFC3339] [--to RFC3339] [--json] [--tz ZONE]
//
// Without --ical it runs the box's own sync once (sync/syncer: the
// configured fetcher, the parser, the plan, with the box's resource and
// window) and prints the plan it made current; nothing is written to the
// box's cache. With --ical it parses the files with the same parser and
// plans them with the same planner over the window given.
//
// # JSON form
//
// One object per occurrence and line, sorted by start (then PRIORITY,
// then id), with these members:
//
//	key               string  the occurrence key (schedule.Occurrence.Key):
//	                          "7341019" for an event Kaltura sent,
//	                          "7341000@20250902T130000Z" for an instance the
//	                          box expanded from series 7341000
//	id                number  the Kaltura event id the recording will carry
//	                          (X-KALTURA-ID; for an expanded instance, the
//	                          series id: there is no event of its own)
//	parent_id         number  X-KALTURA-PARENT-ID, the series id; 0 for a
//	                          single event
//	expanded          bool    true for an instance the box expanded itself
//	title             string  SUMMARY
//	start, end        string  RFC 3339 in UTC ("2025-09-02T13:00:00Z")
//	tzid              string  the IANA zone of the event, "" when UTC
//	template_entry_id string  X-KALTURA-TEMPLATE-ENTRY-ID, "" when none
//	status            number  X-KALTURA-STATUS (1 cancelled, 2 active)
//	status_name       string  "cancelled", "active"
//	type              number  X-KALTURA-TYPE (1 record, 2 live, 3 blackout...)
//	type_name         string  "record", "live", "blackout", ...
//	priority          number  PRIORITY, 0 when undefined
//	record            bool    whether the box records it
//	why               string  why not, when record is false
//	resource_ids      [number]
//	category_ids      [number] X-KALTURA-CATEGORY-IDS, [] when none
//	tags              [string] X-KALTURA-TAGS split on commas, [] when none
//	conflicts_with    [string] keys of recordings that overlap it (omitted
//	                          when none)
//
// Rejected events, expansion problems and parse errors go to stderr.
package schedulecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/sync/syncer"
)

// DefaultWindow is the look-ahead when --to is not given.
const DefaultWindow = 14 * 24 * time.Hour

// MemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit) the
// command's process runs under unless GOMEMLIMIT says otherwise. The
// largest input the parser accepts (10,000 events) keeps about 25 MiB
// live; the runtime's default goal of twice the live heap would take the
// whole process to about 65 MiB, and this keeps it near 45 MiB for the
// same work (scripts/bench-schedule.sh).
const MemoryLimit = 40 << 20

// Env is what the command takes from its caller instead of globals.
type Env struct {
	Now    time.Time      // the default --from, and the sync's clock
	Local  *time.Location // zone of the table; nil is UTC; --tz overrides
	Logger *slog.Logger   // nil discards
	// DefaultConfig is the default of --config.
	DefaultConfig string
	// Remote opens the configured Kaltura for the form without --ical;
	// nil: only --ical works. resource, when not 0, replaces the
	// configured resource (and its parent); window, when not 0, the
	// configured look-ahead.
	Remote func(configPath string, resource int64, window time.Duration) (Remote, error)
}

// Remote is the box's configured schedule source.
type Remote struct {
	Fetcher syncer.Fetcher
	// ResourceID and RoomID are the resources the plan keeps events of,
	// as on the box (syncer.Config): the camera and the room it stands in.
	ResourceID, RoomID int64
	Local              *time.Location // the box's zone (box.timezone)
}

// ErrUsage wraps errors in the command line (exit status 2).
var ErrUsage = errors.New("usage")

// Occurrence is the JSON form of one plan entry (see the package doc).
type Occurrence struct {
	Key             string   `json:"key"`
	ID              int64    `json:"id"`
	ParentID        int64    `json:"parent_id"`
	Expanded        bool     `json:"expanded"`
	Title           string   `json:"title"`
	Start           string   `json:"start"`
	End             string   `json:"end"`
	TZID            string   `json:"tzid"`
	TemplateEntryID string   `json:"template_entry_id"`
	Status          int      `json:"status"`
	StatusName      string   `json:"status_name"`
	Type            int      `json:"type"`
	TypeName        string   `json:"type_name"`
	Priority        int      `json:"priority"`
	Record          bool     `json:"record"`
	Why             string   `json:"why,omitempty"`
	ResourceIDs     []int64  `json:"resource_ids"`
	CategoryIDs     []int64  `json:"category_ids"`
	Tags            []string `json:"tags"`
	Overlaps        int      `json:"overlaps,omitempty"`
	Ahead           []string `json:"ahead,omitempty"`
}

// Occurrences converts a plan to its JSON form, in plan order.
func Occurrences(p plan.Plan) []Occurrence {
	out := make([]Occurrence, 0, len(p.Entries))
	for _, e := range p.Entries {
		out = append(out, occurrence(e))
	}
	return out
}

func occurrence(e plan.Entry) Occurrence {
	return Occurrence{
		Key:             e.Key,
		ID:              e.ReferenceID(),
		ParentID:        e.ParentID,
		Expanded:        e.EventID == 0,
		Title:           e.Title,
		Start:           e.Start.UTC().Format(time.RFC3339),
		End:             e.End.UTC().Format(time.RFC3339),
		TZID:            e.TZID,
		TemplateEntryID: e.TemplateEntryID,
		Status:          int(e.Status),
		StatusName:      plan.StatusName(e.Status),
		Type:            int(e.Type),
		TypeName:        plan.TypeName(e.Type),
		Priority:        e.Priority,
		Record:          e.Record,
		Why:             e.Why,
		ResourceIDs:     nonNil(e.ResourceIDs),
		CategoryIDs:     nonNil(e.CategoryIDs),
		Tags:            splitTags(e.Tags),
		Overlaps:        e.Overlap.Count,
		Ahead:           e.Overlap.Ahead,
	}
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func splitTags(s string) []string {
	out := []string{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// WriteJSON writes one JSON object per occurrence and line.
func WriteJSON(w io.Writer, p plan.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range p.Entries {
		if err := enc.Encode(occurrence(e)); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	return nil
}

// WriteTable writes the plan as a table in loc (nil is UTC), followed by
// the conflicts.
func WriteTable(w io.Writer, p plan.Plan, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tREC\tSTATUS\tTYPE\tKEY\tTITLE")
	for _, e := range p.Entries {
		start, end := e.Start.In(loc), e.End.In(loc)
		endFmt := "15:04 MST"
		if start.YearDay() != end.YearDay() || start.Year() != end.Year() {
			endFmt = "Mon 2006-01-02 15:04 MST"
		}
		rec := "yes"
		if !e.Record {
			rec = "no: " + e.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			start.Format("Mon 2006-01-02 15:04 MST"), end.Format(endFmt), rec,
			plan.StatusName(e.Status), plan.TypeName(e.Type), e.Key, oneLine(e.Title))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if len(p.Entries) == 0 {
		fmt.Fprintln(w, "(no occurrences in the window)")
	}
	for _, e := range p.Entries {
		if e.Overlap.Count == 0 {
			continue
		}
		line := fmt.Sprintf("conflict: %s overlaps %d other recording(s), all recorded", e.Key, e.Overlap.Count)
		if len(e.Overlap.Ahead) > 0 {
			line += "; " + e.Overlap.Ahead[0] + " is primary over it"
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// Load parses the files and returns their events. Rejected events are
// reported to warn as "file:line: ...". A file that fails to parse fails
// the load.
func Load(paths []string, opts icalparse.Options, warn io.Writer) ([]schedule.Event, error) {
	var events []schedule.Event
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
		cal, err := icalparse.Parse(f, opts)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("schedule: %s: %w", path, err)
		}
		for _, r := range cal.Rejected {
			fmt.Fprintf(warn, "%s:%d: event %d rejected: %s\n", path, r.Line, r.EventID, r.Reason)
		}
		if events == nil {
			events = cal.Events // one file: no copy
		} else {
			events = append(events, cal.Events...)
		}
	}
	return events, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Run runs the command with args (without the command name). Errors in
// the command line wrap ErrUsage.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := Flags(fs, env)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return run(ctx, stdout, stderr)
}

// Flags defines the command's flags on fs and returns the command, to be
// run once fs has parsed the arguments. Files may come between flags
// ("--ical a.ics b.ics --json"): the command parses what follows them.
func Flags(fs *flag.FlagSet, env Env) func(ctx context.Context, stdout, stderr io.Writer) error {
	var files multiFlag
	fs.Var(&files, "ical", "Kaltura iCal `file` to read (repeatable; further files may follow the flags)")
	resource := fs.Int64("resource", 0, "the Kaltura resource `id` to plan for (with --ical, 0 is every resource; without, 0 is kaltura.resource_id)")
	fromS := fs.String("from", "", "window start, RFC 3339 `time` (default: now)")
	toS := fs.String("to", "", "window end, RFC 3339 `time` (default: from + 14 days, or sync.window without --ical)")
	asJSON := fs.Bool("json", false, "print one JSON object per occurrence")
	tz := fs.String("tz", "", "IANA `zone` of the table (default: the box's local zone)")
	cfgPath := fs.String("config", env.DefaultConfig, "configuration `file` of the box (without --ical: sync from its Kaltura)")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		for fs.NArg() > 0 {
			files = append(files, fs.Arg(0))
			if err := fs.Parse(fs.Args()[1:]); err != nil {
				return fmt.Errorf("%w: %v", ErrUsage, err)
			}
		}
		return run(ctx, stdout, stderr, env, files, *resource, *fromS, *toS, *asJSON, *tz, *cfgPath)
	}
}

func run(ctx context.Context, stdout, stderr io.Writer, env Env, files []string, resource int64, fromS, toS string, asJSON bool, tz, cfgPath string) error {
	loc := env.Local
	if tz != "" {
		l, err := icalparse.LoadZone(tz)
		if err != nil {
			return fmt.Errorf("%w: --tz: %v", ErrUsage, err)
		}
		loc = l
	}
	if len(files) == 0 {
		if env.Remote == nil {
			return fmt.Errorf("%w: no --ical file given", ErrUsage)
		}
		// The sync's clock is --from (default now); --to sets the window.
		senv := env
		if fromS != "" {
			t, err := time.Parse(time.RFC3339, fromS)
			if err != nil {
				return fmt.Errorf("%w: --from: %v", ErrUsage, err)
			}
			senv.Now = t
		}
		var window time.Duration
		if toS != "" {
			t, err := time.Parse(time.RFC3339, toS)
			if err != nil {
				return fmt.Errorf("%w: --to: %v", ErrUsage, err)
			}
			if window = t.Sub(senv.Now); window <= 0 {
				return fmt.Errorf("%w: --to must be after --from", ErrUsage)
			}
		}
		remote, err := env.Remote(cfgPath, resource, window)
		if err != nil {
			return err
		}
		if tz == "" && remote.Local != nil {
			loc = remote.Local
		}
		p, err := SyncOnce(ctx, remote, senv)
		if err != nil {
			return err
		}
		return write(stdout, stderr, p, asJSON, loc)
	}
	from := env.Now
	if fromS != "" {
		t, err := time.Parse(time.RFC3339, fromS)
		if err != nil {
			return fmt.Errorf("%w: --from: %v", ErrUsage, err)
		}
		from = t
	}
	to := from.Add(DefaultWindow)
	if toS != "" {
		t, err := time.Parse(time.RFC3339, toS)
		if err != nil {
			return fmt.Errorf("%w: --to: %v", ErrUsage, err)
		}
		to = t
	}
	if !to.After(from) {
		return fmt.Errorf("%w: --to must be after --from", ErrUsage)
	}
	events, err := Load(files, icalparse.Options{Logger: env.Logger}, stderr)
	if err != nil {
		return err
	}
	return write(stdout, stderr, plan.Build(events, resource, from, to), asJSON, loc)
}

func write(stdout, stderr io.Writer, p plan.Plan, asJSON bool, loc *time.Location) error {
	for _, pr := range p.Problems {
		fmt.Fprintf(stderr, "event %d: %s\n", pr.EventID, pr.Reason)
	}
	if asJSON {
		return WriteJSON(stdout, p)
	}
	return WriteTable(stdout, p, loc)
}

// SyncOnce runs the box's sync once against remote, with env.Now as a
// trusted clock and a cache that keeps nothing, and returns the plan the
// box would act on.
func SyncOnce(ctx context.Context, remote Remote, env Env) (plan.Plan, error) {
	now := env.Now
	s, err := syncer.New(syncer.Config{
		Fetcher:    remote.Fetcher,
		Store:      noCache{},
		Clock:      func() time.Time { return now },
		ResourceID: remote.ResourceID,
		RoomID:     remote.RoomID,
		Logger:     env.Logger,
	})
	if err != nil {
		return plan.Plan{}, fmt.Errorf("schedule: %w", err)
	}
	snap, err := s.Once(ctx)
	if err != nil {
		return plan.Plan{}, fmt.Errorf("schedule: sync: %w", err)
	}
	return snap.Plan, nil
}

// noCache is the sync's store for the command: the box's last good
// schedule is neither read nor replaced.
type noCache struct{}

func (noCache) Load() (*cache.Entry, error) { return nil, nil }
func (noCache) Save(*cache.Entry) error     { return nil }
