package kaltura

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newTestClient(t *testing.T, h http.HandlerFunc) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, AllowInsecureHTTP: true, ClientTag: "capturebox:test", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestCallEncoding(t *testing.T) {
	var got *http.Request
	var form url.Values
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		r.ParseForm()
		form = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"0_abc","status":"2","fileSize":1234.0,"objectType":"KalturaMediaEntry"}`)
	})
	var e MediaEntry
	err := c.Call(context.Background(), "secretKS", "media", "get", url.Values{"entryId": {"0_abc"}, "filter:objectType": {"X"}}, &e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost {
		t.Errorf("method %s", got.Method)
	}
	if got.URL.Path != "/api_v3/service/media/action/get" {
		t.Errorf("path %s", got.URL.Path)
	}
	if got.URL.RawQuery != "" || strings.Contains(got.URL.String(), "secretKS") {
		t.Errorf("URL carries parameters: %s", got.URL)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("content type %q", ct)
	}
	want := map[string]string{"ks": "secretKS", "format": "1", "clientTag": "capturebox:test", "entryId": "0_abc", "filter:objectType": "X"}
	for k, v := range want {
		if form.Get(k) != v {
			t.Errorf("form %s = %q, want %q", k, form.Get(k), v)
		}
	}
	if e.ID != "0_abc" || e.Status != EntryReady {
		t.Errorf("decoded %+v", e)
	}
}

func TestAPIErrorDecodingAndClass(t *testing.T) {
	cases := []struct {
		body  string
		code  string
		class Class
	}{
		{`{"code":"INVALID_KS","message":"Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\"","objectType":"KalturaAPIException","args":{"KSID":"EXPIRED"}}`, "INVALID_KS", ClassReAuth},
		{`{"code":"INVALID_KS","message":"x","objectType":"KalturaAPIException","args":{"KSID":"LOGOUT"}}`, "INVALID_KS", ClassReAuth},
		{`{"code":"INVALID_KS","message":"x","objectType":"KalturaAPIException","args":{"KSID":"INVALID_TYPE"}}`, "INVALID_KS", ClassConfig},
		{`{"code":"ACTION_BLOCKED","message":"blocked","objectType":"KalturaAPIException","args":[]}`, "ACTION_BLOCKED", ClassTransient},
		{`{"code":"LOCK_TIMED_OUT","message":"","objectType":"KalturaAPIException","args":[]}`, "LOCK_TIMED_OUT", ClassTransient},
		{`{"code":"INTERNAL_SERVERL_ERROR","message":"","objectType":"KalturaAPIException","args":[]}`, "INTERNAL_SERVERL_ERROR", ClassTransient},
		{`{"code":"INTERNAL_DATABASE_ERROR","objectType":"KalturaAPIException","args":[]}`, "INTERNAL_DATABASE_ERROR", ClassTransient},
		{`{"code":"START_WIDGET_SESSION_ERROR","objectType":"KalturaAPIException"}`, "START_WIDGET_SESSION_ERROR", ClassTransient},
		{`{"code":"UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE","objectType":"KalturaAPIException"}`, "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE", ClassTransient},
		{`{"code":"SERVICE_FORBIDDEN","message":"[uploadtoken->delete] is forbidden","objectType":"KalturaAPIException","args":{"SERVICE":"uploadtoken->delete"}}`, "SERVICE_FORBIDDEN", ClassConfig},
		{`{"code":"SERVICE_FORBIDDEN_CONTENT_BLOCKED","objectType":"KalturaAPIException"}`, "SERVICE_FORBIDDEN_CONTENT_BLOCKED", ClassConfig},
		{`{"code":"MISSING_KS","objectType":"KalturaAPIException"}`, "MISSING_KS", ClassConfig},
		{`{"code":"USER_BLOCKED","objectType":"KalturaAPIException"}`, "USER_BLOCKED", ClassConfig},
		{`{"code":"ACCESS_UNAUTHORIZED","objectType":"KalturaAPIException"}`, "ACCESS_UNAUTHORIZED", ClassConfig},
		{`{"code":"INVALID_WIDGET_ID","objectType":"KalturaAPIException"}`, "INVALID_WIDGET_ID", ClassConfig},
		{`{"code":"APP_TOKEN_ID_NOT_FOUND","objectType":"KalturaAPIException"}`, "APP_TOKEN_ID_NOT_FOUND", ClassConfig},
		{`{"code":"APP_TOKEN_NOT_ACTIVE","objectType":"KalturaAPIException"}`, "APP_TOKEN_NOT_ACTIVE", ClassConfig},
		{`{"code":"APP_TOKEN_EXPIRED","objectType":"KalturaAPIException"}`, "APP_TOKEN_EXPIRED", ClassConfig},
		{`{"code":"INVALID_APP_TOKEN_HASH","objectType":"KalturaAPIException"}`, "INVALID_APP_TOKEN_HASH", ClassConfig},
		{`{"code":"INVALID_OBJECT_ID","objectType":"KalturaAPIException"}`, "INVALID_OBJECT_ID", ClassConfig},
		{`{"code":"MISSING_MANDATORY_PARAMETER","objectType":"KalturaAPIException"}`, "MISSING_MANDATORY_PARAMETER", ClassConfig},
		{`{"code":"INVALID_ENUM_VALUE","objectType":"KalturaAPIException"}`, "INVALID_ENUM_VALUE", ClassConfig},
		{`{"code":"PROPERTY_VALIDATION_MAX_LENGTH","objectType":"KalturaAPIException"}`, "PROPERTY_VALIDATION_MAX_LENGTH", ClassConfig},
		{`{"code":"UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED","objectType":"KalturaAPIException"}`, "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED", ClassTokenRestart},
		{`{"code":"UPLOAD_TOKEN_CANNOT_RESUME","objectType":"KalturaAPIException"}`, "UPLOAD_TOKEN_CANNOT_RESUME", ClassTokenRestart},
		{`{"code":"UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD","objectType":"KalturaAPIException"}`, "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD", ClassTokenState},
		{`{"code":"UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY","objectType":"KalturaAPIException"}`, "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY", ClassTokenState},
		{`{"code":"ENTRY_ALREADY_WITH_CONTENT","objectType":"KalturaAPIException"}`, "ENTRY_ALREADY_WITH_CONTENT", ClassAlreadyDone},
		{`{"code":"ENTRY_ID_NOT_FOUND","objectType":"KalturaAPIException","args":{"ENTRY_ID":"1_x"}}`, "ENTRY_ID_NOT_FOUND", ClassNotFound},
		{`{"code":"SOMETHING_NEW","objectType":"KalturaAPIException"}`, "SOMETHING_NEW", ClassUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
			err := c.Call(context.Background(), "ks", "media", "get", nil, nil)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not *APIError", err)
			}
			if ae.Code != tc.code {
				t.Errorf("code %q", ae.Code)
			}
			if got := Classify(err); got != tc.class {
				t.Errorf("class %v, want %v", got, tc.class)
			}
		})
	}
}

func TestErrorNeverLeaksKS(t *testing.T) {
	rawKS := "djJ8MTIzNDU2N3xabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP=="
	body := `{"code":"INVALID_KS","message":"Invalid KS \"` + rawKS + `\", Error \"-1,INVALID_STR\"","objectType":"KalturaAPIException","args":{"KSID":"` + rawKS + `","ERR_CODE":"-1","ERR_DESC":"INVALID_STR"}}`
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	err := c.Call(context.Background(), rawKS, "media", "get", nil, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), rawKS) || strings.Contains(err.Error(), "djJ8") {
		t.Fatalf("error string leaks the KS: %s", err)
	}
	var ae *APIError
	errors.As(err, &ae)
	if ae.KSReason() != "UNPARSABLE" || Classify(err) != ClassConfig {
		t.Errorf("reason %q class %v", ae.KSReason(), Classify(err))
	}
	// A message of another code that quotes a long secret arg is redacted too.
	e2 := &APIError{Code: "X", Message: "bad value djJ8abcdef for thing", Args: map[string]string{"V": "0123456789abcdef0123"}}
	e2.Message += " 0123456789abcdef0123"
	if s := e2.Error(); strings.Contains(s, "djJ8") || strings.Contains(s, "0123456789abcdef0123") {
		t.Errorf("not redacted: %s", s)
	}
}

func TestHTTPErrorsAndHeaderError(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api_v3/service/a/action/five":
			http.Error(w, "oops", 503)
		case "/api_v3/service/a/action/four":
			http.Error(w, "nope", 404)
		case "/api_v3/service/a/action/hdr":
			w.Header().Set("X-Kaltura", "error- UNKNOWN_RESPONSE_FORMAT")
		case "/api_v3/service/a/action/html":
			io.WriteString(w, "<html>captive portal</html>")
		}
	})
	ctx := context.Background()
	if err := c.Call(ctx, "", "a", "five", nil, nil); Classify(err) != ClassTransient {
		t.Errorf("503: %v class %v", err, Classify(err))
	}
	if err := c.Call(ctx, "", "a", "four", nil, nil); Classify(err) != ClassConfig {
		t.Errorf("404: %v class %v", err, Classify(err))
	}
	if err := c.Call(ctx, "", "a", "hdr", nil, nil); Code(err) != "UNKNOWN_RESPONSE_FORMAT" {
		t.Errorf("header error: %v", err)
	}
	var out map[string]any
	if err := c.Call(ctx, "", "a", "html", nil, &out); Classify(err) != ClassTransient {
		t.Errorf("html: %v class %v", err, Classify(err))
	}
}

func TestNetworkErrorAndTimeoutAreTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := New(Options{BaseURL: srv.URL, AllowInsecureHTTP: true, Timeout: 20 * time.Millisecond})
	err := c.Call(context.Background(), "", "a", "b", nil, nil)
	if err == nil || Classify(err) != ClassTransient {
		t.Fatalf("timeout: %v class %v", err, Classify(err))
	}
	c2, _ := New(Options{BaseURL: "http://127.0.0.1:1", AllowInsecureHTTP: true})
	err = c2.Call(context.Background(), "", "a", "b", nil, nil)
	if err == nil || Classify(err) != ClassTransient {
		t.Fatalf("refused: %v class %v", err, Classify(err))
	}
	// A cancelled parent is not a transient failure but shutdown.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c2.Call(ctx, "", "a", "b", nil, nil); Classify(err) == ClassTransient {
		t.Errorf("cancelled: class %v", Classify(err))
	}
}

func TestMultiFlatKeysAndInlineErrors(t *testing.T) {
	var form url.Values
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		form = r.PostForm
		if r.URL.Path != "/api_v3/service/multirequest/action/null" {
			t.Errorf("path %s", r.URL.Path)
		}
		io.WriteString(w, `[{"id":"0_e1","objectType":"KalturaMediaEntry"},{"code":"ENTRY_ALREADY_WITH_CONTENT","message":"m","objectType":"KalturaAPIException","args":[]}]`)
	})
	res, err := c.Multi(context.Background(), "K", []Request{
		{Service: "media", Action: "add", Params: url.Values{"entry:name": {"n"}}},
		{Service: "media", Action: "addContent", Params: url.Values{"entryId": {"{1:result:id}"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"ks": "K", "1:service": "media", "1:action": "add", "1:entry:name": "n", "2:action": "addContent", "2:entryId": "{1:result:id}"} {
		if form.Get(k) != v {
			t.Errorf("%s = %q want %q", k, form.Get(k), v)
		}
	}
	var e MediaEntry
	if err := res[0].Decode(&e); err != nil || e.ID != "0_e1" {
		t.Errorf("res0 %v %+v", err, e)
	}
	if Classify(res[1].Err) != ClassAlreadyDone {
		t.Errorf("res1 %v", res[1].Err)
	}
}

func TestUploadMultipart(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	var names []string
	var gotData []byte
	var cl int64
	var fileName string
	calls := 0
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls > 1 {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"id":"tok","status":1,"uploadedFileSize":10}`)
			return
		}
		cl = r.ContentLength
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		vals := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			names = append(names, p.FormName())
			b, _ := io.ReadAll(p)
			if p.FormName() == "fileData" {
				gotData, fileName = b, p.FileName()
			} else {
				vals[p.FormName()] = string(b)
			}
		}
		if vals["resume"] != "1" || vals["finalChunk"] != "0" || vals["resumeAt"] != "500" || vals["uploadTokenId"] != "tok" || vals["ks"] != "K" {
			t.Errorf("fields %v", vals)
		}
		if r.URL.RawQuery != "" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		io.WriteString(w, `{"id":"tok","status":1,"uploadedFileSize":100500}`)
	})
	tok, err := c.Upload(context.Background(), "K", Chunk{TokenID: "tok", FileName: "rec.mp4", Data: bytes.NewReader(data), Length: int64(len(data)), Resume: true, ResumeAt: 500})
	if err != nil {
		t.Fatal(err)
	}
	if tok.UploadedFileSize != 100500 || tok.Status != TokenPartial {
		t.Errorf("token %+v", tok)
	}
	if !bytes.Equal(gotData, data) || fileName != "rec.mp4" {
		t.Errorf("file part: %d bytes, name %q", len(gotData), fileName)
	}
	if names[len(names)-1] != "fileData" {
		t.Errorf("fileData is not last: %v", names)
	}
	if cl <= int64(len(data)) {
		t.Errorf("content length %d", cl)
	}
	// A short source is an error, not a short body.
	_, err = c.Upload(context.Background(), "K", Chunk{TokenID: "tok", FileName: "rec.mp4", Data: bytes.NewReader(data[:10]), Length: 100})
	if err == nil {
		t.Error("short data accepted")
	}
	if _, err := c.Upload(context.Background(), "K", Chunk{TokenID: "tok", Data: bytes.NewReader(nil)}); err == nil {
		t.Error("empty file name accepted")
	}
}

