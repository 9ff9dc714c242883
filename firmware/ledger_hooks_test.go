package firmware

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/sync/schedule"
)

// failingRecorder fails every start and finish with err.
type failingRecorder struct{ err error }

func (f failingRecorder) Start(context.Context, controller.Rec) error { return f.err }
func (f failingRecorder) Finish(context.Context, controller.Rec, controller.Disposition, string) error {
	return f.err
}
func (f failingRecorder) Join(context.Context, controller.Rec, []string) error { return f.err }

// A start that fails on a full disk is in the ledger as "disk full", once
// however often the controller retries it; a stop that fails likewise.
func TestLedgerFailedStepsWrittenOnce(t *testing.T) {
	b := testBox(t)
	r := ledgerRecorder{inner: failingRecorder{fmt.Errorf("capture: create: %w", syscall.ENOSPC)}, b: b}
	start := time.Now().Truncate(time.Minute)
	rec := controller.Rec{ID: "4711-p1-x", Part: 1, Started: start,
		Occ: schedule.Occurrence{Key: "4711", EventID: 4711, Title: "CHEM 101", Start: start, End: start.Add(time.Hour)}}
	for range 5 {
		if err := r.Start(t.Context(), rec); err == nil {
			t.Fatal("start did not fail")
		}
	}
	for range 3 {
		if err := r.Finish(t.Context(), rec, controller.Publish, "event ended"); err == nil {
			t.Fatal("finish did not fail")
		}
	}
	recs, err := b.ledger.l.Event("4711")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records for 5 failed starts and 3 failed stops, want 2: %+v", len(recs), recs)
	}
	var out bytes.Buffer
	if err := b.ledger.l.Why(&out, "4711", b.now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "recording not started: the disk was full") {
		t.Errorf("why 4711:\n%s", out.String())
	}
}
