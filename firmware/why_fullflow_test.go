package firmware_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// whyWorld is a box on HAL fakes against the Kaltura simulator, for the
// ledger's full-flow tests: each makes one failure happen and checks that
// `why` names it.
type whyWorld struct {
	*world
	t      *testing.T
	t0     time.Time
	cam    *haltest.FakeCamera
	clock  *haltest.FakeTimeSync
	button *haltest.FakeButton
	port   *haltest.FakeConsole    // nil: no console
	mic    *haltest.FakeMicrophone // nil: no sound input
	led    *haltest.FakeLED
	screen *haltest.FakeDisplay
	tr     *handlerTransport
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

func newWhyWorld(t *testing.T, dir string) *whyWorld {
	var log *slog.Logger
	if f, err := os.Create(filepath.Join(dir, "box.log")); err == nil {
		t.Cleanup(func() { f.Close() })
		log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w := &whyWorld{world: newWorld(t, dir, slog.New(slog.NewTextHandler(io.Discard, nil))), t: t, t0: time.Now(), log: log,
		cam:    haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 4}),
		clock:  haltest.NewFakeTimeSync(true),
		button: haltest.NewFakeButton(time.Now),
		led:    haltest.NewFakeLED(time.Now),
		screen: haltest.NewFakeDisplay(16, 2, time.Now)}
	w.tr = &handlerTransport{h: w.sim}
	t.Cleanup(func() { w.sim.Close() })
	return w
}

func (w *whyWorld) at(d time.Duration) time.Time { return w.t0.Add(d) }

// lecture adds a single recording event on the box's room.
func (w *whyWorld) lecture(title string, from, to time.Duration, edit func(*simsched.Event)) simsched.Event {
	w.t.Helper()
	e := simsched.Event{Summary: title, ResourceIDs: []int64{w.room.ID}, TemplateEntryID: w.tpl.ID,
		StartDate: w.at(from).Unix(), EndDate: w.at(to).Unix()}
	if edit != nil {
		edit(&e)
	}
	ev, err := w.store.AddEvent(w.pid, e)
	if err != nil {
		w.t.Fatal(err)
	}
	return ev
}

func (w *whyWorld) start() {
	ctx, cancel := context.WithCancel(w.t.Context())
	w.cancel, w.done = cancel, make(chan error, 1)
	dev := firmware.Devices{LED: w.led, Display: w.screen, Button: w.button, Capture: w.cam, TimeSync: w.clock}
	if w.port != nil {
		dev.Console = w.port
	}
	if w.mic != nil {
		dev.Audio, dev.AudioCodec = w.mic, haltest.PCMCodec{Rate: 8000}
	}
	go func() {
		w.done <- firmware.Run(ctx, w.cfg, dev, firmware.Options{Logger: w.log, HTTPClient: &http.Client{Transport: w.tr}, Seed: 11})
	}()
}

func (w *whyWorld) stop() {
	w.cancel()
	if err := <-w.done; !errors.Is(err, context.Canceled) {
		w.t.Errorf("Run returned %v", err)
	}
}

func (w *whyWorld) until(d time.Duration) { time.Sleep(time.Until(w.at(d))) }

// why reads the ledger as `capturebox why ARG` does (the command line opens
// the same folder with the same code).
func (w *whyWorld) why(arg string) string {
	w.t.Helper()
	l, err := ledger.Open(filepath.Join(w.cfg.Box.DataDir, "ledger"), ledger.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	defer l.Close()
	var out bytes.Buffer
	if err := l.Why(&out, arg, time.Now().In(w.cfg.Box.Location())); err != nil {
		w.t.Fatal(err)
	}
	w.t.Logf("why %s:\n%s", arg, out.String())
	if m := goSyntax.FindString(out.String()); m != "" {
		w.t.Errorf("why %s prints Go syntax %q", arg, m)
	}
	return out.String()
}

func (w *whyWorld) wantWhy(arg string, wants ...string) {
	w.t.Helper()
	got := w.why(arg)
	for _, want := range wants {
		if !strings.Contains(got, want) {
			w.t.Errorf("why %s does not say %q", arg, want)
		}
	}
}

func id(e simsched.Event) string { return fmt.Sprint(e.ID) }

// A lecture that goes well: every step, in order, to READY.
func TestWhyRecordedAndReady(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("CHEM 101 Lecture", 30*time.Minute, 90*time.Minute, nil)
		w.start()
		w.until(3 * time.Hour)
		w.stop()
		got := w.why(id(ev))
		order := []string{"seen in the schedule", "pre-flight checks passed", "clock trusted at the start", "recording started", "first picture recorded",
			"recording closed and saved", "queued for upload", "upload started (upload token)", "Kaltura entry created", "READY in Kaltura"}
		at := 0
		for _, s := range order {
			i := strings.Index(got[at:], s)
			if i < 0 {
				t.Errorf("why %s lacks %q after the earlier steps", id(ev), s)
				continue
			}
			at += i
		}
		if strings.Contains(got, "! ") {
			t.Errorf("why %s reports a step that did not happen", id(ev))
		}
		// The day's view shows the same lecture.
		w.wantWhy("today", "CHEM 101 Lecture, Kaltura event "+id(ev), "READY in Kaltura")
	})
}

