// Package kaltura is the box's client for the Kaltura API v3 (kaltura.md
// §0, §3–§6): a Client that encodes calls the way the real server parses
// them and decodes its HTTP-200 errors into typed *APIError values, and the
// app-token Session shared by schedule sync and upload.
//
// Encoding: every call is a POST with an application/x-www-form-urlencoded
// body using Kaltura's flat "a:b" keys (entry:objectType=KalturaMediaEntry),
// except uploadToken.upload, which must be multipart/form-data. The
// urlencoded form was chosen over JSON because the server ignores a JSON body
// whose Content-Type carries "; charset=utf-8" (a silent failure), and over
// multipart because it is simpler to produce and to read in a capture. The
// KS, format=1 and clientTag go in the body, never in the URL, so the KS
// does not end up in proxy or server access logs.
//
// Secrets: the KS, the app token and the token hash are never logged and
// never appear in error strings; parameters are never logged.
package kaltura

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultFinalChunkWait   = 45 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	DefaultClientTag        = "capturebox:dev"
)

// Options configure a Client.
type Options struct {
	// BaseURL is the service URL, e.g. "https://www.kaltura.com". It must
	// be https unless AllowInsecureHTTP is set (for a local simulator).
	BaseURL string
	// AllowInsecureHTTP permits an http:// BaseURL (and upload URL).
	AllowInsecureHTTP bool
	// HTTPClient, when set, is used as is (tests pass httptest's client).
	// Otherwise a client verifying TLS certificates against RootCAs (nil =
	// system roots) is built.
	HTTPClient *http.Client
	RootCAs    *x509.CertPool
	// ClientTag is sent with each call; "capturebox:<version>".
	ClientTag string
	// Timeout bounds each API call (kaltura.request_timeout). A chunk
	// upload has no total limit: it is stalled, and abandoned, when no
	// byte of it was taken for Timeout, or when no reply came within
	// Timeout after its last byte (plus FinalChunkWait for a final chunk,
	// which the server may hold while it appends parked chunks).
	Timeout        time.Duration
	FinalChunkWait time.Duration
	// MaxResponseBytes caps a decoded JSON reply.
	MaxResponseBytes int64
	Logger           *slog.Logger
	// Clock is used only to measure call durations for debug logs.
	Clock func() time.Time
	// OnServerTime, when set, is called with the Date header of each
	// reply (the server's clock, to the second), so that the caller can
	// cross-check its own clock. A reply without a valid Date is not
	// reported.
	OnServerTime func(time.Time)
}

