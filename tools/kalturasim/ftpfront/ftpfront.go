// Package ftpfront is the FTP front of the Kaltura simulator: it answers the
// way kaltura/ftp-api-server does (kaltura.md §7), quirks included.
//
// Plain FTP, no TLS. The user is "<partnerId>/<loginId>", checked by the
// injected Auth (the user's own role applies, not CAPTURE_DEVICE). The tree
// is /format/{json|xml|ical}/<service>/[<param>/<value>]…/ where <service>
// is the Kaltura client's property name: only "scheduleEvent" is served. As
// in the 2016 code, a path is accepted when it merely starts with
// /format/<fmt>/scheduleEvent, and "schedule_scheduleevent" (the spelling of
// the developer docs) is rejected. A path is a file when it has more than
// three segments and an even number of them; otherwise it is a directory.
//
// LIST of a service directory runs a fresh schedule_scheduleevent.list and
// caches every file in a cache shared by all sessions and keyed by file
// name only, for CacheTTL (300,000 s by default). filter:… path parameters
// are used only when filter:objectType is among them, pager:… only when
// pager:objectType is; without a pager only the first 500 events appear
// (the next-page loop of the original never runs). An .ics file is
// "BEGIN:VCALENDAR\n" + the VEVENT (CRLF inside) + "\nEND:VCALENDAR":
// no VTIMEZONE, no PRODID, no TOTAL-COUNT. Its mtime is DTSTAMP read as the
// server's local time. RETR serves the cached copy; on a miss it calls
// schedule_scheduleevent.get and serves that whole iCal reply. The xml
// format is not served by the simulator.
package ftpfront

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// CallFunc runs one API action as a caller; the simulator core's
// Server.Call has this shape.
type CallFunc func(ctx context.Context, c kapi.Caller, service, action string, p kapi.Params) (any, error)

// AuthFunc checks an FTP login (user.loginByLoginId) and returns the
// session's caller. Its error is never shown to the client.
type AuthFunc func(partnerID int64, loginID, password string) (kapi.Caller, error)

// PortRange is a range of passive ports, both ends included.
type PortRange struct{ Start, End int }

// DefaultCacheTTL is the memcache expiry of the original (maxExpiration).
const DefaultCacheTTL = 300000 * time.Second

// Config configures a Server.
type Config struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// PassivePorts for data connections (the original uses 1030–1050);
	// zero means any free port.
	PassivePorts PortRange
	// Auth checks logins. Required.
	Auth AuthFunc
	// Call runs API actions (schedule_scheduleevent list and get). Required;
	// StoreCall adapts a schedule.Store.
	Call CallFunc
	// Clock for cache expiry; default time.Now.
	Clock func() time.Time
	// Location is the server's local time zone, in which DTSTAMP is read
	// for a file's mtime; default time.Local.
	Location *time.Location
	// CacheTTL is how long a listed file stays cached; default DefaultCacheTTL.
	CacheTTL time.Duration
	// SizeAsJSON reports a file's size as the length of its JSON string
	// form: the original's stat() falls through from its ical case into the
	// json case (a missing break). By default the size is the text length.
	SizeAsJSON bool
	// Logger; default discards.
	Logger *slog.Logger
}

// ServiceName is the only service directory served.
const ServiceName = "scheduleEvent"

var formats = []string{"json", "xml", "ical"}

// Server is a running FTP front.
type Server struct {
	cfg   Config
	ftp   *ftpserver.FtpServer
	ln    net.Listener
	host  string
	cache *cache
	done  chan error
}

type cacheEntry struct {
	data    []byte
	format  string
	expires time.Time
}

// cache is the shared memcache, keyed by file name only.
type cache struct {
	mu    sync.Mutex
	items map[string]cacheEntry
}

func (c *cache) get(name string, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[name]
	if !ok || !now.Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *cache) set(name string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[name] = e
}

// New listens on cfg.Addr and starts serving in the background.
func New(cfg Config) (*Server, error) {
	if cfg.Auth == nil || cfg.Call == nil {
		return nil, errors.New("ftpfront: Auth and Call are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ftpfront: listen %s: %w", cfg.Addr, err)
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{cfg: cfg, ln: ln, host: host, cache: &cache{items: map[string]cacheEntry{}}, done: make(chan error, 1)}
	s.ftp = ftpserver.NewFtpServer(&mainDriver{s: s})
	s.ftp.Logger = cfg.Logger
	if err := s.ftp.Listen(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("ftpfront: %w", err)
	}
	go func() { s.done <- s.ftp.Serve() }()
	return s, nil
}

// Addr is the control address, e.g. "127.0.0.1:40121".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	err := s.ftp.Stop()
	<-s.done
	if err != nil {
		return fmt.Errorf("ftpfront: stop: %w", err)
	}
	return nil
}

