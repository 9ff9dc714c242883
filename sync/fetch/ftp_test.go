package fetch_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
)

// pureFTPd serves a directory tree with Debian's pure-ftpd (an FTP server
// independent of the simulator) on a loopback port. The test runs pure-ftpd
// itself, as its child, never through a system service (no inetd, no
// init script): it accepts each control connection and starts pure-ftpd on
// it, so there is no daemon to wait for and no port to guess; logins are checked
// through pure-ftpd's extauth protocol on a Unix socket served by the test
// (the user name "<partnerId>/<loginId>" has a slash, which system users
// cannot have).
type pureFTPd struct {
	Addr string
	Root string

	user, pass string
	mu         sync.Mutex
	logins     int
}

const (
	ftpUser = "1234567/box@example.com"
	ftpPass = "s3cret-Pa55"
)

func lookPureFTPd(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pure-ftpd")
	if err != nil {
		if _, e2 := os.Stat("/usr/sbin/pure-ftpd"); e2 == nil {
			path, err = "/usr/sbin/pure-ftpd", nil
		}
	}
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("pure-ftpd must start as root to switch to the virtual user")
	}
	if err != nil {
		if os.Getenv("CAPTUREBOX_REQUIRE_FTPD") == "1" {
			t.Fatalf("pure-ftpd unusable (install Debian's pure-ftpd): %v", err)
		}
		t.Skipf("skipping: pure-ftpd unusable (apt-get install -y pure-ftpd; CAPTUREBOX_REQUIRE_FTPD=1 makes this fatal): %v", err)
	}
	return path
}

func startPureFTPd(t *testing.T) *pureFTPd {
	t.Helper()
	bin := lookPureFTPd(t)
	dir := t.TempDir()
	root := ftpRoot(t)
	p := &pureFTPd{Root: root, user: ftpUser, pass: ftpPass}

	sock := filepath.Join(dir, "auth.sock")
	al, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	go p.serveAuth(al)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	var wg sync.WaitGroup
	var procs []*exec.Cmd
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range procs {
			if c.Process != nil {
				_ = c.Process.Kill()
			}
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				continue
			}
			// -E no anonymous, -H no DNS, -A chroot, -u 1 any uid but root,
			// -l extauth: logins through the test's socket.
			cmd := exec.Command(bin, "-E", "-H", "-A", "-u", "1", "-l", "extauth:"+sock)
			cmd.Stdin, cmd.Stdout = f, f
			if err := cmd.Start(); err != nil {
				f.Close()
				t.Errorf("starting pure-ftpd: %v", err)
				continue
			}
			f.Close()
			mu.Lock()
			procs = append(procs, cmd)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _ = cmd.Wait() }()
		}
	}()
	return p
}

// ftpRoot makes the served tree: a folder of the test's own, created
// directly in the temporary directory and opened to the virtual user
// (nobody) with mode 0755. t.TempDir's folders sit under a 0700 parent that
// nobody cannot cross; no parent's mode is changed, only this folder's.
func ftpRoot(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "capturebox-ftpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("the virtual FTP user cannot reach %s: %s is mode %o (set TMPDIR to a folder others can cross)", root, d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return root
}

// serveAuth answers pure-ftpd's extauth requests (README.Authentication-Modules).
func (p *pureFTPd) serveAuth(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			kv := map[string]string{}
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				line := sc.Text()
				if line == "end" {
					break
				}
				k, v, _ := strings.Cut(line, ":")
				kv[k] = v
			}
			if kv["account"] == p.user && kv["password"] == p.pass {
				p.mu.Lock()
				p.logins++
				p.mu.Unlock()
				fmt.Fprintf(c, "auth_ok:1\nuid:65534\ngid:65534\ndir:%s/./\nend\n", p.Root)
				return
			}
			fmt.Fprint(c, "auth_ok:-1\nend\n")
		}(c)
	}
}

// put writes one file under dir (relative to the root) with mtime mt.
func (p *pureFTPd) put(t *testing.T, dir, name, body string, mt time.Time) {
	t.Helper()
	d := filepath.Join(p.Root, filepath.FromSlash(dir))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}

func (p *pureFTPd) remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(p.Root, filepath.FromSlash(dir), name)); err != nil {
		t.Fatal(err)
	}
}

