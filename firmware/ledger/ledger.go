// Package ledger is the box's event ledger: for every occurrence the box
// knew about, each step it took (seen in a sync, clock trusted, recording
// started, first picture, closed, queued, upload token, entry, READY) with
// its time, and where a step did not happen, a reason code (cancelled,
// blacked out, clock not trusted, no signal, disk full, ...). `capturebox
// why` reads it back in plain words.
//
// The ledger is an append-only set of segment files of one JSON record per
// line under a folder of the data partition. A segment is closed when it
// reaches SegmentBytes and the oldest segments are deleted when the folder
// holds more than MaxBytes, so the ledger never grows past MaxBytes plus
// one segment. Every record is written with one write(2) and fsynced:
// steps are rare (a dozen per lecture, a handful of lectures a day), so the
// cost is nothing and a power cut loses at most the record being written.
// A torn last line (power lost mid-write) is skipped by the reader and
// closed with a newline before the next append. Nothing is ever rewritten
// in place; deleting a segment syncs the folder (hal/atomicfile.SyncDir).
package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// Step is one thing the box does for an occurrence.
type Step string

// The steps, in the order they happen.
const (
	StepSeen       Step = "seen"        // seen in a sync
	StepClock      Step = "clock"       // clock trusted at the start
	StepPreflight  Step = "preflight"   // pre-flight checks before the start
	StepOpened     Step = "opened"      // recording pipeline opened
	StepFirstFrame Step = "first_frame" // first frame recorded
	StepClosed     Step = "closed"      // file closed and synced
	StepCollected  Step = "collected"   // a part kept for its lecture's join
	StepJoined     Step = "joined"      // the lecture's parts joined into one recording
	StepQueued     Step = "queued"      // in the upload queue
	StepHeld       Step = "held"        // kept on the box, not uploaded
	StepToken      Step = "token"       // upload token created
	StepEntry      Step = "entry"       // Kaltura entry created
	StepReady      Step = "ready"       // the entry is READY
	StepUnverified Step = "unverified"  // delivered, not verified
	StepUpload     Step = "upload"      // an upload step was refused
	StepCategories Step = "categories"  // the entry's categories (from the template)
)

// Reason is why a step did not happen.
type Reason string

// The reason codes.
const (
	NotInSchedule      Reason = "not_in_schedule"
	Cancelled          Reason = "cancelled"
	BlackedOut         Reason = "blacked_out"
	NotARecording      Reason = "not_a_recording"
	ClockUntrusted     Reason = "clock_untrusted"
	NoSignal           Reason = "no_signal"
	DiskFull           Reason = "disk_full"
	DiskError          Reason = "disk_error"
	Crashed            Reason = "crashed_recovered"
	CredentialsRefused Reason = "credentials_refused"
	NoCategories       Reason = "template_without_categories"
	StoppedEarly       Reason = "stopped_early"
	PreflightFailed    Reason = "preflight_failed"
	UploadFault        Reason = "upload_fault"
	StartFailed        Reason = "start_failed"
	FinishFailed       Reason = "finish_failed"
)

// Reasons lists every reason code, so that a test can hold each one to a
// full-flow test that makes it happen (firmware's
// TestEveryReasonHasAFullFlowTest) and to its words (ReasonWords).
var Reasons = []Reason{
	NotInSchedule, Cancelled, BlackedOut, NotARecording, ClockUntrusted, NoSignal, DiskFull, DiskError,
	Crashed, CredentialsRefused, NoCategories, StoppedEarly, PreflightFailed, UploadFault, StartFailed, FinishFailed,
}

// Record is one line of the ledger. Event, Ref, Title and Start describe
// the occurrence (Event is the box's occurrence key; "" for a recording
// the ledger does not know); Rec is the recording, when there is one.
// Reason is "" when the step happened.
type Record struct {
	Time   time.Time `json:"t"`
	Event  string    `json:"k,omitempty"`
	Ref    int64     `json:"e,omitempty"`
	Title  string    `json:"n,omitempty"`
	Start  time.Time `json:"s,omitzero"`
	End    time.Time `json:"x,omitzero"`
	Rec    string    `json:"r,omitempty"`
	Step   Step      `json:"st"`
	Reason Reason    `json:"why,omitempty"`
	Detail string    `json:"d,omitempty"`
}

// Options bound the ledger.
type Options struct {
	// SegmentBytes closes a segment at this size (default 256 KiB).
	SegmentBytes int64
	// MaxBytes is the most the closed segments keep; the oldest go first
	// (default 4 MiB).
	MaxBytes int64
	Logger   *slog.Logger

	noSync bool // tests that build a year of records
}

// DefaultMaxBytes and DefaultSegmentBytes bound a ledger by default: a
// year of four lectures a day takes about 3 MB (TestYearFits).
const (
	DefaultMaxBytes     = 4 << 20
	DefaultSegmentBytes = 256 << 10
	maxLine             = 4 << 10 // a longer record is cut (Detail)
)

// Ledger appends records and reads them back. It is safe for concurrent use.
type Ledger struct {
	dir string
	o   Options

	mu   sync.Mutex
	f    *os.File
	size int64
	// recs maps a recording id to the occurrence it records, so that
	// upload steps (which know only the recording) find their event.
	recs map[string]Record
}

const suffix = ".jsonl"

// Open opens the ledger in dir; the folder is made at the first record,
// so the command line can read a ledger without writing anything.
func Open(dir string, o Options) (*Ledger, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{dir: dir, o: o, recs: map[string]Record{}}
	recs, err := l.scan(nil)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		l.index(r)
	}
	return l, nil
}