// StoreCall adapts a schedule.Store to CallFunc, for use without the
// simulator core (no role checks).
func StoreCall(st *schedule.Store) CallFunc {
	acts := map[string]kapi.Action{}
	st.Register(func(service, action string, a kapi.Action) { acts[strings.ToLower(service+"."+action)] = a })
	return func(_ context.Context, c kapi.Caller, service, action string, p kapi.Params) (any, error) {
		a := acts[strings.ToLower(service+"."+action)]
		if a == nil {
			return nil, kapi.Errorf("SERVICE_DOES_NOT_EXISTS", fmt.Sprintf("Service %q does not exist", service))
		}
		return a(c, p)
	}
}

// ---- ftpserverlib main driver

type mainDriver struct{ s *Server }

func (d *mainDriver) GetSettings() (*ftpserver.Settings, error) {
	st := &ftpserver.Settings{
		Listener:    d.s.ln,
		PublicHost:  d.s.host,
		Banner:      "Kaltura FTP API server (simulator)",
		DisableMLSD: true, // the original (node ftpd) only knows LIST/NLST
		DisableMLST: true,
		DisableMFMT: true,
		DisableSite: true,
		// ftpserverlib opens passive listeners on every interface; a data
		// connection is accepted only from the control connection's IP.
		PasvConnectionsCheck: ftpserver.IPMatchRequired,
	}
	if d.s.cfg.PassivePorts.Start > 0 {
		st.PassiveTransferPortRange = ftpserver.PortRange{Start: d.s.cfg.PassivePorts.Start, End: d.s.cfg.PassivePorts.End}
	}
	return st, nil
}

func (d *mainDriver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	return "Welcome to the Kaltura FTP API server", nil
}

func (d *mainDriver) ClientDisconnected(cc ftpserver.ClientContext) {}

func (d *mainDriver) GetTLSConfig() (*tls.Config, error) {
	return nil, errors.New("ftpfront: TLS is not supported")
}

func (d *mainDriver) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	pidStr, login, ok := strings.Cut(user, "/")
	partnerID, err := strconv.ParseInt(pidStr, 10, 64)
	if !ok || err != nil || login == "" {
		return nil, errors.New("user must be <partnerId>/<loginId>")
	}
	c, err := d.s.cfg.Auth(partnerID, login, pass)
	if err != nil {
		d.s.cfg.Logger.Info("ftp login refused", "partner", partnerID, "login", login)
		return nil, errors.New("login refused")
	}
	return &session{s: d.s, caller: c}, nil
}

// ---- per-session file system

var errNotAuthorized = errors.New("Not Authorized")

type session struct {
	s      *Server
	caller kapi.Caller
}

// isDirPath is validatePathLengthForDirectory.
func isDirPath(p string) bool {
	n := len(segments(p))
	return !(n > 3 && n%2 == 0)
}

func segments(p string) []string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func validFormat(f string) bool {
	for _, x := range formats {
		if x == f {
			return true
		}
	}
	return false
}

// servicePath is validateStartsWithServicePath: a prefix test.
func servicePath(p string) bool {
	for _, f := range formats {
		if strings.HasPrefix(path.Clean("/"+p), "/format/"+f+"/"+ServiceName) {
			return true
		}
	}
	return false
}

// extensionMatches is validateFormatMatchesToFileExtension.
func extensionMatches(ext, format string) bool {
	return ext == format || (ext == "ics" && format == "ical")
}

type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Size() int64  { return f.size }
func (f fileInfo) Mode() os.FileMode {
	if f.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (f fileInfo) ModTime() time.Time { return f.mtime }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }

func (ss *session) now() time.Time { return ss.s.cfg.Clock() }

func (ss *session) dirInfo(name string) os.FileInfo {
	return fileInfo{name: name, dir: true, mtime: ss.now()}
}

// Stat is the original's stat(): directories by shape and prefix; a file
// gets its size and mtime from the cache, or 0 and now when not cached.
func (ss *session) Stat(name string) (os.FileInfo, error) {
	segs := segments(name)
	base := path.Base(path.Clean("/" + name))
	if isDirPath(name) {
		switch {
		case len(segs) == 0, len(segs) == 1 && segs[0] == "format",
			len(segs) == 2 && segs[0] == "format" && validFormat(segs[1]),
			servicePath(name):
			return ss.dirInfo(base), nil
		}
		return nil, fmt.Errorf("path is in a directory length format but doesn't meet requirements of a valid directory [%s]", name)
	}
	ext := base[strings.LastIndex(base, ".")+1:]
	if !extensionMatches(ext, segs[1]) {
		return nil, fmt.Errorf("file format doesn't match file extension [%s]", name)
	}
	if e, ok := ss.s.cache.get(base, ss.now()); ok {
		return ss.s.fileInfo(base, e), nil
	}
	return fileInfo{name: base, mtime: ss.now()}, nil
}

