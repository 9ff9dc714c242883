package icalparse_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capturebox/capturebox/sync/icalparse"
)

// Kaltura's current format: no PRODID or VERSION, a raw comma and
// semicolon in SUMMARY, a raw newline in DESCRIPTION, a TZID the parser
// resolves through the IANA database.
const kalturaICal = "BEGIN:VCALENDAR\r\n" +
	"BEGIN:VEVENT\r\n" +
	"SUMMARY:CHEM 101, Lecture; week 1\r\n" +
	"DESCRIPTION:Bring goggles\r\n" +
	"and a lab coat\r\n" +
	"DTSTART;TZID=America/New_York:20250902T090000\r\n" +
	"DTEND;TZID=America/New_York:20250902T101500\r\n" +
	"X-KALTURA-ID:7341000\r\n" +
	"X-KALTURA-TYPE:1\r\n" +
	"X-KALTURA-STATUS:2\r\n" +
	"X-KALTURA-RESOURCE-IDS:58\r\n" +
	"X-KALTURA-TEMPLATE-ENTRY-ID:1_xy98zw76\r\n" +
	"RRULE:FREQ=WEEKLY;UNTIL=20251216T150000Z;NAME=CHEM 101;BYDAY=TU,TH\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\n" +
	"SUMMARY:broken\r\n" +
	"DTSTART:20250903T130000Z\r\n" +
	"DTEND:20250903T140000Z\r\n" +
	"X-KALTURA-ID:7341001\r\n" +
	"X-KALTURA-TYPE:1\r\n" +
	"X-KALTURA-TEMPLATE-ENTRY-ID:NOT-AN-ID\r\n" +
	"END:VEVENT\r\n" +
	"X-KALTURA-TOTAL-COUNT:2\r\n" +
	"END:VCALENDAR\r\n"

func ExampleParse() {
	cal, err := icalparse.Parse(strings.NewReader(kalturaICal), icalparse.Options{})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, ev := range cal.Events {
		fmt.Printf("%d %q\n", ev.ID, ev.Title)
		fmt.Printf("  description %q\n", ev.Description)
		fmt.Printf("  %s to %s (%s)\n", ev.Start.Format(time.RFC3339), ev.End.Format(time.RFC3339), ev.TZID)
		fmt.Printf("  rule %s, named %q\n", ev.RRule, ev.RRuleName)
	}
	for _, r := range cal.Rejected {
		fmt.Printf("rejected %d at line %d: %s\n", r.EventID, r.Line, r.Reason)
	}
	fmt.Println("total count", cal.TotalCount)
	// Output:
	// 7341000 "CHEM 101, Lecture; week 1"
	//   description "Bring goggles\nand a lab coat"
	//   2025-09-02T13:00:00Z to 2025-09-02T14:15:00Z (America/New_York)
	//   rule FREQ=WEEKLY;UNTIL=20251216T150000Z;BYDAY=TU,TH, named "CHEM 101"
	// rejected 7341001 at line 15: X-KALTURA-TEMPLATE-ENTRY-ID: "NOT-AN-ID" is not exactly 10 characters of [0-9a-z_]
	// total count 2
}

func ExampleKalturaError() {
	const expired = "BEGIN:VCALENDAR\r\n" +
		"BEGIN:VERROR\r\n" +
		"X-KALTURA-CODE:INVALID_KS\r\n" +
		"X-KALTURA-MESSAGE:Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\"\r\n" +
		"X-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR\r\n" +
		"END:VERROR\r\n" +
		"END:VCALENDAR\r\n"
	_, err := icalparse.Parse(strings.NewReader(expired), icalparse.Options{})
	var kerr *icalparse.KalturaError
	if errors.As(err, &kerr) {
		fmt.Println(kerr.Code, kerr.KSReason())
	}
	if errors.Is(err, icalparse.ErrSessionExpired) {
		fmt.Println("renew the session")
	}
	fmt.Println(err)
	// Output:
	// INVALID_KS EXPIRED
	// renew the session
	// kaltura error INVALID_KS (EXPIRED)
}

func ExamplePrepass() {
	raw := "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:a,b\nX-KALTURA-ID:1\nRRULE:FREQ=DAILY;NAME=x;COUNT=2\nEND:VEVENT\nEND:VCALENDAR"
	out, err := icalparse.Prepass([]byte(raw), icalparse.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// BEGIN:VCALENDAR
	// PRODID:-//capturebox//icalparse prepass//EN
	// VERSION:2.0
	// BEGIN:VEVENT
	// SUMMARY:a\,b
	// X-KALTURA-ID:1
	// RRULE:FREQ=DAILY;COUNT=2
	// X-CAPTUREBOX-RRULE-NAME:x
	// END:VEVENT
	// END:VCALENDAR
}
