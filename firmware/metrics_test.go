package firmware

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/hal/haltest"
)

// promtool finds promtool: .cache/promtool (scripts/ensure-tools.sh
// promtool), then PATH. With CAPTUREBOX_REQUIRE_PROMTOOL=1 (make test) a
// missing promtool fails the test instead of skipping it.
func promtool(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(file), "..", ".cache", "promtool", "promtool")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CAPTUREBOX_REQUIRE_PROMTOOL") == "1" {
		t.Fatal("promtool is missing: run scripts/ensure-tools.sh promtool")
	}
	t.Skip("promtool is missing (scripts/ensure-tools.sh promtool)")
	return ""
}

func testBox(t *testing.T) *box {
	t.Helper()
	return testBoxWith(t, testConfig(t), testDevices(), Options{})
}

// testConfig is testBox's configuration: Room 204, data in a temporary
// directory.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Box.Name = "Room 204"
	cfg.Box.DataDir = filepath.Join(dir, "data")
	cfg.Recording.Dir = filepath.Join(dir, "data", "recordings")
	cfg.Kaltura.PartnerID = 123
	cfg.Kaltura.AppTokenID = "0_ab12cd34"
	cfg.Kaltura.AppToken = config.Secret(strings.Repeat("ab", 16))
	cfg.Kaltura.ResourceID = 59
	return cfg
}

// testDevices are testBox's fakes: a 32×32 camera at 2 fps.
func testDevices() Devices {
	return Devices{LED: haltest.NewFakeLED(time.Now), Button: haltest.NewFakeButton(time.Now),
		Capture:  haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}),
		TimeSync: haltest.NewFakeTimeSync(true)}
}

// testBoxWith builds the box of cfg, dev and opts, not running.
func testBoxWith(t testing.TB, cfg *config.Config, dev Devices, opts Options) *box {
	t.Helper()
	b, err := newBox(cfg, dev, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The metrics a scrape returns are valid for promtool, and say the box's
// state: a fault, the recordings made and failed, the queue.
func TestMetricsScrape(t *testing.T) {
	b := testBox(t)
	b.faults.set("capture", "NO SIGNAL")
	b.ledger.add(ledger.Record{Event: "1", Step: ledger.StepOpened, Rec: "1-p1-x"})
	b.ledger.add(ledger.Record{Event: "2", Step: ledger.StepOpened, Reason: ledger.DiskFull})
	if _, err := b.guard.Check(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.metrics.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	text := string(body)
	t.Logf("scrape:\n%s", text)
	for _, want := range []string{
		`capturebox_state{state="fault"} 1`, `capturebox_state{state="idle"} 0`,
		`capturebox_fault{source="capture",text="NO SIGNAL"} 1`,
		`capturebox_recordings_total{outcome="made"} 1`, `capturebox_recordings_total{outcome="failed"} 1`,
		`capturebox_upload_queue_length 0`, `capturebox_upload_bytes_total 0`, "capturebox_disk_free_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	if strings.Contains(text, "capturebox_last_sync_age_seconds") {
		t.Error("a sync age before any sync")
	}
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// The metrics server serves /metrics until the box stops (serve listens on
// box.metrics_address and hands the listener to serveOn).
func TestMetricsServe(t *testing.T) {
	b := testBox(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.metrics.serveOn(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "capturebox_state") {
		t.Errorf("/metrics: %d %s", resp.StatusCode, body)
	}
	if resp, err = http.Get("http://" + ln.Addr().String() + "/"); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `id="state"`) {
		t.Errorf("/: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("serve returned %v", err)
	}
}