var dtstampRe = regexp.MustCompile(`(?i)(?:^|\n)DTSTAMP:(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?\s`)

// fileInfo is handleDirItem: size, and mtime from DTSTAMP read as local time.
func (s *Server) fileInfo(name string, e cacheEntry) os.FileInfo {
	fi := fileInfo{name: name, size: int64(len(e.data)), mtime: s.cfg.Clock()}
	if s.cfg.SizeAsJSON && e.format == "ical" {
		fi.size = int64(len(jsStringify(string(e.data))))
	}
	switch e.format {
	case "ical":
		if m := dtstampRe.FindSubmatch(e.data); m != nil {
			n := make([]int, 6)
			for i := range n {
				n[i], _ = strconv.Atoi(string(m[i+1]))
			}
			fi.mtime = time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, s.cfg.Location)
		}
	case "json":
		var obj struct {
			UpdatedAt int64 `json:"updatedAt"`
		}
		if json.Unmarshal(e.data, &obj) == nil && obj.UpdatedAt != 0 {
			fi.mtime = time.Unix(obj.UpdatedAt, 0)
		}
	}
	return fi
}

// jsStringify is JSON.stringify of a string.
func jsStringify(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ReadDir lists a directory; for a service directory it runs a fresh list
// and caches the files.
func (ss *session) ReadDir(name string) ([]os.FileInfo, error) {
	segs := segments(name)
	switch {
	case len(segs) == 0:
		return []os.FileInfo{ss.dirInfo("format")}, nil
	case len(segs) == 1 && segs[0] == "format":
		var out []os.FileInfo
		for _, f := range formats {
			out = append(out, ss.dirInfo(f))
		}
		return out, nil
	case len(segs) == 2 && segs[0] == "format" && validFormat(segs[1]):
		return []os.FileInfo{ss.dirInfo(ServiceName)}, nil
	case isDirPath(name) && servicePath(name):
		return ss.listService(segs)
	}
	return nil, errors.New("Invalid Dir")
}

// listParams is createMapFromArray + createListingObject: filter:… and
// pager:… keys are passed on only with their objectType; without a pager
// the original asks for page 1 of 500 and never fetches page 2.
func listParams(segs []string) kapi.Params {
	m := map[string]string{}
	rest := segs[3:]
	for len(rest) > 1 {
		m[rest[0]] = rest[1]
		rest = rest[2:]
	}
	p := kapi.Params{}
	for _, obj := range []string{"filter", "pager"} {
		if _, ok := m[obj+":objectType"]; !ok {
			continue
		}
		for k, v := range m {
			if strings.HasPrefix(k, obj+":") {
				p[k] = v
			}
		}
	}
	if _, ok := p["pager:objectType"]; !ok {
		p["pager:objectType"] = "KalturaFilterPager"
		p["pager:pageIndex"] = "1"
		p["pager:pageSize"] = "500"
	}
	return p
}

var (
	veventRe = regexp.MustCompile(`BEGIN:VEVENT[\s\S]*?END:VEVENT`)
	verrorRe = regexp.MustCompile(`BEGIN:VERROR[\s\S]*?END:VERROR`)
	idRe     = regexp.MustCompile(`(?i)(?:^|\n)X-KALTURA-ID:(\S+)`)
)

func (ss *session) listService(segs []string) ([]os.FileInfo, error) {
	format := segs[1]
	if format == "xml" {
		return nil, errors.New("the xml format is not served by the simulator")
	}
	c := ss.caller
	c.Now = time.Time{}
	res, err := ss.s.cfg.Call(context.Background(), c, schedule.ServiceEvent, "list", listParams(segs))
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	items, err := splitList(res, format)
	if err != nil {
		return nil, err
	}
	now := ss.now()
	var out []os.FileInfo
	for _, it := range items {
		e := cacheEntry{data: it.data, format: format, expires: now.Add(ss.s.cfg.CacheTTL)}
		ss.s.cache.set(it.name, e)
		out = append(out, ss.s.fileInfo(it.name, e))
	}
	return out, nil
}

type item struct {
	name string
	data []byte
}

// splitList is handleICalListResponse / handleDefaultListResponse.
func splitList(res any, format string) ([]item, error) {
	var out []item
	switch format {
	case "ical":
		ic, ok := res.(kapi.ICal)
		if !ok {
			return nil, fmt.Errorf("list result %T has no iCal form", res)
		}
		text := ic.ICal()
		if e := verrorRe.Find(text); e != nil {
			return nil, errors.New(string(e))
		}
		for _, ev := range veventRe.FindAll(text, -1) {
			m := idRe.FindSubmatch(ev)
			if m == nil {
				continue
			}
			data := "BEGIN:VCALENDAR\n" + string(ev) + "\nEND:VCALENDAR"
			out = append(out, item{name: string(m[1]) + ".ics", data: []byte(strings.TrimSpace(data))})
		}
	default: // json
		b, err := json.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("list result: %w", err)
		}
		var lr struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(b, &lr); err != nil {
			return nil, fmt.Errorf("list result: %w", err)
		}
		for _, o := range lr.Objects {
			var idOnly struct {
				ID json.Number `json:"id"`
			}
			if err := json.Unmarshal(o, &idOnly); err != nil {
				return nil, fmt.Errorf("list object: %w", err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, o); err != nil {
				return nil, fmt.Errorf("list object: %w", err)
			}
			out = append(out, item{name: idOnly.ID.String() + ".json", data: buf.Bytes()})
		}
	}
	return out, nil
}

// GetHandle serves RETR: from the cache, else through get.
func (ss *session) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	if flags&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE) != 0 {
		return nil, errNotAuthorized
	}
	data, err := ss.read(name)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(data)
	if _, err := r.Seek(offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	return readOnly{r}, nil
}

