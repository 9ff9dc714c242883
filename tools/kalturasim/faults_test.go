package kalturasim

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFaultsSelection(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.adminKS()
	status := func() int {
		form := url.Values{"format": {"1"}, "ks": {ks}}
		resp, _ := e.raw("POST", "/api_v3/service/uploadtoken/action/add", "application/x-www-form-urlencoded", []byte(form.Encode()))
		return resp.StatusCode
	}
	id := e.srv.Faults().Add(Fault{Kind: FaultHTTPStatus, Service: "uploadToken", Action: "add", Nth: 2, Status: 502})
	got := []int{status(), status(), status()}
	if got[0] != 200 || got[1] != 502 || got[2] != 200 {
		t.Fatalf("nth once: %v", got)
	}
	if e.srv.Faults().Fired(id) != 1 {
		t.Fatalf("fired %d", e.srv.Faults().Fired(id))
	}
	e.srv.Faults().Clear()
	e.srv.Faults().Add(Fault{Kind: FaultHTTPStatus, Service: "uploadtoken", Nth: 2, Always: true})
	got = []int{status(), status(), status()}
	if got[0] != 200 || got[1] != 503 || got[2] != 503 {
		t.Fatalf("nth always: %v", got)
	}
	// Other services are not affected.
	if code(e.call("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})) != "" {
		t.Fatal("unrelated call failed")
	}
	e.srv.Faults().Clear()
	pid := e.srv.Faults().Add(Fault{Kind: FaultHTTPStatus, Service: "uploadtoken", Always: true, Probability: 0.5})
	n503 := 0
	for range 60 {
		if status() == 503 {
			n503++
		}
	}
	if n503 == 0 || n503 == 60 || e.srv.Faults().Fired(pid) != n503 {
		t.Fatalf("probability 0.5: %d of 60", n503)
	}
	e.srv.Faults().Clear()
}

func TestFaultsAPIErrors(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.deviceSession(e.deviceToken("box1"))
	e.srv.Faults().Add(Fault{Kind: FaultActionBlocked, Service: "uploadtoken", Action: "add"})
	if v := e.call("uploadtoken", "add", map[string]string{"ks": ks}); code(v) != CodeActionBlocked {
		t.Fatalf("blocked: %v", v)
	}
	e.srv.Faults().Add(Fault{Kind: FaultLockTimedOut, Service: "uploadtoken", Action: "add"})
	if v := e.call("uploadtoken", "add", map[string]string{"ks": ks}); code(v) != CodeLockTimedOut {
		t.Fatalf("lock: %v", v)
	}
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])

	// KS expiry mid-upload: the second upload call expires the KS.
	e.srv.Faults().Add(Fault{Kind: FaultKSExpire, Service: "uploadtoken", Action: "upload", Nth: 2})
	if r := e.upload(ks, id, seq(100, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"}); code(r) != "" {
		t.Fatalf("first chunk: %v", r)
	}
	r := e.upload(ks, id, seq(100, 2), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"})
	if code(r) != CodeInvalidKS || argOf(r, "KSID") != KSExpired {
		t.Fatalf("second chunk: %v", r)
	}
	if v := e.call("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": id}); argOf(v, "KSID") != KSExpired {
		t.Fatalf("KS stays expired: %v", v)
	}
	ks2 := e.deviceSession(e.deviceToken("box1"))
	if g := e.ok("uploadtoken", "get", map[string]string{"ks": ks2, "uploadTokenId": id}); num(g["uploadedFileSize"]) != 100 {
		t.Fatalf("resume state: %v", g)
	}

	// Final-chunk size mismatch, once: the retry succeeds.
	e.srv.Faults().Add(Fault{Kind: FaultSizeMismatch, Service: "uploadtoken", Action: "upload"})
	if r := e.upload(ks2, id, seq(100, 2), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"}); code(r) != "" {
		t.Fatalf("middle chunk consumed the final-chunk fault: %v", r)
	}
	final := map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"}
	if r := e.upload(ks2, id, seq(10, 3), "rec.mp4", final); code(r) != CodeUploadTokenCannotMatch {
		t.Fatalf("mismatch: %v", r)
	}
	if r := e.upload(ks2, id, seq(10, 3), "rec.mp4", final); code(r) != "" || num(r["uploadedFileSize"]) != 210 {
		t.Fatalf("retry: %v", r)
	}
}