func TestCallRawICalGzipAndCap(t *testing.T) {
	cal := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nX-KALTURA-ID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	verr := "BEGIN:VCALENDAR\r\nBEGIN:VERROR\r\nX-KALTURA-CODE:INVALID_KS\r\nX-KALTURA-MESSAGE:Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\"\r\nX-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR\r\nEND:VERROR\r\nEND:VCALENDAR\r\n"
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("format") != "ical" {
			t.Errorf("format %q", r.PostForm.Get("format"))
		}
		w.Header().Set("Content-Type", "text/calendar; charset=UTF-8")
		switch r.PostForm.Get("case") {
		case "err":
			io.WriteString(w, verr)
		case "gz":
			if r.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("no gzip asked")
			}
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, cal)
			zw.Close()
		default:
			io.WriteString(w, cal)
		}
	})
	ctx := context.Background()
	resp, err := c.CallRaw(ctx, "K", RawRequest{Service: "schedule_scheduleevent", Action: "list", Format: "ical"})
	if err != nil || string(resp.Body) != cal || !strings.HasPrefix(resp.ContentType, "text/calendar") {
		t.Fatalf("plain: %v %q", err, resp)
	}
	resp, err = c.CallRaw(ctx, "K", RawRequest{Service: "schedule_scheduleevent", Action: "list", Format: "ical", Gzip: true, Params: url.Values{"case": {"gz"}}})
	if err != nil || string(resp.Body) != cal {
		t.Fatalf("gzip: %v", err)
	}
	_, err = c.CallRaw(ctx, "K", RawRequest{Service: "schedule_scheduleevent", Action: "list", Format: "ical", MaxBytes: 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("cap: %v", err)
	}
	_, err = c.CallRaw(ctx, "K", RawRequest{Service: "schedule_scheduleevent", Action: "list", Format: "ical", Params: url.Values{"case": {"err"}}})
	if Classify(err) != ClassReAuth || Code(err) != CodeInvalidKS {
		t.Fatalf("verror: %v class %v", err, Classify(err))
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ks":"x"}`) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	// Default client: the test CA is unknown, so the call must fail.
	c, err := New(Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "", "session", "startWidgetSession", nil, nil); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, _ = New(Options{BaseURL: srv.URL, RootCAs: pool})
	if err := c.Call(context.Background(), "", "session", "startWidgetSession", nil, nil); err != nil {
		t.Fatalf("with RootCAs: %v", err)
	}
	if _, err := New(Options{BaseURL: "http://127.0.0.1:1"}); err == nil {
		t.Error("plain http accepted without AllowInsecureHTTP")
	} else if !strings.Contains(err.Error(), "kaltura.service_url") {
		t.Errorf("error does not name the setting: %v", err)
	}
}

func TestNumDecoding(t *testing.T) {
	for in, want := range map[string]Num{`12`: 12, `"7"`: 7, `1234.0`: 1234, `"-1"`: -1, `null`: 0, `""`: 0} {
		var n Num
		if err := n.UnmarshalJSON([]byte(in)); err != nil || n != want {
			t.Errorf("%s → %d, %v", in, n, err)
		}
	}
}

// TestMultiErrorsNameTheCalls (issue 16): a multirequest that fails as a
// whole names the calls inside it, not "multirequest.null".
func TestMultiErrorsNameTheCalls(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	_, err := c.Multi(context.Background(), "ks", []Request{{Service: "media", Action: "add"}, {Service: "media", Action: "addContent"}})
	if err == nil {
		t.Fatal("no error")
	}
	if s := err.Error(); !strings.Contains(s, "media.add+media.addContent") || strings.Contains(s, "multirequest") || strings.Contains(s, "null") {
		t.Fatalf("error %q does not name the failing calls", s)
	}
	if Classify(err) != ClassTransient {
		t.Fatalf("class %v", Classify(err))
	}
}
