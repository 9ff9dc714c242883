package upload_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// TestCrashKill re-runs this test binary as a child that uploads a batch
// of recordings to the Kaltura simulator served by the parent on 127.0.0.1,
// and SIGKILLs it at random instants: at a progress point (before or after
// a call, or after a step was saved) or a random moment later (during a
// call), until CAPTUREBOX_CRASH_KILLS kills (default 12; make test uses
// 200) have been dealt and the batch is done; every child is started with a
// new batch so that kills fall across many uploads. At the end the
// simulator holds exactly one READY entry per recording, byte for byte, and
// every upload token it issued was used by an entry: none was orphaned.
//
// Under qemu-user (no binfmt_misc) the child, an ARM binary, is started
// through the emulator named by CAPTUREBOX_TEST_EXEC.
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
	sim, err := kalturasim.New(kalturasim.Options{DataDir: t.TempDir(), Seed: 11, ProcessingDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	token, err := sim.AddAppToken(kalturasim.AppTokenSpec{SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "template", EntitledUsersEdit: "prof"})
	if err != nil {
		t.Fatal(err)
	}
	tokID, tok, tmpl := token.ID, token.Token, tpl.ID
	dir := t.TempDir()
	const batch = 6
	want := map[string][]byte{}
	base := append(os.Environ(), "CAPTUREBOX_CRASH_CHILD=1", "KF_URL="+srv.URL, "KF_TOKEN_ID="+tokID, "KF_TOKEN="+tok,
		"KF_TEMPLATE="+tmpl, "KF_QDIR="+filepath.Join(dir, "queue"))
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	dealt, runs := 0, 0
	for round := 0; dealt < kills; round++ {
		var paths []string
		for i := range batch {
			data := make([]byte, 100_000+rng.IntN(200_000))
			rand.Read(data)
			id := fmt.Sprintf("rec%02d-%d", round, i)
			p := filepath.Join(dir, id+".mp4")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			want[id] = data
		}
		env := append(base, "KF_FILES="+strings.Join(paths, string(os.PathListSeparator)))
		done := false
		const perBatch = 12 // then the batch is finished, and the next one takes kills
		for roundKills := 0; roundKills < perBatch && dealt < kills && !done; roundKills++ {
			runs++
			killAfter := 1 + rng.IntN(6)
			var delay time.Duration
			if rng.IntN(2) == 0 {
				delay = time.Duration(rng.IntN(3000)) * time.Microsecond // lands inside a call
			}
			finished, killed := runChild(t, env, killAfter, delay)
			if killed {
				dealt++
			}
			done = finished
		}
		if !done {
			if finished, _ := runChild(t, env, -1, 0); !finished {
				t.Fatal("final child did not finish the batch")
			}
		}
	}
	nrec := len(want)
	t.Logf("%d recordings, %d kills in %d runs", nrec, dealt, runs)
	byRef := map[string][]kalturasim.EntryInfo{}
	var entries []kalturasim.EntryInfo
	for _, e := range sim.Entries() {
		if !e.Template {
			entries = append(entries, e)
			// The recording id travels in adminTags (referenceId is dropped
			// for CAPTURE_DEVICE, kaltura.md §5).
			ref := ""
			for _, tag := range strings.Split(e.Fields["adminTags"], ",") {
				if id, ok := strings.CutPrefix(tag, "capturebox-recording-"); ok {
					ref = id
				}
			}
			if e.Fields["referenceId"] != "" {
				t.Errorf("entry %s has referenceId %q: the role cannot set it", e.ID, e.Fields["referenceId"])
			}
			byRef[ref] = append(byRef[ref], e)
		}
	}
	for id, data := range want {
		es := byRef[id]
		if len(es) != 1 {
			t.Errorf("%s: %d entries, want 1", id, len(es))
			continue
		}
		sum := sha256.Sum256(data)
		if es[0].ContentSHA256 != hex.EncodeToString(sum[:]) || es[0].ContentSize != int64(len(data)) || es[0].Status != kaltura.EntryReady {
			t.Errorf("%s: content %d bytes (want %d), sha256 match %v, status %d", id, es[0].ContentSize, len(data),
				es[0].ContentSHA256 == hex.EncodeToString(sum[:]), es[0].Status)
		}
	}
	if len(entries) != nrec {
		t.Errorf("%d entries for %d recordings", len(entries), nrec)
	}
	used := map[string]bool{}
	for _, e := range entries {
		used[e.UploadTokenID] = true
	}
	tokens := sim.UploadTokens()
	orphans := 0
	for _, tk := range tokens {
		if !used[tk.ID] {
			orphans++
			t.Errorf("upload token %s (%s, status %d, %d bytes) is orphaned: no entry uses it", tk.ID, tk.FileName, tk.Status, tk.UploadedFileSize)
		}
	}
	unknown := 0
	unknownEntries.Range(func(any, any) bool { unknown++; return true })
	t.Logf("%d upload tokens for %d recordings, %d orphaned; %d entries created whose reply was lost (delivered, not verified)", len(tokens), nrec, orphans, unknown)
}

// unknownEntries are the recordings whose entry id a child could not learn.
var unknownEntries sync.Map

// runChild starts a child; with killAfter > 0 it SIGKILLs it after that
// many progress lines. It reports whether the child finished the batch and
// whether it was killed.
func runChild(t *testing.T, env []string, killAfter int, delay time.Duration) (finished, killed bool) {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestCrashKillChild$"}
	if w := os.Getenv("CAPTUREBOX_TEST_EXEC"); w != "" {
		args = append([]string{w}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
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
		if strings.HasPrefix(l, "U ") {
			unknownEntries.Store(strings.TrimPrefix(l, "U "), true)
		}
		if strings.HasPrefix(l, "P ") {
			lines++
			if killAfter > 0 && lines == killAfter && !finished {
				if delay > 0 {
					time.Sleep(delay) // a random instant, usually inside the next call
				}
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
	ready := make(chan string, 1024)
	o := upload.QueueOptions{API: s, ChunkSize: 16 << 10, DefaultTemplateEntryID: os.Getenv("KF_TEMPLATE"),
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond,
		AddSettle: 50 * time.Millisecond,
		OnReady:   func(id, _ string) { ready <- id },
		OnFault: func(f upload.Fault) {
			fmt.Fprintf(os.Stderr, "fault: %+v\n", f)
			if f.Code == "DELIVERED_NOT_VERIFIED" {
				// The content is in Kaltura exactly once, but the reply
				// naming its entry was lost (see upload/doc.go): terminal.
				fmt.Println("U " + f.ItemID)
				ready <- f.ItemID
			}
		},
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
		fmt.Println("E enqueued " + id) // not a kill point: enqueueing is idempotent and has its own tests
	}
	for _, it := range q.Items() {
		if it.State == upload.StateUnverified {
			fmt.Println("U " + it.ID)
			ready <- it.ID
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		mine := map[string]bool{}
		for _, p := range files {
			mine[strings.TrimSuffix(filepath.Base(p), ".mp4")] = true
		}
		seen := map[string]bool{}
		for id := range ready {
			if !mine[id] {
				continue // an earlier batch's item, announced again at start
			}
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
