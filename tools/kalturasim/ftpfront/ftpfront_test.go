package ftpfront_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/capturebox/capturebox/tools/kalturasim/ftpfront"
	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

const pid = 1234567

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	clock *clock
	store *schedule.Store
	srv   *ftpfront.Server
	cam   int64
	loc   *time.Location
}

func unix(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func newEnv(t *testing.T, mod func(*ftpfront.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Unix(unix("2025-09-01T08:03:12Z"), 0)}}
	e.loc = time.FixedZone("IDT", 3*3600)
	e.store = schedule.New(e.clock.Now)
	r, err := e.store.AddResource(pid, schedule.Resource{Name: "Hall B Cam"})
	if err != nil {
		t.Fatal(err)
	}
	e.cam = r.ID
	cfg := ftpfront.Config{
		Addr:     "127.0.0.1:0",
		Call:     ftpfront.StoreCall(e.store),
		Clock:    e.clock.Now,
		Location: e.loc,
		Auth: func(partnerID int64, login, password string) (kapi.Caller, error) {
			if partnerID != pid || login != "ftpuser@uni.example" || password != "s3cret" {
				return kapi.Caller{}, errors.New("USER_WRONG_PASSWORD")
			}
			return kapi.Caller{PartnerID: partnerID, UserID: login}, nil
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	e.srv, err = ftpfront.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Close() })
	return e
}

func (e *env) dial() *ftp.ServerConn {
	e.t.Helper()
	c, err := ftp.Dial(e.srv.Addr(), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Login(itoa(pid)+"/ftpuser@uni.example", "s3cret"); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Quit() })
	return c
}