// ftpEvent is the FTP form of one event (kaltura.md §7): LF around the
// wrapper, CRLF inside, legacy STATUS and DURATION.
func ftpEvent(id int64, start time.Time, summary string) string {
	f := "20060102T150405Z"
	lines := []string{
		"BEGIN:VEVENT",
		"SUMMARY:" + summary,
		"STATUS:2",
		"SEQUENCE:12",
		"DURATION:PT1H0M0S",
		"DTSTART:" + start.UTC().Format(f),
		"DTEND:" + start.Add(time.Hour).UTC().Format(f),
		"CLASS:PUBLIC",
		"DTSTAMP:20250820T151003Z",
		fmt.Sprintf("X-KALTURA-ID:%d", id),
		"X-KALTURA-TYPE:1",
		"X-KALTURA-PARTNER-ID:1234567",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-OWNER-ID:jdoe",
		"X-KALTURA-RESOURCE-IDS:58",
		"END:VEVENT",
	}
	return "BEGIN:VCALENDAR\n" + strings.Join(lines, "\r\n") + "\r\n\nEND:VCALENDAR"
}

func newFTP(t *testing.T, addr string, mod func(*fetch.FTPOptions)) *fetch.FTP {
	t.Helper()
	o := fetch.FTPOptions{Addr: addr, PartnerID: 1234567, LoginID: "box@example.com", Password: ftpPass,
		Filter: fetch.Filter{ResourceID: resource}, Timeout: 10 * time.Second}
	if mod != nil {
		mod(&o)
	}
	f, err := fetch.NewFTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFTPPureFTPd(t *testing.T) {
	srv := startPureFTPd(t)
	f := newFTP(t, srv.Addr, nil)
	to := t0.Add(fetch.DefaultWindow)
	// Only the documented spelling exists: the code's spelling fails first.
	dir := f.Dir("schedule_scheduleevent", t0, to)
	mt := t0.Add(-time.Hour)
	var ids []int64
	for i := range 12 {
		id := int64(7340000 + i)
		ids = append(ids, id)
		srv.put(t, dir, fmt.Sprintf("%d.ics", id), ftpEvent(id, t0.Add(time.Duration(i)*time.Hour), "Lecture"), mt)
	}
	srv.put(t, dir, "README.txt", "not an event", mt)
	srv.put(t, dir+"/subdir", "1.ics", ftpEvent(1, t0, "x"), mt)
	ctx := context.Background()

	l, err := f.Fetch(ctx, fetch.Request{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l, ids)
	if l.FTPService != "schedule_scheduleevent" || f.Service() != "schedule_scheduleevent" {
		t.Fatalf("service %q", l.FTPService)
	}
	if l.Stats.Downloaded != 12 || l.Stats.Reused != 0 || len(l.Files) != 12 {
		t.Fatalf("stats %+v, %d files", l.Stats, len(l.Files))
	}
	if l.Transport != "ftp" || strings.Contains(l.Source, ftpPass) {
		t.Fatalf("source %q", l.Source)
	}

	// Second sync: nothing changed, nothing downloaded; the remembered
	// spelling is tried first (one LIST).
	l2, err := f.Fetch(ctx, fetch.Request{Now: t0, Previous: l.Files, FTPService: l.FTPService})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l2, ids)
	if l2.Stats.Downloaded != 0 || l2.Stats.Reused != 12 || l2.Stats.Requests != 1 {
		t.Fatalf("unchanged: stats %+v", l2.Stats)
	}
	first := map[string]string{}
	for _, p := range l.Pages {
		first[p.Name] = string(p.Body)
	}
	for _, p := range l2.Pages {
		if string(p.Body) != first[p.Name] {
			t.Fatalf("reused body of %s differs", p.Name)
		}
	}

	// One edited (new time), one deleted, one added.
	srv.put(t, dir, fmt.Sprintf("%d.ics", ids[3]), ftpEvent(ids[3], t0.Add(30*time.Minute), "Moved lecture"), t0)
	srv.remove(t, dir, fmt.Sprintf("%d.ics", ids[5]))
	srv.put(t, dir, "7349999.ics", ftpEvent(7349999, t0.Add(50*time.Hour), "New"), t0)
	l3, err := f.Fetch(ctx, fetch.Request{Now: t0, Previous: l2.Files, FTPService: l2.FTPService})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]int64{}, ids[:5]...), ids[6:]...)
	want = append(want, 7349999)
	checkIDs(t, l3, want)
	if l3.Stats.Downloaded != 2 || l3.Stats.Reused != 10 {
		t.Fatalf("after edits: stats %+v", l3.Stats)
	}
	for _, p := range l3.Pages {
		if p.Name == fmt.Sprintf("%d.ics", ids[3]) && !strings.Contains(string(p.Body), "Moved lecture") {
			t.Fatal("edited file not downloaded again")
		}
	}
}

