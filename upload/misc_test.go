package upload_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/simtest"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// TestNoSecretsInLogs runs a whole upload with debug logging, including a
// KS expiry in the middle and an error reply, and looks for the app token,
// every KS the server issued and every token hash in the logs.
func TestNoSecretsInLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		uploads := 0
		h.fake.OnCall = func(c simtest.Call) {
			if c.Action == "upload" {
				uploads++
				if uploads == 2 {
					h.fake.ExpireAll() // server-side expiry mid-upload
				}
			}
		}
		h.fake.AddFault(simtest.Fault{Service: "baseentry", Action: "get", Skip: 1, Code: kaltura.CodeInvalidKS, Args: map[string]string{"KSID": "djJ8notARealKSbutLooksLikeOne0123456789abcdefgh"}})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 3*65536)
		q.Enqueue(scheduled("r", path, h.template))
		// The INVALID_KS with a raw KS pauses the queue (config fault); lift it.
		if err := h.run(q, h.hasFault(kaltura.CodeInvalidKS)); err != nil {
			t.Fatal(err)
		}
		q.Retry("")
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		logs := h.logs.String()
		for _, f := range h.faultList() {
			logs += f.Message + f.Setting
		}
		for _, it := range q.Items() {
			logs += it.LastError
		}
		secrets := append(h.fake.IssuedKS(), h.token, "djJ8notARealKS")
		for _, c := range h.fake.Calls() {
			if th := c.Params["tokenHash"]; th != "" {
				secrets = append(secrets, th)
			}
		}
		if len(secrets) < 4 {
			t.Fatalf("too few secrets to check: %d", len(secrets))
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("secret %.8s… found in logs", s)
			}
		}
		if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "kaltura call") {
			t.Error("debug logging was not on")
		}
		// Queue state files hold no secrets either.
		ents, _ := os.ReadDir(h.qdir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(h.qdir, e.Name()))
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("secret in %s", e.Name())
				}
			}
		}
	})
}

func TestUploadFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		path, data := h.file("orphan.mov", 100000)
		o := upload.UploadFileOptions{QueueOptions: h.opts(h.session()), WaitReady: true}
		id, err := upload.UploadFile(context.Background(), upload.Recording{Path: path, Title: "Orphan"}, o)
		if err != nil {
			t.Fatal(err)
		}
		ent := h.checkOneEntry(data)
		if id != ent.ID || ent.Status != kaltura.EntryReady {
			t.Errorf("id %q entry %+v", id, ent.MediaEntry)
		}
		// A config fault ends it with an error naming the setting.
		o.DefaultTemplateEntryID = "1_nope"
		_, err = upload.UploadFile(context.Background(), upload.Recording{Path: path, Title: "Orphan"}, o)
		if err == nil || !strings.Contains(err.Error(), "kaltura.default_template_entry_id") {
			t.Errorf("err %v", err)
		}
	})
}

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := upload.NewLimiter(100<<10, nil) // 100 KiB/s
		src := bytes.Repeat([]byte{7}, 1<<20)
		start := time.Now()
		n, err := io.Copy(io.Discard, l.Reader(context.Background(), bytes.NewReader(src)))
		if err != nil || n != int64(len(src)) {
			t.Fatal(n, err)
		}
		// 1 MiB at 100 KiB/s minus the initial burst (25 KiB).
		el := time.Since(start)
		if want := time.Duration(float64(len(src)-25<<10) / (100 << 10) * float64(time.Second)); el < want-time.Second/10 || el > want+time.Second/10 {
			t.Errorf("took %v, want about %v", el, want)
		}
		if upload.NewLimiter(0, nil) != nil {
			t.Error("0 must mean unlimited (nil)")
		}
		// Cancellation stops a waiting reader.
		ctx, cancel := context.WithCancel(context.Background())
		r := l.Reader(ctx, bytes.NewReader(src))
		time.AfterFunc(time.Second, cancel)
		if _, err := io.Copy(io.Discard, r); err == nil {
			t.Error("no error after cancel")
		}
	})
}

func TestBandwidthCapAppliesToUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		o := h.opts(h.session())
		o.BandwidthLimit = 64 << 10
		q := h.open(o)
		path, data := h.file("r.mp4", 640<<10)
		start := time.Now()
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, func() bool {
			return q.Items()[0].State == upload.StateContentAdded || q.Items()[0].State == upload.StateReady
		}); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if el := time.Since(start); el < 9*time.Second {
			t.Errorf("640 KiB at 64 KiB/s took %v", el)
		}
	})
}

func TestEntryName(t *testing.T) {
	ny := time.FixedZone("EST", -5*3600)
	start := time.Date(2025, 11, 4, 14, 0, 0, 0, time.UTC)
	cases := []struct {
		r    upload.Recording
		want string
	}{
		{upload.Recording{Title: "CHEM 101 Lecture", EventID: 7341019, Start: start}, "CHEM 101 Lecture 2025-11-04"},
		{upload.Recording{Title: "Room 204", Start: start}, "Room 204 2025-11-04 09:00"},
		{upload.Recording{Title: "  ", EventID: 1, Start: time.Date(2025, 11, 4, 2, 0, 0, 0, time.UTC)}, "Recording 2025-11-03"},
	}
	for _, c := range cases {
		if got := upload.EntryName(c.r, ny, time.Time{}); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 12; n++ {
		d := min(2*time.Second<<(n-1), 5*time.Minute)
		for range 200 {
			got := upload.Backoff(n, 2*time.Second, 5*time.Minute, r)
			if got < d/2 || got > d {
				t.Fatalf("n=%d: %v not in [%v, %v]", n, got, d/2, d)
			}
		}
	}
}
