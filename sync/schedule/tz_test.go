package schedule

import (
	"testing"
	"time"
)

func TestResolveLocal(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	lon, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	lhi, err := time.LoadLocation("Australia/Lord_Howe") // 30-minute DST shift
	if err != nil {
		t.Fatal(err)
	}
	w := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		name string
		wall time.Time
		loc  *time.Location
		want string // UTC
	}{
		{"ny winter", w(2025, 1, 14, 9, 0), ny, "2025-01-14T14:00:00Z"},
		{"ny summer", w(2025, 7, 14, 9, 0), ny, "2025-07-14T13:00:00Z"},
		{"ny gap", w(2025, 3, 9, 2, 30), ny, "2025-03-09T07:30:00Z"},
		{"ny gap start", w(2025, 3, 9, 2, 0), ny, "2025-03-09T07:00:00Z"},
		{"ny after gap", w(2025, 3, 9, 3, 0), ny, "2025-03-09T07:00:00Z"},
		{"ny overlap first", w(2025, 11, 2, 1, 30), ny, "2025-11-02T05:30:00Z"},
		{"ny after overlap", w(2025, 11, 2, 2, 0), ny, "2025-11-02T07:00:00Z"},
		{"london gap", w(2025, 3, 30, 1, 30), lon, "2025-03-30T01:30:00Z"},
		{"london overlap", w(2025, 10, 26, 1, 30), lon, "2025-10-26T00:30:00Z"},
		{"lord howe gap", w(2025, 10, 5, 2, 15), lhi, "2025-10-04T15:45:00Z"},
		{"utc", w(2025, 3, 9, 2, 30), nil, "2025-03-09T02:30:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ResolveLocal(tc.wall, tc.loc).UTC().Format(time.RFC3339)
			if got != tc.want {
				t.Errorf("ResolveLocal(%s) = %s, want %s", tc.wall.Format("2006-01-02 15:04"), got, tc.want)
			}
		})
	}
}
