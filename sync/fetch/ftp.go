package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// FTP service spellings (kaltura.md §7): the server code expects the client
// property name; Kaltura's docs write the service id. Both are tried, in
// this order, and the one that worked is remembered.
var ftpServices = []string{"scheduleEvent", "schedule_scheduleevent"}

// FTPOptions configure an FTP fetcher.
type FTPOptions struct {
	// Addr is host:port of the FTP front (port 21 for Kaltura's).
	Addr string
	// PartnerID and LoginID make the user name "<partnerId>/<loginId>".
	PartnerID int64
	LoginID   string
	// Password of that KMC user. A secret: never logged, never in errors.
	Password string
	Filter   Filter
	// Window is the look-ahead from Request.Now; default DefaultWindow.
	Window time.Duration
	// Timeout bounds the dial and each read or write on the control and
	// data connections; default DefaultTimeout.
	Timeout time.Duration
	// MaxBytes caps one file; default DefaultMaxBytes.
	MaxBytes int64
	// FullEvery makes every FullEvery-th fetch download every file again,
	// whatever its size and time say (a LIST time may have only minute
	// precision, so two edits in one minute that keep the size could
	// otherwise go unseen). Default 30 (an hour at the 2-minute interval);
	// negative: never.
	FullEvery int
	Logger    *slog.Logger
}

// FTP fetches the schedule from Kaltura's FTP front: one <id>.ics file per
// event in a directory whose path carries the filter. It always LISTs a
// directory before it RETRieves from it (RETR alone may be served from a
// cache days old), and downloads only the files whose name, size or time
// changed since Request.Previous.
//
// The FTP front has no total count. A listing is complete when a page
// lists fewer than 500 files: only the first 500 events appear in a
// directory, so at 500 files the fetcher pages explicitly with
// pager:pageIndex path parameters, up to the server's 10,000 limit. A
// file name seen on two pages means the data moved: the directory is
// listed again (twice at most).
//
// The size in a listing is the text length in characters, not bytes, so
// it is compared with the previous listing's size, never with the body.
type FTP struct {
	opts    FTPOptions
	log     *slog.Logger
	service atomic.Value // string: the spelling that worked
	count   atomic.Int64
}

// NewFTP returns an FTP fetcher.
func NewFTP(opts FTPOptions) (*FTP, error) {
	if opts.Addr == "" || opts.LoginID == "" || opts.PartnerID <= 0 {
		return nil, errors.New("fetch: FTP needs Addr, PartnerID and LoginID")
	}
	if err := opts.Filter.validate(); err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.FullEvery == 0 {
		opts.FullEvery = 30
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FTP{opts: opts, log: log}
	f.service.Store("")
	return f, nil
}

// Service returns the service spelling that worked last ("" before the
// first successful listing).
func (f *FTP) Service() string { return f.service.Load().(string) }

// Dir returns the directory listed for service and window, without pager.
func (f *FTP) Dir(service string, from, to time.Time) string {
	var b strings.Builder
	b.WriteString("/format/ical/")
	b.WriteString(service)
	for _, kv := range f.opts.Filter.params(from, to) {
		b.WriteString("/filter:")
		b.WriteString(kv[0])
		b.WriteByte('/')
		b.WriteString(kv[1])
	}
	return b.String()
}

func pagedDir(dir string, index int) string {
	return dir + "/pager:objectType/KalturaFilterPager/pager:pageSize/" + strconv.Itoa(PageSize) +
		"/pager:pageIndex/" + strconv.Itoa(index)
}

// session is one FTP connection with its deadline-wrapped sockets.
type ftpSession struct {
	c     *ftp.ServerConn
	mu    sync.Mutex
	conns []net.Conn
}

func (s *ftpSession) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// deadlineConn sets a fresh I/O deadline before every read and write, so
// that a stalled server cannot hang a sync (the library has no per-command
// timeout). The deadline is I/O plumbing, not a scheduling decision.
type deadlineConn struct {
	net.Conn
	d time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.d))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

