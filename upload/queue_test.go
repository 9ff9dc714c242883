package upload_test

import (
	"context"
	"errors"
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

func TestQueueHappyPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		q := h.open(h.opts(h.session()))
		path, data := h.file("lecture.mp4", 3*65536+5)
		rec := scheduled("rec-1", path, h.template)
		if err := q.Enqueue(rec); err != nil {
			t.Fatal(err)
		}
		if q.Deletable("rec-1") {
			t.Fatal("deletable before upload")
		}
		if err := h.run(q, h.isReady("rec-1")); err != nil {
			t.Fatal(err)
		}
		ent := h.checkOneEntry(data)
		want := map[string][2]string{
			"name":            {ent.Name, "BIO 210 - Guest lecture 2025-09-14"}, // 03:00Z is the 14th in EDT
			"referenceId":     {ent.ReferenceID, ""},                            // dropped for the role: never sent
			"adminTags":       {ent.AdminTags, "capturebox-event-7340012"},
			"templateEntryId": {ent.TemplateEntryID, h.template},
			"description":     {ent.Description, "Week 3"},
			"tags":            {ent.Tags, "bio"},
			"categoriesIds":   {ent.CategoriesIDs, "301"}, // from the template; ours not sent
			"coeditors":       {ent.EntitledUsersEdit, "prof.jones"},
		}
		for k, v := range want {
			if v[0] != v[1] {
				t.Errorf("entry %s = %q, want %q", k, v[0], v[1])
			}
		}
		if !q.Deletable("rec-1") {
			t.Error("not deletable after READY")
		}
		items := q.Items()
		if len(items) != 1 || items[0].State != upload.StateReady || items[0].EntryID != ent.ID || items[0].Offset != int64(len(data)) {
			t.Errorf("items %+v", items)
		}
		// Chunk protocol (kaltura.md §4).
		type ck struct{ resume, final, at string }
		var got []ck
		for _, c := range h.fake.Calls() {
			if strings.Contains(c.URL, "ks=") {
				t.Errorf("KS in URL: %s", c.URL)
			}
			if c.Service == "session" && c.Action == "end" {
				t.Error("session.end called")
			}
			if c.Service == "uploadtoken" && c.Action == "upload" {
				if c.FileName != "lecture.mp4" || !strings.HasPrefix(c.ContentType, "multipart/form-data") {
					t.Errorf("upload part %q %q", c.FileName, c.ContentType)
				}
				got = append(got, ck{c.Params["resume"], c.Params["finalChunk"], c.Params["resumeAt"]})
			} else if c.ContentType != "application/x-www-form-urlencoded" {
				t.Errorf("%s.%s content type %q", c.Service, c.Action, c.ContentType)
			}
		}
		wantCk := []ck{{"0", "0", "0"}, {"1", "0", "65536"}, {"1", "0", "131072"}, {"1", "1", "196608"}}
		if len(got) != len(wantCk) {
			t.Fatalf("chunks %v", got)
		}
		// The middle chunks are in flight together (window.go): either may
		// reach the server first.
		if got[1] == wantCk[2] && got[2] == wantCk[1] {
			got[1], got[2] = got[2], got[1]
		}
		for i := range got {
			if got[i] != wantCk[i] {
				t.Errorf("chunk %d = %v, want %v", i, got[i], wantCk[i])
			}
		}
		// Enqueue is idempotent, also after completion and on a reopened queue.
		n := len(h.fake.Calls())
		q2 := h.open(h.opts(h.session()))
		if err := q2.Enqueue(rec); err != nil {
			t.Fatal(err)
		}
		if len(q2.Items()) != 1 || !q2.Deletable("rec-1") {
			t.Fatalf("reopened: %+v", q2.Items())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		q2.Run(ctx)
		if len(h.fake.Calls()) != n {
			t.Error("a finished item was worked again")
		}
		if err := q2.Forget("rec-1"); err != nil || len(q2.Items()) != 0 {
			t.Errorf("forget: %v", err)
		}
	})
}