// Close closes the current segment.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func (l *Ledger) index(r Record) {
	if r.Rec == "" || r.Event == "" {
		return
	}
	if _, ok := l.recs[r.Rec]; !ok {
		l.recs[r.Rec] = Record{Event: r.Event, Ref: r.Ref, Title: r.Title, Start: r.Start, End: r.End}
	}
}

// segments lists the segment files, oldest first (names sort by time).
func (l *Ledger) segments() ([]string, error) {
	ents, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Add appends r, filling the occurrence of a recording the ledger knows
// from an earlier record. A zero Time is an error: time is the caller's.
func (l *Ledger) Add(r Record) error {
	if r.Time.IsZero() {
		return errors.New("ledger: record without a time")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Rec != "" && r.Event == "" {
		if k, ok := l.recs[r.Rec]; ok {
			r.Event, r.Ref, r.Start, r.End = k.Event, k.Ref, k.Start, k.End
			if r.Title == "" {
				r.Title = k.Title
			}
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if len(line) > maxLine {
		r.Detail = r.Detail[:max(0, len(r.Detail)-(len(line)-maxLine))]
		if line, err = json.Marshal(r); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	line = append(line, '\n')
	if err := l.open(r.Time, int64(len(line))); err != nil {
		return err
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("ledger: append: %w", err)
	}
	l.size += int64(len(line))
	if l.o.noSync {
	} else if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger: sync: %w", err)
	}
	l.index(r)
	return nil
}

// open makes sure a segment with room for n more bytes is open.
func (l *Ledger) open(t time.Time, n int64) error {
	if l.f != nil && l.size+n <= l.o.SegmentBytes {
		return nil
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
		return l.create(t)
	}
	segs, err := l.segments()
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return l.create(t)
	}
	last := filepath.Join(l.dir, segs[len(segs)-1])
	f, err := os.OpenFile(last, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	size := st.Size()
	if size > 0 {
		// A torn last line (a power cut mid-write) is closed, so the next
		// record starts on a line of its own.
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, size-1); err == nil && b[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("ledger: %w", err)
			}
			size++
		}
	}
	if size+n > l.o.SegmentBytes {
		f.Close()
		return l.create(t)
	}
	l.f, l.size = f, size
	return nil
}

// create starts a new segment named after t (made unique), then deletes
// the oldest segments over MaxBytes.
func (l *Ledger) create(t time.Time) error {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	segs, err := l.segments()
	if err != nil {
		return err
	}
	name := t.UTC().Format("20060102T150405.000000000Z") + suffix
	if len(segs) > 0 && name <= segs[len(segs)-1] {
		// The clock went back (or was not trusted yet): keep the order.
		name = strings.TrimSuffix(segs[len(segs)-1], suffix) + "+" + suffix
	}
	f, err := os.OpenFile(filepath.Join(l.dir, name), os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: new segment: %w", err)
	}
	l.f, l.size = f, 0
	var total int64
	for i := len(segs) - 1; i >= 0; i-- {
		p := filepath.Join(l.dir, segs[i])
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		total += st.Size()
		if total > l.o.MaxBytes {
			if err := os.Remove(p); err != nil {
				l.o.Logger.Warn("ledger: deleting an old segment", "file", p, "err", err)
			}
		}
	}
	return atomicfile.SyncDir(atomicfile.OS, l.dir)
}

// scan reads every record that keep accepts (nil: all), oldest first.
// want, when set, is a cheap filter on the raw line before it is decoded.
func (l *Ledger) scan(want func(line []byte) bool) ([]Record, error) {
	segs, err := l.segments()
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, s := range segs {
		f, err := os.Open(filepath.Join(l.dir, s))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted by a rotation meanwhile
			}
			return nil, fmt.Errorf("ledger: %w", err)
		}
		out, err = readSegment(f, want, out)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ledger: %s: %w", s, err)
		}
	}
	return out, nil
}

func readSegment(r io.Reader, want func([]byte) bool, out []Record) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 2*maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || (want != nil && !want(line)) {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil || rec.Time.IsZero() {
			continue // a torn line
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return out, err
	}
	return out, nil
}

// Event returns the records of one event: id is the occurrence key or the
// Kaltura event id (a series id matches the instances the box expanded).
func (l *Ledger) Event(id string) ([]Record, error) {
	keyPat := []byte(`"k":` + quote(id))
	refPat := []byte(`"e":` + id + `,`)
	recs, err := l.scan(func(line []byte) bool {
		return bytes.Contains(line, keyPat) || bytes.Contains(line, refPat)
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// Day returns the records of the events that start on the local day of
// day (in day's location), and of records made that day without an
// event, oldest first.
func (l *Ledger) Day(day time.Time) ([]Record, error) {
	loc := day.Location()
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 1)
	// A local day is one or two UTC dates: a cheap look at the raw line
	// before it is decoded.
	var pats [][]byte
	for d := from.UTC(); d.Before(to); d = d.Add(time.Hour) {
		p := []byte(`"` + d.Format("2006-01-02T"))
		if !slices.ContainsFunc(pats, func(q []byte) bool { return bytes.Equal(p, q) }) {
			pats = append(pats, p)
		}
	}
	recs, err := l.scan(func(line []byte) bool {
		for _, p := range pats {
			if bytes.Contains(line, p) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		t := r.Start
		if t.IsZero() {
			t = r.Time
		}
		if !t.Before(from) && t.Before(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

// All returns every record, oldest first (the box rebuilds what it
// remembers of the schedule from it at start).
func (l *Ledger) All() ([]Record, error) { return l.scan(nil) }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
