package upload_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/internal/kfake"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// TestCrashKill re-runs this test binary as a child that uploads a batch
// of recordings against a fake Kaltura served by the parent on 127.0.0.1,
// and SIGKILLs it at random points (after a random number of progress
// lines) until CAPTUREBOX_CRASH_KILLS kills (default 12; the lead's full
// run uses 200) have been dealt or the batch is done. A last child runs to
// the end. Every recording must be in exactly one entry, byte for byte.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	kills := 12
	if v := os.Getenv("CAPTUREBOX_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		kills = n
	}
	fake := kfake.New(testPartner)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tokID, tok := fake.AddAppToken("SHA1", 0)
	tmpl := fake.AddTemplate(kaltura.MediaEntry{EntitledUsersEdit: "prof"})
	dir := t.TempDir()
	nrec := max(2, kills/12)
	var paths []string
	want := map[string][]byte{}
	for i := range nrec {
		data := make([]byte, 100_000+i*7919)
		rand.Read(data)
		p := filepath.Join(dir, fmt.Sprintf("rec%03d.mp4", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		want[fmt.Sprintf("rec%03d", i)] = data
	}
	env := append(os.Environ(), "CAPTUREBOX_CRASH_CHILD=1", "KF_URL="+srv.URL, "KF_TOKEN_ID="+tokID, "KF_TOKEN="+tok,
		"KF_TEMPLATE="+tmpl, "KF_QDIR="+filepath.Join(dir, "queue"), "KF_FILES="+strings.Join(paths, string(os.PathListSeparator)))
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	dealt, runs := 0, 0
	done := false
	for dealt < kills && !done {
		runs++
		killAfter := 1 + rng.IntN(6)
		finished, killed := runChild(t, env, killAfter)
		if killed {
			dealt++
		}
		done = finished
	}
	if !done {
		if finished, _ := runChild(t, env, -1); !finished {
			t.Fatal("final child did not finish the batch")
		}
	}
	t.Logf("%d recordings, %d kills in %d runs", nrec, dealt, runs)
	byRef := map[string][]kfake.Entry{}
	for _, e := range fake.Entries() {
		byRef[e.ReferenceID] = append(byRef[e.ReferenceID], e)
	}
	for id, data := range want {
		es := byRef[id]
		if len(es) != 1 {
			t.Errorf("%s: %d entries, want 1", id, len(es))
			continue
		}
		if string(es[0].Content) != string(data) || es[0].Status != kaltura.EntryReady {
			t.Errorf("%s: content %d bytes (want %d), status %d", id, len(es[0].Content), len(data), es[0].Status)
		}
	}
	if len(fake.Entries()) != nrec {
		t.Errorf("%d entries for %d recordings", len(fake.Entries()), nrec)
	}
}

// runChild starts a child; with killAfter > 0 it SIGKILLs it after that
// many progress lines. It reports whether the child finished the batch and
// whether it was killed.
func runChild(t *testing.T, env []string, killAfter int) (finished, killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKillChild$")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	lines := 0
	for sc.Scan() {
		l := sc.Text()
		if l == "CHILD DONE" {
			finished = true
		}
		if strings.HasPrefix(l, "P ") {
			lines++
			if killAfter > 0 && lines == killAfter && !finished {
				cmd.Process.Kill()
				killed = true
				break
			}
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	if !killed && err != nil {
		t.Fatalf("child failed: %v", err)
	}
	return finished, killed
}

// TestCrashKillChild is the child of TestCrashKill; it does nothing in a
// normal run.
func TestCrashKillChild(t *testing.T) {
	if os.Getenv("CAPTUREBOX_CRASH_CHILD") != "1" {
		t.Skip("child of TestCrashKill only")
	}
	c, err := kaltura.New(kaltura.Options{BaseURL: os.Getenv("KF_URL"), AllowInsecureHTTP: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: testPartner, AppTokenID: os.Getenv("KF_TOKEN_ID"), AppToken: os.Getenv("KF_TOKEN")})
	if err != nil {
		t.Fatal(err)
	}
	files := strings.Split(os.Getenv("KF_FILES"), string(os.PathListSeparator))
	ready := make(chan string, len(files))
	o := upload.QueueOptions{API: s, ChunkSize: 16 << 10, DefaultTemplateEntryID: os.Getenv("KF_TEMPLATE"),
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond,
		AddSettle: 50 * time.Millisecond,
		OnReady:   func(id, _ string) { ready <- id },
		OnFault:   func(f upload.Fault) { fmt.Fprintf(os.Stderr, "fault: %+v\n", f) },
	}
	o.SetHook(func(p string) error { fmt.Println("P " + p); return nil })
	q, err := upload.OpenQueue(os.Getenv("KF_QDIR"), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		id := strings.TrimSuffix(filepath.Base(p), ".mp4")
		if err := q.Enqueue(upload.Recording{ID: id, Path: p, Title: id}); err != nil {
			t.Fatal(err)
		}
		fmt.Println("P enqueued " + id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		seen := map[string]bool{}
		for id := range ready {
			seen[id] = true
			if len(seen) == len(files) {
				cancel()
				return
			}
		}
	}()
	q.Run(ctx)
	fmt.Println("CHILD DONE")
}
