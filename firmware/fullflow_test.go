package firmware_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
	"github.com/capturebox/capturebox/upload"
)

// handlerTransport carries HTTP requests to a handler in memory, so that the
// whole box and the simulator run inside one synctest bubble. While down is
// set, every request fails as a network outage would.
type handlerTransport struct {
	h    http.Handler
	down atomic.Bool
	n    atomic.Int64
}

var errNetworkDown = errors.New("connect: network is unreachable")

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.Add(1)
	if t.down.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNetworkDown
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	if req.Body != nil {
		req.Body.Close()
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

type recording struct {
	id, path, title string
}

// TestSchoolDay runs one simulated school day through the whole box on HAL
// fakes against the Kaltura simulator, under testing/synctest:
//
//	+0:59       LED slow blink: the series lecture starts in a minute
//	+1:00-2:00  lecture S, an occurrence of a weekly series
//	+1:20       the box restarts in the middle of S (S gets a part 2)
//	+1:30-2:30  lecture B overlaps S: both are recorded from one capture
//	+1:40       a short press during S only acknowledges (a blink)
//	+2:00-2:20  the network is down (S is being uploaded)
//	+2:10       a long press stops B early; +2:15 a press resumes it (part 2)
//	+3:00-3:10  an ad-hoc recording started and stopped with the button
//	+3:30       lecture C (+4:00-5:00) is cancelled in Kaltura: never recorded
//
// At the end every recording is a READY entry in the simulator, exactly
// once, with the right template, title, reference id and content bytes, and
// the LED timeline is the one design.md §2 describes. One lecture is one
// entry: S's two parts and B's two parts are joined when their events end,
// B's description notes its gap, and each joined file's duration is the
// time its parts recorded.
func TestSchoolDay(t *testing.T) { schoolDay(t, false) }

// TestSchoolDayPartsSeparate: with recording.keep_parts_separate every
// part is an entry of its own, titled "(part N)".
//
// It is the day of TestSchoolDay again with only the joining of parts
// switched off, so under qemu-user (CAPTUREBOX_TEST_EXEC set by make
// test-qemu), where each day costs well over a minute of emulated sound
// and video, the joined day stands for both; the native race run keeps
// both.
func TestSchoolDayPartsSeparate(t *testing.T) {
	if emu := os.Getenv("CAPTUREBOX_TEST_EXEC"); emu != "" {
		t.Skipf("under %s TestSchoolDay runs the same day; the native run covers separate parts", emu)
	}
	schoolDay(t, true)
}

func schoolDay(t *testing.T, separate bool) {
	var recs []recording
	var entries []kalturasim.EntryInfo
	var tplEvent, tplAdHoc string
	var refS, refB string
	parts := map[string][]capture.Sidecar{} // joined recording → its parts
	dir := t.TempDir()                      // outside the bubble: the files outlive it

	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		logFile, err := os.Create(filepath.Join(dir, "box.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer logFile.Close()
		log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

		w := newWorld(t, dir, log)
		defer w.sim.Close()
		sim, store, pid, tpl, adhocTpl := w.sim, w.store, w.pid, w.tpl, w.adhocTpl
		tplEvent, tplAdHoc = tpl.ID, adhocTpl.ID
		room := w.room
		add := func(e simsched.Event) simsched.Event {
			t.Helper()
			e.ResourceIDs = []int64{room.ID}
			e.TemplateEntryID = tpl.ID
			ev, err := store.AddEvent(pid, e)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		series := add(simsched.Event{Summary: "CHEM 101 Lecture", Description: "Weekly lecture", RecurrenceType: 1,
			StartDate: at(time.Hour).Unix(), EndDate: at(2 * time.Hour).Unix(), Duration: 3600,
			Recurrence: &simsched.Recurrence{Frequency: "weeks", Count: 10, TimeZone: "America/New_York"}})
		occs := store.Occurrences(pid, series.ID)
		if len(occs) != 10 {
			t.Fatalf("series has %d occurrences, want 10", len(occs))
		}
		lectureB := add(simsched.Event{Summary: "BIO 210 Seminar", StartDate: at(90 * time.Minute).Unix(), EndDate: at(150 * time.Minute).Unix(), Tags: "bio,seminar"})
		refS, refB = fmt.Sprint(occs[0].ID), fmt.Sprint(lectureB.ID)
		lectureC := add(simsched.Event{Summary: "PHYS 300 Lab", StartDate: at(4 * time.Hour).Unix(), EndDate: at(5 * time.Hour).Unix()})

		cfg := w.cfg
		cfg.Recording.KeepPartsSeparate = separate
		tr := &handlerTransport{h: sim}
		led := haltest.NewFakeLED(time.Now)
		button := haltest.NewFakeButton(time.Now)
		cam := haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 4})
		dev := firmware.Devices{LED: led, Button: button, Capture: cam, TimeSync: haltest.NewFakeTimeSync(true),
			// Sound as small as PCM gets (hours of simulated lectures are
			// written, uploaded and hashed): the tone at 8 kHz, mono.
			Audio: haltest.NewFakeMicrophone(haltest.MicConfig{Rate: 8000, Channels: 1}), AudioCodec: haltest.PCMCodec{Rate: 8000}}
		opts := firmware.Options{Logger: log.With("who", "box"), HTTPClient: &http.Client{Transport: tr}, Seed: 7}

		start := func() (context.CancelFunc, chan error) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- firmware.Run(ctx, cfg, dev, opts) }()
			return cancel, done
		}
		stop := func(cancel context.CancelFunc, done chan error) {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		}
		sleepUntil := func(d time.Duration) {
			time.Sleep(time.Until(at(d)))
		}

		cancel, done := start()
		sleepUntil(80 * time.Minute)
		stop(cancel, done) // the restart in the middle of S
		cancel, done = start()
		sleepUntil(100 * time.Minute)
		button.Press() // during S: acknowledge only
		sleepUntil(2 * time.Hour)
		tr.down.Store(true)
		sleepUntil(130 * time.Minute)
		button.LongPress() // stops B early
		sleepUntil(135 * time.Minute)
		button.Press() // resumes B as part 2
		sleepUntil(140 * time.Minute)
		tr.down.Store(false)
		sleepUntil(3 * time.Hour)
		button.Press() // ad-hoc start
		sleepUntil(190 * time.Minute)
		button.Press() // ad-hoc stop
		sleepUntil(210 * time.Minute)
		if _, err := store.CancelEvent(pid, lectureC.ID); err != nil {
			t.Fatal(err)
		}
		sleepUntil(8 * time.Hour)
		stop(cancel, done)

		// The LED timeline of design.md §2.
		var got []string
		for _, c := range led.Timeline() {
			got = append(got, fmt.Sprintf("%v %v", c.At.Sub(t0), c.Pattern))
		}
		// A stop waits for the sound to reach the stop (capture's sound
		// drain), which it already has: the LED goes off at the stop,
		// whether or not a frame arrived at that very instant.
		want := []string{
			"59m0s slow-blink",
			"1h0m0s on",
			"1h40m0s off", "1h40m0.4s on", // the acknowledge blink
			"2h10m0s off", // long press
			"2h15m0s on",  // resumed
			"2h30m0s off",
			"3h0m0s on", // ad-hoc
			"3h10m0s off",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("LED timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		entries = nil
		for _, e := range sim.Entries() {
			if !e.Template {
				entries = append(entries, e)
			}
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].CreatedAt < entries[j].CreatedAt })

		files, _ := filepath.Glob(filepath.Join(cfg.Recording.Dir, "*.mp4"))
		for _, f := range files {
			id := strings.TrimSuffix(filepath.Base(f), ".mp4")
			sc, err := capture.ReadSidecar(cfg.Recording.Dir, id)
			if err != nil {
				t.Errorf("recording %s: %v", id, err)
				continue
			}
			if sc.State == capture.StateJoined {
				parts[sc.JoinedInto] = append(parts[sc.JoinedInto], sc)
				continue
			}
			recs = append(recs, recording{id: id, path: f})
		}
		if tr.n.Load() == 0 {
			t.Fatal("the box never called Kaltura")
		}
	})
	if t.Failed() {
		logTail(t, filepath.Join(dir, "box.log"))
	}

	// Five recordings: S part 1 (before the restart) and part 2, B part 1
	// and part 2 (long press, resume), the ad-hoc one; or three when the
	// parts are joined. C was cancelled.
	want := 3
	if separate {
		want = 5
	}
	if len(recs) != want {
		t.Errorf("%d recordings to upload on the box, want %d: %v", len(recs), want, recs)
	}
	if joined := len(parts); separate && joined != 0 || !separate && joined != 2 {
		t.Errorf("%d joined recordings (separate %v): %v", joined, separate, parts)
	}
	if len(entries) != len(recs) {
		t.Errorf("%d entries in Kaltura for %d recordings", len(entries), len(recs))
	}
	byHash := map[string]kalturasim.EntryInfo{}
	for _, e := range entries {
		if _, dup := byHash[e.ContentSHA256]; dup {
			t.Errorf("content uploaded twice: entry %s", e.ID)
		}
		byHash[e.ContentSHA256] = e
	}
	var names []string
	for _, r := range recs {
		sum := fileSHA256(t, r.path)
		e, ok := byHash[sum]
		if !ok {
			t.Errorf("recording %s is not in Kaltura (or its bytes differ)", r.id)
			continue
		}
		if e.Status != 2 {
			t.Errorf("entry %s status %d, want READY (2)", e.ID, e.Status)
		}
		names = append(names, e.Fields["name"])
		tplWant := tplEvent
		if strings.HasPrefix(r.id, "adhoc") {
			tplWant = tplAdHoc
		}
		// Scheduled recordings carry their Kaltura event id in adminTags;
		// ad-hoc ones their unique local recording id (referenceId is
		// dropped by the server for the CAPTURE_DEVICE role, kaltura.md §5).
		tag := map[string]string{"CHEM": "capturebox-event-" + refS, "BIO ": "capturebox-event-" + refB,
			"Room": upload.AdminTag(upload.Recording{ID: r.id})}[e.Fields["name"][:4]]
		if !slices.Contains(strings.Split(e.Fields["adminTags"], ","), tag) {
			t.Errorf("entry %s (%s) adminTags %q, want it to hold %q", e.ID, e.Fields["name"], e.Fields["adminTags"], tag)
		}
		if e.Fields["referenceId"] != "" {
			t.Errorf("entry %s (%s) has referenceId %q: the role cannot set it", e.ID, e.Fields["name"], e.Fields["referenceId"])
		}
		copied := map[string]string{tplEvent: "ta@uni.example", tplAdHoc: "av@uni.example"}[tplWant]
		if e.Fields["entitledUsersEdit"] != copied {
			t.Errorf("entry %s (%s): template not copied: co-editors %q, want %q", e.ID, e.Fields["name"], e.Fields["entitledUsersEdit"], copied)
		}
		if e.Fields["templateEntryId"] != tplWant {
			t.Errorf("entry %s (%s) template %q, want %q", e.ID, e.Fields["name"], e.Fields["templateEntryId"], tplWant)
		}
		info := capturetest.Probe(t, r.path)
		if info.Codec != "h264" || info.Frames == 0 {
			t.Errorf("%s: ffprobe says %+v", r.path, info)
		}
		// The sound is recorded with the picture and ends with it (within
		// one video frame at 2 fps and a fragment's slack).
		codec, secs := capturetest.AudioStream(t, r.path)
		if codec != "pcm_s16le" || math.Abs(secs-info.Duration) > 1 {
			t.Errorf("%s: sound %s of %.2f s; want pcm_s16le lasting as the picture's %.2f s", r.path, codec, secs, info.Duration)
		}
		// And it is the tone, not silence: a second of it decoded near the
		// start and near the end.
		for _, at := range []time.Duration{10 * time.Second, time.Duration(info.Duration-5) * time.Second} {
			if lvl := capturetest.AudioLevel(t, r.path, at, time.Second); lvl < 4000 {
				t.Errorf("%s: the sound's level at %v is %.1f, want the tone's 5657", r.path, at, lvl)
			}
		}
		if ps := parts[r.id]; len(ps) > 0 {
			checkJoined(t, r.path, ps, info)
			if e.Fields["name"][:4] == "BIO " && !strings.Contains(e.Fields["description"], "gap") {
				t.Errorf("entry %s (%s): the gap of the button stop is not in its description %q", e.ID, e.Fields["name"], e.Fields["description"])
			}
		}
	}
	sort.Strings(names)
	wantNames := []string{
		"BIO 210 Seminar 1999-12-31",
		"CHEM 101 Lecture 1999-12-31",
		"Room 204 1999-12-31 22:00",
	}
	if separate {
		wantNames = []string{
			"BIO 210 Seminar (part 2) 1999-12-31",
			"BIO 210 Seminar 1999-12-31",
			"CHEM 101 Lecture (part 2) 1999-12-31",
			"CHEM 101 Lecture 1999-12-31",
			"Room 204 1999-12-31 22:00",
		}
	}
	if strings.Join(names, "\n") != strings.Join(wantNames, "\n") {
		t.Errorf("entry names:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
}

// world is a Kaltura simulator with a room, two templates and a
// capture-device app token, and a box configuration that points at it.
type world struct {
	sim           *kalturasim.Server
	store         *simsched.Store
	pid           int64
	tpl, adhocTpl kalturasim.EntryInfo
	token         kalturasim.AppToken
	room          simsched.Resource
	cfg           *config.Config
}

func newWorld(t *testing.T, dir string, log *slog.Logger) *world {
	t.Helper()
	sim, err := kalturasim.New(kalturasim.Options{DataDir: filepath.Join(dir, "sim"), Seed: 1, ProcessingDelay: 30 * time.Second, Logger: log.With("who", "sim")})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{sim: sim, store: simsched.New(sim.Now), pid: sim.PartnerID()}
	w.store.Register(sim.Register)
	if w.tpl, err = sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "Course template", Description: "CHEM 101 recordings",
		Tags: "chem101", UserID: "jdoe", EntitledUsersEdit: "ta@uni.example", CategoriesIDs: "301"}); err != nil {
		t.Fatal(err)
	}
	if w.adhocTpl, err = sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "Room template", EntitledUsersEdit: "av@uni.example"}); err != nil {
		t.Fatal(err)
	}
	if w.token, err = sim.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"}); err != nil {
		t.Fatal(err)
	}
	if w.room, err = w.store.AddResource(w.pid, simsched.Resource{Type: 3, Name: "Room 204 Camera"}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Box.Name = "Room 204"
	cfg.Box.Timezone = "America/New_York"
	cfg.Box.DataDir = filepath.Join(dir, "box")
	cfg.Recording.Dir = filepath.Join(dir, "box", "recordings")
	cfg.Recording.MinLength = time.Second
	cfg.Kaltura.ServiceURL = "http://kaltura.test"
	cfg.Kaltura.AllowInsecureHTTP = true
	cfg.Kaltura.PartnerID = w.pid
	cfg.Kaltura.AppTokenID = w.token.ID
	cfg.Kaltura.AppToken = config.Secret(w.token.Token)
	cfg.Kaltura.AppTokenHashType = "SHA256"
	cfg.Kaltura.ResourceID = w.room.ID
	cfg.Kaltura.DefaultTemplateEntryID = w.adhocTpl.ID
	cfg.Upload.ChunkSize = 256 << 10
	w.cfg = cfg
	return w
}

