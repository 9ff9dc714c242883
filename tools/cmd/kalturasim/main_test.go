package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/capturebox/capturebox/tools/kalturasim"
)

func TestDemoSeedEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := config{listen: "127.0.0.1:0", ftp: "127.0.0.1:0", seed: "demo", data: t.TempDir(),
		processing: time.Second, finalWait: time.Second, serviceURL: "https://proxy.test:8443"}
	go func() { done <- run(ctx, cfg, &out, slog.New(slog.DiscardHandler), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var seed Seeded
	if err := json.Unmarshal(out.Bytes(), &seed); err != nil {
		t.Fatalf("seed line %q: %v", out.String(), err)
	}
	if seed.AppTokenID == "" || len(seed.AppToken) != 32 || seed.ResourceID == 0 || len(seed.EventIDs) != 3 || seed.ServiceURL != "http://"+addr {
		t.Fatalf("seed %+v", seed)
	}
	call := func(service, action string, p url.Values) []byte {
		t.Helper()
		resp, err := http.PostForm(seed.ServiceURL+"/api_v3/service/"+service+"/action/"+action, p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	var w struct{ KS string }
	_ = json.Unmarshal(call("session", "startWidgetSession", url.Values{"format": {"1"}, "widgetId": {"_1234567"}}), &w)
	h, _ := kalturasim.TokenHash(seed.HashType, w.KS, seed.AppToken)
	var si struct{ KS string }
	_ = json.Unmarshal(call("apptoken", "startSession", url.Values{"format": {"1"}, "ks": {w.KS}, "id": {seed.AppTokenID}, "tokenHash": {h}}), &si)
	if si.KS == "" {
		t.Fatal("no app-token session")
	}
	cal := call("schedule_scheduleevent", "list", url.Values{"format": {"ical"}, "ks": {si.KS},
		"filter:objectType": {"KalturaRecordScheduleEventFilter"}, "filter:resourceIdsLike": {jsonInt(seed.ResourceID)}})
	if !bytes.Contains(cal, []byte("SUMMARY:Demo lecture 1")) || !bytes.Contains(cal, []byte("X-KALTURA-TEMPLATE-ENTRY-ID:"+seed.TemplateEntryID)) {
		t.Fatalf("calendar:\n%s", cal)
	}
	// -service-url: the upload URL handed out points at the proxy.
	var up struct{ UploadURL string }
	_ = json.Unmarshal(call("uploadtoken", "add", url.Values{"format": {"1"}, "ks": {si.KS}, "uploadToken:objectType": {"KalturaUploadToken"}}), &up)
	if up.UploadURL != "https://proxy.test:8443" {
		t.Fatalf("uploadUrl %q, want the -service-url", up.UploadURL)
	}
	// The device may not get one event (CAPTURE_DEVICE_ROLE).
	if b := call("schedule_scheduleevent", "get", url.Values{"format": {"1"}, "ks": {si.KS}, "scheduleEventId": {jsonInt(seed.EventIDs[0])}}); !bytes.Contains(b, []byte("SERVICE_FORBIDDEN")) {
		t.Fatalf("get: %s", b)
	}
	// The FTP front logs in with the user's own role and lists the events.
	c, err := ftp.Dial(seed.FTPAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(seed.FTPUser, seed.FTPPassword); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List("/format/ical/scheduleEvent/filter:objectType/KalturaRecordScheduleEventFilter/")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name, ".ics") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("ftp list: %d .ics files", n)
	}
	if err := c.Login(seed.FTPUser, "wrong"); err == nil {
		t.Fatal("wrong FTP password accepted")
	}
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }
