package board

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

func TestLEDConformance(t *testing.T) {
	for _, low := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			pin := &gpiotest.Pin{N: "GPIO17", Num: 17, L: gpio.High}
			led, err := NewLED(pin, low)
			if err != nil {
				t.Fatal(err)
			}
			if err := halcheck.CheckLED(led); err != nil {
				t.Fatal(err)
			}
			if got, off := pin.Read(), gpio.Level(low); got != off {
				t.Errorf("active low %v: pin %v after Close, want %v (off)", low, got, off)
			}
		})
	}
}

// countToggles watches pin for d and counts its level changes.
func countToggles(pin *gpiotest.Pin, d time.Duration) int {
	n := 0
	last := pin.Read()
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(time.Millisecond)
		if l := pin.Read(); l != last {
			n, last = n+1, l
		}
	}
	return n
}

func TestLEDPatterns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "GPIO17", Num: 17}
		led, err := NewLED(pin, true) // active low: lit = low
		if err != nil {
			t.Fatal(err)
		}
		if pin.Read() != gpio.High {
			t.Fatal("active-low LED not off (high) after NewLED")
		}
		if err := led.Show(hal.On); err != nil {
			t.Fatal(err)
		}
		if pin.Read() != gpio.Low || !led.Lit() {
			t.Fatal("active-low LED on does not drive low")
		}
		if n := countToggles(pin, 3*time.Second); n != 0 {
			t.Errorf("steady on toggled %d times", n)
		}
		led.Show(hal.SlowBlink)
		// Changes at 0.5 s, 1 s, ... 9.5 s: the window ends between two.
		if n := countToggles(pin, 9900*time.Millisecond); n != 19 {
			t.Errorf("slow blink: %d changes in 9.9s, want 19 (1 Hz)", n)
		}
		led.Show(hal.FastBlink)
		if n := countToggles(pin, 9900*time.Millisecond); n != 79 {
			t.Errorf("fast blink: %d changes in 9.9s, want 79 (4 Hz)", n)
		}
		led.Show(hal.Off)
		if pin.Read() != gpio.High {
			t.Error("off does not drive high")
		}
		if n := countToggles(pin, 3*time.Second); n != 0 {
			t.Errorf("off toggled %d times", n)
		}
		led.Show(hal.FastBlink)
		time.Sleep(130 * time.Millisecond) // mid-blink, lamp out
		if err := led.Close(); err != nil {
			t.Fatal(err)
		}
		if pin.Read() != gpio.High {
			t.Error("lamp not off after Close during a blink")
		}
		if n := countToggles(pin, 2*time.Second); n != 0 {
			t.Errorf("closed LED toggled %d times", n)
		}
	})
}

// failPin fails every Out.
type failPin struct{ gpiotest.Pin }

func (p *failPin) Out(gpio.Level) error { return errors.New("line gone") }

func TestLEDPinFailure(t *testing.T) {
	if _, err := NewLED(&failPin{gpiotest.Pin{N: "GPIO17"}}, false); err == nil {
		t.Fatal("NewLED on a failing pin succeeded")
	}
}
