package board

import (
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

func newTestPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, Num: 27, EdgesChan: make(chan gpio.Level)}
}

func TestButtonPullUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newTestPin("GPIO27")
		b, err := NewButton(pin, ButtonOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if pin.Pull() != gpio.PullUp {
			t.Errorf("pull %v, want up", pin.Pull())
		}
		if b.Pressed() {
			t.Error("pressed at rest")
		}
	})
}

// TestButtonGestures drives a periph test pin with edges, bounce and holds.
func TestButtonGestures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newTestPin("GPIO27")
		b, err := NewButton(pin, ButtonOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edge := func(l gpio.Level, after time.Duration) {
			pin.EdgesChan <- l
			time.Sleep(after)
		}
		t0 := time.Now()
		// A bouncy short press: 3 ms of chatter each way.
		edge(gpio.Low, time.Millisecond)
		edge(gpio.High, time.Millisecond)
		edge(gpio.Low, 150*time.Millisecond)
		synctest.Wait()
		if !b.Pressed() {
			t.Error("not pressed while held")
		}
		edge(gpio.High, time.Millisecond)
		edge(gpio.Low, time.Millisecond)
		edge(gpio.High, 100*time.Millisecond)
		ev := <-b.Events()
		if ev.Kind != hal.Press {
			t.Fatalf("got %v, want press", ev.Kind)
		}
		// Released at 152ms + 1 + 1 ms; counted once settled, 30 ms later.
		if at := ev.At.Sub(t0); at != 184*time.Millisecond {
			t.Errorf("press recognised at %v, want 184ms", at)
		}

		// A long hold: the long press comes at the threshold, before release.
		t1 := time.Now()
		edge(gpio.Low, 2500*time.Millisecond)
		select {
		case ev := <-b.Events():
			if ev.Kind != hal.LongPress || ev.At.Sub(t1) != hal.DefaultLongPress {
				t.Errorf("got %v at %v, want long-press at %v", ev.Kind, ev.At.Sub(t1), hal.DefaultLongPress)
			}
		default:
			t.Fatal("no long press while still held")
		}
		edge(gpio.High, time.Second)
		select {
		case ev := <-b.Events():
			t.Errorf("release after a long press gave %v", ev.Kind)
		default:
		}

		// Pure chatter (shorter than the settle time) is no gesture.
		for range 5 {
			edge(gpio.Low, 2*time.Millisecond)
			edge(gpio.High, 2*time.Millisecond)
		}
		time.Sleep(time.Second)
		select {
		case ev := <-b.Events():
			t.Errorf("chatter gave %v", ev.Kind)
		default:
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-b.Events(); ok {
			t.Error("events open after Close")
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestButtonConformance runs the hal conformance check on the board's
// button over a periph test pin.
func TestButtonConformance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newTestPin("GPIO27")
		b, err := NewButton(pin, ButtonOptions{})
		if err != nil {
			t.Fatal(err)
		}
		press := func(hold time.Duration) {
			pin.EdgesChan <- gpio.Low
			time.Sleep(hold)
			pin.EdgesChan <- gpio.High
			// A jig's relay lets the release settle before the next press.
			time.Sleep(2 * DefaultSettle)
		}
		if err := halcheck.CheckButton(b, press); err != nil {
			t.Fatal(err)
		}
	})
}
