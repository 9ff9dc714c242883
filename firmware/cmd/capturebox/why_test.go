package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/ledger"
)

// `capturebox why` reads the ledger in the configuration's data folder, in
// the box's time zone, and writes nothing when there is none.
func TestWhyCommand(t *testing.T) {
	cfgPath := goodConfig(t, "https://kaltura.example.edu", 123, "0_ab12cd34", token, 59, "")
	if code, out, errOut := runCmd(t, "why", "-config", cfgPath, "4242"); code != 0 || !strings.Contains(out, "nothing in the ledger") {
		t.Errorf("why on an empty box: %d %q %q", code, out, errOut)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(cfg.Box.DataDir, "*")); len(m) != 0 {
		t.Errorf("why wrote %v", m)
	}
	l, err := ledger.Open(filepath.Join(cfg.Box.DataDir, "ledger"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	if err := l.Add(ledger.Record{Time: start.Add(time.Minute), Event: "4242", Ref: 4242, Title: "CHEM 101", Start: start,
		Step: ledger.StepClock, Reason: ledger.ClockUntrusted}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, errOut := runCmd(t, "why", "-config", cfgPath, "4242")
	if code != 0 || !strings.Contains(out, "CHEM 101, Kaltura event 4242, Mon 30 Nov 2026 14:00") ||
		!strings.Contains(out, "not started: the clock was not trusted") {
		t.Errorf("why 4242: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "why", "-config", cfgPath, "2026-11-30"); code != 0 || !strings.Contains(out, "CHEM 101") {
		t.Errorf("why 2026-11-30: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "why", "-config", cfgPath, "a", "b"); code != 2 {
		t.Errorf("why with two arguments: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "why", "-config", cfgPath, "next tuesday"); code != 1 || !strings.Contains(errOut, "want an event id") {
		t.Errorf("why with a bad argument: %d %q", code, errOut)
	}
}
