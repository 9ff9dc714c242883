package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
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