// TestCredentialsRefused: an app token disabled in Kaltura is a fault that
// needs a person (fast blink, the setting named on the display), not a
// retry loop; once the token works again the fault clears by itself.
func TestCredentialsRefused(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		if err := w.sim.SetAppTokenStatus(w.token.ID, kalturasim.AppTokenDisabled); err != nil {
			t.Fatal(err)
		}
		led := haltest.NewFakeLED(time.Now)
		display := haltest.NewFakeDisplay(16, 2, time.Now)
		tr := &handlerTransport{h: w.sim}
		dev := firmware.Devices{LED: led, Display: display, Button: haltest.NewFakeButton(time.Now),
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- firmware.Run(ctx, w.cfg, dev, firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: tr}, Seed: 3})
		}()
		time.Sleep(time.Minute)
		if led.Pattern() != hal.FastBlink {
			t.Errorf("LED %v with the app token refused, want fast blink", led.Pattern())
		}
		if got := display.Lines(); !strings.HasPrefix(got[1], "! CHECK kaltura") { // 16 columns; the console shows the whole key
			t.Errorf("display %q does not name the setting to fix", got)
		}
		calls := tr.n.Load()
		time.Sleep(time.Hour)
		if n := tr.n.Load() - calls; n > 40 {
			t.Errorf("%d calls to Kaltura in an hour with refused credentials: a retry loop", n)
		}
		if err := w.sim.SetAppTokenStatus(w.token.ID, kalturasim.AppTokenActive); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		if led.Pattern() != hal.Off {
			t.Errorf("LED %v after the token works again, want off", led.Pattern())
		}
		cancel()
		<-done
		var got []string
		for _, c := range led.Timeline() {
			got = append(got, fmt.Sprintf("%v %v", c.At.Sub(t0).Truncate(time.Minute), c.Pattern))
		}
		t.Logf("LED: %s", strings.Join(got, ", "))
	})
}

// checkJoined: a joined recording's duration, as ffprobe reads the file,
// is the time its parts recorded (within a frame interval per part).
func checkJoined(t *testing.T, path string, parts []capture.Sidecar, info capturetest.Info) {
	t.Helper()
	var recorded time.Duration
	for _, p := range parts {
		recorded += p.MediaEnd.Sub(p.MediaStart)
	}
	got := time.Duration(info.Duration * float64(time.Second))
	if d := got - recorded; d < -time.Second*time.Duration(len(parts)) || d > time.Second*time.Duration(len(parts)) {
		t.Errorf("%s: ffprobe duration %v, the parts recorded %v", path, got, recorded)
	}
	t.Logf("%s: %d parts recorded %v; the joined file plays %v", filepath.Base(path), len(parts), recorded, got)
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func logTail(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	t.Logf("box log tail:\n%s", strings.Join(lines, "\n"))
}