// Cancelled in Kaltura before its start: never recorded, and why says so.
func TestWhyCancelled(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("PHYS 300 Lab", 2*time.Hour, 3*time.Hour, nil)
		w.start()
		w.until(30 * time.Minute)
		if _, err := w.store.CancelEvent(w.pid, ev.ID); err != nil {
			t.Fatal(err)
		}
		w.until(4 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", "not recorded: the event was cancelled in Kaltura")
	})
}

// Cancelled while it records: the recording is kept on the box.
func TestWhyCancelledWhileRecording(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("PHYS 300 Lab", 10*time.Minute, 2*time.Hour, nil)
		w.start()
		w.until(30 * time.Minute)
		if _, err := w.store.CancelEvent(w.pid, ev.ID); err != nil {
			t.Fatal(err)
		}
		w.until(3 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "recording started", "kept on the box, not uploaded: the event was cancelled in Kaltura")
	})
}

// Deleted in Kaltura before its start: not in the schedule at the time.
func TestWhyNotInSchedule(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("HIST 120", 2*time.Hour, 3*time.Hour, nil)
		w.start()
		w.until(30 * time.Minute)
		if _, err := w.store.DeleteEvent(w.pid, ev.ID); err != nil {
			t.Fatal(err)
		}
		w.until(4 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", "the event was not in the schedule at the time")
	})
}

// A blackout over the lecture: not recorded, and why names the blackout.
func TestWhyBlackedOut(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.cfg.Sync.RecordOnly = false // blackouts are listed only then
		ev := w.lecture("MATH 200", time.Hour, 2*time.Hour, nil)
		w.lecture("Exam week", 30*time.Minute, 3*time.Hour, func(e *simsched.Event) { e.Type = simsched.TypeBlackout; e.TemplateEntryID = "" })
		w.start()
		w.until(4 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "not recorded: a blackout in Kaltura covered the event")
		if files, _ := filepath.Glob(filepath.Join(w.cfg.Recording.Dir, "*.mp4")); len(files) != 0 {
			t.Errorf("a blacked-out lecture was recorded: %v", files)
		}
	})
}

// The clock never became trusted: the lecture did not start, and why
// says the clock.
func TestWhyClockUntrusted(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		// A schedule on disk from an earlier day (the box booted without
		// network time): one run with a trusted clock, then a restart
		// without it.
		w.start()
		w.until(10 * time.Minute)
		w.stop()
		w.clock.Set(false)
		w.start()
		w.until(3 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", "not started: the clock was not trusted")
	})
}

// No signal from the capture input the whole lecture: nothing recorded.
func TestWhyNoSignal(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ART 105", 30*time.Minute, 90*time.Minute, nil)
		w.cam.Unplug()
		w.start()
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "recording started", "no picture recorded: no signal from the capture input")
	})
}

// The box crashed in the middle of a lecture: the file was recovered and
// the lecture continues as part 2.
func TestWhyCrashedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("CHEM 101 Lecture", 10*time.Minute, 2*time.Hour, nil)
		w.start()
		w.until(40 * time.Minute)
		// The disk as a power cut would leave it: copied while the box
		// records. The box then goes on from the copy.
		crashed := filepath.Join(dir, "crashed")
		if err := os.CopyFS(crashed, os.DirFS(w.cfg.Box.DataDir)); err != nil {
			t.Fatal(err)
		}
		w.stop()
		w.cfg.Box.DataDir = crashed
		w.cfg.Recording.Dir = filepath.Join(crashed, "recordings")
		w.start()
		w.until(3 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "recording not closed normally: the box crashed or lost power; the file was recovered",
			"part 2", "READY in Kaltura")
	})
}

