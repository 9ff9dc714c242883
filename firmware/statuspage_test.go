package firmware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/firmware/ledger"
)

// checkSelfContained fails unless every reference of page (src, href,
// action) is a path of the box itself, and it has no script and loads no
// style from elsewhere.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	if m := regexp.MustCompile(`(?i)https?://|<script|@import|url\(|\son[a-z]+\s*=`).FindString(page); m != "" {
		t.Errorf("the page refers to something outside itself or runs script: %q", m)
	}
	for _, m := range regexp.MustCompile(`(?i)\b(src|href|action)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`).FindAllStringSubmatch(page, -1) {
		v := strings.Trim(m[2], `"'`)
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			t.Errorf("the page refers to %s=%q, not a path of the box", m[1], v)
		}
	}
}

// The status page says the state, the faults and today's ledger, refers to
// nothing outside itself, and stays under 50 KiB even with a long ledger.
func TestStatusPage(t *testing.T) {
	b := testBox(t)
	b.faults.set("capture", "NO SIGNAL")
	for i := range 500 {
		b.ledger.add(ledger.Record{Event: "1", Ref: 1, Title: "CHEM <101> & co", Step: ledger.StepSeen, Detail: strings.Repeat("x", i%50)})
	}
	srv := httptest.NewServer(http.HandlerFunc(b.serveStatus))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	if len(body) >= 50<<10 {
		t.Errorf("the page is %d bytes, want under 50 KiB", len(body))
	}
	t.Logf("page: %d bytes", len(body))
	for _, want := range []string{`id="state">fault<`, "capture: NO SIGNAL", "CHEM &lt;101&gt; &amp; co", "seen in the schedule (sync)", "Room 204"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	checkSelfContained(t, page)
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
		t.Errorf("Content-Type %q", got)
	}
}