func (f *FTP) user() string {
	return strconv.FormatInt(f.opts.PartnerID, 10) + "/" + f.opts.LoginID
}

func (f *FTP) connect(ctx context.Context) (*ftpSession, error) {
	s := &ftpSession{}
	dialer := &net.Dialer{Timeout: f.opts.Timeout}
	dial := func(network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dc := &deadlineConn{Conn: c, d: f.opts.Timeout}
		s.mu.Lock()
		s.conns = append(s.conns, dc)
		s.mu.Unlock()
		return dc, nil
	}
	c, err := ftp.Dial(f.opts.Addr, ftp.DialWithDialFunc(dial))
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("fetch: ftp connect %s: %w", f.opts.Addr, err)
	}
	s.c = c
	if err := c.Login(f.user(), f.opts.Password); err != nil {
		_ = c.Quit()
		s.closeAll()
		return nil, fmt.Errorf("fetch: ftp login as %s: %s", f.user(), f.redact(err))
	}
	return s, nil
}

// redact renders err without the password, in case a server echoes it.
func (f *FTP) redact(err error) string {
	s := err.Error()
	if f.opts.Password != "" {
		s = strings.ReplaceAll(s, f.opts.Password, "[redacted]")
	}
	return s
}

// Fetch lists the window [req.Now, req.Now+Window] and returns every event
// file, downloading only those that changed since req.Previous.
func (f *FTP) Fetch(ctx context.Context, req Request) (*Listing, error) {
	if err := checkNow(req.Now); err != nil {
		return nil, err
	}
	from := req.Now.Truncate(time.Second)
	to := from.Add(f.opts.Window)
	n := f.count.Add(1)
	full := f.opts.FullEvery > 0 && n%int64(f.opts.FullEvery) == 0

	s, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, s.closeAll)
	defer func() {
		stop()
		_ = s.c.Quit()
		s.closeAll()
	}()

	st := Stats{}
	// Which spelling to try first.
	services := ftpServices
	if pref := req.FTPService; pref == "" {
		pref = f.Service()
		if pref != "" {
			services = preferFirst(pref)
		}
	} else {
		services = preferFirst(pref)
	}

	var entries []listed
	var service string
	var listErrs []error
	for _, svc := range services {
		d := f.Dir(svc, from, to)
		es, err := f.listAll(ctx, s, d, &st)
		if err == nil {
			entries, service = es, svc
			break
		}
		if ctx.Err() != nil || !isPermanentFTP(err) {
			return nil, fmt.Errorf("fetch: ftp LIST %s: %w", svc, err)
		}
		listErrs = append(listErrs, fmt.Errorf("%s: %w", svc, err))
	}
	if service == "" {
		return nil, fmt.Errorf("fetch: ftp: no schedule directory under either service name: %w", errors.Join(listErrs...))
	}
	if f.Service() != service {
		f.log.Info("ftp schedule directory found", "service", service)
		f.service.Store(service)
	}

	prev := make(map[string]File, len(req.Previous))
	for _, p := range req.Previous {
		prev[p.Name] = p
	}
	l := &Listing{
		Transport:  "ftp",
		Source:     "ftp://" + f.opts.Addr + " " + f.opts.Filter.describe(),
		From:       from,
		To:         to,
		FTPService: service,
	}
	seen := map[int64]struct{}{}
	for _, le := range entries {
		e := le.e
		id, _ := idOfFile(e.Name)
		var body []byte
		if p, ok := prev[e.Name]; ok && !full && p.Body != "" && p.Size == int64(e.Size) && p.ModTime.Equal(e.Time) {
			body = []byte(p.Body)
			st.Reused++
		} else {
			b, err := f.retr(s, le.dir+"/"+e.Name, &st)
			if err != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				return nil, &PageError{Page: e.Name, Err: err}
			}
			body = b
			st.Downloaded++
		}
		sc, err := scanPage(body)
		if err != nil {
			return nil, &PageError{Page: e.Name, Err: err}
		}
		if len(sc.ids) != 1 || sc.ids[0] != id {
			return nil, &PageError{Page: e.Name, Err: fmt.Errorf("file holds events %v, want one event %d", sc.ids, id)}
		}
		seen[id] = struct{}{}
		l.Pages = append(l.Pages, Page{Name: e.Name, Body: body, IDs: sc.ids, Spans: sc.spans})
		l.Files = append(l.Files, File{Name: e.Name, Size: int64(e.Size), ModTime: e.Time, Body: string(body)})
	}
	l.Total = len(seen)
	sort.Slice(l.Files, func(i, j int) bool { return l.Files[i].Name < l.Files[j].Name })
	l.Stats = st
	return l, nil
}

