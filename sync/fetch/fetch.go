// Package fetch downloads the box's Kaltura schedule as raw iCal, either over
// HTTPS with schedule_scheduleevent.list (kaltura.md §1, §2) or from
// Kaltura's FTP front (kaltura.md §7), and proves that what it returns is
// the complete listing: every page fetched, the X-KALTURA-TOTAL-COUNT
// stable across pages, and the number of distinct X-KALTURA-IDs equal to
// that total. A fetch either returns a complete Listing or an error; it
// never returns part of a schedule presented as the whole.
//
// Parsing is not done here: a Listing holds the raw pages (one per API page,
// or one per FTP file) for the parser (sync/icalparse). The fetchers only
// scan each page lightly for the event ids, DTSTAMPs, the total count and
// VERROR blocks, which is enough to check completeness.
//
// Times sent to Kaltura are absolute Unix seconds computed from the trusted
// clock passed in Request.Now, never relative values (kaltura.md §2: with
// relative time switched off for a partner, a relative window silently
// returns an empty schedule).
package fetch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/sync/icalparse"
)

// Defaults shared by both fetchers.
const (
	// DefaultWindow is the look-ahead window (design.md §2).
	DefaultWindow = 14 * 24 * time.Hour
	// PageSize is the largest page Kaltura serves (kaltura.md §2).
	PageSize = 500
	// MaxMatches is the server's offset limit: a page starting at offset
	// 10,000 or beyond fails with QUERY_EXCEEDED_MAX_MATCHES_ALLOWED.
	MaxMatches = 10000
	// DefaultMaxBytes caps one response (an API page or an FTP file): no
	// more than the schedule parser reads (one limit).
	DefaultMaxBytes = icalparse.DefaultMaxBytes
	// DefaultTimeout bounds one request (one page, or one FTP command).
	DefaultTimeout = 60 * time.Second
	// minAbsoluteTime is the smallest Unix time Kaltura does not treat as
	// relative (ten years, max_relative_time). A trusted clock is always
	// far beyond it; a clock below it has not been set.
	minAbsoluteTime = 315360000
)

// Request is one fetch.
type Request struct {
	// Now is the current time from the TRUSTED clock. The window starts
	// here. A zero or pre-1980 time is refused (ErrClockNotSet).
	Now time.Time
	// Previous is the FTP file index of the last good sync (Listing.Files),
	// so that unchanged files are not downloaded again. HTTPS ignores it.
	Previous []File
	// FTPService is the FTP service spelling that worked last time
	// (Listing.FTPService); "" tries both. HTTPS ignores it.
	FTPService string
	// OnPage, when set, receives each page of the listing as soon as it
	// has been received and scanned, so that the caller can start parsing
	// it while the next page downloads. It is called from the goroutine
	// running Fetch and must return quickly. A page passed to it is not
	// necessarily in the Listing returned (a listing that moved while
	// being paged is paged again; a fetch can fail): treat it as a head
	// start only, matched to the listing by content. The page is shared:
	// never modify it. HTTPS calls it; FTP does not.
	OnPage func(Page)
}

// Listing is a complete listing of the schedule for a window.
type Listing struct {
	// Transport is "https" or "ftp".
	Transport string
	// Source describes where the listing came from, without secrets
	// (e.g. "https://www.kaltura.com resource 58").
	Source string
	// From and To bound the window that was listed: events ending at or
	// after From and starting at or before To. To may be earlier than
	// requested when the window was narrowed (HTTPSOptions.NarrowOnOverflow).
	From, To time.Time
	// Total is the number of events: X-KALTURA-TOTAL-COUNT over HTTPS,
	// the number of .ics files over FTP. It equals the number of distinct
	// ids in Pages.
	Total int
	// Pages are the raw iCal bodies, in order.
	Pages []Page
	// Files is the FTP file index (with bodies) to pass back as
	// Request.Previous next time; nil over HTTPS.
	Files []File
	// FTPService is the FTP service spelling that worked.
	FTPService string
	// Stats describe the work done.
	Stats Stats
}

// Stats count the work of one fetch.
type Stats struct {
	Requests   int   // API calls or FTP LIST/RETR commands
	Bytes      int64 // body bytes received (decompressed)
	Relists    int   // complete re-listings because the data moved while paging
	Downloaded int   // FTP files retrieved
	Reused     int   // FTP files unchanged and taken from Previous
}

