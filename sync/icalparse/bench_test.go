package icalparse

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkParse500 parses one full page (500 events, the page size the
// box asks for) in the current format.
func BenchmarkParse500(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("BEGIN:VCALENDAR\r\n")
	for i := 0; i < 500; i++ {
		sb.WriteString(vevent(strconv.Itoa(7000000+i),
			"UID:3f0c2a1e-9b7d-4c55-8e21-6a9d0f4b7c12",
			"DESCRIPTION:Weekly lecture, room 204; bring notes",
			"X-KALTURA-TEMPLATE-ENTRY-ID:1_ab12cd34",
			"X-KALTURA-CATEGORY-IDS:301,305",
			"RELATED-TO:12>300>301;12>300>305",
			"DTSTAMP:20250901T080312Z"))
	}
	sb.WriteString("X-KALTURA-TOTAL-COUNT:500\r\nEND:VCALENDAR\r\n")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		cal, err := Parse(bytes.NewReader(data), Options{})
		if err != nil || len(cal.Events) != 500 {
			b.Fatalf("%v %d", err, len(cal.Events))
		}
	}
}
