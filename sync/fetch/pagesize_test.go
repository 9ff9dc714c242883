package fetch_test

import (
	"context"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
)

// TestPageSize: sync.page_size reaches the pager: 250 events in pages of
// 100 are three list calls, each asking for 100.
func TestPageSize(t *testing.T) {
	e := newSimEnv(t)
	e.generate(250, t0.Add(time.Hour), time.Hour)
	e.ready()
	h := e.https(t, func(o *fetch.HTTPSOptions) { o.PageSize = 100 })
	l, err := h.Fetch(context.Background(), fetch.Request{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 250 || len(l.Pages) != 3 {
		t.Fatalf("total %d in %d pages, want 250 in 3", l.Total, len(l.Pages))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, r := range e.requests {
		if got := r.Get("pager:pageSize"); got != "100" {
			t.Errorf("list call %d asked for %s events, want 100", i+1, got)
		}
	}
}