func TestFaultsTransport(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	e := newEnv(t, Options{Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	}})
	ks := e.adminKS()
	e.srv.Faults().Add(Fault{Kind: FaultDelay, Service: "uploadtoken", Action: "add", Delay: 7 * time.Second})
	if m := e.ok("uploadtoken", "add", map[string]string{"ks": ks}); m["objectType"] != "KalturaUploadToken" {
		t.Fatalf("delayed call: %v", m)
	}
	if len(slept) != 1 || slept[0] != 7*time.Second {
		t.Fatalf("slept %v", slept)
	}
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])

	// Connection reset after part of the body.
	e.srv.Faults().Add(Fault{Kind: FaultReset, Service: "uploadtoken", Action: "upload", ResetAfter: 1000})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("ks", ks)
	_ = mw.WriteField("uploadTokenId", id)
	fw, _ := mw.CreateFormFile("fileData", "rec.mp4")
	_, _ = fw.Write(seq(64<<10, 1))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", e.hs.URL+"/api_v3/service/uploadtoken/action/upload?format=1", bytes.NewReader(buf.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, err := e.hs.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reset: got HTTP %d", resp.StatusCode)
	}
	if g := e.ok("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": id}); num(g["status"]) != UploadPending {
		t.Fatalf("reset upload changed the token: %v", g)
	}

	// A timeout never answers: the client gives up.
	// The request has a body: the server must still notice the client leave.
	tid := e.srv.Faults().Add(Fault{Kind: FaultTimeout, Service: "uploadtoken", Action: "upload"})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "POST", e.hs.URL+"/api_v3/service/uploadtoken/action/upload?format=1", bytes.NewReader(buf.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	done := make(chan error, 1)
	go func() {
		resp, err := e.hs.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the fault has taken the request, then give up.
	if err := e.srv.Faults().Wait(context.Background(), tid, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("timeout fault answered")
	}
	// httptest.Server.Close waits for every handler: it must not hang.
	e.hs.Close()
}

func TestAdminHTTP(t *testing.T) {
	e := newEnv(t, Options{})
	post := func(path, body string) map[string]any {
		resp, b := e.raw("POST", path, "application/json", []byte(body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s", path, b)
		}
		return m
	}
	tok := post("/admin/apptokens", `{"hashType":"SHA256","sessionPrivileges":"disableentitlement,setrole:CAPTURE_DEVICE_ROLE","sessionUserId":"box1"}`)
	at := AppToken{ID: tok["id"].(string), Token: tok["token"].(string), HashType: "SHA256"}
	ks := e.deviceSession(at)
	tpl := post("/admin/templates", `{"name":"T","entitledUsersEdit":"coed"}`)
	m := e.ok("media", "add", map[string]string{"ks": ks, "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1", "entry:templateEntryId": tpl["id"].(string)})
	if str(m["entitledUsersEdit"]) != "coed" {
		t.Fatalf("template via admin: %v", m)
	}
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])
	e.upload(ks, id, []byte("hello"), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "1"})
	e.ok("media", "addContent", map[string]string{"ks": ks, "entryId": str(m["id"]), "resource:objectType": "KalturaUploadedFileTokenResource", "resource:token": id})
	_, b := e.raw("GET", "/admin/entries/"+str(m["id"])+"/content", "", nil)
	if string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	_, b = e.raw("GET", "/admin/entries", "", nil)
	if !strings.Contains(string(b), `"contentSha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`) {
		t.Fatalf("entries: %s", b)
	}
	_, b = e.raw("GET", "/admin/uploadtokens", "", nil)
	if !strings.Contains(string(b), `"id":"`+id+`"`) || !strings.Contains(string(b), `"status":3`) {
		t.Fatalf("uploadtokens: %s", b)
	}
	c := post("/admin/clock/advance", `{"seconds":3600}`)
	if int64(c["now"].(float64)) != epoch.Unix()+3600 {
		t.Fatalf("clock %v", c)
	}
	post("/admin/faults", `{"kind":"action_blocked","service":"uploadtoken","action":"add"}`)
	if code(e.call("uploadtoken", "add", map[string]string{"ks": ks})) != CodeActionBlocked {
		t.Fatal("fault over admin HTTP")
	}
	post("/admin/apptokens/"+at.ID+"/disable", "")
	if code(e.call("uploadtoken", "list", map[string]string{"ks": ks})) != "" {
		t.Fatal("disable revoked")
	}
	req, _ := http.NewRequest("DELETE", e.hs.URL+"/admin/apptokens/"+at.ID, nil)
	resp, err := e.hs.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp.Body.Close()
	if argOf(e.call("uploadtoken", "list", map[string]string{"ks": ks}), "KSID") != KSLogout {
		t.Fatal("delete did not revoke")
	}
	// Non-loopback clients are refused.
	rr := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/admin/partner", nil)
	r.RemoteAddr = "192.0.2.10:4000"
	e.srv.ServeHTTP(rr, r)
	if rr.Code != http.StatusForbidden {
		t.Fatalf("remote admin: %d", rr.Code)
	}
}

