package fetch

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/upload/kaltura"
)

func crlf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func TestScanPage(t *testing.T) {
	ev := func(id string, extra ...string) []string {
		l := []string{"BEGIN:VEVENT", "SUMMARY:x", "SEQUENCE:12", "DTSTART:20250915T130000Z", "DTSTAMP:20250901T080312Z", "X-KALTURA-ID:" + id}
		l = append(l, extra...)
		return append(l, "END:VEVENT")
	}
	cal := func(parts ...[]string) []byte {
		l := []string{"BEGIN:VCALENDAR"}
		for _, p := range parts {
			l = append(l, p...)
		}
		return crlf(append(l, "END:VCALENDAR")...)
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		ids    []int64
		total  int
		errHas string
	}{
		{"two events and a total", cal(ev("7"), ev("9"), []string{"X-KALTURA-TOTAL-COUNT:31"}), []int64{7, 9}, 31, ""},
		{"no total (FTP)", cal(ev("7")), []int64{7}, -1, ""},
		{"empty list", cal([]string{"X-KALTURA-TOTAL-COUNT:0"}), nil, 0, ""},
		{"FTP wrapper with LF", []byte("BEGIN:VCALENDAR\n" + string(crlf(ev("5")...)) + "\nEND:VCALENDAR"), []int64{5}, -1, ""},
		{"BOM and blank lines", append([]byte("\xef\xbb\xbf\r\n"), cal(ev("5"))...), []int64{5}, -1, ""},
		// A raw newline in DESCRIPTION that looks like an id comes before
		// the real X-KALTURA-ID: the last one wins.
		{"fake id in description", cal([]string{"BEGIN:VEVENT", "DESCRIPTION:see", "X-KALTURA-ID:666", "X-KALTURA-ID:8", "END:VEVENT"}), []int64{8}, -1, ""},
		{"event without id", cal([]string{"BEGIN:VEVENT", "SUMMARY:x", "END:VEVENT"}), nil, 0, "no X-KALTURA-ID"},
		{"bad id", cal(ev("abc")), nil, 0, "bad X-KALTURA-ID"},
		{"truncated in an event", cal(ev("7"))[:40], nil, 0, "truncated"},
		{"truncated between events", crlf(append([]string{"BEGIN:VCALENDAR"}, ev("7")...)...), nil, 0, "no END:VCALENDAR"},
		{"html", []byte("<html><body>Please log in</body></html>"), nil, 0, "not an iCalendar"},
		{"empty body", nil, nil, 0, "not an iCalendar"},
		{"nested", cal([]string{"BEGIN:VEVENT", "BEGIN:VEVENT"}), nil, 0, "nested"},
		{"bad total", cal([]string{"X-KALTURA-TOTAL-COUNT:x"}), nil, 0, "TOTAL-COUNT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := scanPage(tc.body)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sc.ids, tc.ids) || sc.total != tc.total {
				t.Fatalf("ids %v total %d", sc.ids, sc.total)
			}
			for i, sp := range sc.spans {
				blk := string(tc.body[sp.Start:sp.End])
				if sp.ID != sc.ids[i] || !strings.HasPrefix(blk, "BEGIN:VEVENT") || !strings.HasSuffix(strings.TrimRight(blk, "\r\n"), "END:VEVENT") {
					t.Fatalf("span %d: %+v %q", i, sp, blk)
				}
			}
		})
	}
}

func TestScanPageStampsChangeWithEdits(t *testing.T) {
	a, _ := scanPage(crlf("BEGIN:VCALENDAR", "BEGIN:VEVENT", "SEQUENCE:12", "DTSTAMP:20250901T080312Z", "X-KALTURA-ID:1", "END:VEVENT", "END:VCALENDAR"))
	b, _ := scanPage(crlf("BEGIN:VCALENDAR", "BEGIN:VEVENT", "SEQUENCE:22", "DTSTAMP:20250901T080312Z", "X-KALTURA-ID:1", "END:VEVENT", "END:VCALENDAR"))
	if a.stamps[0] == b.stamps[0] {
		t.Fatal("an edit in the same second went unseen")
	}
}

func TestScanPageVERROR(t *testing.T) {
	body := crlf("BEGIN:VCALENDAR", "BEGIN:VERROR", "X-KALTURA-CODE:INVALID_KS",
		`X-KALTURA-MESSAGE:Invalid KS "EXPIRED", Error "-1,INVALID_STR"`, "X-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR",
		"END:VERROR", "END:VCALENDAR")
	_, err := scanPage(body)
	var ae *kaltura.APIError
	if !errors.As(err, &ae) || ae.Code != "INVALID_KS" || ae.KSReason() != "EXPIRED" {
		t.Fatalf("err %v", err)
	}
	if kaltura.Classify(err) != kaltura.ClassReAuth {
		t.Fatalf("class %v", kaltura.Classify(err))
	}
	// An unparsable KS in the arguments never shows in the error text.
	ks := "djJ8MTIzNDU2N3xabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
	_, err = scanPage(crlf("BEGIN:VCALENDAR", "BEGIN:VERROR", "X-KALTURA-CODE:INVALID_KS",
		`X-KALTURA-MESSAGE:Invalid KS "`+ks+`"`, "X-KALTURA-ARGUMENTS:"+ks, "END:VERROR", "END:VCALENDAR"))
	if err == nil || strings.Contains(err.Error(), ks) {
		t.Fatalf("err %v", err)
	}
}

func FuzzScanPage(f *testing.F) {
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nX-KALTURA-ID:1\r\nEND:VEVENT\r\nX-KALTURA-TOTAL-COUNT:1\r\nEND:VCALENDAR\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scanPage(b)
		if err == nil && (len(sc.ids) != len(sc.stamps) || len(sc.ids) != len(sc.spans)) {
			t.Fatal("ids and stamps differ in length")
		}
	})
}
