package firmware_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/tools/kalturasim"
)

// preflightFault checks, before the start of a lecture at +1h (pre-flight
// 10 minutes), that the fault blink and the display's pre-flight line are
// there, and that `why` says what failed with the words want.
func (w *whyWorld) preflightFault(eventID string, want string) {
	w.t.Helper()
	w.until(55 * time.Minute) // five minutes before the start
	if got := w.led.Pattern(); got != hal.FastBlink {
		w.t.Errorf("LED %v five minutes before a start whose pre-flight failed, want fast blink", got)
	}
	// The display shows the first fault by source: a clock fault of its
	// own comes before the pre-flight's.
	if got := w.screen.Lines(); !strings.HasPrefix(got[1], "! PREFLIGHT") && !strings.HasPrefix(got[1], "! CLOCK") && !strings.HasPrefix(got[1], "! NO SOUND") {
		w.t.Errorf("display %q five minutes before the start: no pre-flight fault", got)
	}
	w.stop()
	w.wantWhy(eventID, "pre-flight check failed: "+want)
}

func TestPreflightClock(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(10 * time.Minute)
		w.stop()
		w.clock.Set(false) // the box restarts without network time
		w.start()
		w.preflightFault(id(ev), "the clock is not trusted")
	})
}

func TestPreflightDiskRoom(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.cfg.Upload.MinFreeSpace = config.TiB
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.preflightFault(id(ev), "no room on the disk for 1:00:00 of recording")
	})
}

func TestPreflightSession(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(10 * time.Minute)
		w.stop()
		if err := w.sim.SetAppTokenStatus(w.token.ID, kalturasim.AppTokenDisabled); err != nil {
			t.Fatal(err)
		}
		w.start()
		w.preflightFault(id(ev), "no Kaltura session: check kaltura.app_token_id")
	})
}

func TestPreflightScheduleAge(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(time.Minute)
		w.tr.down.Store(true) // the last good sync is at +0
		w.preflightFault(id(ev), "the schedule is not fresh")
	})
}

func TestPreflightSignal(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.cam.Unplug()
		w.start()
		w.until(time.Minute)
		w.button.Press() // a recording shows the input has no signal
		w.until(5 * time.Minute)
		w.button.Press()
		w.until(55 * time.Minute)
		if got := w.led.Pattern(); got != hal.FastBlink {
			t.Errorf("LED %v before the start, want fast blink", got)
		}
		w.stop()
		// The display shows the capture fault first (sources in order);
		// the pre-flight names it in the ledger.
		w.wantWhy(id(ev), "pre-flight check failed: no signal from the capture input")
	})
}

// A silent sound input (a muted microphone) is a "NO SOUND" fault before
// the start: the pre-flight listens for 2 s at recording.preflight before
// it, and the fault stays until the start.
func TestPreflightSilent(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.mic = haltest.NewFakeMicrophone(haltest.MicConfig{Rate: 8000, Channels: 1})
		w.mic.Mute()
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(50*time.Minute + 5*time.Second) // the pre-flight's first look, and its 2 s of listening
		if got := w.screen.Lines(); !strings.HasPrefix(got[1], "! NO SOUND") {
			t.Errorf("display %q ten minutes before the start of a lecture with a muted microphone, want NO SOUND", got)
		}
		w.preflightFault(id(ev), "the sound input is silent (below -50 dBFS for 2s)")
	})
}

// A pre-flight that passes is in the ledger, and shows no fault: the
// pre-start slow blink stays. The sound input plays a tone: its
// pre-flight passes, and the recording starts with its sound.
func TestPreflightPasses(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.mic = haltest.NewFakeMicrophone(haltest.MicConfig{Rate: 8000, Channels: 1})
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(59*time.Minute + 30*time.Second)
		if got := w.led.Pattern(); got != hal.SlowBlink {
			t.Errorf("LED %v in the minute before the start, want slow blink", got)
		}
		w.stop()
		got := w.why(id(ev))
		if !strings.Contains(got, "pre-flight checks passed") || strings.Contains(got, "! ") {
			t.Errorf("why after a good pre-flight:\n%s", got)
		}
	})
}

// sync.max_age: while the network is down the box records from its last
// good schedule, and once that is older than the limit the LED and the
// display warn; a good sync clears the warning.
func TestScheduleOldWarning(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.cfg.Sync.MaxAge = time.Hour
		w.start()
		defer w.stop()
		w.until(time.Minute)
		w.tr.down.Store(true) // the last good sync is at +0
		w.until(55 * time.Minute)
		if got := w.led.Pattern(); got != hal.Off {
			t.Errorf("LED %v with a schedule 55 minutes old (limit 1h), want off", got)
		}
		w.until(62 * time.Minute)
		if got := w.led.Pattern(); got != hal.FastBlink {
			t.Errorf("LED %v with a schedule over an hour old, want fast blink", got)
		}
		if got := w.screen.Lines(); got[1] != "! SCHEDULE OLD  " {
			t.Errorf("display %q with a schedule over an hour old", got)
		}
		w.tr.down.Store(false)
		w.until(75 * time.Minute)
		if got := w.led.Pattern(); got != hal.Off {
			t.Errorf("LED %v after a good sync, want off", got)
		}
	})
}