func TestFTPPureFTPdPaging(t *testing.T) {
	srv := startPureFTPd(t)
	f := newFTP(t, srv.Addr, nil)
	dir := f.Dir("scheduleEvent", t0, t0.Add(fetch.DefaultWindow))
	mt := t0.Add(-time.Hour)
	var ids []int64
	for i := range 530 {
		id := int64(8000000 + i)
		ids = append(ids, id)
		d := dir
		if i >= 500 {
			d += "/pager:objectType/KalturaFilterPager/pager:pageSize/500/pager:pageIndex/2"
		}
		srv.put(t, d, fmt.Sprintf("%d.ics", id), ftpEvent(id, t0.Add(time.Duration(i)*time.Minute), "L"), mt)
	}
	l, err := f.Fetch(context.Background(), fetch.Request{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l, ids)
	if l.FTPService != "scheduleEvent" {
		t.Fatalf("service %q", l.FTPService)
	}
}

func TestFTPPureFTPdFailures(t *testing.T) {
	srv := startPureFTPd(t)
	ctx := context.Background()
	probe := newFTP(t, srv.Addr, nil)
	dir := probe.Dir("scheduleEvent", t0, t0.Add(fetch.DefaultWindow))
	srv.put(t, dir, "100.ics", ftpEvent(100, t0, "ok"), t0)

	t.Run("wrong password", func(t *testing.T) {
		f := newFTP(t, srv.Addr, func(o *fetch.FTPOptions) { o.Password = "wrong-Pa55word" })
		_, err := f.Fetch(ctx, fetch.Request{Now: t0})
		if err == nil || strings.Contains(err.Error(), "wrong-Pa55word") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no directory under either name", func(t *testing.T) {
		f := newFTP(t, srv.Addr, func(o *fetch.FTPOptions) { o.Filter.ResourceID = 59 })
		_, err := f.Fetch(ctx, fetch.Request{Now: t0})
		if err == nil || !strings.Contains(err.Error(), "either service name") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("file holds another event", func(t *testing.T) {
		srv.put(t, dir, "101.ics", ftpEvent(102, t0, "wrong id"), t0)
		defer srv.remove(t, dir, "101.ics")
		_, err := newFTP(t, srv.Addr, nil).Fetch(ctx, fetch.Request{Now: t0})
		var pe *fetch.PageError
		if !errors.As(err, &pe) || pe.Page != "101.ics" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("VERROR file", func(t *testing.T) {
		srv.put(t, dir, "103.ics", "BEGIN:VCALENDAR\nBEGIN:VERROR\r\nX-KALTURA-CODE:INVALID_KS\r\nX-KALTURA-MESSAGE:x\r\nX-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR\r\nEND:VERROR\nEND:VCALENDAR", t0)
		defer srv.remove(t, dir, "103.ics")
		_, err := newFTP(t, srv.Addr, nil).Fetch(ctx, fetch.Request{Now: t0})
		if err == nil || !strings.Contains(err.Error(), "INVALID_KS") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("file over the cap", func(t *testing.T) {
		_, err := newFTP(t, srv.Addr, func(o *fetch.FTPOptions) { o.MaxBytes = 100 }).Fetch(ctx, fetch.Request{Now: t0})
		if !errors.Is(err, fetch.ErrTooLarge) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := newFTP(t, srv.Addr, nil).Fetch(cctx, fetch.Request{Now: t0}); err == nil {
			t.Fatal("fetch with a cancelled context succeeded")
		}
	})
}
