package fetch_test

import (
	"slices"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/schedule"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// TestTwoCamerasOneRoom: two boxes, each mapped to its camera under one
// room (a LOCATION resource). Each lists with resourceIdsMultiLikeOr=
// <camera>,<room> and plans with the same rule (plan.BoxResources): each
// records its own events and the room's, and nothing of its sibling's —
// neither from the server's filter nor when the listing holds the whole
// partner (a CAPTURE_DEVICE session sees every event, kaltura.md §8).
func TestTwoCamerasOneRoom(t *testing.T) {
	e := newSimEnv(t)
	room, err := e.store.AddResource(pid, simsched.Resource{Name: "Room 204", Type: simsched.ResourceLocation})
	if err != nil {
		t.Fatal(err)
	}
	camA, err := e.store.AddResource(pid, simsched.Resource{Name: "Room 204 front", Type: simsched.ResourceCamera, ParentID: room.ID})
	if err != nil {
		t.Fatal(err)
	}
	camB, err := e.store.AddResource(pid, simsched.Resource{Name: "Room 204 back", Type: simsched.ResourceCamera, ParentID: room.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.store.AddResource(pid, simsched.Resource{Name: "Hall B", Type: simsched.ResourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	add := func(summary string, hour int, res ...int64) int64 {
		t.Helper()
		start := t0.Add(time.Duration(hour) * time.Hour)
		ev, err := e.store.AddEvent(pid, simsched.Event{Summary: summary, Status: simsched.StatusActive, StartDate: start.Unix(),
			EndDate: start.Add(50 * time.Minute).Unix(), ResourceIDs: res, TemplateEntryID: "1_tmpl0000"})
		if err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	onA := add("front camera only", 1, camA.ID)
	onB := add("back camera only", 2, camB.ID)
	onRoom := add("whole room", 3, room.ID)
	onBoth := add("both cameras", 4, camA.ID, camB.ID)
	elsewhere := add("other hall", 5, other.ID)
	e.ready()

	boxes := []struct {
		name   string
		camera int64
		want   []int64
	}{
		{"front box", camA.ID, []int64{onA, onRoom, onBoth}},
		{"back box", camB.ID, []int64{onB, onRoom, onBoth}},
	}
	parse := func(l *fetch.Listing) []schedule.Event {
		var out []schedule.Event
		for _, p := range l.Pages {
			cal, err := icalparse.ParseBytes(p.Body, icalparse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cal.Events...)
		}
		return out
	}
	recorded := func(events []schedule.Event, camera, room int64) []int64 {
		p := plan.BuildWith(events, camera, t0, t0.Add(24*time.Hour), plan.Options{Room: room})
		var ids []int64
		for _, en := range p.Entries {
			if en.Record {
				ids = append(ids, en.Occurrence.ReferenceID())
			}
		}
		slices.Sort(ids)
		return ids
	}
	for _, b := range boxes {
		t.Run(b.name, func(t *testing.T) {
			slices.Sort(b.want)
			n := len(e.listRequests())
			l := fetchOK(t, e.https(t, func(o *fetch.HTTPSOptions) {
				o.Filter = fetch.Filter{ResourceID: b.camera, ParentResourceID: room.ID}
				o.Window = 24 * time.Hour
			}))
			r := e.listRequests()[n]
			if got, want := r.Get("filter:resourceIdsMultiLikeOr"), itoa(b.camera)+","+itoa(room.ID); got != want {
				t.Errorf("resourceIdsMultiLikeOr=%q, want %q", got, want)
			}
			for k := range r {
				if k == "filter:parentResourceIdsLike" || k == "filter:resourceIdsLike" {
					t.Errorf("%s sent", k)
				}
			}
			var listed []int64
			for _, p := range l.Pages {
				listed = append(listed, p.IDs...)
			}
			slices.Sort(listed)
			if !slices.Equal(listed, b.want) {
				t.Errorf("server listed %v, want %v (front %d, back %d, room %d, elsewhere %d)", listed, b.want, onA, onB, onRoom, elsewhere)
			}
			if got := recorded(parse(l), b.camera, room.ID); !slices.Equal(got, b.want) {
				t.Errorf("box records %v, want %v", got, b.want)
			}
		})
	}

	// The local rule alone, on a listing of the whole partner (the union
	// of every resource's listing).
	var everything []schedule.Event
	seen := map[int64]bool{}
	for _, res := range []int64{camA.ID, camB.ID, room.ID, other.ID} {
		l := fetchOK(t, e.https(t, func(o *fetch.HTTPSOptions) {
			o.Filter = fetch.Filter{ResourceID: res}
			o.Window = 24 * time.Hour
		}))
		for _, ev := range parse(l) {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				everything = append(everything, ev)
			}
		}
	}
	if len(everything) != 5 {
		t.Fatalf("whole-partner listing has %d events, want 5", len(everything))
	}
	for _, b := range boxes {
		if got := recorded(everything, b.camera, room.ID); !slices.Equal(got, b.want) {
			t.Errorf("%s: local rule records %v of the whole partner, want %v", b.name, got, b.want)
		}
	}
	// Without the room, a box records only its camera's events.
	if got := recorded(everything, camA.ID, 0); !slices.Equal(got, []int64{onA, onBoth}) {
		t.Errorf("no room: records %v, want %v", got, []int64{onA, onBoth})
	}
}
