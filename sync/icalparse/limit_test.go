package icalparse

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// endless is an io.Reader of an endless calendar that counts what it gave.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "BEGIN:VEVENT\r\n"[int(e.read+int64(i))%14]
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestStreamStopsAtTheLimit(t *testing.T) {
	const limit = 100 << 10
	r := &endless{}
	_, err := Parse(r, Options{MaxBytes: limit})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if r.read > limit+1 {
		t.Errorf("read %d bytes, limit %d: reading must stop at the limit", r.read, limit)
	}
	b, err := readAll(&endless{}, limit)
	if err != nil || int64(len(b)) != limit+1 || int64(cap(b)) > limit+1 {
		t.Errorf("readAll: len %d cap %d err %v, want len and cap %d", len(b), cap(b), err, limit+1)
	}
}

func TestFileBeyondTheLimitIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.ics")
	if err := os.WriteFile(path, []byte(calendar(strings.Repeat(vevent("1"), 100))), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Parse(f, Options{MaxBytes: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
		t.Errorf("%d bytes read from a file known to be too large", off)
	}
}

func TestTooManyEvents(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 11; i++ {
		b.WriteString(vevent(strconv.Itoa(100 + i)))
	}
	if _, err := ParseBytes([]byte(calendar(b.String())), Options{MaxEvents: 10}); !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("err = %v, want ErrTooManyEvents", err)
	}
	cal, err := ParseBytes([]byte(calendar(b.String())), Options{MaxEvents: 11})
	if err != nil || len(cal.Events) != 11 {
		t.Fatalf("11 events at a limit of 11: %v", err)
	}
}