func (ss *session) read(name string) ([]byte, error) {
	segs := segments(name)
	if isDirPath(name) {
		return nil, fmt.Errorf("Invalid Path %s", name)
	}
	format := segs[1]
	file := segs[len(segs)-1]
	dot := strings.LastIndex(file, ".")
	if dot < 0 || !extensionMatches(file[dot+1:], format) {
		return nil, fmt.Errorf("Incorrect file directory format type and file extension")
	}
	if e, ok := ss.s.cache.get(file, ss.now()); ok {
		return e.data, nil
	}
	if format == "xml" {
		return nil, errors.New("the xml format is not served by the simulator")
	}
	c := ss.caller
	c.Now = time.Time{}
	res, err := ss.s.cfg.Call(context.Background(), c, schedule.ServiceEvent, "get", kapi.Params{"scheduleEventId": file[:dot]})
	var data []byte
	switch {
	case err != nil && format == "ical":
		var ex *kapi.Exception
		if errors.As(err, &ex) {
			return nil, errors.New(string(verrorRe.Find(schedule.ICalError(ex))))
		}
		return nil, fmt.Errorf("get: %w", err)
	case err != nil:
		return nil, fmt.Errorf("get: %w", err)
	case format == "ical":
		ic, ok := res.(kapi.ICal)
		if !ok {
			return nil, fmt.Errorf("get result %T has no iCal form", res)
		}
		data = bytes.TrimSpace(ic.ICal())
	default:
		b, err := json.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("get result: %w", err)
		}
		data = b
	}
	ss.s.cache.set(file, cacheEntry{data: data, format: format, expires: ss.now().Add(ss.s.cfg.CacheTTL)})
	return data, nil
}

type readOnly struct{ *bytes.Reader }

func (readOnly) Write([]byte) (int, error) { return 0, errNotAuthorized }
func (readOnly) Close() error              { return nil }

// The rest of afero.Fs: everything that changes the tree is refused.

func (ss *session) Create(string) (afero.File, error)  { return nil, errNotAuthorized }
func (ss *session) Mkdir(string, os.FileMode) error    { return errNotAuthorized }
func (ss *session) MkdirAll(string, os.FileMode) error { return errNotAuthorized }
func (ss *session) Open(string) (afero.File, error)    { return nil, errNotAuthorized }
func (ss *session) OpenFile(string, int, os.FileMode) (afero.File, error) {
	return nil, errNotAuthorized
}
func (ss *session) Remove(string) error                        { return errNotAuthorized }
func (ss *session) RemoveAll(string) error                     { return errNotAuthorized }
func (ss *session) Rename(string, string) error                { return errNotAuthorized }
func (ss *session) Name() string                               { return "kaltura-ftp" }
func (ss *session) Chmod(string, os.FileMode) error            { return errNotAuthorized }
func (ss *session) Chown(string, int, int) error               { return errNotAuthorized }
func (ss *session) Chtimes(string, time.Time, time.Time) error { return errNotAuthorized }
