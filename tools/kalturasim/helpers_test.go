package kalturasim

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// env is a simulator on a loopback port with a fixed clock.
type env struct {
	t   *testing.T
	srv *Server
	hs  *httptest.Server
}

var epoch = time.Date(2025, 9, 15, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = func() time.Time { return epoch }
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	if opts.DataDir == "" {
		opts.DataDir = testDataDir(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		_ = s.Close()
	})
	return &env{t: t, srv: s, hs: hs}
}

// testDataDir is a temporary directory on tmpfs where there is one: file
// creation on the disk of the build machines costs milliseconds.
func testDataDir(tb testing.TB) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "kalturasim-test-")
		if err == nil {
			tb.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return tb.TempDir()
}

// raw posts a body with a content type to path and returns the response.
func (e *env) raw(method, path, contentType string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// call posts an urlencoded form with format=1 and decodes the JSON answer.
func (e *env) call(service, action string, params map[string]string) any {
	e.t.Helper()
	form := url.Values{"format": {"1"}}
	for k, v := range params {
		form.Set(k, v)
	}
	_, b := e.raw("POST", "/api_v3/service/"+service+"/action/"+action, "application/x-www-form-urlencoded", []byte(form.Encode()))
	return decode(e.t, b)
}

// obj is call for an object result.
func (e *env) obj(service, action string, params map[string]string) map[string]any {
	e.t.Helper()
	v := e.call(service, action, params)
	m, ok := v.(map[string]any)
	if !ok {
		e.t.Fatalf("%s.%s: not an object: %#v", service, action, v)
	}
	return m
}

// ok is obj that fails the test on an API error.
func (e *env) ok(service, action string, params map[string]string) map[string]any {
	e.t.Helper()
	m := e.obj(service, action, params)
	if m["objectType"] == "KalturaAPIException" {
		e.t.Fatalf("%s.%s: %v: %v", service, action, m["code"], m["message"])
	}
	return m
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

func code(v any) string {
	if m, ok := v.(map[string]any); ok && m["objectType"] == "KalturaAPIException" {
		s, _ := m["code"].(string)
		return s
	}
	return ""
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

func argOf(v any, name string) string {
	m, _ := v.(map[string]any)
	args, _ := m["args"].(map[string]any)
	return str(args[name])
}

// upload sends one uploadToken.upload as multipart with the file last.
func (e *env) upload(ks, tokenID string, data []byte, filename string, fields map[string]string) map[string]any {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("format", "1")
	_ = mw.WriteField("ks", ks)
	_ = mw.WriteField("uploadTokenId", tokenID)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("fileData", filename)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	_, b := e.raw("POST", "/api_v3/service/uploadtoken/action/upload", mw.FormDataContentType(), buf.Bytes())
	m, ok := decode(e.t, b).(map[string]any)
	if !ok {
		e.t.Fatalf("upload: %s", b)
	}
	return m
}

// adminKS is an admin session of the seeded partner.
func (e *env) adminKS() string {
	return e.srv.IssueKS("admin", kapi.SessionAdmin, time.Hour)
}

// deviceSession runs the device flow: widget session, app-token session.
func (e *env) deviceSession(tok AppToken) string {
	e.t.Helper()
	w := e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})
	wks := str(w["ks"])
	h, err := TokenHash(tok.HashType, wks, tok.Token)
	if err != nil {
		e.t.Fatal(err)
	}
	si := e.ok("apptoken", "startSession", map[string]string{"ks": wks, "id": tok.ID, "tokenHash": h})
	return str(si["ks"])
}

// deviceToken creates the capture-device app token of kaltura.md §3.
func (e *env) deviceToken(userID string) AppToken {
	e.t.Helper()
	tok, err := e.srv.AddAppToken(AppTokenSpec{HashType: "SHA256", SessionUserID: userID,
		SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