// IDs returns the distinct event ids of the listing, sorted.
func (l *Listing) IDs() []int64 {
	seen := make(map[int64]struct{}, l.Total)
	out := make([]int64, 0, l.Total)
	for _, p := range l.Pages {
		for _, id := range p.IDs {
			if _, ok := seen[id]; !ok {
				seen[id] = struct{}{}
				out = append(out, id)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Page is one raw iCal document: an API page or an FTP file.
type Page struct {
	// Name is "page N" or the FTP file name.
	Name string
	// Body is the iCal text as received (decompressed).
	Body []byte
	// IDs are the X-KALTURA-IDs of the VEVENTs in Body, in order.
	IDs []int64
	// Spans are the byte ranges of those VEVENTs in Body (BEGIN:VEVENT to
	// the end of the END:VEVENT line), in the same order: a consumer may
	// skip re-parsing an event whose bytes did not change.
	Spans []Span

	stamps []string // per id: DTSTAMP/SEQUENCE, for the verification
}

// Span is the byte range Body[Start:End] of the VEVENT with this id.
type Span struct {
	ID         int64
	Start, End int
}

// File is one entry of the FTP file index.
type File struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Body is the file's content at that size and time.
	Body string `json:"body"`
}

// Errors. Match them with errors.Is; the wrapping errors carry details.
var (
	// ErrIncomplete means the listing could not be proven complete: a total
	// count missing, changing between pages, or not matching the ids
	// collected, or a short page. The fetch is not usable.
	ErrIncomplete = errors.New("incomplete listing")
	// ErrTooManyEvents means the window holds more events than the server
	// lets a client page through (MaxMatches).
	ErrTooManyEvents = errors.New("more events than the server can list")
	// ErrClockNotSet means Request.Now is not a trustworthy absolute time.
	ErrClockNotSet = errors.New("clock not set: refusing to compute a window")
	// ErrTooLarge means a response exceeded its size cap.
	ErrTooLarge = errors.New("response exceeds size cap")
)

// IncompleteError says why a listing is not complete. It matches
// ErrIncomplete with errors.Is.
type IncompleteError struct {
	Reason string
	// Total is the announced total (-1 when none), Got the distinct ids
	// collected.
	Total, Got int
}

// Error implements error.
func (e *IncompleteError) Error() string {
	return fmt.Sprintf("incomplete listing: %s (total %d, got %d)", e.Reason, e.Total, e.Got)
}

// Is makes errors.Is(err, ErrIncomplete) true.
func (e *IncompleteError) Is(target error) bool { return target == ErrIncomplete }

// PageError is a failure of one page (or FTP file); it wraps the cause,
// which may be a *kaltura.APIError (including a VERROR block).
type PageError struct {
	Page string
	Err  error
}

// Error implements error.
func (e *PageError) Error() string { return "fetching " + e.Page + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PageError) Unwrap() error { return e.Err }

// checkNow validates the trusted time.
func checkNow(now time.Time) error {
	if now.IsZero() || now.Unix() <= minAbsoluteTime {
		return ErrClockNotSet
	}
	return nil
}

// Filter is the scheduleEvent filter both transports send (kaltura.md §2).
type Filter struct {
	// ResourceID is the box's camera resource: events booked on it are the
	// box's (resourceIdsLike; it also matches occurrences whose series is
	// booked there). Required.
	ResourceID int64
	// ParentResourceID is the room (LOCATION resource) the camera stands
	// in, or 0: events booked on the room are the box's too, so the filter
	// becomes resourceIdsMultiLikeOr=<camera>,<room> (kaltura.md §8).
	// Never parentResourceIdsLike, which matches events booked on a
	// sibling camera of the room and misses those booked on the room.
	ParentResourceID int64
	// AllTypes lists every event type (KalturaScheduleEventFilter), which is
	// needed to see blackouts; false lists record events only
	// (KalturaRecordScheduleEventFilter, the recommended query).
	AllTypes bool
	// RecurrenceTypes is recurrenceTypeIn. Default: 0 (NONE, single events)
	// and 2 (RECURRENCE, the concrete occurrences the server stores), so the
	// listing holds concrete instances only and nothing needs expanding;
	// series rows (1) are left out. Add 1 only with a parser that expands
	// series whose occurrences are missing.
	RecurrenceTypes []int
	// Statuses is statusIn. Default 1,2 (CANCELLED, ACTIVE): cancelled
	// events are shown, never recorded. DELETED events never come back.
	Statuses []int
}

func (f Filter) validate() error {
	if f.ResourceID <= 0 {
		return errors.New("fetch: the camera resource id (ResourceID) must be set")
	}
	if f.ParentResourceID < 0 {
		return errors.New("fetch: negative room resource id")
	}
	if f.ParentResourceID == f.ResourceID {
		return errors.New("fetch: the room resource id is the camera's")
	}
	return nil
}

// params returns the filter as ordered key/value pairs (without "filter:").
// from and to are absolute times.
func (f Filter) params(from, to time.Time) [][2]string {
	objType := "KalturaRecordScheduleEventFilter"
	if f.AllTypes {
		objType = "KalturaScheduleEventFilter"
	}
	rt := f.RecurrenceTypes
	if len(rt) == 0 {
		rt = []int{0, 2}
	}
	st := f.Statuses
	if len(st) == 0 {
		st = []int{1, 2}
	}
	out := [][2]string{{"objectType", objType}}
	if f.ParentResourceID == 0 {
		out = append(out, [2]string{"resourceIdsLike", strconv.FormatInt(f.ResourceID, 10)})
	} else {
		out = append(out, [2]string{"resourceIdsMultiLikeOr", strconv.FormatInt(f.ResourceID, 10) + "," + strconv.FormatInt(f.ParentResourceID, 10)})
	}
	out = append(out,
		[2]string{"recurrenceTypeIn", joinInts(rt)},
		[2]string{"statusIn", joinInts(st)},
		[2]string{"endDateGreaterThanOrEqual", strconv.FormatInt(from.Unix(), 10)},
		[2]string{"startDateLessThanOrEqual", strconv.FormatInt(to.Unix(), 10)},
		[2]string{"orderBy", "+startDate"},
	)
	return out
}

func (f Filter) describe() string {
	if f.ParentResourceID == 0 {
		return "resource " + strconv.FormatInt(f.ResourceID, 10)
	}
	return "resource " + strconv.FormatInt(f.ResourceID, 10) + " or its room " + strconv.FormatInt(f.ParentResourceID, 10)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// ctxErr returns the context's error, if any, so cancellation is reported
// as such rather than as a page failure.
func ctxErr(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
