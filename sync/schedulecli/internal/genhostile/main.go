// Command genhostile writes the iCal inputs that scripts/bench-schedule.sh
// measures `capturebox schedule` against: an ordinary 10,000-event
// listing and the hostile inputs of issue 14 (4,000 identical overlapping
// events; one SECONDLY series of 75-minute events within the 10,000-instance
// cap; a 62 MB file of 120,000 ordinary events; a 70 MB file, beyond the
// 64 MiB limit). Every event is on resource 58 in October 2025.
//
//	go run ./sync/schedulecli/internal/genhostile -dir DIR
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var t0 = time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)

const stamp = "20060102T150405Z"

func vevent(w *bufio.Writer, id int64, start time.Time, d time.Duration, desc string, extra ...string) {
	fmt.Fprintf(w, "BEGIN:VEVENT\r\nUID:%08x-9b7d-4c55-8e21-6a9d0f4b7c12\r\nSUMMARY:BIO %d - Lecture\r\n", id, id%1000)
	if desc != "" {
		fmt.Fprintf(w, "DESCRIPTION:%s\r\n", desc)
	}
	fmt.Fprintf(w, "DTSTART:%s\r\nDTEND:%s\r\nDTSTAMP:20250901T080312Z\r\n", start.UTC().Format(stamp), start.Add(d).UTC().Format(stamp))
	fmt.Fprintf(w, "X-KALTURA-ID:%d\r\nX-KALTURA-TYPE:1\r\nX-KALTURA-PARTNER-ID:1234567\r\nX-KALTURA-STATUS:2\r\n", id)
	fmt.Fprintf(w, "X-KALTURA-OWNER-ID:scheduler@uni.example\r\nX-KALTURA-RESOURCE-IDS:58\r\nX-KALTURA-TEMPLATE-ENTRY-ID:1_ab12cd34\r\n")
	fmt.Fprintf(w, "X-KALTURA-CATEGORY-IDS:301,305\r\nRELATED-TO:12>300>301;12>300>305\r\n")
	for _, e := range extra {
		w.WriteString(e + "\r\n")
	}
	w.WriteString("END:VEVENT\r\n")
}

func write(dir, name string, body func(w *bufio.Writer) int) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("BEGIN:VCALENDAR\r\n")
	n := body(w)
	fmt.Fprintf(w, "X-KALTURA-TOTAL-COUNT:%d\r\nEND:VCALENDAR\r\n", n)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	dir := flag.String("dir", ".", "directory to write the files into")
	flag.Parse()
	ordinary := func(n int, desc string) func(w *bufio.Writer) int {
		return func(w *bufio.Writer) int {
			// Spread over the month, 75 minutes each: neighbours overlap
			// as a busy room's do.
			step := 30 * 24 * time.Hour / time.Duration(n)
			for i := 0; i < n; i++ {
				vevent(w, int64(7000000+i), t0.Add(time.Duration(i)*step), 75*time.Minute, desc)
			}
			return n
		}
	}
	files := []struct {
		name string
		body func(w *bufio.Writer) int
	}{
		{"ordinary10k.ics", ordinary(10000, "Weekly lecture, room 204; bring notes")},
		{"identical4000.ics", func(w *bufio.Writer) int {
			for i := 0; i < 4000; i++ {
				vevent(w, int64(8000000+i), t0.Add(9*time.Hour), time.Hour, "")
			}
			return 4000
		}},
		{"secondly.ics", func(w *bufio.Writer) int {
			vevent(w, 9000000, t0.Add(9*time.Hour), 75*time.Minute, "", "RRULE:FREQ=SECONDLY;COUNT=10000")
			return 1
		}},
		// 120,000 events of about 520 bytes: 62 MB, under the 64 MiB limit.
		{"big62mb.ics", ordinary(120000, strings.Repeat("Lecture notes and reading list. ", 3))},
		// About 70 MB: beyond the limit, refused.
		{"huge70mb.ics", ordinary(135000, strings.Repeat("Lecture notes and reading list. ", 3))},
	}
	for _, f := range files {
		if err := write(*dir, f.name, f.body); err != nil {
			fmt.Fprintln(os.Stderr, "genhostile:", err)
			os.Exit(1)
		}
	}
}
