package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// Caller makes one raw Kaltura API call; *kaltura.Client satisfies it. The
// call must turn a VERROR block or a JSON KalturaAPIException into a
// *kaltura.APIError, cap the reply at req.MaxBytes (kaltura.ErrTooLarge)
// and decompress a gzip reply.
type Caller interface {
	CallRaw(ctx context.Context, ks string, req kaltura.RawRequest) (*kaltura.RawResponse, error)
}

// KSSource hands out the KS of the shared app-token session. The session
// owns renewal: the fetcher calls Invalidate with a KS the server refused
// as expired or revoked (INVALID_KS EXPIRED/LOGOUT), then KS again for a
// fresh one.
type KSSource interface {
	KS(ctx context.Context) (string, error)
	Invalidate(ks string)
}

// HTTPSOptions configure an HTTPS fetcher.
type HTTPSOptions struct {
	Caller  Caller
	Session KSSource
	Filter  Filter
	// Window is the look-ahead from Request.Now; default DefaultWindow.
	Window time.Duration
	// MaxBytes caps one page's (decompressed) reply; default
	// DefaultMaxBytes (the parser's limit). MaxTotalBytes caps the sum over a listing;
	// default 4×MaxBytes.
	MaxBytes, MaxTotalBytes int64
	// Timeout bounds one page request; default DefaultTimeout.
	Timeout time.Duration
	// PageSize is the number of events asked for per page, 1 to PageSize
	// (the server's maximum, and the default). Smaller pages make more
	// requests of smaller replies (config sync.page_size).
	PageSize int
	// MaxRelists is how many times a listing that moved while it was being
	// paged is started again before giving up; default 3.
	MaxRelists int
	// NarrowOnOverflow: when the window holds more than MaxMatches events,
	// halve the window (down to one day) until it fits and return a
	// complete listing of the narrower window (Listing.To says where it
	// ends). Without it, such a window fails with ErrTooManyEvents.
	NarrowOnOverflow bool
	// VerifyMargin: after a multi-page listing, events updated since
	// (start of the listing − VerifyMargin) are listed again to prove that
	// nothing moved while paging (see Fetch). Default 10 min; it covers a
	// server clock behind the box's.
	VerifyMargin time.Duration
	Logger       *slog.Logger
}

// HTTPS fetches the schedule with schedule_scheduleevent.list&format=ical.
type HTTPS struct {
	opts HTTPSOptions
	log  *slog.Logger
}