// Kaltura refuses the box's credentials: the recording stays in the queue,
// and why says which settings to check.
func TestWhyCredentialsRefused(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		if err := w.sim.SetAppTokenStatus(w.token.ID, kalturasim.AppTokenDisabled); err != nil {
			t.Fatal(err)
		}
		w.start()
		w.until(time.Minute)
		w.button.Press() // an ad-hoc recording
		w.until(11 * time.Minute)
		w.button.Press()
		w.until(time.Hour)
		w.stop()
		w.wantWhy("today", "Room 204", "recording started", "queued for upload",
			"upload stopped: Kaltura refused the box's credentials")
	})
}

// The event's template has no categories: the entry is uploaded but
// reaches no course, and why says so.
func TestWhyTemplateWithoutCategories(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("LING 240", 10*time.Minute, 40*time.Minute, func(e *simsched.Event) { e.TemplateEntryID = w.adhocTpl.ID })
		w.start()
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "uploaded, but the entry reaches no course: the event's template entry has no categories", "READY in Kaltura")
	})
}

// A long press stops the lecture early: why says the button stopped it.
func TestWhyStoppedEarly(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("PSYC 110", 10*time.Minute, 90*time.Minute, nil)
		w.start()
		w.until(30 * time.Minute)
		w.button.LongPress()
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "recording not closed normally: stopped early with the button (0:20:0", "READY in Kaltura")
	})
}

// `why` on the console answers from the same ledger, in words.
func TestWhyOnTheConsole(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.port = haltest.NewFakeConsole(time.Now)
		ev := w.lecture("CHEM 101 Lecture", 10*time.Minute, 40*time.Minute, nil)
		w.start()
		defer func() { w.stop(); w.port.Close(); w.button.Close() }()
		const prompt = "capturebox> "
		if _, err := w.port.Expect(t.Context(), prompt); err != nil {
			t.Fatal(err)
		}
		w.until(2 * time.Hour)
		ask := func(line string) string {
			t.Helper()
			w.port.Type(line + "\r\n")
			out, err := w.port.Expect(t.Context(), prompt)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if m := goSyntax.FindString(out); m != "" {
				t.Errorf("%q answers with Go syntax %q:\n%s", line, m, out)
			}
			t.Logf("> %s\n%s", line, out)
			return out
		}
		for line, want := range map[string]string{
			"why " + id(ev):  "READY in Kaltura",
			"why":            "CHEM 101 Lecture, Kaltura event " + id(ev),
			"why 1999-12-31": "recording closed and saved",
			"why 2001-01-01": "nothing in the ledger",
			"why rm -rf":     "want an event id",
		} {
			if out := ask(line); !strings.Contains(out, want) {
				t.Errorf("%q does not say %q", line, want)
			}
		}
	})
}

// The event's type changed in Kaltura (a meeting, not a recording) before
// its start: not recorded, and why says it is not a recording.
func TestWhyNotARecording(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.cfg.Sync.RecordOnly = false // other types are listed only then
		ev := w.lecture("SOC 150", 2*time.Hour, 3*time.Hour, nil)
		w.start()
		w.until(30 * time.Minute)
		if _, err := w.store.UpdateEvent(w.pid, ev.ID, func(e *simsched.Event) { e.Type = simsched.TypeMeeting }); err != nil {
			t.Fatal(err)
		}
		w.until(4 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", "not recorded: the event is not a recording")
		if files, _ := filepath.Glob(filepath.Join(w.cfg.Recording.Dir, "*.mp4")); len(files) != 0 {
			t.Errorf("a meeting was recorded: %v", files)
		}
	})
}

// Kaltura fails to convert the uploaded recording: the upload stops on an
// upload fault, and why names it.
func TestWhyUploadFault(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultConversionError, Service: "media", Action: "addContent"})
		ev := w.lecture("GEOG 101", 10*time.Minute, 40*time.Minute, nil)
		w.start()
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "queued for upload", "upload stopped: the upload was refused", "ENTRY_CONVERSION_FAILED")
	})
}

// The recordings folder is gone (a file stands in its place) at the start:
// the recording cannot start, and why says so with the error.
func TestWhyStartFailed(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ANTH 220", 30*time.Minute, 90*time.Minute, nil)
		w.start()
		w.until(10 * time.Minute)
		replaceWithFile(t, w.cfg.Recording.Dir)
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "recording not started: the recording could not start", "not a directory")
	})
}

