package firmware

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/ledger"
)

// The status page in a real browser: Debian's chromium, headless, run on
// the page that the real handlers serve on loopback for a box with fake
// devices that records. CAPTUREBOX_REQUIRE_CHROMIUM=1 (make test) makes a
// missing chromium a failure; elsewhere the test is skipped.

// chromiumPath returns Debian's chromium, or skips (fails when
// CAPTUREBOX_REQUIRE_CHROMIUM=1) without one.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	// Under qemu-user (make test-qemu) the page is the same bytes; the
	// host's browser is not what the ARM run is for.
	if emu := os.Getenv("CAPTUREBOX_TEST_EXEC"); emu != "" {
		tb.Skipf("under %s: the native run renders the page in chromium", emu)
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CAPTUREBOX_REQUIRE_CHROMIUM") == "1" {
		tb.Fatal("chromium not found and CAPTUREBOX_REQUIRE_CHROMIUM=1: run scripts/ensure-tools.sh chromium")
	}
	tb.Skip("chromium not found (scripts/ensure-tools.sh chromium installs it)")
	return ""
}

// chromium runs headless chromium once on url with extra (--screenshot=…
// or --dump-dom) and returns its standard output.
func chromium(tb testing.TB, bin, url string, extra ...string) []byte {
	tb.Helper()
	home := tb.TempDir()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--window-size=1024,768"}, extra...)
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("chromium %s: %v\n%s", strings.Join(extra, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// servedLog counts what the server answered: bytes per path.
type servedLog struct {
	mu    sync.Mutex
	bytes map[string]int
}

func (l *servedLog) total() (n int, paths []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, b := range l.bytes {
		n += b
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return n, paths
}

func (l *servedLog) reset() {
	l.mu.Lock()
	l.bytes = map[string]int{}
	l.mu.Unlock()
}

type countingWriter struct {
	http.ResponseWriter
	n int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += n
	return n, err
}

// countBytes serves h, adding the body bytes of each answer to l.
func (l *servedLog) countBytes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		l.mu.Lock()
		l.bytes[r.URL.Path] += cw.n
		l.mu.Unlock()
	})
}

// chromiumBox serves the status page of a recording box with a fault, a
// long ledger and a login on loopback, counting what it serves.
func chromiumBox(tb testing.TB) (url string, served *servedLog) {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.Box.StatusPassword = config.Secret(testStatusPassword)
	b := recordingBox(tb, cfg, 1280, 720)
	for i := range 60 {
		b.ledger.add(ledger.Record{Event: "1", Ref: 1, Title: fmt.Sprintf("CHEM 101 lecture %d", i), Step: ledger.StepSeen})
	}
	mux := http.NewServeMux()
	b.statusRoutes(mux)
	served = &servedLog{bytes: map[string]int{}}
	srv := httptest.NewServer(served.countBytes(mux))
	tb.Cleanup(srv.Close)
	return srv.URL + "/", served
}

// badgeRed is the recording badge's background, #c00.
var badgeRed = [3]uint8{0xcc, 0, 0}

func TestStatusPageChromium(t *testing.T) {
	bin := chromiumPath(t)
	url, served := chromiumBox(t)

	// It renders: the DOM after load holds the state and the still.
	dom := string(chromium(t, bin, url, "--dump-dom"))
	for _, want := range []string{`id="state">recording<`, "Still life", `src="/still.jpg"`, `action="/login"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q:\n%s", want, dom)
		}
	}

	// The screenshot: the right size, not blank, the badge's red in it,
	// and all the page loaded under 50 KiB.
	served.reset()
	shot := filepath.Join(t.TempDir(), "s.png")
	chromium(t, bin, url, "--screenshot="+shot)
	total, paths := served.total()
	t.Logf("chromium loaded %d bytes: %s", total, strings.Join(paths, " "))
	if total >= 50<<10 {
		t.Errorf("the page and what it loads are %d bytes, want under 50 KiB", total)
	}
	if !slices.Contains(paths, "/") || !slices.Contains(paths, "/still.jpg") {
		t.Errorf("chromium loaded %v, want the page and its still", paths)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	if got := img.Bounds().Size(); got != (image.Point{1024, 768}) {
		t.Errorf("screenshot is %v, want 1024x768", got)
	}
	colours, badge := map[[3]uint8]int{}, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
			colours[c]++
			if near(c, badgeRed, 8) {
				badge++
			}
		}
	}
	t.Logf("screenshot: %d distinct colours, %d pixels of the badge's red", len(colours), badge)
	if len(colours) < 16 {
		t.Errorf("the screenshot has %d distinct colours: blank?", len(colours))
	}
	if badge < 100 {
		t.Errorf("the screenshot has %d pixels of the recording badge's red #c00, want a badge", badge)
	}
}

// near reports whether colours a and b differ by at most tol in each
// channel.
func near(a, b [3]uint8, tol int) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
			return false
		}
	}
	return true
}

// BenchmarkStatusPageChromium is the page's render time in a browser on
// loopback (make bench-status): one headless chromium run per iteration,
// from launch to the screenshot of the loaded page, its still included.
// It reports the mean (ns/op) and the worst run (worst-ms).
func BenchmarkStatusPageChromium(b *testing.B) {
	bin := chromiumPath(b)
	url, _ := chromiumBox(b)
	shot := filepath.Join(b.TempDir(), "s.png")
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		chromium(b, bin, url, "--screenshot="+shot)
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
	if _, err := os.Stat(shot); errors.Is(err, os.ErrNotExist) {
		b.Fatal("no screenshot")
	}
}

// BenchmarkStatusPageServe is the box's side of a render: the page and its
// still, served on loopback (make bench-status).
func BenchmarkStatusPageServe(b *testing.B) {
	url, _ := chromiumBox(b)
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		for _, path := range []string{"", "still.jpg"} {
			resp, err := http.Get(url + path)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
}

// devtools drives one headless chromium over --remote-debugging-pipe (the
// DevTools protocol as JSON messages ending in a NUL byte, on the child's
// file descriptors 3 and 4), so that a render is timed without the
// browser's launch.
type devtools struct {
	tb      testing.TB
	w       io.Writer
	r       *bufio.Reader
	id      int
	session string
	events  map[string]int // events seen and not yet waited for
}

// devtoolsMessage is a message of the protocol, command, answer or event.
type devtoolsMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

// startDevtools launches chromium on about:blank and attaches to its page.
func startDevtools(tb testing.TB, bin string) *devtools {
	tb.Helper()
	home := tb.TempDir()
	toChrome, ours, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	fromChrome, theirs, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--remote-debugging-pipe", "--user-data-dir="+filepath.Join(home, "profile"),
		"--window-size=1024,768", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.ExtraFiles = []*os.File{toChrome, theirs}
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	toChrome.Close()
	theirs.Close()
	tb.Cleanup(func() {
		ours.Close()
		cancel()
		cmd.Wait()
		fromChrome.Close()
	})
	d := &devtools{tb: tb, w: ours, r: bufio.NewReader(fromChrome), events: map[string]int{}}
	var targets struct {
		TargetInfos []struct{ TargetID, Type string } `json:"targetInfos"`
	}
	d.call("Target.getTargets", nil, &targets)
	for _, t := range targets.TargetInfos {
		if t.Type == "page" {
			var att struct{ SessionID string }
			d.call("Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &att)
			d.session = att.SessionID
			break
		}
	}
	if d.session == "" {
		tb.Fatalf("chromium shows no page: %+v", targets)
	}
	d.call("Page.enable", nil, nil)
	return d
}

// read returns the next message.
func (d *devtools) read() devtoolsMessage {
	d.tb.Helper()
	line, err := d.r.ReadBytes(0)
	if err != nil {
		d.tb.Fatalf("devtools: %v", err)
	}
	var m devtoolsMessage
	if err := json.Unmarshal(line[:len(line)-1], &m); err != nil {
		d.tb.Fatalf("devtools: %v: %s", err, line)
	}
	return m
}

// call sends a command (to the page once attached) and decodes its result
// into result; the events that come meanwhile are kept for waitEvent.
func (d *devtools) call(method string, params, result any) {
	d.tb.Helper()
	d.id++
	msg, err := json.Marshal(devtoolsMessage{ID: d.id, Method: method, Params: params, SessionID: d.session})
	if err != nil {
		d.tb.Fatal(err)
	}
	if _, err := d.w.Write(append(msg, 0)); err != nil {
		d.tb.Fatalf("devtools %s: %v", method, err)
	}
	for {
		m := d.read()
		switch {
		case m.ID == d.id && len(m.Error) > 0:
			d.tb.Fatalf("devtools %s: %s", method, m.Error)
		case m.ID == d.id:
			if result != nil {
				if err := json.Unmarshal(m.Result, result); err != nil {
					d.tb.Fatalf("devtools %s: %v", method, err)
				}
			}
			return
		case m.Method != "":
			d.events[m.Method]++
		}
	}
}

// waitEvent returns once the page sent the event method.
func (d *devtools) waitEvent(method string) {
	d.tb.Helper()
	for d.events[method] == 0 {
		if m := d.read(); m.Method != "" {
			d.events[m.Method]++
		}
	}
	d.events[method]--
}

// render loads url in the page and returns the times from the navigation
// to the load event (the page and its still fetched and laid out) and to
// a screenshot of it (painted).
func (d *devtools) render(url string) (load, painted time.Duration) {
	d.tb.Helper()
	clear(d.events)
	start := time.Now()
	d.call("Page.navigate", map[string]any{"url": url}, nil)
	d.waitEvent("Page.loadEventFired")
	load = time.Since(start)
	var shot struct{ Data []byte }
	d.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	painted = time.Since(start)
	if _, err := png.DecodeConfig(bytes.NewReader(shot.Data)); err != nil {
		d.tb.Fatalf("screenshot: %v", err)
	}
	return load, painted
}

// BenchmarkStatusPageRender is the page's render time in chromium on
// loopback, without the browser's launch (make bench-status): per
// iteration one navigation to the page, to its load event (page and still
// loaded) and a screenshot (painted). ns/op is the mean to the screenshot;
// worst-ms the worst; load-ms the mean to the load event.
func BenchmarkStatusPageRender(b *testing.B) {
	bin := chromiumPath(b)
	url, _ := chromiumBox(b)
	d := startDevtools(b, bin)
	d.render(url) // the first navigation starts the renderer
	var worst, loads time.Duration
	n := 0
	for b.Loop() {
		load, painted := d.render(url)
		worst, loads, n = max(worst, painted), loads+load, n+1
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
	b.ReportMetric(float64(loads)/float64(n)/float64(time.Millisecond), "load-ms")
}