// NewHTTPS returns an HTTPS fetcher.
func NewHTTPS(opts HTTPSOptions) (*HTTPS, error) {
	if opts.Caller == nil || opts.Session == nil {
		return nil, errors.New("fetch: HTTPS needs a Caller and a Session")
	}
	if err := opts.Filter.validate(); err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxTotalBytes <= 0 {
		opts.MaxTotalBytes = 4 * opts.MaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PageSize <= 0 || opts.PageSize > PageSize {
		opts.PageSize = PageSize
	}
	if opts.MaxRelists <= 0 {
		opts.MaxRelists = 3
	}
	if opts.VerifyMargin <= 0 {
		opts.VerifyMargin = 10 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HTTPS{opts: opts, log: log}, nil
}

// errMoved marks a listing that changed under the pager; Fetch starts over.
type errMoved struct{ reason string }

func (e *errMoved) Error() string { return "listing moved while paging: " + e.reason }

// Fetch lists every event of the window [req.Now, req.Now+Window].
//
// Completeness: page 1 gives X-KALTURA-TOTAL-COUNT (required); every later
// page must announce the same total; the pages are fetched until the
// total is covered; and the distinct ids collected must equal the total.
// Events can shift between pages while paging (an insert, a deletion, an
// edit that changes a start date), so when the total changes, or the ids
// do not add up, the whole window is listed again (up to MaxRelists).
// A deletion plus an insertion during paging can keep the total and the
// count right while one event is skipped; to close that gap, a listing
// of more than one page is followed by a query for events updated since
// shortly before it started: every event returned must be in the listing
// with the same DTSTAMP, and when there are any, a second complete listing
// must see the same set (inserts and edits show up there; deletions change
// the total).
//
// Over MaxMatches events: ErrTooManyEvents, or a narrower window with
// NarrowOnOverflow. Errors of a page are *PageError wrapping the cause
// (a *kaltura.APIError for API errors and VERROR blocks). An INVALID_KS
// EXPIRED or LOGOUT invalidates the KS and retries that page once.
func (h *HTTPS) Fetch(ctx context.Context, req Request) (*Listing, error) {
	if err := checkNow(req.Now); err != nil {
		return nil, err
	}
	from := req.Now.Truncate(time.Second)
	to := from.Add(h.opts.Window)
	st := &Stats{}
	for {
		l, err := h.listWindow(ctx, from, to, st, req.OnPage)
		if err == nil {
			l.Stats = *st
			return l, nil
		}
		if errors.Is(err, ErrTooManyEvents) && h.opts.NarrowOnOverflow && to.Sub(from) > 24*time.Hour {
			nt := from.Add(max(to.Sub(from)/2, 24*time.Hour))
			h.log.Warn("schedule window holds too many events; narrowing it", "from", from, "to", nt)
			to = nt
			continue
		}
		return nil, err
	}
}

// listWindow lists [from, to] completely, re-listing when data moved.
func (h *HTTPS) listWindow(ctx context.Context, from, to time.Time, st *Stats, onPage func(Page)) (*Listing, error) {
	var lastErr error
	var prevDelta map[int64]string
	for attempt := 0; attempt <= h.opts.MaxRelists; attempt++ {
		if attempt > 0 {
			st.Relists++
			h.log.Info("re-listing schedule", "attempt", attempt+1, "reason", lastErr)
		}
		l, err := h.listOnce(ctx, from, to, st, onPage)
		var moved *errMoved
		if errors.As(err, &moved) {
			lastErr = err
			prevDelta = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(l.Pages) <= 1 {
			return l, nil // one page is one atomic reply
		}
		delta, err := h.recentlyUpdated(ctx, from, to, l, st)
		if err != nil {
			if errors.As(err, &moved) {
				lastErr = err
				prevDelta = nil
				continue
			}
			return nil, err
		}
		if len(delta) == 0 || (prevDelta != nil && sameStamps(delta, prevDelta)) {
			return l, nil
		}
		// Events changed recently: they may have changed while we paged.
		// List again; accept when the recent changes are the same ones.
		prevDelta = delta
		lastErr = &errMoved{reason: fmt.Sprintf("%d events updated recently", len(delta))}
	}
	return nil, &IncompleteError{Reason: fmt.Sprintf("still changing after %d listings: %v", h.opts.MaxRelists+1, lastErr), Total: -1}
}

func sameStamps(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// listOnce pages through [from, to] once, handing each page to onPage
// (when set) as soon as it is accepted.
func (h *HTTPS) listOnce(ctx context.Context, from, to time.Time, st *Stats, onPage func(Page)) (*Listing, error) {
	base := url.Values{}
	for _, kv := range h.opts.Filter.params(from, to) {
		base.Set("filter:"+kv[0], kv[1])
	}
	l := &Listing{Transport: "https", Source: h.source(), From: from, To: to, Total: -1}
	seen := map[int64]struct{}{}
	var bytes int64
	for page := 1; ; page++ {
		if (page-1)*h.opts.PageSize >= MaxMatches {
			// Cannot happen when the total is checked; a guard against
			// asking for QUERY_EXCEEDED_MAX_MATCHES_ALLOWED.
			return nil, &IncompleteError{Reason: "page beyond the server's offset limit", Total: l.Total, Got: len(seen)}
		}
		name := "page " + strconv.Itoa(page)
		body, sc, err := h.page(ctx, base, page, h.opts.PageSize, st)
		if err != nil {
			return nil, &PageError{Page: name, Err: err}
		}
		bytes += int64(len(body))
		if bytes > h.opts.MaxTotalBytes {
			return nil, fmt.Errorf("fetch: listing over %d bytes: %w", h.opts.MaxTotalBytes, ErrTooLarge)
		}
		if sc.total < 0 {
			return nil, &IncompleteError{Reason: name + " has no X-KALTURA-TOTAL-COUNT", Total: -1, Got: len(seen)}
		}
		if page == 1 {
			l.Total = sc.total
			if l.Total > MaxMatches {
				return nil, fmt.Errorf("fetch: %d events between %s and %s (limit %d): %w",
					l.Total, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), MaxMatches, ErrTooManyEvents)
			}
		} else if sc.total != l.Total {
			return nil, &errMoved{reason: fmt.Sprintf("total changed from %d to %d at %s", l.Total, sc.total, name)}
		}
		if len(sc.ids) > h.opts.PageSize {
			return nil, &IncompleteError{Reason: fmt.Sprintf("%s holds %d events, more than a page", name, len(sc.ids)), Total: l.Total, Got: len(seen)}
		}
		for _, id := range sc.ids {
			seen[id] = struct{}{}
		}
		l.Pages = append(l.Pages, Page{Name: name, Body: body, IDs: sc.ids, Spans: sc.spans, stamps: sc.stamps})
		if onPage != nil {
			onPage(l.Pages[len(l.Pages)-1])
		}
		want := (l.Total + h.opts.PageSize - 1) / h.opts.PageSize
		if page >= want {
			break
		}
		if len(sc.ids) < h.opts.PageSize {
			return nil, &errMoved{reason: fmt.Sprintf("%s is short (%d events)", name, len(sc.ids))}
		}
	}
	if len(seen) != l.Total {
		if len(seen) < l.Total && len(l.Pages) == 1 {
			// One reply that contradicts itself: no amount of re-listing
			// will make it right.
			return nil, &IncompleteError{Reason: "page 1 does not hold the total it announces", Total: l.Total, Got: len(seen)}
		}
		return nil, &errMoved{reason: fmt.Sprintf("%d distinct ids for a total of %d", len(seen), l.Total)}
	}
	return l, nil
}

// recentlyUpdated lists the events of the window updated since shortly
// before the listing started and checks each against the listing. It
// returns id → DTSTAMP of those events.
func (h *HTTPS) recentlyUpdated(ctx context.Context, from, to time.Time, l *Listing, st *Stats) (map[int64]string, error) {
	have := make(map[int64]string, l.Total)
	for _, p := range l.Pages {
		for i, id := range p.IDs {
			have[id] = p.stamps[i]
		}
	}
	base := url.Values{}
	for _, kv := range h.opts.Filter.params(from, to) {
		base.Set("filter:"+kv[0], kv[1])
	}
	since := from.Add(-h.opts.VerifyMargin)
	base.Set("filter:updatedAtGreaterThanOrEqual", strconv.FormatInt(since.Unix(), 10))
	out := map[int64]string{}
	total := -1
	for page := 1; (page-1)*h.opts.PageSize < MaxMatches; page++ {
		_, sc, err := h.page(ctx, base, page, h.opts.PageSize, st)
		if err != nil {
			return nil, &PageError{Page: "verification page " + strconv.Itoa(page), Err: err}
		}
		if page == 1 {
			total = sc.total
		}
		for i, id := range sc.ids {
			stamp, ok := have[id]
			if !ok {
				return nil, &errMoved{reason: fmt.Sprintf("event %d updated while paging", id)}
			}
			if stamp != sc.stamps[i] {
				return nil, &errMoved{reason: fmt.Sprintf("event %d changed while paging", id)}
			}
			out[id] = stamp
		}
		if len(sc.ids) < h.opts.PageSize || page*h.opts.PageSize >= total {
			break
		}
	}
	return out, nil
}

// page fetches one page and scans it, renewing the KS once on INVALID_KS
// EXPIRED/LOGOUT.
func (h *HTTPS) page(ctx context.Context, base url.Values, index, size int, st *Stats) ([]byte, scanned, error) {
	params := make(url.Values, len(base)+3)
	for k, v := range base {
		params[k] = v
	}
	params.Set("pager:objectType", "KalturaFilterPager")
	params.Set("pager:pageSize", strconv.Itoa(size))
	params.Set("pager:pageIndex", strconv.Itoa(index))
	rr := kaltura.RawRequest{
		Service:  "schedule_scheduleevent",
		Action:   "list",
		Params:   params,
		Format:   "ical",
		MaxBytes: h.opts.MaxBytes,
		Gzip:     true, // Accept-Encoding: gzip; the cap applies after decompression
	}
	for try := 0; ; try++ {
		if err := ctxErr(ctx); err != nil {
			return nil, scanned{}, err
		}
		ks, err := h.opts.Session.KS(ctx)
		if err != nil {
			return nil, scanned{}, fmt.Errorf("getting a KS: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
		resp, err := h.opts.Caller.CallRaw(pctx, ks, rr)
		cancel()
		st.Requests++
		if err == nil {
			st.Bytes += int64(len(resp.Body))
			var sc scanned
			sc, err = scanPage(resp.Body)
			if err == nil {
				return resp.Body, sc, nil
			}
		}
		if errors.Is(err, kaltura.ErrTooLarge) {
			err = fmt.Errorf("%w (cap %d bytes): %w", ErrTooLarge, h.opts.MaxBytes, err)
		}
		if try == 0 && kaltura.Classify(err) == kaltura.ClassReAuth {
			h.log.Info("KS refused; renewing the session", "err", err)
			h.opts.Session.Invalidate(ks)
			continue
		}
		return nil, scanned{}, err
	}
}

func (h *HTTPS) source() string {
	s := "https"
	if b, ok := h.opts.Caller.(interface{ BaseURL() string }); ok {
		s = b.BaseURL()
	}
	return s + " " + h.opts.Filter.describe()
}