// The upload queue's folder is gone (a file stands in its place) when the
// lecture ends: the recording is closed but its lecture cannot be joined
// and queued, and why says the box tries again; once the folder is back it
// is queued and uploaded.
func TestWhyFinishFailed(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("PHIL 101", 10*time.Minute, 40*time.Minute, nil)
		w.start()
		w.until(20 * time.Minute)
		queue := filepath.Join(w.cfg.Box.DataDir, "queue")
		saved := queue + ".saved"
		if err := os.Rename(queue, saved); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(queue, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		w.until(time.Hour)
		w.wantWhy(id(ev), "recording closed and saved", "the lecture's parts not joined: the recording could not be closed or queued; the box tries again", "not a directory")
		if err := os.Remove(queue); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(saved, queue); err != nil {
			t.Fatal(err)
		}
		w.until(3 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "queued for upload", "READY in Kaltura")
	})
}

// replaceWithFile puts an empty file where the folder dir was.
func replaceWithFile(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reasonTests names, for every reason code, the full-flow test that makes
// that failure happen and checks that why names it.
var reasonTests = map[ledger.Reason]string{
	ledger.NotInSchedule:      "TestWhyNotInSchedule",
	ledger.Cancelled:          "TestWhyCancelled",
	ledger.BlackedOut:         "TestWhyBlackedOut",
	ledger.NotARecording:      "TestWhyNotARecording",
	ledger.ClockUntrusted:     "TestWhyClockUntrusted",
	ledger.NoSignal:           "TestWhyNoSignal",
	ledger.DiskFull:           "TestWhyDiskFull",
	ledger.DiskError:          "TestWhyDiskError",
	ledger.Crashed:            "TestWhyCrashedAndRecovered",
	ledger.CredentialsRefused: "TestWhyCredentialsRefused",
	ledger.NoCategories:       "TestWhyTemplateWithoutCategories",
	ledger.StoppedEarly:       "TestWhyStoppedEarly",
	ledger.PreflightFailed:    "TestPreflightDiskRoom", // and the other TestPreflight*
	ledger.UploadFault:        "TestWhyUploadFault",
	ledger.StartFailed:        "TestWhyStartFailed",
	ledger.FinishFailed:       "TestWhyFinishFailed",
}

// A new reason code without a full-flow test fails here: every constant of
// type ledger.Reason is in ledger.Reasons, every reason there has words and
// a test in reasonTests, and each test named there is a function of this
// package's test sources.
func TestEveryReasonHasAFullFlowTest(t *testing.T) {
	fset := token.NewFileSet()
	consts := map[ledger.Reason]bool{}
	f, err := parser.ParseFile(fset, filepath.Join("ledger", "ledger.go"), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if typ, ok := v.Type.(*ast.Ident); !ok || typ.Name != "Reason" {
				continue
			}
			for _, val := range v.Values {
				if lit, ok := val.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					consts[ledger.Reason(strings.Trim(lit.Value, "`\""))] = true
				}
			}
		}
	}
	if len(consts) == 0 {
		t.Fatal("no Reason constants found in ledger/ledger.go")
	}
	listed := map[ledger.Reason]bool{}
	for _, r := range ledger.Reasons {
		listed[r] = true
	}
	for r := range consts {
		if !listed[r] {
			t.Errorf("reason %q is a constant but not in ledger.Reasons", r)
		}
	}

	funcs := map[string]bool{}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				funcs[fn.Name.Name] = true
			}
		}
	}
	for _, r := range ledger.Reasons {
		if _, ok := ledger.ReasonWords[r]; !ok {
			t.Errorf("reason %q has no words in ledger.ReasonWords", r)
		}
		name, ok := reasonTests[r]
		switch {
		case !ok:
			t.Errorf("reason %q has no full-flow test: add one that makes it happen and checks why names it, and list it in reasonTests", r)
		case !funcs[name]:
			t.Errorf("reason %q: its test %s is not a test function of this package", r, name)
		}
	}
	for r := range reasonTests {
		if !listed[r] {
			t.Errorf("reasonTests lists %q, which is not in ledger.Reasons", r)
		}
	}
}

