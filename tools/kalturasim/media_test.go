package kalturasim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var entryIDPattern = regexp.MustCompile(`^0_[0-9a-z]{8}$`)

func TestMediaAddTemplateCopy(t *testing.T) {
	e := newEnv(t, Options{})
	tpl, err := e.srv.AddTemplateEntry(EntrySpec{Name: "Template name", Tags: "t1,t2", Description: "desc", AdminTags: "adm",
		UserID: "owner", EntitledUsersEdit: "coeditor", EntitledUsersPublish: "publisher", Categories: "Courses>BIO",
		CategoriesIDs: "301", PartnerData: "pd", Fields: map[string]string{"licenseType": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	withEnt := e.deviceSession(e.deviceToken("box1"))
	tokNoEnt, _ := e.srv.AddAppToken(AppTokenSpec{HashType: "SHA1", SessionUserID: "box2", SessionPrivileges: "setrole:CAPTURE_DEVICE_ROLE"})
	noEnt := e.deviceSession(tokNoEnt)
	admin := e.adminKS()
	defaultName := "1234567_" + strconv.FormatInt(epoch.Unix(), 10)
	tests := []struct {
		name     string
		ks       string
		extra    map[string]string
		template string
		want     map[string]string // "" value: must be absent
		wantCode string
	}{
		{"device copies template, owner is KS user", withEnt, nil, tpl.ID, map[string]string{
			"name": "Template name", "tags": "t1,t2", "description": "desc", "adminTags": "adm", "userId": "box1",
			"entitledUsersEdit": "coeditor", "entitledUsersPublish": "publisher", "categories": "Courses>BIO",
			"categoriesIds": "301", "partnerData": "pd", "licenseType": "3", "templateEntryId": tpl.ID, "status": "7"}, ""},
		{"no disableentitlement: no categories", noEnt, nil, tpl.ID, map[string]string{
			"userId": "box2", "entitledUsersEdit": "coeditor", "categories": "", "categoriesIds": ""}, ""},
		{"passed fields override", withEnt, map[string]string{"entry:name": "BIO 210 2025-09-15", "entry:adminTags": "adm,capturebox-event-7340012"}, tpl.ID,
			map[string]string{"name": "BIO 210 2025-09-15", "adminTags": "adm,capturebox-event-7340012", "tags": "t1,t2"}, ""},
		{"insert-only fields dropped for the device", withEnt, map[string]string{"entry:referenceId": "7340012", "entry:categoriesIds": "999"}, tpl.ID,
			map[string]string{"referenceId": "", "categoriesIds": "301"}, ""},
		{"missing template is silent", withEnt, nil, "0_missing0", map[string]string{
			"name": defaultName, "templateEntryId": "0_missing0", "entitledUsersEdit": "", "tags": "", "userId": "box1"}, ""},
		{"admin KS owner overwritten too", admin, nil, tpl.ID, map[string]string{"userId": "admin"}, ""},
		{"admin may set the owner", admin, map[string]string{"entry:userId": "lecturer"}, tpl.ID, map[string]string{"userId": "lecturer"}, ""},
		{"non-admin may not set another owner", withEnt, map[string]string{"entry:userId": "lecturer"}, tpl.ID, nil, CodeInvalidKS},
		{"non-admin may set itself", withEnt, map[string]string{"entry:userId": "box1"}, tpl.ID, map[string]string{"userId": "box1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := map[string]string{"ks": tc.ks, "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1", "entry:templateEntryId": tc.template}
			for k, v := range tc.extra {
				p[k] = v
			}
			m := e.obj("media", "add", p)
			if got := code(m); got != tc.wantCode {
				t.Fatalf("code %q want %q: %v", got, tc.wantCode, m)
			}
			if tc.wantCode == CodeInvalidKS && argOf(m, "ERR_DESC") != "INVALID_TYPE" {
				t.Fatalf("ownership error args: %v", m)
			}
			if tc.wantCode != "" {
				return
			}
			if !entryIDPattern.MatchString(str(m["id"])) {
				t.Fatalf("entry id %q", m["id"])
			}
			for k, want := range tc.want {
				if got := str(m[k]); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	if v := e.call("media", "add", map[string]string{"ks": admin, "entry:objectType": "KalturaMediaEntry"}); code(v) != CodePropertyCannotBeNull {
		t.Fatalf("no mediaType: %v", v)
	}
	// The device checks the template with baseEntry.get.
	if g := e.ok("baseentry", "get", map[string]string{"ks": withEnt, "entryId": tpl.ID}); str(g["id"]) != tpl.ID {
		t.Fatalf("template get: %v", g)
	}
	if v := e.call("baseentry", "get", map[string]string{"ks": withEnt, "entryId": "0_missing0"}); code(v) != CodeEntryIDNotFound {
		t.Fatalf("missing template get: %v", v)
	}
}

func TestMediaAddContent(t *testing.T) {
	e := newEnv(t, Options{ProcessingDelay: time.Minute})
	ks := e.deviceSession(e.deviceToken("box1"))
	newEntry := func() string {
		return str(e.ok("media", "add", map[string]string{"ks": ks, "entry:objectType": "KalturaMediaEntry", "entry:mediaType": "1"})["id"])
	}
	newToken := func() string { return str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"]) }
	addContent := func(entryID, tokenID string) map[string]any {
		return e.obj("media", "addContent", map[string]string{"ks": ks, "entryId": entryID,
			"resource:objectType": "KalturaUploadedFileTokenResource", "resource:token": tokenID})
	}
	data := seq(1000, 5)
	sum := sha256.Sum256(data)

	t.Run("complete upload then addContent", func(t *testing.T) {
		tok, ent := newToken(), newEntry()
		e.upload(ks, tok, data, "rec.mp4", map[string]string{"resume": "0", "finalChunk": "1"})
		m := addContent(ent, tok)
		if code(m) != "" || num(m["status"]) != EntryPreconvert {
			t.Fatalf("addContent: %v", m)
		}
		if g := e.ok("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": tok}); num(g["status"]) != UploadClosed {
			t.Fatalf("token not closed: %v", g)
		}
		if r := addContent(ent, newToken()); code(r) != CodeEntryAlreadyWithContent {
			t.Fatalf("retry: %v", r)
		}
		e.srv.AdvanceClock(time.Minute)
		if g := e.ok("baseentry", "get", map[string]string{"ks": ks, "entryId": ent}); num(g["status"]) != EntryReady {
			t.Fatalf("not ready: %v", g)
		}
		info, ok := e.srv.Entry(ent)
		if !ok || info.ContentSize != 1000 || info.ContentSHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("content: %+v", info)
		}
		// A closed token cannot feed another entry.
		if r := addContent(newEntry(), tok); code(r) != CodeUploadTokenInvalidForEntry {
			t.Fatalf("closed token: %v", r)
		}
	})
	t.Run("addContent before the upload completes", func(t *testing.T) {
		tok, ent := newToken(), newEntry()
		e.upload(ks, tok, data[:400], "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"})
		m := addContent(ent, tok)
		if code(m) != "" || num(m["status"]) != EntryImport {
			t.Fatalf("addContent: %v", m)
		}
		if g := e.ok("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": tok}); num(g["status"]) != UploadPartial {
			t.Fatalf("token: %v", g)
		}
		if r := addContent(ent, tok); code(r) != CodeEntryAlreadyWithContent {
			t.Fatalf("retry while importing: %v", r)
		}
		r := e.upload(ks, tok, data[400:], "rec.mp4", map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "400"})
		if num(r["status"]) != UploadClosed {
			t.Fatalf("final chunk: %v", r)
		}
		if g := e.ok("baseentry", "get", map[string]string{"ks": ks, "entryId": ent}); num(g["status"]) != EntryPreconvert {
			t.Fatalf("entry: %v", g)
		}
		e.srv.AdvanceClock(time.Minute)
		info, _ := e.srv.Entry(ent)
		if info.Status != EntryReady || info.ContentSHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("entry info %+v", info)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if r := addContent("0_nosuchxx", newToken()); code(r) != CodeEntryIDNotFound {
			t.Fatalf("unknown entry: %v", r)
		}
		tok := newToken()
		e.call("uploadtoken", "delete", map[string]string{"ks": e.adminKS(), "uploadTokenId": tok})
		if r := addContent(newEntry(), tok); code(r) != CodeUploadTokenInvalidForEntry {
			t.Fatalf("deleted token: %v", r)
		}
		if r := e.obj("media", "addContent", map[string]string{"ks": ks, "entryId": newEntry(),
			"resource:objectType": "KalturaUrlResource", "resource:url": "http://x"}); code(r) != CodeResourceTypeNotSupported {
			t.Fatalf("url resource: %v", r)
		}
		other := e.deviceSession(e.deviceToken("box9"))
		if r := e.obj("media", "addContent", map[string]string{"ks": other, "entryId": newEntry(),
			"resource:objectType": "KalturaUploadedFileTokenResource", "resource:token": newToken()}); code(r) != CodeInvalidKS {
			t.Fatalf("foreign entry: %v", r)
		}
	})
	t.Run("conversion failure", func(t *testing.T) {
		e.srv.Faults().Add(Fault{Kind: FaultConversionError, Service: "media", Action: "addContent"})
		tok, ent := newToken(), newEntry()
		e.upload(ks, tok, data, "rec.mp4", map[string]string{"resume": "0", "finalChunk": "1"})
		addContent(ent, tok)
		e.srv.AdvanceClock(time.Minute)
		if g := e.ok("baseentry", "get", map[string]string{"ks": ks, "entryId": ent}); num(g["status"]) != EntryConvertError {
			t.Fatalf("entry: %v", g)
		}
	})
	t.Run("add and addContent in one multirequest", func(t *testing.T) {
		tok := newToken()
		e.upload(ks, tok, data, "rec.mp4", map[string]string{"resume": "0", "finalChunk": "1"})
		form := url.Values{"format": {"1"}, "ks": {ks},
			"1:service": {"media"}, "1:action": {"add"}, "1:entry:objectType": {"KalturaMediaEntry"}, "1:entry:mediaType": {"1"},
			"2:service": {"media"}, "2:action": {"addContent"}, "2:entryId": {"{1:result:id}"},
			"2:resource:objectType": {"KalturaUploadedFileTokenResource"}, "2:resource:token": {tok}}
		_, b := e.raw("POST", "/api_v3/service/multirequest", "application/x-www-form-urlencoded", []byte(form.Encode()))
		arr := decode(t, b).([]any)
		if len(arr) != 2 || code(arr[1]) != "" || num(arr[1].(map[string]any)["status"]) != EntryPreconvert {
			t.Fatalf("multirequest: %s", b)
		}
	})
}
