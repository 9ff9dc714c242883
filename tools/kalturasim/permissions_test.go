package kalturasim

import (
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// TestCaptureDevicePermissionTable is generated from the permission file
// (shared/spec/capture-device-permissions.tsv): every listed action is let
// through for a CAPTURE_DEVICE KS — the flow's actions succeed with real
// parameters, the other implemented ones reach their handler, the ones the
// simulator does not implement say so — and a sample of unlisted actions
// is refused exactly as the server refuses it.
func TestCaptureDevicePermissionTable(t *testing.T) {
	e := newEnv(t, Options{})
	store := schedule.New(e.srv.Now)
	store.Register(e.srv.Register)
	if _, err := store.AddResource(e.srv.PartnerID(), schedule.Resource{Name: "Cam"}); err != nil {
		t.Fatal(err)
	}
	tok := e.deviceToken("box1")
	ks := e.deviceSession(tok)
	tpl, err := e.srv.AddTemplateEntry(EntrySpec{Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	up := e.ok("uploadtoken", "add", map[string]string{"ks": ks, "uploadToken:objectType": "KalturaUploadToken"})
	upID := str(up["id"])

	// Real parameters for the actions the box's flow uses: these must succeed.
	flow := map[string]map[string]string{
		"uploadtoken.add":                {"uploadToken:objectType": "KalturaUploadToken"},
		"uploadtoken.get":                {"uploadTokenId": upID},
		"uploadtoken.list":               {},
		"media.add":                      {"entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1"},
		"baseentry.add":                  {"entry:objectType": "KalturaMediaEntry"},
		"baseentry.get":                  {"entryId": tpl.ID},
		"schedule_scheduleevent.list":    {"filter:objectType": "KalturaScheduleEventFilter"},
		"schedule_scheduleresource.list": {},
		"session.startwidgetsession":     {"widgetId": "_1234567"},
	}
	perms := e.srv.Permissions()
	rows := perms.Actions()
	if len(rows) < 100 {
		t.Fatalf("permission table %s lists %d actions; the spec file lists over 100", perms.Path, len(rows))
	}
	refused := []struct{ service, action, shown string }{
		{"media", "get", "media->get"},
		{"media", "list", "media->list"},
		{"baseentry", "list", "baseentry->list"},
		{"uploadtoken", "delete", "uploadtoken->delete"},
		{"schedule_scheduleevent", "get", "schedule_scheduleevent->get"},
	}
	for _, r := range refused {
		t.Run("refused/"+r.service+"."+r.action, func(t *testing.T) {
			if perms.Allows(r.service, r.action) {
				t.Fatalf("%s.%s is in the table", r.service, r.action)
			}
			got := e.obj(r.service, r.action, map[string]string{"ks": ks, "entryId": tpl.ID, "uploadTokenId": upID, "scheduleEventId": "1"})
			want := "The access to service [" + r.shown + "] is forbidden"
			args, _ := got["args"].(map[string]any)
			if str(got["code"]) != CodeServiceForbidden || str(got["message"]) != want || str(args["SERVICE"]) != r.shown {
				t.Fatalf("got %v %q args %v, want %s %q", got["code"], got["message"], got["args"], CodeServiceForbidden, want)
			}
		})
	}
	// session.end revokes the user's sessions: it runs last.
	sort.Slice(rows, func(i, j int) bool {
		ei, ej := rows[i] == [2]string{"session", "end"}, rows[j] == [2]string{"session", "end"}
		if ei != ej {
			return ej
		}
		return rows[i][0]+"."+rows[i][1] < rows[j][0]+"."+rows[j][1]
	})
	for _, sa := range rows {
		svc, act := sa[0], sa[1]
		name := svc + "." + act
		t.Run(name, func(t *testing.T) {
			// A fresh KS per action: session.end would revoke a shared one.
			p := map[string]string{"ks": e.deviceSession(tok)}
			for k, v := range flow[name] {
				p[k] = v
			}
			got, _ := e.call(svc, act, p).(map[string]any)
			code := str(got["code"])
			_, implemented := e.srv.lookup(svc, act)
			switch {
			case flow[name] != nil:
				if got != nil && got["objectType"] == "KalturaAPIException" {
					t.Fatalf("%s: %s %s", name, code, str(got["message"]))
				}
			case code == CodeServiceForbidden:
				t.Fatalf("%s is listed but was refused: %s", name, str(got["message"]))
			case implemented != nil && code != CodeServiceDoesNotExist && code != CodeActionDoesNotExist:
				t.Fatalf("%s is not implemented but answered %q", name, code)
			}
		})
	}

	// The same calls under the partner's admin KS are not refused: the
	// table binds the CAPTURE_DEVICE role only.
	if got := e.obj("media", "get", map[string]string{"ks": e.adminKS(), "entryId": tpl.ID}); got["objectType"] == "KalturaAPIException" {
		t.Fatalf("admin media.get: %v", got["code"])
	}
}

func TestPermissionFileLookup(t *testing.T) {
	t.Run("found above the working directory", func(t *testing.T) {
		p, err := FindPermissionsFile()
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) != PermissionsFileName || filepath.Base(filepath.Dir(p)) != "spec" {
			t.Fatalf("found %s", p)
		}
	})
	t.Run("not found fails loudly", func(t *testing.T) {
		t.Chdir(t.TempDir())
		t.Setenv(PermissionsEnv, "")
		_, err := New(Options{DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), PermissionsFileName+" not found") || !strings.Contains(err.Error(), "-permissions") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("explicit path", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "perms.tsv")
		os.WriteFile(p, []byte("# comment\nservice\taction\tgranted_by\tsource_file\nmedia\tget\tCAPTURE_DEVICE\tx.ini\n"), 0o600)
		s, err := New(Options{DataDir: t.TempDir(), PermissionsFile: p})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !s.Permissions().Allows("MEDIA", "Get") || s.Permissions().Allows("media", "add") {
			t.Fatal("table not applied")
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for name, body := range map[string]string{
			"no header":     "media\tget\tCAPTURE_DEVICE\n",
			"bad grant":     "service\taction\tgranted_by\nmedia\tget\tSOMEONE\n",
			"missing field": "service\taction\tgranted_by\nmedia\n",
			"empty":         "service\taction\tgranted_by\n",
		} {
			p := filepath.Join(t.TempDir(), "p.tsv")
			os.WriteFile(p, []byte(body), 0o600)
			if _, err := LoadPermissions(p); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

// TestInsertOnlyFieldsDropped: under CAPTURE_DEVICE the fields of
// kaltura.md §5 sent with media.add are nulled with a response header and
// no error; adminTags, name and the template copy go through.
func TestInsertOnlyFieldsDropped(t *testing.T) {
	e := newEnv(t, Options{})
	tpl, err := e.srv.AddTemplateEntry(EntrySpec{Name: "T", AdminTags: "course-bio", CategoriesIDs: "301"})
	if err != nil {
		t.Fatal(err)
	}
	ks := e.deviceSession(e.deviceToken("box1"))
	form := map[string]string{"ks": ks, "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1",
		"entry:templateEntryId": tpl.ID, "entry:name": "N", "entry:adminTags": "course-bio,capturebox-event-7",
		"entry:referenceId": "7", "entry:categoriesIds": "999", "entry:startDate": "100"}
	vals := make(map[string][]string)
	for k, v := range form {
		vals[k] = []string{v}
	}
	vals["format"] = []string{"1"}
	resp, b := e.raw("POST", "/api_v3/service/media/action/add", "application/x-www-form-urlencoded", []byte(encodeForm(vals)))
	m, _ := decode(t, b).(map[string]any)
	if m["objectType"] == "KalturaAPIException" {
		t.Fatalf("media.add: %v", m["code"])
	}
	for _, f := range []string{"referenceId", "categoriesIds", "startDate"} {
		if h := resp.Header.Get("KalturaBaseEntry-" + f + "-error"); h == "" {
			t.Errorf("no KalturaBaseEntry-%s-error header; headers %v", f, resp.Header)
		}
	}
	if resp.Header.Get("KalturaBaseEntry-adminTags-error") != "" {
		t.Error("adminTags reported as dropped")
	}
	if m["referenceId"] != nil || str(m["categoriesIds"]) != "301" || m["startDate"] != nil {
		t.Fatalf("dropped fields kept: %v", m)
	}
	if str(m["adminTags"]) != "course-bio,capturebox-event-7" || str(m["name"]) != "N" {
		t.Fatalf("free fields lost: %v", m)
	}
	// In a multirequest the header is on the multirequest's response.
	resp2, _ := e.raw("POST", "/api_v3/service/multirequest", "application/x-www-form-urlencoded",
		[]byte(encodeForm(map[string][]string{"format": {"1"}, "ks": {ks}, "1:service": {"media"}, "1:action": {"add"},
			"1:entry:objectType": {"KalturaMediaEntry"}, "1:entry:mediaType": {"1"}, "1:entry:referenceId": {"7"}})))
	if resp2.Header.Get("KalturaBaseEntry-referenceId-error") == "" {
		t.Error("multirequest: no header")
	}
	// An admin KS may set them.
	adm := e.ok("media", "add", map[string]string{"ks": e.adminKS(), "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1", "entry:referenceId": "7"})
	if str(adm["referenceId"]) != "7" {
		t.Fatalf("admin referenceId dropped: %v", adm)
	}
}

func encodeForm(v map[string][]string) string { return url.Values(v).Encode() }
