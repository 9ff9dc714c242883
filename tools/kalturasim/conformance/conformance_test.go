package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// TestNodeClient runs conformance.js with the official Kaltura Node client
// against the simulator. It skips when node or node_modules is missing,
// unless CAPTUREBOX_REQUIRE_NODE=1 (CI sets it after running install.sh).
func TestNodeClient(t *testing.T) {
	require := os.Getenv("CAPTUREBOX_REQUIRE_NODE") == "1"
	node, err := exec.LookPath("node")
	if err != nil {
		if require {
			t.Fatal("node not found and CAPTUREBOX_REQUIRE_NODE=1")
		}
		t.Skip("node not found; install Node.js and run tools/kalturasim/conformance/install.sh")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "kaltura-client", "package.json")); err != nil {
		if require {
			t.Fatal("node_modules/kaltura-client missing and CAPTUREBOX_REQUIRE_NODE=1: run install.sh")
		}
		t.Skip("node_modules missing: run tools/kalturasim/conformance/install.sh")
	}

	srv, err := kalturasim.New(kalturasim.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	store := schedule.New(srv.Now)
	store.Register(srv.Register)
	tok, err := srv.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionUserID: "capturebox-room101",
		SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := srv.AddTemplateEntry(kalturasim.EntrySpec{Name: "Template", UserID: "lecturer", EntitledUsersEdit: "coeditor"})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := store.SeedDemo(srv.PartnerID(), tpl.ID, schedule.DemoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.js")
	cmd.Env = append(os.Environ(),
		"KALTURASIM_URL="+hs.URL,
		"KALTURASIM_PARTNER_ID="+strconv.FormatInt(srv.PartnerID(), 10),
		"KALTURASIM_APPTOKEN_ID="+tok.ID,
		"KALTURASIM_APPTOKEN="+tok.Token,
		"KALTURASIM_HASHTYPE="+tok.HashType,
		"KALTURASIM_TEMPLATE_ENTRY_ID="+tpl.ID,
		"KALTURASIM_RESOURCE_ID="+strconv.FormatInt(demo.ResourceID, 10),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("conformance.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		EntryID string `json:"entryId"`
		Size    int64  `json:"size"`
		SHA256  string `json:"sha256"`
		Events  int    `json:"events"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	info, ok := srv.Entry(res.EntryID)
	if !ok {
		t.Fatalf("entry %s not in the simulator", res.EntryID)
	}
	if info.ContentSize != res.Size || info.ContentSHA256 != res.SHA256 {
		t.Fatalf("content %d %s, client sent %d %s", info.ContentSize, info.ContentSHA256, res.Size, res.SHA256)
	}
	if info.Fields["userId"] != "capturebox-room101" || info.Fields["templateEntryId"] != tpl.ID {
		t.Fatalf("entry fields %v", info.Fields)
	}
	if res.Events != len(demo.EventIDs) {
		t.Fatalf("events %d, want %d", res.Events, len(demo.EventIDs))
	}
}
