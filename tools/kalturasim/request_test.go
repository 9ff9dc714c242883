package kalturasim

import (
	"bytes"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

func TestRequestEncoding(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.srv.AddUser(User{ID: "lecturer", LoginID: "lect@example.com", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	ks := e.adminKS()
	qks := url.QueryEscape(ks)
	type want struct {
		code  string // expected error code, "" for success
		count int64  // for user.list: totalCount (-1: not a list)
	}
	tests := []struct {
		name, method, path, ct, body string
		want                         want
	}{
		{"json body exact content type", "POST", "/api_v3/service/session/action/startWidgetSession", "application/json",
			`{"widgetId":"_1234567","format":1}`, want{"", -1}},
		{"json with charset is ignored", "POST", "/api_v3/service/session/action/startWidgetSession?format=1", "application/json; charset=utf-8",
			`{"widgetId":"_1234567"}`, want{CodeMissingMandatoryParameter, -1}},
		{"path pairs", "POST", "/api_v3/service/session/action/startWidgetSession/widgetId/_1234567/format/1", "", "", want{"", -1}},
		{"service and action case-insensitive", "GET", "/api_v3/service/SESSION/action/StartWidgetSESSION?widgetId=_1234567&format=1", "", "", want{"", -1}},
		{"query overrides path", "GET", "/api_v3/service/session/action/startWidgetSession/widgetId/_999/format/1?widgetId=_1234567", "", "", want{"", -1}},
		{"body overrides query", "POST", "/api_v3/service/session/action/startWidgetSession?widgetId=_1234567&format=1", "application/x-www-form-urlencoded",
			"widgetId=_42", want{CodeInvalidWidgetID, -1}},
		{"index.php form", "GET", "/api_v3/index.php?service=session&action=startWidgetSession&widgetId=_1234567&format=1", "", "", want{"", -1}},
		{"flat filter key in body", "POST", "/api_v3/service/user/action/list", "application/x-www-form-urlencoded",
			"format=1&ks=" + qks + "&filter:idEqual=lecturer", want{"", 1}},
		{"nested json filter", "POST", "/api_v3/service/user/action/list", "application/json",
			`{"format":1,"ks":"` + ks + `","filter":{"objectType":"KalturaUserFilter","idEqual":"lecturer"}}`, want{"", 1}},
		{"brackets in the query string are parsed", "GET", "/api_v3/service/user/action/list?format=1&ks=" + qks + "&filter[idEqual]=lecturer", "", "", want{"", 1}},
		{"brackets in the path are not parsed", "GET", "/api_v3/service/user/action/list/filter[idEqual]/lecturer?format=1&ks=" + qks, "", "", want{"", 2}},
		{"flat key in the path is parsed", "GET", "/api_v3/service/user/action/list/filter:idEqual/lecturer?format=1&ks=" + qks, "", "", want{"", 1}},
		{"brackets in the body are not parsed", "POST", "/api_v3/service/user/action/list", "application/x-www-form-urlencoded",
			"format=1&ks=" + qks + "&filter%5BidEqual%5D=lecturer", want{"", 2}},
		{"unknown service", "GET", "/api_v3/service/nosuch/action/list?format=1", "", "", want{CodeServiceDoesNotExist, -1}},
		{"unknown action", "GET", "/api_v3/service/session/action/nosuch?format=1", "", "", want{CodeActionDoesNotExist, -1}},
		{"missing ks", "GET", "/api_v3/service/uploadtoken/action/list?format=1", "", "", want{CodeMissingKS, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, b := e.raw(tc.method, tc.path, tc.ct, []byte(tc.body))
			v := decode(t, b)
			if got := code(v); got != tc.want.code {
				t.Fatalf("code = %q, want %q (%s)", got, tc.want.code, b)
			}
			if tc.want.count >= 0 {
				if got := num(v.(map[string]any)["totalCount"]); got != tc.want.count {
					t.Fatalf("totalCount = %d, want %d (%s)", got, tc.want.count, b)
				}
			}
		})
	}
}

func TestMultipartJSONField(t *testing.T) {
	e := newEnv(t, Options{})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("json", `{"format":1,"widgetId":"_1234567","expiry":60}`)
	_ = mw.Close()
	_, b := e.raw("POST", "/api_v3/service/session/action/startWidgetSession", mw.FormDataContentType(), buf.Bytes())
	v := decode(t, b).(map[string]any)
	if code(v) != "" || v["objectType"] != "KalturaStartWidgetSessionResponse" || num(v["userId"]) != 0 || num(v["partnerId"]) != 1234567 {
		t.Fatalf("got %s", b)
	}
	if !strings.HasPrefix(str(v["ks"]), "djJ8") {
		t.Fatalf("ks %q does not start with djJ8", v["ks"])
	}
}

func TestErrorShapes(t *testing.T) {
	e := newEnv(t, Options{})
	// args is [] when empty.
	_, b := e.raw("GET", "/api_v3/service/uploadtoken/action/list?format=1", "", nil)
	if !contains(string(b), `"args":[]`) || !contains(string(b), `"objectType":"KalturaAPIException"`) {
		t.Fatalf("MISSING_KS body %s", b)
	}
	// args is an object otherwise.
	_, b = e.raw("GET", "/api_v3/service/session/action/startWidgetSession?format=1&widgetId=_5", "", nil)
	if !contains(string(b), `"args":{"WIDGET_ID":"_5"}`) {
		t.Fatalf("INVALID_WIDGET_ID body %s", b)
	}
	// A bad format: empty body and the X-Kaltura header.
	resp, b := e.raw("GET", "/api_v3/service/session/action/startWidgetSession?format=7&widgetId=_1234567", "", nil)
	if len(b) != 0 || resp.Header.Get("X-Kaltura") != "error- UNKNOWN_RESPONSE_FORMAT" || resp.StatusCode != 200 {
		t.Fatalf("bad format: %d %q %q", resp.StatusCode, resp.Header.Get("X-Kaltura"), b)
	}
	// XML is the default format.
	resp, b = e.raw("GET", "/api_v3/service/session/action/startWidgetSession?widgetId=_1234567", "", nil)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") || !contains(string(b), "<objectType>KalturaStartWidgetSessionResponse</objectType>") {
		t.Fatalf("xml: %s", b)
	}
	_, b = e.raw("GET", "/api_v3/service/uploadtoken/action/list?format=2", "", nil)
	if !contains(string(b), "<error><objectType>KalturaAPIException</objectType>") || !contains(string(b), "<code>MISSING_KS</code>") {
		t.Fatalf("xml error: %s", b)
	}
	// Errors are HTTP 200.
	resp, _ = e.raw("GET", "/api_v3/service/uploadtoken/action/list?format=1", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

type fakeCal string

func (f fakeCal) ICal() []byte { return []byte(f) }

func TestICalFormat(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.Register("schedule_scheduleevent", "list", func(c kapi.Caller, p kapi.Params) (any, error) {
		return fakeCal("BEGIN:VCALENDAR\r\nX-KALTURA-TOTAL-COUNT:0\r\nEND:VCALENDAR\r\n"), nil
	})
	tok := e.deviceToken("")
	ks := e.deviceSession(tok)
	resp, b := e.raw("GET", "/api_v3/service/schedule_scheduleevent/action/list/format/ical?ks="+url.QueryEscape(ks), "", nil)
	if resp.Header.Get("Content-Type") != "text/calendar; charset=UTF-8" || !contains(string(b), "X-KALTURA-TOTAL-COUNT:0") {
		t.Fatalf("ical: %q %s", resp.Header.Get("Content-Type"), b)
	}
	// An expired KS as VERROR, in the exact form of kaltura.md §1.
	e.srv.AdvanceClock(25 * time.Hour)
	resp, b = e.raw("GET", "/api_v3/service/schedule_scheduleevent/action/list/format/ical?ks="+url.QueryEscape(ks), "", nil)
	want := "BEGIN:VCALENDAR\r\nBEGIN:VERROR\r\nX-KALTURA-CODE:INVALID_KS\r\n" +
		"X-KALTURA-MESSAGE:Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\"\r\n" +
		"X-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR\r\nEND:VERROR\r\nEND:VCALENDAR\r\n"
	if resp.Header.Get("Content-Type") != "text/calendar; charset=UTF-8" || string(b) != want {
		t.Fatalf("ical error:\n%q\nwant\n%q", b, want)
	}
}

func TestNullParams(t *testing.T) {
	e := newEnv(t, Options{})
	tpl, err := e.srv.AddTemplateEntry(EntrySpec{Name: "T", UserID: "templateowner"})
	if err != nil {
		t.Fatal(err)
	}
	ks := e.adminKS()
	// entry:userId=x then entry:userId__null: null wins → owner = KS user.
	m := e.ok("media", "add", map[string]string{"ks": ks, "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1",
		"entry:templateEntryId": tpl.ID, "entry:userId": "someone", "entry:userId__null": "1"})
	if str(m["userId"]) != "admin" {
		t.Fatalf("userId = %v, want admin", m["userId"])
	}
	// JSON null does the same.
	_, b := e.raw("POST", "/api_v3/service/media/action/add", "application/json",
		[]byte(`{"format":1,"ks":"`+ks+`","entry":{"objectType":"KalturaMediaEntry","mediaType":1,"userId":null,"name":"n"}}`))
	v := decode(t, b).(map[string]any)
	if str(v["userId"]) != "admin" || str(v["name"]) != "n" {
		t.Fatalf("json null: %s", b)
	}
}

func TestMultiRequest(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.adminKS()
	for _, first := range []int{0, 1} {
		f := func(i int, k string) string { return string(rune('0'+first+i)) + ":" + k }
		form := url.Values{"format": {"1"}, "ks": {ks}}
		form.Set(f(0, "service"), "media")
		form.Set(f(0, "action"), "add")
		form.Set(f(0, "entry:objectType"), "KalturaMediaEntry")
		form.Set(f(0, "entry:mediaType"), "1")
		form.Set(f(0, "entry:name"), "mr")
		form.Set(f(1, "service"), "media")
		form.Set(f(1, "action"), "get")
		form.Set(f(1, "entryId"), "{1:result:id}")
		form.Set(f(2, "service"), "media")
		form.Set(f(2, "action"), "get")
		form.Set(f(2, "entryId"), "0_nosuchxx")
		form.Set(f(3, "service"), "baseentry")
		form.Set(f(3, "action"), "get")
		form.Set(f(3, "entryId"), "{2:result:id}")
		_, b := e.raw("POST", "/api_v3/service/multirequest", "application/x-www-form-urlencoded", []byte(form.Encode()))
		arr, ok := decode(t, b).([]any)
		if !ok || len(arr) != 4 {
			t.Fatalf("multirequest from %d: %s", first, b)
		}
		id := str(arr[0].(map[string]any)["id"])
		if str(arr[1].(map[string]any)["id"]) != id || str(arr[1].(map[string]any)["name"]) != "mr" {
			t.Fatalf("ref not resolved: %s", b)
		}
		if code(arr[2]) != CodeEntryIDNotFound {
			t.Fatalf("inline error: %s", b)
		}
		if str(arr[3].(map[string]any)["id"]) != id {
			t.Fatalf("second ref: %s", b)
		}
	}
	// JSON form with "1":{...} objects.
	body := `{"format":1,"ks":"` + ks + `","1":{"service":"media","action":"add","entry":{"objectType":"KalturaMediaEntry","mediaType":1,"name":"j"}},` +
		`"2":{"service":"media","action":"get","entryId":"{1:result:id}"},"3":{"service":"uploadtoken","action":"list","ks":"bogus"}}`
	_, b := e.raw("POST", "/api_v3/service/multirequest/action/null", "application/json", []byte(body))
	arr, ok := decode(t, b).([]any)
	if !ok || len(arr) != 3 || str(arr[1].(map[string]any)["name"]) != "j" || code(arr[2]) != CodeInvalidKS || argOf(arr[2], "KSID") != "bogus" {
		t.Fatalf("json multirequest: %s", b)
	}
}
