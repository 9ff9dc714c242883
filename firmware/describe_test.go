package firmware

import (
	"testing"
	"time"

	"github.com/capturebox/capturebox/capture"
)

// The entry's description tells viewers, in local time, where a joined
// lecture has gaps and where its sound was silent or its picture black.
func TestDescribeNotes(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, time.UTC) }
	got := describe("Course recording", []capture.Span{{Start: at(9, 20), End: at(9, 22)}},
		capture.Notes{Silences: []capture.Span{{Start: at(9, 30), End: at(9, 31)}, {Start: at(9, 40), End: at(9, 45)}},
			Black: []capture.Span{{Start: at(9, 50), End: at(9, 52)}}}, loc)
	want := `Course recording

This recording has a gap (the capture box was stopped or restarted):
- 10:20:00 to 10:22:00 CET (2m0s missing)

The sound is silent 2 times (the microphone may have been muted):
- 10:30:00 to 10:31:00 CET (1m0s silent)
- 10:40:00 to 10:45:00 CET (5m0s silent)

The picture is black for a while (the source may have been asleep or muted):
- 10:50:00 to 10:52:00 CET (2m0s black)`
	if got != want {
		t.Errorf("description:\n%s\nwant:\n%s", got, want)
	}
	if got := describe("", nil, capture.Notes{}, loc); got != "" {
		t.Errorf("nothing to note gives %q", got)
	}
	if got := describe("", nil, capture.Notes{Black: []capture.Span{{Start: at(9, 50), End: at(9, 52)}}}, loc); got[:10] != "The pictur" {
		t.Errorf("a note without a description starts %q", got)
	}
}