func TestSingleChunkAndAdHoc(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		q := h.open(h.opts(h.session()))
		path, data := h.file("adhoc", 1000) // no extension: ".mp4" is added
		rec := upload.Recording{ID: "a1", Path: path, Title: "Room 204", Start: time.Date(2025, 9, 15, 17, 5, 0, 0, time.UTC)}
		q.Enqueue(rec)
		if err := h.run(q, h.isReady("a1")); err != nil {
			t.Fatal(err)
		}
		ent := h.checkOneEntry(data)
		if ent.Name != "Room 204 2025-09-15 13:05" || ent.AdminTags != "capturebox-recording-a1" || ent.TemplateEntryID != h.template {
			t.Errorf("ad-hoc entry %+v", ent.MediaEntry)
		}
		var ups []simtest.Call
		for _, c := range h.fake.Calls() {
			if c.Action == "upload" {
				ups = append(ups, c)
			}
		}
		if len(ups) != 1 || ups[0].Params["resume"] != "0" || ups[0].Params["finalChunk"] != "1" || ups[0].FileName != "adhoc.mp4" {
			t.Errorf("single shot: %+v", ups)
		}
	})
}

func TestResumeAfterLostReplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		// The second chunk and the final chunk are processed by the server
		// but their replies are lost; then a network error on the next get.
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 1, LoseReply: true})
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 2, LoseReply: true})
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "get", HTTPStatus: 503})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 3*65536)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		sawInvalid := false
		for _, c := range h.fake.Calls() {
			if c.Action == "upload" && c.Params["finalChunk"] == "1" && c.Params["resume"] != "1" {
				t.Errorf("final chunk without resume: %v", c.Params)
			}
			if c.Action == "upload" && c.Params["resumeAt"] == "0" && c.Params["resume"] == "1" {
				sawInvalid = true
			}
		}
		if sawInvalid {
			t.Error("resumed at 0")
		}
		if len(h.fake.Tokens()) != 1 {
			t.Errorf("%d tokens; the same token must be resumed", len(h.fake.Tokens()))
		}
	})
}

func TestFinalChunkRepeatedAndSizeMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 1, Code: kaltura.CodeUploadTokenCannotMatchSize})
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 1, LoseReply: true})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 65536+100)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		finals := 0
		for _, c := range h.fake.Calls() {
			if c.Action == "upload" && c.Params["finalChunk"] == "1" {
				finals++
			}
		}
		// mismatch → retried; lost reply → repeated final refused with
		// INVALID_STATUS_FOR_UPLOAD is avoided by reading the token first.
		if finals < 2 {
			t.Errorf("final chunk sent %d times", finals)
		}
	})
}

func TestRepeatedFinalChunkAcceptsFullUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		// The final chunk is applied, but the box is told
		// UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD (what a repeated final chunk
		// gets): it must read the token and accept FULL_UPLOAD.
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 1, Code: kaltura.CodeUploadTokenInvalidStatus, AfterProcess: true})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 65536+1000)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		ups, gets := 0, 0
		for _, c := range h.fake.Calls() {
			switch {
			case c.Action == "upload":
				ups++
			case c.Service == "uploadtoken" && c.Action == "get":
				gets++
			}
		}
		if ups != 2 || gets != 1 {
			t.Errorf("uploads %d gets %d, want 2 and 1", ups, gets)
		}
		if len(h.faultList()) != 0 {
			t.Errorf("faults %+v", h.faultList())
		}
	})
}

func TestTokenRestartRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "upload", Skip: 1, Code: kaltura.CodeUploadPassedMaxResumeTime})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 3*65536)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if it := q.Items()[0]; it.NewTokens != 1 || len(it.Warnings) == 0 {
			t.Errorf("restart not recorded: %+v", it)
		}
		if len(h.fake.Tokens()) != 2 {
			t.Errorf("tokens %d", len(h.fake.Tokens()))
		}
	})
}

func TestTransientErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.AddFault(simtest.Fault{Service: "uploadtoken", Action: "add", Times: 4, Code: kaltura.CodeActionBlocked})
		var adds []time.Time
		h.fake.OnCall = func(c simtest.Call) {
			if c.Service == "uploadtoken" && c.Action == "add" {
				adds = append(adds, time.Now())
			}
		}
		o := h.opts(h.session())
		o.MinBackoff, o.MaxBackoff = 10*time.Second, time.Minute
		q := h.open(o)
		path, data := h.file("r.mp4", 100)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if len(adds) != 5 {
			t.Fatalf("%d add calls", len(adds))
		}
		// Jittered exponential: gap n lies in [d/2, d], d = 10s·2^(n-1) capped at 1 min.
		for i := 1; i < len(adds); i++ {
			d := min(10*time.Second<<(i-1), time.Minute)
			if gap := adds[i].Sub(adds[i-1]); gap < d/2 || gap > d {
				t.Errorf("gap %d = %v, want in [%v, %v]", i, gap, d/2, d)
			}
		}
	})
}

func TestTemplateFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 100)
		q.Enqueue(scheduled("r", path, "1_missing"))
		if err := h.run(q, h.hasFault(kaltura.CodeEntryIDNotFound)); err != nil {
			t.Fatal(err)
		}
		f := h.faultList()[0]
		if f.ItemID != "r" || !strings.Contains(f.Setting, "1_missing") || f.Severity != upload.SeverityError {
			t.Errorf("fault %+v", f)
		}
		if len(h.fake.Entries()) != 0 {
			t.Error("entry created without a valid template")
		}
		if it := q.Items()[0]; it.State != upload.StateFailed || q.Deletable("r") {
			t.Errorf("item %+v", it)
		}
		// The admin creates the template; Retry resumes where it stopped.
		if _, err := h.fake.AddTemplate(kaltura.MediaEntry{ID: "1_missing", EntitledUsersEdit: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := q.Retry("r"); err != nil {
			t.Fatal(err)
		}
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if n := len(h.fake.Tokens()); n != 1 {
			t.Errorf("retry re-uploaded: %d tokens", n)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		o := h.opts(h.session())
		o.DefaultTemplateEntryID = "1_gone"
		q := h.open(o)
		path, _ := h.file("r.mp4", 100)
		q.Enqueue(upload.Recording{ID: "adhoc", Path: path, Title: "Room"})
		if err := h.run(q, h.hasFault(kaltura.CodeEntryIDNotFound)); err != nil {
			t.Fatal(err)
		}
		if f := h.faultList()[0]; f.Setting != "kaltura.default_template_entry_id" {
			t.Errorf("fault %+v", f)
		}
	})
}

func TestTemplateNotCopiedIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.SkipTemplateCopy = true
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 100)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if !h.hasFault("TEMPLATE_NOT_COPIED")() {
			t.Fatalf("silent template failure not reported: %+v", h.faultList())
		}
	})
}

func TestConversionErrorIsFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.ConvertError()
		q := h.open(h.opts(h.session()))
		path, _ := h.file("r.mp4", 100)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.hasFault("ENTRY_CONVERSION_FAILED")); err != nil {
			t.Fatal(err)
		}
		var f upload.Fault
		for _, x := range h.faultList() {
			if x.Code == "ENTRY_CONVERSION_FAILED" {
				f = x
			}
		}
		if f.EntryID == "" || f.EntryID != h.fake.Entries()[0].ID {
			t.Errorf("fault without entry id: %+v", f)
		}
		if q.Deletable("r") {
			t.Error("a failed conversion made the file deletable")
		}
	})
}

func TestRevokedTokenPausesQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.fake.DeleteAppToken(h.tokenID)
		q := h.open(h.opts(h.session()))
		p1, _ := h.file("a.mp4", 100)
		p2, _ := h.file("b.mp4", 100)
		q.Enqueue(scheduled("a", p1, h.template))
		q.Enqueue(scheduled("b", p2, h.template))
		if err := h.run(q, h.hasFault(kaltura.CodeAppTokenIDNotFound)); err != nil {
			t.Fatal(err)
		}
		f := h.faultList()[0]
		if f.ItemID != "" || f.Setting != "kaltura.app_token_id" {
			t.Errorf("fault %+v", f)
		}
		if q.Paused() == nil {
			t.Fatal("queue not paused")
		}
		n := len(h.fake.Calls())
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		defer cancel()
		q.Run(ctx)
		// A configuration fault is re-checked on its own schedule (every
		// 5 minutes: one login attempt of two calls), never hammered, and
		// reported once.
		if m := len(h.fake.Calls()); m-n > 2*(6*60/5) || m == n {
			t.Errorf("%d calls while paused over 6 h: want one re-check every 5 minutes", m-n)
		}
		if c := len(h.faultList()); c != 1 {
			t.Errorf("%d faults, want the one (re-checks that fail the same way are not new faults)", c)
		}
		for _, it := range q.Items() {
			if it.State != upload.StateQueued {
				t.Errorf("item %s %s: items must stay queued, not be dropped", it.ID, it.State)
			}
		}
	})
}

func TestShortRecordingPolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		o := h.opts(h.session())
		o.MinLength = 10 * time.Second
		o.ShortPolicy = upload.ShortKeepLocal
		q := h.open(o)
		path, data := h.file("s.mp4", 100)
		rec := scheduled("s", path, h.template)
		rec.Duration = 3 * time.Second
		q.Enqueue(rec)
		if it := q.Items()[0]; it.State != upload.StateKeptLocal || !it.Short {
			t.Fatalf("item %+v", it)
		}
		if !h.hasFault("RECORDING_TOO_SHORT")() {
			t.Error("short recording vanished silently")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		q.Run(ctx)
		cancel()
		if len(h.fake.Calls()) != 0 {
			t.Error("kept-local recording was uploaded")
		}
		q.Retry("s") // a technician asks for it
		if err := h.run(q, h.isReady("s")); err != nil {
			t.Fatal(err)
		}
		if ent := h.checkOneEntry(data); ent.Tags != "bio,capturebox-short" {
			t.Errorf("tags %q", ent.Tags)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		o := h.opts(h.session())
		o.MinLength = 10 * time.Second
		q := h.open(o)
		path, data := h.file("s.mp4", 100)
		rec := scheduled("s", path, h.template)
		rec.Duration = 3 * time.Second
		rec.Tags = ""
		q.Enqueue(rec)
		if err := h.run(q, h.isReady("s")); err != nil {
			t.Fatal(err)
		}
		if ent := h.checkOneEntry(data); ent.Tags != "capturebox-short" {
			t.Errorf("tags %q", ent.Tags)
		}
	})
}

func TestEntryAlreadyWithContentIsSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		// addContent inside the multirequest fails transiently; the separate
		// retry is applied but its reply is lost; the next retry gets
		// ENTRY_ALREADY_WITH_CONTENT, which is success.
		h.fake.AddFault(simtest.Fault{Service: "media", Action: "addcontent", Code: kaltura.CodeLockTimedOut})
		h.fake.AddFault(simtest.Fault{Service: "media", Action: "addcontent", LoseReply: true})
		q := h.open(h.opts(h.session()))
		path, data := h.file("r.mp4", 1000)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		n := 0
		for _, c := range h.fake.Calls() {
			if c.Service == "media" && c.Action == "addcontent" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("separate addContent calls: %d, want 2", n)
		}
		if toks := h.fake.Tokens(); toks[0].Status != kaltura.TokenClosed {
			t.Errorf("token status %d", toks[0].Status)
		}
	})
}

func TestOldestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var order []string
		h.fake.OnCall = func(c simtest.Call) {
			if c.Service == "uploadtoken" && c.Action == "add" {
				order = append(order, c.Params["uploadToken:fileName"])
			}
		}
		q := h.open(h.opts(h.session()))
		for _, n := range []string{"1.mp4", "2.mp4", "3.mp4"} {
			p, _ := h.file(n, 70000)
			q.Enqueue(scheduled(n, p, h.template))
		}
		if err := h.run(q, func() bool { return h.isReady("1.mp4")() && h.isReady("2.mp4")() && h.isReady("3.mp4")() }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(order, " ") != "1.mp4 2.mp4 3.mp4" {
			t.Errorf("order %v", order)
		}
	})
}

func TestMissingFileIsFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		q := h.open(h.opts(h.session()))
		path, _ := h.file("r.mp4", 100)
		q.Enqueue(scheduled("r", path, h.template))
		os.Remove(path)
		if err := h.run(q, h.hasFault("FILE_MISSING")); err != nil {
			t.Fatal(err)
		}
		if it := q.Items()[0]; it.State != upload.StateFailed {
			t.Errorf("state %s", it.State)
		}
	})
}

func TestCorruptStateFileRefusesToOpen(t *testing.T) {
	h := newHarness(t)
	os.MkdirAll(h.qdir, 0o755)
	os.WriteFile(filepath.Join(h.qdir, "item-0123.json"), []byte("{not json"), 0o644)
	os.WriteFile(filepath.Join(h.qdir, ".item-x.json.123.tmp"), []byte("partial"), 0o644)
	if _, err := upload.OpenQueue(h.qdir, h.opts(h.session())); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt item silently dropped: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.qdir, ".item-x.json.123.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale temp file not removed")
	}
}