// multipartUpload builds an uploadToken.upload request for ServeHTTP.
func multipartUpload(ks, id string, data []byte, fields map[string]string) *http.Request {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("format", "1")
	_ = mw.WriteField("ks", ks)
	_ = mw.WriteField("uploadTokenId", id)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("fileData", "rec.mp4")
	_, _ = fw.Write(data)
	_ = mw.Close()
	r := httptest.NewRequest("POST", "/api_v3/service/uploadtoken/action/upload", &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return r
}

func serveJSON(t *testing.T, s *Server, r *http.Request) map[string]any {
	rr := httptest.NewRecorder()
	s.ServeHTTP(rr, r)
	m, _ := decode(t, rr.Body.Bytes()).(map[string]any)
	return m
}

// TestFinalChunkPollingSynctest runs the final-chunk wait on the default
// timer inside a synctest bubble: fake time, no sleeping.
func TestFinalChunkPollingSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Options{Seed: 1, DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ks := s.IssueKS("admin", 2, time.Hour)
		r := httptest.NewRequest("POST", "/api_v3/service/uploadtoken/action/add?format=1&ks="+url.QueryEscape(ks), nil)
		id := str(serveJSON(t, s, r)["id"])
		serveJSON(t, s, multipartUpload(ks, id, seq(100, 1), map[string]string{"resume": "0", "finalChunk": "0"}))

		// Nothing fills the gap: after 45 s of fake time, CANNOT_MATCH.
		start := time.Now()
		m := serveJSON(t, s, multipartUpload(ks, id, seq(10, 3), map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"}))
		if code(m) != CodeUploadTokenCannotMatch {
			t.Fatalf("want CANNOT_MATCH: %v", m)
		}
		if waited := time.Since(start); waited != 44*time.Second {
			t.Fatalf("waited %v", waited)
		}
		// The gap is filled 3 s into the wait: success after 3 s.
		done := make(chan map[string]any)
		start = time.Now()
		go func() {
			done <- serveJSON(t, s, multipartUpload(ks, id, seq(10, 3), map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"}))
		}()
		time.Sleep(2500 * time.Millisecond)
		if m := serveJSON(t, s, multipartUpload(ks, id, seq(100, 2), map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"})); code(m) != "" {
			t.Fatalf("middle: %v", m)
		}
		m = <-done
		if code(m) != "" || num(m["uploadedFileSize"]) != 210 || time.Since(start) != 3*time.Second {
			t.Fatalf("final after %v: %v", time.Since(start), m)
		}
	})
}
