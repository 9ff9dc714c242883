package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/tools/kalturasim/ftpfront"
)

// FTP end to end: the per-file index is kept with the last good schedule,
// so after a reboot unchanged files are not downloaded again.
func TestSyncFTPFileIndexSurvivesReboot(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(30, t0, time.Hour)
	e.ready()
	if err := e.sim.AddUser(kalturasim.User{PartnerID: pid, ID: "box", LoginID: "box@example.com", Password: "pw-Secret9"}); err != nil {
		t.Fatal(err)
	}
	srv, err := ftpfront.New(ftpfront.Config{Call: e.sim.Call, Auth: e.sim.LoginCaller, Clock: e.sim.Now, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	var last *fetch.Listing
	newFetcher := func() Fetcher {
		f, err := fetch.NewFTP(fetch.FTPOptions{Addr: srv.Addr(), PartnerID: pid, LoginID: "box@example.com", Password: "pw-Secret9",
			Filter: fetch.Filter{ResourceID: resource}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
			l, err := f.Fetch(ctx, req)
			last = l
			return l, err
		})
	}
	e.s = e.newSyncer(newFetcher())
	wantIDs(t, e.mustSync(), ids)
	if last.Stats.Downloaded != 30 {
		t.Fatalf("first sync: %+v", last.Stats)
	}
	// Reboot.
	s2 := e.newSyncer(newFetcher())
	if err := s2.LoadCache(); err != nil {
		t.Fatal(err)
	}
	if err := s2.sync1(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s2.Current(), ids)
	if last.Stats.Downloaded != 0 || last.Stats.Reused != 30 || last.FTPService != "scheduleEvent" {
		t.Fatalf("after reboot: %+v", last.Stats)
	}
	if s2.Current().Transport != "ftp" || len(s2.Current().Plan.Entries) != 30 {
		t.Fatalf("snapshot %+v", s2.Status())
	}
}
