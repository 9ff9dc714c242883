package haltest_test

import (
	"fmt"
	"time"

	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/capturebox/capturebox/hal/haltest"
)

// A smoke test runs the same check against the board's driver; here it
// runs against the fake.
func ExampleCheckLED() {
	led := haltest.NewFakeLED(nil)
	fmt.Println(halcheck.CheckLED(led))
	fmt.Println(led.Pattern(), len(led.Timeline()), "changes")
	// Output:
	// <nil>
	// off 6 changes
}

func ExampleFakeDisplay() {
	d := haltest.NewFakeDisplay(16, 2, nil)
	d.Show("REC 01:02:03 \u25cf", "Physics 1 (Room 3.14)")
	for _, l := range d.Lines() {
		fmt.Printf("|%s|\n", l)
	}
	// Output:
	// |REC 01:02:03 ?  |
	// |Physics 1 (Room |
}

// With a hand-driven clock, Up measures the hold; under testing/synctest
// (see FakeButton) the long press comes at the threshold, before Up.
func ExampleFakeButton() {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	b := haltest.NewFakeButton(func() time.Time { return now })
	start := now
	b.Down()
	now = now.Add(300 * time.Millisecond)
	b.Up()
	b.Down()
	now = now.Add(2500 * time.Millisecond)
	b.Up()
	b.Close()
	for ev := range b.Events() {
		fmt.Println(ev.Kind, ev.At.Sub(start))
	}
	// Output:
	// press 300ms
	// long-press 2.8s
}
