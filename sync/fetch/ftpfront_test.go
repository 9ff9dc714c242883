package fetch_test

import (
	"context"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/tools/kalturasim/ftpfront"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// startFTPFront serves the simulator's schedule through its FTP front.
func startFTPFront(t *testing.T, e *simEnv) *ftpfront.Server {
	t.Helper()
	if err := e.sim.AddUser(kalturasim.User{PartnerID: pid, ID: "box", LoginID: "box@example.com", Password: ftpPass}); err != nil {
		t.Fatal(err)
	}
	srv, err := ftpfront.New(ftpfront.Config{
		Addr: "127.0.0.1:0", Call: e.sim.Call, Auth: e.sim.LoginCaller, Clock: e.sim.Now, Location: time.UTC,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestFTPFront(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(520, t0, 20*time.Minute) // more than one FTP page
	e.ready()
	srv := startFTPFront(t, e)
	f := newFTP(t, srv.Addr(), nil)
	ctx := context.Background()

	l, err := f.Fetch(ctx, fetch.Request{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l, ids)
	if l.FTPService != "scheduleEvent" {
		t.Fatalf("service %q", l.FTPService)
	}
	if l.Stats.Downloaded != 520 {
		t.Fatalf("stats %+v", l.Stats)
	}

	// Unchanged: nothing downloaded. Then one edit, one deletion.
	l2, err := f.Fetch(ctx, fetch.Request{Now: t0, Previous: l.Files, FTPService: l.FTPService})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Stats.Downloaded != 0 || l2.Stats.Reused != 520 {
		t.Fatalf("unchanged: %+v", l2.Stats)
	}
	e.sim.AdvanceClock(time.Hour)
	if _, err := e.store.UpdateEvent(pid, ids[3], func(ev *simsched.Event) { ev.Summary = "Renamed lecture, longer title" }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteEvent(pid, ids[4]); err != nil {
		t.Fatal(err)
	}
	l3, err := f.Fetch(ctx, fetch.Request{Now: t0, Previous: l2.Files, FTPService: l2.FTPService})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l3, append(append([]int64{}, ids[:4]...), ids[5:]...))
	if l3.Stats.Downloaded != 1 {
		t.Fatalf("after an edit: %+v", l3.Stats)
	}
}