func (e *env) addEvent(ev schedule.Event) schedule.Event {
	e.t.Helper()
	out, err := e.store.AddEvent(pid, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func names(t *testing.T, c *ftp.ServerConn, dir string) []string {
	t.Helper()
	entries, err := c.List(dir)
	if err != nil {
		t.Fatalf("LIST %s: %v", dir, err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name)
	}
	slices.Sort(out)
	return out
}

func retr(t *testing.T, c *ftp.ServerConn, p string) string {
	t.Helper()
	r, err := c.Retr(p)
	if err != nil {
		t.Fatalf("RETR %s: %v", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{itoa(pid) + "/ftpuser@uni.example", "s3cret", true},
		{itoa(pid) + "/ftpuser@uni.example", "wrong", false},
		{"ftpuser@uni.example", "s3cret", false},
		{"x/ftpuser@uni.example", "s3cret", false},
		{"99/ftpuser@uni.example", "s3cret", false},
	} {
		c, err := ftp.Dial(e.srv.Addr(), ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(tc.user, tc.pass)
		if (err == nil) != tc.ok {
			t.Errorf("login %q/%q: %v", tc.user, tc.pass, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Error("password in error")
		}
		_ = c.Quit()
	}
}

func TestTreeAndListing(t *testing.T) {
	e := newEnv(t, nil)
	ev := e.addEvent(schedule.Event{Summary: "BIO 210, Guest; lecture", ResourceIDs: []int64{e.cam}, TemplateEntryID: "1_ab12cd34",
		StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:15:00Z")})
	series := e.addEvent(schedule.Event{Summary: "CHEM", ResourceIDs: []int64{e.cam}, StartDate: unix("2025-09-02T13:00:00Z"), Duration: 3600,
		RecurrenceType: schedule.RecurrenceRecurring, Recurrence: &schedule.Recurrence{Frequency: "weeks", Count: 2, TimeZone: "America/New_York"}})
	blackout := e.addEvent(schedule.Event{Type: schedule.TypeBlackout, Summary: "Holiday", StartDate: unix("2025-10-13T00:00:00Z"), EndDate: unix("2025-10-14T00:00:00Z")})
	occ := e.store.Occurrences(pid, series.ID)
	c := e.dial()

	if got := names(t, c, "/"); !slices.Equal(got, []string{"format"}) {
		t.Errorf("/: %v", got)
	}
	if got := names(t, c, "/format"); !slices.Equal(got, []string{"ical", "json", "xml"}) {
		t.Errorf("/format: %v", got)
	}
	if got := names(t, c, "/format/ical"); !slices.Equal(got, []string{"scheduleEvent"}) {
		t.Errorf("/format/ical: %v", got)
	}
	dir := "/format/ical/scheduleEvent/filter:objectType/KalturaRecordScheduleEventFilter/filter:resourceIdsLike/" + itoa(e.cam)
	want := []string{itoa(ev.ID) + ".ics", itoa(series.ID) + ".ics", itoa(occ[0].ID) + ".ics", itoa(occ[1].ID) + ".ics"}
	slices.Sort(want)
	if got := names(t, c, dir); !slices.Equal(got, want) {
		t.Errorf("filtered listing %v, want %v", got, want)
	}
	// The file: LF wrapper, CRLF inside, no VTIMEZONE/PRODID/TOTAL-COUNT.
	got := retr(t, c, dir+"/"+itoa(occ[1].ID)+".ics")
	if !strings.HasPrefix(got, "BEGIN:VCALENDAR\nBEGIN:VEVENT\r\nUID:") || !strings.HasSuffix(got, "\r\nEND:VEVENT\nEND:VCALENDAR") {
		t.Errorf("file framing: %q", got)
	}
	for _, bad := range []string{"VTIMEZONE", "PRODID", "TOTAL-COUNT"} {
		if strings.Contains(got, bad) {
			t.Errorf("file has %s", bad)
		}
	}
	if !strings.Contains(got, "\r\nDTSTART;TZID=America/New_York:20250909T090000\r\n") || !strings.Contains(got, "\r\nX-KALTURA-PARENT-ID:"+itoa(series.ID)+"\r\n") {
		t.Errorf("occurrence file:\n%s", got)
	}
	// Size is the text length; mtime is DTSTAMP read as the server's local time.
	size, err := c.FileSize(dir + "/" + itoa(occ[1].ID) + ".ics")
	if err != nil || size != int64(len(got)) {
		t.Errorf("SIZE %d (%v), want %d", size, err, len(got))
	}
	mt, err := c.GetTime(dir + "/" + itoa(occ[1].ID) + ".ics")
	if wantT := time.Date(2025, 9, 1, 8, 3, 12, 0, e.loc); err != nil || !mt.Equal(wantT) {
		t.Errorf("MDTM %v (%v), want %v", mt, err, wantT)
	}
	// The plain filter (with objectType) also lists the blackout.
	all := names(t, c, "/format/ical/scheduleEvent/filter:objectType/KalturaScheduleEventFilter")
	if !slices.Contains(all, itoa(blackout.ID)+".ics") || len(all) != 5 {
		t.Errorf("all events: %v", all)
	}
	// Without filter:objectType the filter keys are dropped.
	noType := names(t, c, "/format/ical/scheduleEvent/filter:resourceIdsLike/999999")
	if len(noType) != 5 {
		t.Errorf("filter without objectType: %v", noType)
	}
	// Listing through CWD works the same.
	if err := c.ChangeDir(dir); err != nil {
		t.Fatal(err)
	}
	if got := names(t, c, ""); !slices.Equal(got, want) {
		t.Errorf("LIST after CWD: %v", got)
	}
}

func TestServiceNameSpelling(t *testing.T) {
	e := newEnv(t, nil)
	e.addEvent(schedule.Event{Summary: "x", StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:00:00Z")})
	c := e.dial()
	if _, err := c.List("/format/ical/schedule_scheduleevent/filter:objectType/KalturaScheduleEventFilter"); err == nil {
		t.Error("schedule_scheduleevent accepted; the 2016 code rejects it")
	}
	if err := c.ChangeDir("/format/ical/schedule_scheduleevent"); err == nil {
		t.Error("CWD schedule_scheduleevent accepted")
	}
	if err := c.ChangeDir("/format/pdf"); err == nil {
		t.Error("CWD unknown format accepted")
	}
	if got := names(t, c, "/format/ical/scheduleEvent"); len(got) != 1 {
		t.Errorf("scheduleEvent: %v", got)
	}
}

func TestFirst500AndExplicitPager(t *testing.T) {
	e := newEnv(t, nil)
	e.store.GenerateEvents(pid, e.cam, 620, time.Unix(unix("2025-09-02T08:00:00Z"), 0), schedule.GenerateOptions{})
	c := e.dial()
	base := "/format/ical/scheduleEvent/filter:objectType/KalturaRecordScheduleEventFilter/filter:resourceIdsLike/" + itoa(e.cam)
	tests := []struct {
		dir  string
		want int
	}{
		{base, 500},
		{base + "/pager:objectType/KalturaFilterPager/pager:pageSize/500/pager:pageIndex/2", 120},
		{base + "/pager:objectType/KalturaFilterPager/pager:pageSize/500/pager:pageIndex/1", 500},
		{base + "/pager:pageSize/500/pager:pageIndex/2", 500},                 // no pager objectType: ignored
		{base + "/pager:objectType/KalturaFilterPager/pager:pageIndex/3", 30}, // server default page size
	}
	for _, tc := range tests {
		if got := names(t, c, tc.dir); len(got) != tc.want {
			t.Errorf("%s: %d files, want %d", tc.dir, len(got), tc.want)
		}
	}
}

func TestCacheQuirks(t *testing.T) {
	e := newEnv(t, nil)
	ev := e.addEvent(schedule.Event{Summary: "Original", ResourceIDs: []int64{e.cam}, StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:00:00Z")})
	other := e.addEvent(schedule.Event{Summary: "Never listed", StartDate: unix("2025-09-16T13:00:00Z"), EndDate: unix("2025-09-16T14:00:00Z"),
		RecurrenceType: schedule.RecurrenceNone})
	c := e.dial()
	dir := "/format/ical/scheduleEvent/filter:objectType/KalturaRecordScheduleEventFilter/filter:resourceIdsLike/" + itoa(e.cam)
	names(t, c, dir)
	file := itoa(ev.ID) + ".ics"
	first := retr(t, c, dir+"/"+file)
	e.clock.Add(time.Minute)
	if _, err := e.store.UpdateEvent(pid, ev.ID, func(x *schedule.Event) { x.Summary = "Renamed" }); err != nil {
		t.Fatal(err)
	}
	// RETR without a new LIST serves the stale copy, under any directory:
	// the cache is keyed by file name only.
	if got := retr(t, c, "/format/ical/scheduleEvent/"+file); got != first || !strings.Contains(got, "SUMMARY:Original") {
		t.Errorf("RETR after change (no LIST) should be stale:\n%s", got)
	}
	// A new LIST refreshes it.
	names(t, c, dir)
	if got := retr(t, c, dir+"/"+file); !strings.Contains(got, "SUMMARY:Renamed") {
		t.Errorf("after LIST:\n%s", got)
	}
	// A file never listed is fetched with get: the whole iCal reply.
	got := retr(t, c, "/format/ical/scheduleEvent/"+itoa(other.ID)+".ics")
	if !strings.HasPrefix(got, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n") || !strings.HasSuffix(got, "END:VEVENT\r\nEND:VCALENDAR") {
		t.Errorf("get reply: %q", got)
	}
	// After the cache expiry a RETR goes to get again.
	if _, err := e.store.UpdateEvent(pid, ev.ID, func(x *schedule.Event) { x.Summary = "Third" }); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(ftpfront.DefaultCacheTTL)
	if got := retr(t, c, "/format/ical/scheduleEvent/"+file); !strings.Contains(got, "SUMMARY:Third") || !strings.HasPrefix(got, "BEGIN:VCALENDAR\r\n") {
		t.Errorf("after expiry:\n%s", got)
	}
	// An unknown id is an error; so is a wrong extension.
	if _, err := c.Retr("/format/ical/scheduleEvent/1.ics"); err == nil {
		t.Error("RETR unknown id succeeded")
	}
	if _, err := c.Retr("/format/ical/scheduleEvent/" + itoa(ev.ID) + ".json"); err == nil {
		t.Error("RETR with the wrong extension succeeded")
	}
	// Nothing can be written.
	if err := c.Stor("/format/ical/scheduleEvent/x.ics", strings.NewReader("x")); err == nil {
		t.Error("STOR accepted")
	}
	if err := c.MakeDir("/format/new"); err == nil {
		t.Error("MKD accepted")
	}
}

func TestJSONFormatAndSizeQuirk(t *testing.T) {
	e := newEnv(t, func(c *ftpfront.Config) { c.SizeAsJSON = true })
	ev := e.addEvent(schedule.Event{Summary: "J", StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:00:00Z")})
	c := e.dial()
	if got := names(t, c, "/format/json/scheduleEvent"); !slices.Equal(got, []string{itoa(ev.ID) + ".json"}) {
		t.Fatalf("json listing %v", got)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(retr(t, c, "/format/json/scheduleEvent/"+itoa(ev.ID)+".json")), &obj); err != nil {
		t.Fatal(err)
	}
	if obj["objectType"] != "KalturaRecordScheduleEvent" || obj["summary"] != "J" {
		t.Errorf("json file %v", obj)
	}
	names(t, c, "/format/ical/scheduleEvent")
	text := retr(t, c, "/format/ical/scheduleEvent/"+itoa(ev.ID)+".ics")
	size, err := c.FileSize("/format/ical/scheduleEvent/" + itoa(ev.ID) + ".ics")
	// JSON.stringify adds two quotes and turns each CR and LF into two characters.
	want := int64(len(text) + 2 + strings.Count(text, "\r") + strings.Count(text, "\n"))
	if err != nil || size != want {
		t.Errorf("SIZE %d (%v), want %d (text %d)", size, err, want, len(text))
	}
	if _, err := c.List("/format/xml/scheduleEvent"); err == nil {
		t.Error("xml listing should fail in the simulator")
	}
}

func TestPassivePortRange(t *testing.T) {
	// Find a free block of loopback ports for the range.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	start := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	e := newEnv(t, func(c *ftpfront.Config) { c.PassivePorts = ftpfront.PortRange{Start: start, End: start} })
	e.addEvent(schedule.Event{Summary: "P", StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:00:00Z")})
	var dataPorts []int
	var mu sync.Mutex
	c, err := ftp.Dial(e.srv.Addr(), ftp.DialWithTimeout(10*time.Second), ftp.DialWithDisabledEPSV(true),
		ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
			_, p, _ := net.SplitHostPort(addr)
			n, _ := strconv.Atoi(p)
			mu.Lock()
			dataPorts = append(dataPorts, n)
			mu.Unlock()
			return net.Dial(network, addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(itoa(pid)+"/ftpuser@uni.example", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, c, "/format/ical/scheduleEvent"); len(got) != 1 {
		t.Fatalf("listing %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dataPorts) < 2 || dataPorts[len(dataPorts)-1] != start {
		t.Errorf("data connection ports %v, want the last to be %d", dataPorts, start)
	}
}