func preferFirst(pref string) []string {
	out := []string{pref}
	for _, s := range ftpServices {
		if s != pref {
			out = append(out, s)
		}
	}
	return out
}

// isPermanentFTP reports an FTP 5xx reply (the directory does not exist
// under that spelling), as opposed to a network failure.
func isPermanentFTP(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}

// idOfFile returns the event id of "<id>.ics".
func idOfFile(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, ".ics")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != stem {
		return 0, false
	}
	return id, true
}

// listed is a file entry and the directory it was listed in (RETR asks
// for it there).
type listed struct {
	e   *ftp.Entry
	dir string
}

// listAll lists dir and, at 500 files, its explicit pages. It returns the
// .ics file entries, each name once.
func (f *FTP) listAll(ctx context.Context, s *ftpSession, dir string, st *Stats) ([]listed, error) {
	for attempt := 0; ; attempt++ {
		es, moved, err := f.listPages(ctx, s, dir, st)
		if err != nil {
			return nil, err
		}
		if moved == "" {
			return es, nil
		}
		if attempt >= 2 {
			return nil, &IncompleteError{Reason: "ftp listing kept moving: " + moved, Total: -1, Got: len(es)}
		}
		st.Relists++
		f.log.Info("re-listing ftp schedule", "reason", moved)
	}
}

func (f *FTP) listPages(ctx context.Context, s *ftpSession, dir string, st *Stats) ([]listed, string, error) {
	var out []listed
	names := map[string]bool{}
	for page := 1; ; page++ {
		if (page-1)*PageSize >= MaxMatches {
			return nil, "", fmt.Errorf("fetch: ftp: %d or more events in the window (limit %d): %w", MaxMatches, MaxMatches, ErrTooManyEvents)
		}
		d := dir
		if page > 1 {
			d = pagedDir(dir, page)
		}
		if err := ctxErr(ctx); err != nil {
			return nil, "", err
		}
		raw, err := s.c.List(d)
		st.Requests++
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", context.Cause(ctx)
			}
			return nil, "", err
		}
		n := 0
		for _, e := range raw {
			if e.Type != ftp.EntryTypeFile {
				continue
			}
			if _, ok := idOfFile(e.Name); !ok {
				f.log.Debug("ftp: ignoring file", "name", e.Name)
				continue
			}
			n++
			if names[e.Name] {
				return out, fmt.Sprintf("%s listed twice (page %d)", e.Name, page), nil
			}
			names[e.Name] = true
			out = append(out, listed{e: e, dir: d})
		}
		if n < PageSize {
			return out, "", nil
		}
	}
}

func (f *FTP) retr(s *ftpSession, path string, st *Stats) ([]byte, error) {
	r, err := s.c.Retr(path)
	st.Requests++
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, f.opts.MaxBytes+1))
	cerr := r.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > f.opts.MaxBytes {
		return nil, fmt.Errorf("%w (cap %d bytes)", ErrTooLarge, f.opts.MaxBytes)
	}
	if cerr != nil {
		return nil, cerr
	}
	st.Bytes += int64(len(b))
	return b, nil
}