// The box's clock is synchronised but five minutes off Kaltura's (the Date
// header of its replies): the clock is not trusted ("CLOCK OFF"), the
// lecture does not start, and why says the clock with how far it is off.
// A reply that agrees again restores the trust.
func TestWhyClockOffFromKaltura(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		ev := w.lecture("ECON 101", time.Hour, 2*time.Hour, nil)
		w.start()
		w.until(10 * time.Minute)
		if got := w.screen.Lines(); strings.Contains(got[1], "CLOCK") {
			t.Errorf("display %q with clocks that agree", got)
		}
		w.sim.AdvanceClock(5 * time.Minute)
		w.until(30 * time.Minute) // a sync since
		if got := w.screen.Lines(); got[1] != "! CLOCK OFF     " {
			t.Errorf("display %q with the box's clock 5 minutes behind Kaltura's, want CLOCK OFF", got)
		}
		w.until(3 * time.Hour)
		// Kaltura's clock back: the next reply (the beacon's, within 5
		// minutes) restores the trust.
		w.sim.AdvanceClock(-5 * time.Minute)
		w.until(3*time.Hour + 6*time.Minute)
		if got := w.screen.Lines(); strings.Contains(got[1], "CLOCK") {
			t.Errorf("display %q once the clocks agree again", got)
		}
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", "pre-flight check failed: the clock is not trusted: the box's clock is 5m0s behind Kaltura's",
			"not started: the clock was not trusted", "(the box's clock is 5m0s behind Kaltura's)")
		if files, _ := filepath.Glob(filepath.Join(w.cfg.Recording.Dir, "*.mp4")); len(files) != 0 {
			t.Errorf("recorded with a clock off Kaltura's: %v", files)
		}
	})
}

// The box reports its state to Kaltura with beacons (beacon_beacon.add,
// which the device role may call): at its start, on a change of state
// (a recording starts, a fault) no more than once per 30 s, and every 5
// minutes otherwise; the simulator keeps the device's state document.
func TestBeaconReportsState(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.lecture("CHEM 101 Lecture", 20*time.Minute, 40*time.Minute, nil)
		var seen []string // each beacon's updatedAt and phase, in order
		var last int64
		watch := func() {
			t.Helper()
			docs := w.sim.Beacons(w.pid)
			if len(docs) != 1 {
				t.Fatalf("%d beacon documents, want the device's one state document", len(docs))
			}
			d := docs[0]
			if d.ObjectID != fmt.Sprint(w.room.ID) || d.RelatedObjectType != kalturasim.BeaconScheduleResource || d.EventType != "status" {
				t.Errorf("beacon %+v, want a status beacon on the box's resource", d)
			}
			if d.UpdatedAt != last {
				last = d.UpdatedAt
				seen = append(seen, fmt.Sprintf("%v %s", time.Unix(d.UpdatedAt, 0).Sub(w.t0).Round(time.Second), d.PrivateData))
			}
		}
		w.start()
		for at := 10 * time.Second; at <= 45*time.Minute; at += 10 * time.Second {
			w.until(at)
			watch()
		}
		w.stop()
		t.Logf("beacons:\n%s", strings.Join(seen, "\n"))
		var recording, idle, gapOK = false, 0, true
		for i, s := range seen {
			at, _ := time.ParseDuration(strings.Fields(s)[0])
			if i == 0 && at > 30*time.Second {
				t.Errorf("the first beacon at %v, want at the box's start", at)
			}
			if i > 0 {
				prev, _ := time.ParseDuration(strings.Fields(seen[i-1])[0])
				if at-prev < 30*time.Second {
					gapOK = false
				}
				if at-prev > 5*time.Minute+30*time.Second {
					t.Errorf("a gap of %v between beacons, want at most 5 minutes", at-prev)
				}
			}
			switch {
			case strings.Contains(s, `"recordingPhase":"recording"`):
				if !recording && (at < 20*time.Minute || at > 20*time.Minute+30*time.Second) {
					t.Errorf("the recording's first beacon at %v, want within 30 s of its start at 20m", at)
				}
				recording = true
			case recording:
				idle++
			}
			if !strings.Contains(s, `"resourceName":"Room 204"`) {
				t.Errorf("beacon %s does not name the box", s)
			}
		}
		if !gapOK {
			t.Error("two beacons less than 30 s apart")
		}
		if !recording || idle == 0 {
			t.Errorf("beacons saw recording %v, then idle %d times; want both", recording, idle)
		}
	})
}

// A role that may not send beacons (SERVICE_FORBIDDEN) ends the beacon
// after one try: no retry loop, and the box goes on.
func TestBeaconForbidden(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		id := w.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultAPIError, Service: "beacon_beacon", Action: "add", Always: true,
			Code: "SERVICE_FORBIDDEN", Message: "The access to service [beacon_beacon->add] is forbidden"})
		w.start()
		w.until(time.Hour)
		w.stop()
		if n := w.sim.Faults().Fired(id); n != 1 {
			t.Errorf("beacon_beacon.add tried %d times with the role forbidden, want once", n)
		}
		if docs := w.sim.Beacons(w.pid); len(docs) != 0 {
			t.Errorf("beacons stored: %+v", docs)
		}
	})
}
