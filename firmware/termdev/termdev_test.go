package termdev

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

func TestConformance(t *testing.T) {
	if err := halcheck.CheckLED(NewLED(&bytes.Buffer{})); err != nil {
		t.Errorf("CheckLED: %v", err)
	}
	if err := halcheck.CheckDisplay(NewDisplay(&bytes.Buffer{}, 16, 2)); err != nil {
		t.Errorf("CheckDisplay: %v", err)
	}
}

func TestLEDPrintsChanges(t *testing.T) {
	var out bytes.Buffer
	l := NewLED(&out)
	for _, p := range []hal.Pattern{hal.Off, hal.Off, hal.On, hal.On, hal.FastBlink} {
		if err := l.Show(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(out.String(), "LED "); got != 3 {
		t.Fatalf("printed %d lines, want 3:\n%s", got, out.String())
	}
}

func TestDisplayThrottlesClocks(t *testing.T) {
	var out bytes.Buffer
	d := NewDisplay(&out, 16, 2)
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	show := func(lines ...string) {
		t.Helper()
		if err := d.Show(lines...); err != nil {
			t.Fatal(err)
		}
	}
	show("REC 00:00:01", "Lecture")
	for i := 2; i < 30; i++ {
		now = now.Add(time.Second)
		show("REC 00:00:"+string(rune('0'+i/10))+string(rune('0'+i%10)), "Lecture")
	}
	if n := strings.Count(out.String(), "LCD |REC"); n != 1 {
		t.Fatalf("clock-only changes printed %d times within 30 s:\n%s", n, out.String())
	}
	now = now.Add(2 * time.Second)
	show("REC 00:00:31", "Lecture")
	show("IDLE 09:01", "Next 10:00 Lab")
	if n := strings.Count(out.String(), "LCD |"); n != 6 {
		t.Fatalf("printed %d lines, want 6:\n%s", n, out.String())
	}
	if got := d.Lines(); got[0] != "IDLE 09:01      " {
		t.Fatalf("Lines = %q", got)
	}
}

// TestBoxButtonCommands: the development box's "press" and "hold" are the
// button's short and long press.
func TestBoxButtonCommands(t *testing.T) {
	var out bytes.Buffer
	b := NewBox(strings.NewReader(""), &out, 16, 2)
	defer b.Close()
	want := map[string]hal.ButtonKind{"press": hal.Press, "hold": hal.LongPress}
	if len(b.Commands) != len(want) {
		t.Fatalf("%d commands", len(b.Commands))
	}
	for _, c := range b.Commands {
		if err := c.Run(t.Context(), &out, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-b.Devices.Button.Events():
			if ev.Kind != want[c.Name] {
				t.Errorf("%s gave %v", c.Name, ev.Kind)
			}
		default: // the fake button delivers synchronously
			t.Fatalf("%s: no button event", c.Name)
		}
	}
}