// Client makes Kaltura API calls. It is safe for concurrent use. It holds
// no KS: callers pass one (see Session, which does it for them).
type Client struct {
	base     *url.URL
	opts     Options
	hc       *http.Client
	log      *slog.Logger
	clock    func() time.Time
	insecure bool
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || u.Host == "" {
		return nil, &ConfigError{Setting: "kaltura.service_url", Err: fmt.Errorf("invalid service URL %q", opts.BaseURL)}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !opts.AllowInsecureHTTP {
			return nil, &ConfigError{Setting: "kaltura.service_url", Err: errors.New("service URL must use https (allow_insecure_http is off)")}
		}
	default:
		return nil, &ConfigError{Setting: "kaltura.service_url", Err: fmt.Errorf("unsupported scheme %q", u.Scheme)}
	}
	if opts.ClientTag == "" {
		opts.ClientTag = DefaultClientTag
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.FinalChunkWait <= 0 {
		opts.FinalChunkWait = DefaultFinalChunkWait
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	c := &Client{base: u, opts: opts, hc: opts.HTTPClient, log: opts.Logger, clock: opts.Clock, insecure: opts.AllowInsecureHTTP}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// BaseURL returns the service URL.
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) endpoint(base *url.URL, service, action string) string {
	u := *base
	u.Path = strings.TrimRight(u.Path, "/") + "/api_v3/service/" + url.PathEscape(service) + "/action/" + url.PathEscape(action)
	u.RawQuery = ""
	return u.String()
}

func (c *Client) form(ks string, format string, params url.Values) url.Values {
	f := url.Values{}
	for k, v := range params {
		f[k] = v
	}
	if ks != "" {
		f.Set("ks", ks)
	}
	f.Set("format", format)
	f.Set("clientTag", c.opts.ClientTag)
	return f
}

// Call makes one API call with params (flat "a:b" keys) and decodes the
// JSON reply into out (which may be nil). ks may be empty for calls that
// need none (session.startWidgetSession).
func (c *Client) Call(ctx context.Context, ks, service, action string, params url.Values, out any) error {
	body, _, err := c.do(ctx, ks, service, action, params, "1", false, c.opts.MaxResponseBytes)
	if err != nil {
		return err
	}
	return decodeResult(service, action, body, out)
}

// Request is one call of a multirequest.
type Request struct {
	Service, Action string
	Params          url.Values
}

// Result is one reply of a multirequest: either Err (an *APIError) or Raw.
type Result struct {
	Raw json.RawMessage
	Err error
}

// Decode decodes Raw into out, or returns Err.
func (r Result) Decode(out any) error {
	if r.Err != nil {
		return r.Err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Raw, out); err != nil {
		return fmt.Errorf("kaltura: decoding multirequest result: %w", err)
	}
	return nil
}

// Multi sends reqs as one multirequest (flat keys "1:service", numbered from
// 1, so a parameter value "{1:result:id}" refers to the first call's
// result). The top-level ks applies to every sub-call. Errors of single
// sub-calls come back inline in the Results.
func (c *Client) Multi(ctx context.Context, ks string, reqs []Request) ([]Result, error) {
	params := url.Values{}
	for i, r := range reqs {
		p := strconv.Itoa(i+1) + ":"
		params.Set(p+"service", r.Service)
		params.Set(p+"action", r.Action)
		for k, v := range r.Params {
			params[p+k] = v
		}
	}
	// Errors of the whole request name the calls inside it
	// ("media.add+media.addContent"), not "multirequest.null".
	names := make([]string, len(reqs))
	for i, r := range reqs {
		names[i] = r.Service + "." + r.Action
	}
	name := strings.Join(names, "+")
	form := c.form(ks, "1", params)
	rctx, cancel := context.WithTimeoutCause(ctx, c.opts.Timeout, errCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint(c.base, "multirequest", "null"), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("kaltura: %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	body, _, err := c.send(req, name, "", c.opts.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	if err := checkAPIError(name, "", body); err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, &HTTPError{Service: name, StatusCode: 200, Detail: "reply is not a JSON array"}
	}
	if len(raws) != len(reqs) {
		return nil, &HTTPError{Service: name, StatusCode: 200, Detail: fmt.Sprintf("%d results for %d calls", len(raws), len(reqs))}
	}
	out := make([]Result, len(raws))
	for i, raw := range raws {
		if err := checkAPIError(reqs[i].Service, reqs[i].Action, raw); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Raw = raw
	}
	return out, nil
}

// RawRequest is a call whose reply the caller decodes itself, e.g.
// schedule_scheduleevent.list with Format "ical".
type RawRequest struct {
	Service, Action string
	Params          url.Values
	// Format is the format parameter: "1" (JSON, the default), "ical", …
	Format string
	// MaxBytes caps the (decompressed) reply; default 32 MiB. A larger reply
	// is an error, never a silently truncated body.
	MaxBytes int64
	// Gzip asks for a gzip-compressed reply (Accept-Encoding: gzip); the body
	// is returned decompressed. The stock Kaltura server compresses nothing,
	// a proxy in front of it might.
	Gzip bool
}

// RawResponse is the reply to a RawRequest.
type RawResponse struct {
	ContentType string
	Header      http.Header
	Body        []byte
}

// ErrTooLarge is returned when a reply exceeds its size cap.
var ErrTooLarge = errors.New("kaltura: reply exceeds size cap")

// CallRaw makes a call and returns the raw reply body. Errors are still
// decoded: a JSON KalturaAPIException, an iCal VERROR block and the
// X-Kaltura error header all become *APIError, so a caller can rely on
// Classify (and Session.CallRaw can re-authenticate on INVALID_KS EXPIRED).
func (c *Client) CallRaw(ctx context.Context, ks string, req RawRequest) (*RawResponse, error) {
	format := req.Format
	if format == "" {
		format = "1"
	}
	max := req.MaxBytes
	if max <= 0 {
		max = 32 << 20
	}
	body, h, err := c.do(ctx, ks, req.Service, req.Action, req.Params, format, req.Gzip, max)
	if err != nil {
		return nil, err
	}
	ct := h.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "text/calendar" || format == "ical":
		if err := icalError(req.Service, req.Action, body); err != nil {
			return nil, err
		}
	case mt == "application/json" || format == "1":
		if err := checkAPIError(req.Service, req.Action, body); err != nil {
			return nil, err
		}
	}
	return &RawResponse{ContentType: ct, Header: h, Body: body}, nil
}

// do POSTs a urlencoded call and returns the (size-capped, decompressed) body.
func (c *Client) do(ctx context.Context, ks, service, action string, params url.Values, format string, gz bool, max int64) ([]byte, http.Header, error) {
	form := c.form(ks, format, params)
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.Timeout, errCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(c.base, service, action), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("kaltura: %s.%s: %w", service, action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json, text/calendar, */*")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return c.send(req, service, action, max)
}

// callName is "service.action", or service alone when action is empty
// (a multirequest's joined names).
func callName(service, action string) string {
	if action == "" {
		return service
	}
	return service + "." + action
}

func (c *Client) send(req *http.Request, service, action string, max int64) ([]byte, http.Header, error) {
	start := c.clock()
	resp, err := c.hc.Do(req)
	if err != nil {
		switch cause := context.Cause(req.Context()); {
		case errors.Is(cause, errCallTimeout):
			err = fmt.Errorf("%w: %w", errCallTimeout, err)
		case errors.Is(cause, ErrStalled):
			err = cause
		}
		c.log.Debug("kaltura call failed", "call", callName(service, action), "err", err)
		return nil, nil, fmt.Errorf("kaltura: %s: %w", callName(service, action), err)
	}
	defer resp.Body.Close()
	if c.opts.OnServerTime != nil {
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			c.opts.OnServerTime(d)
		}
	}
	var r io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && !resp.Uncompressed {
		zr, err := gzip.NewReader(bufio.NewReader(resp.Body))
		if err != nil {
			return nil, nil, fmt.Errorf("kaltura: %s: gzip reply: %w", callName(service, action), err)
		}
		defer zr.Close()
		r = zr
	}
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		if cause := context.Cause(req.Context()); errors.Is(cause, ErrStalled) {
			err = cause
		}
		return nil, nil, fmt.Errorf("kaltura: %s: reading reply: %w", callName(service, action), err)
	}
	c.log.Debug("kaltura call", "call", callName(service, action), "status", resp.StatusCode, "bytes", len(body), "took", c.clock().Sub(start))
	if int64(len(body)) > max {
		return nil, nil, fmt.Errorf("kaltura: %s: %w (%d bytes)", callName(service, action), ErrTooLarge, max)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &HTTPError{Service: service, Action: action, StatusCode: resp.StatusCode}
	}
	if x := resp.Header.Get("X-Kaltura"); strings.HasPrefix(strings.TrimSpace(x), "error-") && len(bytes.TrimSpace(body)) == 0 {
		code := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(x), "error-"))
		if i := strings.IndexAny(code, " ,"); i > 0 {
			code = code[:i]
		}
		return nil, nil, &APIError{Code: code, Service: service, Action: action}
	}
	return body, resp.Header, nil
}

// Chunk is one uploadToken.upload call (kaltura.md §4).
type Chunk struct {
	TokenID string
	// FileName is the name given to the fileData part; it must be non-empty
	// and carry the real extension (it drives media-type detection).
	FileName string
	// Data yields exactly Length bytes.
	Data     io.Reader
	Length   int64
	Resume   bool
	Final    bool
	ResumeAt int64
	// UploadURL is the token's uploadUrl ("proto://host"), used instead of
	// the service URL when set and acceptable.
	UploadURL string
}

// Upload sends one chunk as multipart/form-data, streaming Data: the body
// has an exact Content-Length (parameters first, then the fileData part) and
// is never held in memory.
func (c *Client) Upload(ctx context.Context, ks string, ch Chunk) (*UploadToken, error) {
	if ch.FileName == "" {
		return nil, errors.New("kaltura: uploadToken.upload: empty file name")
	}
	fields := c.form(ks, "1", url.Values{
		"uploadTokenId": {ch.TokenID},
		"resume":        {boolStr(ch.Resume)},
		"finalChunk":    {boolStr(ch.Final)},
		"resumeAt":      {strconv.FormatInt(ch.ResumeAt, 10)},
	})
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, k := range []string{"ks", "format", "clientTag", "uploadTokenId", "resume", "finalChunk", "resumeAt"} {
		if v := fields.Get(k); v != "" {
			if err := mw.WriteField(k, v); err != nil {
				return nil, fmt.Errorf("kaltura: uploadToken.upload: %w", err)
			}
		}
	}
	if _, err := mw.CreateFormFile("fileData", ch.FileName); err != nil {
		return nil, fmt.Errorf("kaltura: uploadToken.upload: %w", err)
	}
	headBytes := append([]byte(nil), head.Bytes()...)
	head.Reset()
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("kaltura: uploadToken.upload: %w", err)
	}
	tail := append([]byte(nil), head.Bytes()...) // "\r\n--boundary--\r\n"
	data := ch.Data
	if data == nil {
		data = bytes.NewReader(nil)
	}
	body := io.MultiReader(bytes.NewReader(headBytes), io.LimitReader(data, ch.Length), bytes.NewReader(tail))

	base := c.base
	if u := c.uploadBase(ch.UploadURL); u != nil {
		base = u
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wait := c.opts.Timeout
	if ch.Final {
		wait += c.opts.FinalChunkWait
	}
	wd := newWatchdog(c.opts.Timeout, wait, func(d time.Duration) {
		cancel(fmt.Errorf("%w: no progress for %s", ErrStalled, d))
	})
	defer wd.stop()
	n := int64(len(headBytes)) + ch.Length + int64(len(tail))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(base, "uploadtoken", "upload"), &progressReader{r: &exactReader{r: body, n: n}, wd: wd, left: n})
	if err != nil {
		return nil, fmt.Errorf("kaltura: uploadToken.upload: %w", err)
	}
	req.ContentLength = int64(len(headBytes)) + ch.Length + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	respBody, _, err := c.send(req, "uploadToken", "upload", c.opts.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	var tok UploadToken
	if err := decodeResult("uploadToken", "upload", respBody, &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// ErrStalled is the cause of a chunk upload abandoned because it made no
// progress for the request timeout (Options.Timeout): no byte of the body
// was taken, or no reply came after the last one. It is transient.
var ErrStalled = errors.New("kaltura: upload stalled")

// watchdog cancels a chunk upload that stops making progress. While the
// body is being sent, each read restarts an idle timer of idle; once the
// body is sent, the reply must come within wait.
type watchdog struct {
	mu     sync.Mutex
	t      *time.Timer
	idle   time.Duration
	wait   time.Duration
	cur    time.Duration
	fire   func(time.Duration)
	done   bool
	sentAt bool
}

func newWatchdog(idle, wait time.Duration, fire func(time.Duration)) *watchdog {
	w := &watchdog{idle: idle, wait: wait, cur: idle, fire: fire}
	w.t = time.AfterFunc(idle, w.expire)
	return w
}

func (w *watchdog) expire() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	d := w.cur
	w.mu.Unlock()
	w.fire(d)
}

// progress restarts the idle timer; sent switches to the reply wait.
func (w *watchdog) progress(sent bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.sentAt {
		return
	}
	w.cur = w.idle
	if sent {
		w.sentAt, w.cur = true, w.wait
	}
	w.t.Reset(w.cur)
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.t.Stop()
}

// progressReader reports each read of the request body to the watchdog.
type progressReader struct {
	r    io.Reader
	wd   *watchdog
	left int64 // bytes of the body not yet read
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.left -= int64(n)
	if n > 0 || err != nil {
		p.wd.progress(err == io.EOF || p.left <= 0)
	}
	return n, err
}

// exactReader fails if the data source yields fewer bytes than promised
// (a file truncated under us), instead of sending a short body.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// uploadBase returns the token's upload URL when it is usable: same
// security rules as the service URL. Only scheme and host are taken.
func (c *Client) uploadBase(s string) *url.URL {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && c.insecure) {
		return nil
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// decodeResult checks body for an API error and decodes it into out.
func decodeResult(service, action string, body []byte, out any) error {
	if err := checkAPIError(service, action, body); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &HTTPError{Service: service, Action: action, StatusCode: 200, Detail: "undecodable reply: " + safeJSONErr(err)}
	}
	return nil
}

func safeJSONErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "unexpected type for " + te.Field
	}
	return "invalid JSON"
}

// checkAPIError returns an *APIError if body is a KalturaAPIException.
func checkAPIError(service, action string, body []byte) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var probe struct {
		ObjectType string          `json:"objectType"`
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		Args       json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || probe.ObjectType != "KalturaAPIException" {
		return nil
	}
	return &APIError{Code: probe.Code, Message: probe.Message, Args: decodeArgs(probe.Args), Service: service, Action: action}
}

// decodeArgs accepts {} with string or other values, and the empty-list
// form [] that PHP writes for no args.
func decodeArgs(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return out
	}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}

// icalError finds a VERROR block (kaltura.md §1) and returns it as *APIError.
// The argument names are not sent in this form; the values (joined with
// ';') are mapped by position for INVALID_KS (first value = KSID).
func icalError(service, action string, body []byte) error {
	if !bytes.Contains(body, []byte("BEGIN:VERROR")) {
		return nil
	}
	e := &APIError{Service: service, Action: action, Args: map[string]string{}}
	in := false
	for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		switch {
		case line == "BEGIN:VERROR":
			in = true
		case line == "END:VERROR":
			in = false
		case in && strings.HasPrefix(line, "X-KALTURA-CODE:"):
			e.Code = strings.TrimPrefix(line, "X-KALTURA-CODE:")
		case in && strings.HasPrefix(line, "X-KALTURA-MESSAGE:"):
			e.Message = strings.TrimPrefix(line, "X-KALTURA-MESSAGE:")
		case in && strings.HasPrefix(line, "X-KALTURA-ARGUMENTS:"):
			vals := strings.Split(strings.TrimPrefix(line, "X-KALTURA-ARGUMENTS:"), ";")
			for i, v := range vals {
				e.Args["arg"+strconv.Itoa(i)] = v
			}
		}
	}
	if e.Code == CodeInvalidKS {
		e.Args["KSID"] = e.Args["arg0"]
	}
	if e.Code == "" {
		e.Code = "UNKNOWN_ICAL_ERROR"
	}
	return e
}
