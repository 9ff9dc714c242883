package schedule_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

const pid = 1234567

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// harness is a store with its actions registered in a map, as the core does.
type harness struct {
	t       *testing.T
	clock   *fakeClock
	store   *schedule.Store
	actions map[string]kapi.Action
	caller  kapi.Caller
}

func newHarness(t *testing.T, now string) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{t: mustTime(now)}, actions: map[string]kapi.Action{}}
	h.store = schedule.New(h.clock.Now)
	h.store.Register(func(service, action string, a kapi.Action) {
		h.actions[service+"."+action] = a
	})
	h.caller = kapi.Caller{PartnerID: pid, UserID: "scheduler@uni.example", SessionType: kapi.SessionAdmin}
	return h
}

// call runs an action; the caller's Now is the fake clock's time.
func (h *harness) call(name string, p kapi.Params) (any, error) {
	h.t.Helper()
	a := h.actions[name]
	if a == nil {
		h.t.Fatalf("action %s not registered", name)
	}
	c := h.caller
	c.Now = h.clock.Now()
	return a(c, p)
}

func (h *harness) mustCall(name string, p kapi.Params) any {
	h.t.Helper()
	v, err := h.call(name, p)
	if err != nil {
		h.t.Fatalf("%s(%v): %v", name, p, err)
	}
	return v
}

func (h *harness) list(p kapi.Params) *schedule.ListResponse {
	h.t.Helper()
	return h.mustCall("schedule_scheduleevent.list", p).(*schedule.ListResponse)
}

func (h *harness) ical(p kapi.Params) string {
	h.t.Helper()
	v := h.mustCall("schedule_scheduleevent.list", p)
	ic, ok := v.(kapi.ICal)
	if !ok {
		h.t.Fatalf("list result %T does not implement kapi.ICal", v)
	}
	return string(ic.ICal())
}

func ids(r *schedule.ListResponse) []int64 {
	out := []int64{}
	for _, o := range r.Objects {
		out = append(out, o.ID)
	}
	return out
}

func (h *harness) addResource(name string, typ int, parent int64) int64 {
	h.t.Helper()
	r, err := h.store.AddResource(pid, schedule.Resource{Name: name, Type: typ, ParentID: parent})
	if err != nil {
		h.t.Fatal(err)
	}
	return r.ID
}

func (h *harness) addEvent(e schedule.Event) schedule.Event {
	h.t.Helper()
	out, err := h.store.AddEvent(pid, e)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// code returns the Kaltura error code of err, or "".
func code(err error) string {
	var ex *kapi.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return ""
}

// crlf joins lines with CRLF, with a final CRLF.
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func mustJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func unix(s string) int64 { return mustTime(s).Unix() }

var _ = fmt.Sprintf
