package firmware

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

const testStatusPassword = "correct horse battery"

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pageClient talks to the status page of b like a browser: cookies kept,
// redirects not followed (the tests look at them).
type pageClient struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newPageClient(t *testing.T, b *box) *pageClient {
	t.Helper()
	mux := http.NewServeMux()
	b.statusRoutes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &pageClient{t: t, srv: srv, c: c}
}

// get returns the answer to GET path: status, body.
func (p *pageClient) get(path string) (int, string) {
	p.t.Helper()
	resp, err := p.c.Get(p.srv.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// post posts form to path and returns the response (body read).
func (p *pageClient) post(path string, form url.Values) *http.Response {
	p.t.Helper()
	resp, err := p.c.PostForm(p.srv.URL+path, form)
	if err != nil {
		p.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// Without box.status_password the page offers no login and no action,
// and every action is refused.
func TestStatusPageWithoutPasswordOffersNothing(t *testing.T) {
	b := testBox(t)
	p := newPageClient(t, b)
	code, page := p.get("/")
	if code != http.StatusOK || strings.Contains(page, "<form") || strings.Contains(page, "password") {
		t.Errorf("page %d offers a form:\n%s", code, page)
	}
	if r := p.post("/login", url.Values{"password": {""}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("POST /login: %d, want 404", r.StatusCode)
	}
	for _, path := range []string{"/sync", "/retry", "/logout"} {
		if r := p.post(path, url.Values{"csrf": {"00"}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", path, r.StatusCode)
		}
	}
}

// With a password: the read-only page stays open and shows a login form;
// the right password gets an HttpOnly, SameSite=Strict cookie of 8 hours;
// logged in, the page offers sync now and retry, which need the CSRF
// token of the session; a forged or expired cookie is no session; log
// out ends it. The password never reaches the log.
func TestStatusPageLoginAndActions(t *testing.T) {
	var logBuf syncBuffer
	cfg := testConfig(t)
	cfg.Box.StatusPassword = config.Secret(testStatusPassword)
	b := testBoxWith(t, cfg, testDevices(), Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	b.auth.clock = func() time.Time { return now }
	p := newPageClient(t, b)

	_, page := p.get("/")
	if !strings.Contains(page, `id="state"`) || !strings.Contains(page, `action="/login"`) || strings.Contains(page, "Sync now") {
		t.Fatalf("the page before login:\n%s", page)
	}
	if r := p.post("/sync", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST /sync before login: %d, want 403", r.StatusCode)
	}
	r := p.post("/login", url.Values{"password": {"wrong password"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?m=badlogin" || len(r.Cookies()) != 0 {
		t.Errorf("wrong password: %d to %q, cookies %v", r.StatusCode, r.Header.Get("Location"), r.Cookies())
	}
	if _, page := p.get("/?m=badlogin"); !strings.Contains(page, "Wrong password.") {
		t.Error("the page does not say the password was wrong")
	}

	r = p.post("/login", url.Values{"password": {testStatusPassword}})
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	c := r.Cookies()[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 8*3600 ||
		!c.Expires.Equal(now.Add(8*time.Hour).Truncate(time.Second)) || c.Path != "/" {
		t.Errorf("session cookie %+v", c)
	}
	_, page = p.get("/")
	m := csrfField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "Sync now") || strings.Contains(page, `action="/login"`) {
		t.Fatalf("the page after login:\n%s", page)
	}
	checkSelfContained(t, page)
	csrf := m[1]

	if r := p.post("/sync", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST /sync without the CSRF token: %d, want 403", r.StatusCode)
	}
	if r := p.post("/sync", url.Values{"csrf": {strings.Repeat("0", len(csrf))}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST /sync with a wrong CSRF token: %d, want 403", r.StatusCode)
	}
	if r := p.post("/sync", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?m=sync" {
		t.Errorf("POST /sync: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if !strings.Contains(logBuf.String(), `action="sync now"`) {
		t.Errorf("the sync action is not in the log:\n%s", logBuf.String())
	}
	if r := p.post("/retry", url.Values{"csrf": {csrf}, "id": {"no-such-recording"}}); r.Header.Get("Location") != "/?m=noretry" {
		t.Errorf("POST /retry of an unknown recording: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}

	// Another client with a forged cookie, and this one past the expiry.
	forged := newPageClient(t, b)
	u, _ := url.Parse(forged.srv.URL)
	parts := strings.Split(c.Value, ".")
	parts[0] = "9999999999"
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Join(parts, ".")}})
	if _, page := forged.get("/"); strings.Contains(page, "Sync now") {
		t.Error("a cookie with a changed expiry is a session")
	}
	now = now.Add(8 * time.Hour)
	if _, page := p.get("/"); strings.Contains(page, "Sync now") {
		t.Error("the session outlives 8 hours")
	}
	if r := p.post("/sync", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST /sync with an expired session: %d, want 403", r.StatusCode)
	}

	now = now.Add(time.Minute)
	p.post("/login", url.Values{"password": {testStatusPassword}})
	_, page = p.get("/")
	csrf = csrfField.FindStringSubmatch(page)[1]
	if r := p.post("/logout", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("log out: %d", r.StatusCode)
	}
	if _, page := p.get("/"); strings.Contains(page, "Sync now") {
		t.Error("still logged in after log out")
	}
	if strings.Contains(logBuf.String(), testStatusPassword) || strings.Contains(logBuf.String(), "wrong password") {
		t.Errorf("the log holds a password:\n%s", logBuf.String())
	}
}

// Five failed logins in a minute lock the login for the rest of that
// minute (429, even with the right password); then it opens again.
func TestStatusPageLoginRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Box.StatusPassword = config.Secret(testStatusPassword)
	b := testBoxWith(t, cfg, testDevices(), Options{})
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	b.auth.clock = func() time.Time { return now }
	p := newPageClient(t, b)
	for i := range 5 {
		if r := p.post("/login", url.Values{"password": {"guess"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("failed login %d: %d, want 303", i+1, r.StatusCode)
		}
		now = now.Add(time.Second)
	}
	r := p.post("/login", url.Values{"password": {testStatusPassword}})
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || len(r.Cookies()) != 0 {
		t.Fatalf("sixth login within a minute: %d, Retry-After %q, cookies %v", r.StatusCode, r.Header.Get("Retry-After"), r.Cookies())
	}
	now = now.Add(time.Minute)
	if r := p.post("/login", url.Values{"password": {testStatusPassword}}); r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Errorf("login a minute later: %d, cookies %v", r.StatusCode, r.Cookies())
	}
}

// firstFrameSource wraps a capture source: firstFrame is closed when the
// recorder has taken the first sample of a stream (the stream is then the
// recorder's, and Still answers).
type firstFrameSource struct {
	hal.CaptureSource
	once       sync.Once
	firstFrame chan struct{}
}

func (s *firstFrameSource) Open(ctx context.Context) (hal.Stream, error) {
	st, err := s.CaptureSource.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &firstFrameStream{Stream: st, s: s}, nil
}

type firstFrameStream struct {
	hal.Stream
	s    *firstFrameSource
	seen bool
}

func (st *firstFrameStream) Next(ctx context.Context) (hal.Sample, error) {
	if st.seen {
		st.s.once.Do(func() { close(st.s.firstFrame) })
	}
	smp, err := st.Stream.Next(ctx)
	st.seen = err == nil
	return smp, err
}

func (st *firstFrameStream) Still(ctx context.Context) (image.Image, error) {
	return st.Stream.(hal.Stiller).Still(ctx)
}

// recordingBox is a box recording an ad-hoc "Still life" from a w×h fake
// camera, once its first frame has passed; the recording stops at the
// test's end.
func recordingBox(t testing.TB, cfg *config.Config, w, h int) *box {
	t.Helper()
	dev := testDevices()
	src := &firstFrameSource{CaptureSource: haltest.NewFakeCamera(haltest.CameraConfig{Width: w, Height: h, FPS: 5}), firstFrame: make(chan struct{})}
	dev.Capture = src
	b := testBoxWith(t, cfg, dev, Options{})
	if _, err := b.recorder.Start("still-1", capture.Meta{Title: "Still life"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := b.recorder.Close(); err != nil {
			t.Errorf("closing the recorder: %v", err)
		}
	})
	select {
	case <-src.firstFrame:
	case <-t.Context().Done():
	}
	return b
}

// /still.jpg: a 503 that says why while nothing records; while something
// does, a JPEG of the picture, scaled to the page, within its budget, and
// the page shows it.
func TestStatusStill(t *testing.T) {
	p := newPageClient(t, testBox(t))
	code, body := p.get("/still.jpg")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "nothing is recording") {
		t.Errorf("still while idle: %d %q", code, body)
	}
	if _, page := p.get("/"); strings.Contains(page, "still.jpg") {
		t.Error("the idle page shows a still")
	}

	b := recordingBox(t, testConfig(t), 1280, 720)
	p = newPageClient(t, b)
	resp, err := p.c.Get(p.srv.URL + "/still.jpg")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("still: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != (image.Point{320, 180}) {
		t.Errorf("still is %v, want 320x180 (1280x720 by 4)", got)
	}
	if len(data) > stillBudget {
		t.Errorf("still is %d bytes, over its budget of %d", len(data), stillBudget)
	}
	t.Logf("still: %d bytes", len(data))
	if _, page := p.get("/"); !strings.Contains(page, `src="/still.jpg"`) || !strings.Contains(page, "Still life") {
		t.Errorf("the recording page lacks the still:\n%s", page)
	}
}

// thumbnail keeps the picture: a flat colour stays that colour, in
// Y'CbCr and in RGBA alike.
func TestThumbnail(t *testing.T) {
	yc := image.NewYCbCr(image.Rect(0, 0, 1920, 1080), image.YCbCrSubsampleRatio420)
	for i := range yc.Y {
		yc.Y[i] = 81
	}
	for i := range yc.Cb {
		yc.Cb[i], yc.Cr[i] = 90, 240
	}
	small := thumbnail(yc, stillWidth).(*image.YCbCr)
	if got := small.Bounds().Size(); got != (image.Point{384, 216}) {
		t.Errorf("1920x1080 to %v, want 384x216", got)
	}
	if c := small.YCbCrAt(100, 100); c.Y != 81 || c.Cb != 90 || c.Cr != 240 {
		t.Errorf("colour %v, want Y 81 Cb 90 Cr 240", c)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 800, 600))
	for i := 0; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2], rgba.Pix[i+3] = 200, 30, 30, 255
	}
	out := thumbnail(rgba, stillWidth)
	if got := out.Bounds().Size(); got != (image.Point{400, 300}) {
		t.Errorf("800x600 to %v", got)
	}
	if r, g, bl, _ := out.At(10, 10).RGBA(); r>>8 != 200 || g>>8 != 30 || bl>>8 != 30 {
		t.Errorf("colour %d %d %d, want 200 30 30", r>>8, g>>8, bl>>8)
	}
}

// Logged in, an upload stopped by a fault gets a retry button that posts
// its id with the session's CSRF token; the others get none, and logged
// out none has one.
func TestStatusPageRetryButton(t *testing.T) {
	p := statusPage{Box: "Room 204", State: "fault", LoggedIn: true, CSRF: "c0ffee",
		Queue: []pageRow{{What: "Stuck", ID: "rec-stuck", Retry: true}, {What: "Fine", ID: "rec-fine"}}}
	var out strings.Builder
	if err := statusTemplate.Execute(&out, p); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	want := `<form method="post" action="/retry"><input type="hidden" name="csrf" value="c0ffee"><input type="hidden" name="id" value="rec-stuck"><button>Retry</button></form>`
	if !strings.Contains(page, want) || strings.Count(page, `action="/retry"`) != 1 {
		t.Errorf("the page's retry buttons:\n%s", page)
	}
	checkSelfContained(t, page)
	p.LoggedIn = false
	out.Reset()
	if err := statusTemplate.Execute(&out, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `action="/retry"`) {
		t.Error("a retry button without a login")
	}
}
