package icalparse

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestParser() *parser {
	p := &parser{opts: Options{}.withDefaults(), zones: map[string]*time.Location{}}
	p.br = bufio.NewReaderSize(&p.rd, decodeBufferSize)
	return p
}

// Decoding the events of a chunk together gives, for every event, exactly
// what decoding it alone gives (the form Parse used before chunks).
func TestDecodeChunkEqualsDecodingAlone(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.ics"))
	if err != nil || len(files) == 0 {
		t.Fatal("no fixtures", err)
	}
	var inputs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	var many strings.Builder
	for i := range 3 * decodeChunk {
		many.WriteString(vevent(strconv.Itoa(100+i), "DESCRIPTION:a, b; c\\ "+strconv.Itoa(i),
			"DTSTART;TZID=Europe/Paris:20251026T023000", "BEGIN:VALARM", "TRIGGER:-PT5M", "END:VALARM"))
	}
	inputs = append(inputs, []byte(calendar(many.String())))
	decoded := 0
	for i, in := range inputs {
		doc, err := prepass(in, DefaultMaxLineBytes)
		if doc == nil {
			continue // not a calendar
		}
		_ = err // truncated calendars still have events to compare
		p := newTestParser()
		for start := 0; start < len(doc.events); start += decodeChunk {
			chunk := doc.events[start:min(start+decodeChunk, len(doc.events))]
			comps, errs := p.decodeChunk(chunk)
			for k, b := range chunk {
				if len(b.broken) > 0 {
					if comps[k] != nil || errs[k] != nil {
						t.Errorf("input %d event %d: a broken block was decoded", i, start+k)
					}
					continue
				}
				alone, aerr := newTestParser().decode(eventText(new(bytes.Buffer), b))
				if !reflect.DeepEqual(comps[k], alone) || (errs[k] == nil) != (aerr == nil) {
					t.Errorf("input %d event %d: chunk gives %+v (%v), alone %+v (%v)", i, start+k, comps[k], errs[k], alone, aerr)
				}
				decoded++
			}
		}
	}
	if decoded < 3*decodeChunk {
		t.Fatalf("only %d events compared", decoded)
	}
}

// When go-ical refuses one event of a chunk, the others are decoded one by
// one and only that event fails, with go-ical's error for it.
func TestDecodeChunkIsolatesAFailure(t *testing.T) {
	doc, err := prepass([]byte(calendar(vevent("1")+vevent("2")+vevent("3"))), DefaultMaxLineBytes)
	if err != nil || len(doc.events) != 3 {
		t.Fatalf("prepass: %v", err)
	}
	// An empty parameter name: go-ical refuses it (the prepass never
	// writes one, so the fault is injected into the block).
	bad := doc.events[1].lines[0]
	bad.params = []param{{name: "", values: []string{"x"}}}
	p := newTestParser()
	comps, errs := p.decodeChunk(doc.events)
	for _, k := range []int{0, 2} {
		if errs[k] != nil || comps[k] == nil || comps[k].Props.Get("X-KALTURA-ID").Value != strconv.Itoa(k+1) {
			t.Errorf("event %d: %v %+v", k+1, errs[k], comps[k])
		}
	}
	if errs[1] == nil || comps[1] != nil || !strings.Contains(errs[1].Error(), "param") {
		t.Fatalf("event 2: err %v, comp %+v", errs[1], comps[1])
	}
	// Through Parse's validation: the event is rejected alone.
	cal := &Calendar{}
	for k, b := range doc.events {
		p.add(cal, b, comps[k], errs[k])
	}
	if len(cal.Events) != 2 || len(cal.Rejected) != 1 || cal.Rejected[0].EventID != 2 {
		t.Fatalf("events %d, rejected %+v", len(cal.Events), cal.Rejected)
	}
}
