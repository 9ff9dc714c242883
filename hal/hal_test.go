package hal_test

import (
	"fmt"
	"testing"

	"github.com/capturebox/capturebox/hal"
)

func TestNames(t *testing.T) {
	for p, want := range map[hal.Pattern]string{hal.Off: "off", hal.On: "on", hal.SlowBlink: "slow-blink", hal.FastBlink: "fast-blink", 7: "pattern(7)"} {
		if p.String() != want || p.Valid() != (want != "pattern(7)") {
			t.Errorf("pattern %d: %q valid=%v", int(p), p.String(), p.Valid())
		}
	}
	if hal.Press.String() != "press" || hal.LongPress.String() != "long-press" || hal.Video.String() != "video" || hal.Audio.String() != "audio" {
		t.Error("kind names")
	}
}

// The controller shows one pattern at a time; the LED driver owns the blinking.
func ExamplePattern() {
	for _, p := range []hal.Pattern{hal.Off, hal.SlowBlink, hal.On, hal.FastBlink} {
		fmt.Println(p)
	}
	// Output:
	// off
	// slow-blink
	// on
	// fast-blink
}
