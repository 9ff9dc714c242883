package firmware

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal/haltest"
)

// TestUnverifiedConsole: a recording delivered but not verified (left by
// the upload queue) is listed on the console with the event id, the upload
// token and the adminTags value to search for; "ack" acknowledges it, after
// which its file may be deleted and it is no longer listed.
func TestUnverifiedConsole(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Box.DataDir = filepath.Join(dir, "box")
	cfg.Recording.Dir = filepath.Join(dir, "box", "recordings")
	cfg.Kaltura.ServiceURL = "https://kaltura.test"
	cfg.Kaltura.PartnerID = 1234567
	cfg.Kaltura.AppTokenID = "0_abcdefgh"
	cfg.Kaltura.AppToken = config.Secret("0123456789abcdef0123456789abcdef")
	cfg.Kaltura.ResourceID = 58
	cfg.Kaltura.ParentResourceID = 12

	// The queue's record of an item whose entry id was lost.
	qdir := filepath.Join(cfg.Box.DataDir, "queue")
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "rec1.mp4")
	os.WriteFile(rec, []byte("0123456789"), 0o644)
	at := time.Now().UTC().Format(time.RFC3339)
	item := `{"v":1,"seq":1,"recording":{"ID":"rec1","Path":"` + rec + `","Title":"BIO 210","EventID":7340012},
		"state":"delivered_unverified","size":10,"file_name":"rec1.mp4","token_id":"0_tok1","offset":10,
		"unverified":{"at":"` + at + `","token_id":"0_tok1","admin_tag":"capturebox-event-7340012","event_id":7340012},
		"enqueued_at":"` + at + `","updated_at":"` + at + `","intent_at":"` + at + `"}`
	h := sha256.Sum256([]byte("rec1"))
	if err := os.WriteFile(filepath.Join(qdir, "item-"+hex.EncodeToString(h[:12])+".json"), []byte(item), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := newBox(cfg, Devices{LED: haltest.NewFakeLED(time.Now), Button: haltest.NewFakeButton(time.Now),
		Capture: haltest.NewFakeCamera(haltest.CameraConfig{}), TimeSync: haltest.NewFakeTimeSync(true)}, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(line string) string {
		var out bytes.Buffer
		b.console.Exec(context.Background(), &out, line)
		return out.String()
	}
	got := exec("unverified")
	for _, want := range []string{"rec1", "event=7340012", "token=0_tok1", `"capturebox-event-7340012"`, "ack ID"} {
		if !strings.Contains(got, want) {
			t.Fatalf("unverified: %q lacks %q", got, want)
		}
	}
	if b.queue.Deletable("rec1") {
		t.Fatal("deletable before acknowledgement")
	}
	if out := exec("ack nosuch"); !strings.Contains(out, "error") {
		t.Fatalf("ack of an unknown id: %q", out)
	}
	if out := exec("ack rec1"); !strings.Contains(out, "acknowledged rec1") {
		t.Fatalf("ack: %q", out)
	}
	if out := exec("unverified"); !strings.Contains(out, "no unverified recordings") {
		t.Fatalf("still listed: %q", out)
	}
	if !b.queue.Deletable("rec1") {
		t.Fatal("not deletable after acknowledgement")
	}
	if out := exec("sync"); !strings.Contains(out, "sync requested") {
		t.Fatalf("sync: %q", out)
	}
	if l := unverifiedLine(2); !strings.Contains(l, "unverified 2") {
		t.Fatalf("status line %q", l)
	}
}
