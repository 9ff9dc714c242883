package kalturasim

import (
	"bytes"
	"context"
	"mime/multipart"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// tokenData reads an upload token's data file.
func (e *env) tokenData(id string) []byte {
	e.t.Helper()
	e.srv.mu.Lock()
	tok := e.srv.uploadTokens[id]
	e.srv.mu.Unlock()
	b, err := os.ReadFile(tok.dataPath())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func seq(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

type chunkCall struct {
	data     []byte
	resume   bool
	final    bool
	resumeAt int64 // -2: not sent
}

func (c chunkCall) fields() map[string]string {
	f := map[string]string{"resume": "0", "finalChunk": "0"}
	if c.resume {
		f["resume"] = "1"
	}
	if c.final {
		f["finalChunk"] = "1"
	}
	if c.resumeAt != -2 {
		f["resumeAt"] = strconv.FormatInt(c.resumeAt, 10)
	}
	return f
}

func TestUploadChunkRules(t *testing.T) {
	a, b, c := seq(100, 1), seq(100, 2), seq(50, 3)
	overlap := seq(100, 9)
	type step struct {
		call         chunkCall
		wantCode     string
		wantStatus   int64
		wantUploaded int64
	}
	tests := []struct {
		name  string
		steps []step
		want  []byte // final data file; nil: don't check
	}{
		{"single shot", []step{{chunkCall{a, false, true, -2}, "", UploadFull, 100}}, a},
		{"in order", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{b, true, false, 100}, "", UploadPartial, 200},
			{chunkCall{c, true, true, 200}, "", UploadFull, 250},
		}, cat(a, b, c)},
		{"resume first fails", []step{{chunkCall{a, true, false, 0}, CodeUploadTokenCannotResume, -1, -1}}, nil},
		{"out of order parks and appends", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{c, true, false, 200}, "", UploadPartial, 100}, // parked
			{chunkCall{b, true, false, 100}, "", UploadPartial, 250}, // written, parked one appended
			{chunkCall{nil, true, true, 250}, "", UploadFull, 250},   // empty final chunk
		}, cat(a, b, c)},
		{"resume=0 restarts", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{b, true, false, 100}, "", UploadPartial, 200},
			{chunkCall{c, false, false, -2}, "", UploadPartial, 50},
			{chunkCall{a, true, true, 50}, "", UploadFull, 150},
		}, cat(c, a)},
		{"resumeAt -1 appends", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{b, true, false, -1}, "", UploadPartial, 200},
			{chunkCall{c, true, true, -2}, "", UploadFull, 250},
		}, cat(a, b, c)},
		{"overlap written at its offset", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{overlap, true, false, 50}, "", UploadPartial, 150},
		}, cat(a[:50], overlap)},
		{"chunk that does not reach the end is parked", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{c, true, false, 20}, "", UploadPartial, 100}, // 20+50 <= 100: parked, never enlarges
		}, a},
		{"empty non-final chunk ignored", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{nil, true, false, 100}, "", UploadPartial, 100},
			{chunkCall{b, true, true, 100}, "", UploadFull, 200},
		}, cat(a, b)},
		{"final with resumeAt -1 does not wait for a gap", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{c, true, false, 300}, "", UploadPartial, 100}, // parked after a gap
			{chunkCall{b, true, true, -1}, "", UploadFull, 200},
		}, cat(a, b)},
		{"final with resumeAt 0 is not verified", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{c, true, true, 0}, "", UploadFull, 100}, // written over the start
		}, cat(c, a[50:])},
		{"repeated final chunk", []step{
			{chunkCall{a, false, false, -2}, "", UploadPartial, 100},
			{chunkCall{b, true, true, 100}, "", UploadFull, 200},
			{chunkCall{b, true, true, 100}, CodeUploadTokenInvalidStatus, -1, -1},
		}, cat(a, b)},
	}
	e := newEnv(t, Options{FinalChunkMaxAppendTime: 2 * time.Second, Sleep: func(ctx context.Context, d time.Duration) error { return nil }})
	ks := e.adminKS()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.ok("uploadtoken", "add", map[string]string{"ks": ks, "uploadToken:objectType": "KalturaUploadToken", "uploadToken:fileName": "rec.mp4"})
			id := str(tok["id"])
			for i, st := range tc.steps {
				m := e.upload(ks, id, st.call.data, "rec.mp4", st.call.fields())
				if got := code(m); got != st.wantCode {
					t.Fatalf("step %d: code %q want %q: %v", i, got, st.wantCode, m)
				}
				if st.wantCode != "" {
					continue
				}
				if num(m["status"]) != st.wantStatus || num(m["uploadedFileSize"]) != st.wantUploaded {
					t.Fatalf("step %d: status %v uploaded %v, want %d %d", i, m["status"], m["uploadedFileSize"], st.wantStatus, st.wantUploaded)
				}
			}
			if tc.want != nil {
				if got := e.tokenData(id); !bytes.Equal(got, tc.want) {
					t.Fatalf("data %d bytes, want %d (equal prefix: %v)", len(got), len(tc.want), bytes.HasPrefix(got, tc.want[:min(len(tc.want), len(got))]))
				}
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestUploadTokenAdd(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.adminKS()
	m := e.ok("uploadtoken", "add", map[string]string{"ks": ks, "uploadToken:objectType": "KalturaUploadToken", "uploadToken:fileName": "rec.mp4", "uploadToken:fileSize": "1000"})
	if num(m["status"]) != UploadPending || num(m["uploadedFileSize"]) != 0 || str(m["uploadUrl"]) != e.hs.URL || num(m["fileSize"]) != 1000 || len(str(m["id"])) < 10 {
		t.Fatalf("add: %v", m)
	}
	if v := e.call("uploadtoken", "add", map[string]string{"ks": ks, "uploadToken:autoFinalize": "1"}); code(v) != CodeUploadTokenMissingFileSize {
		t.Fatalf("autoFinalize without size: %v", v)
	}
	// autoFinalize with a size: the token is FULL once the size is reached.
	m = e.ok("uploadtoken", "add", map[string]string{"ks": ks, "uploadToken:autoFinalize": "1", "uploadToken:fileSize": "150"})
	id := str(m["id"])
	e.upload(ks, id, seq(100, 1), "a.mp4", map[string]string{"resume": "0", "finalChunk": "0"})
	if r := e.upload(ks, id, seq(50, 1), "a.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"}); num(r["status"]) != UploadFull {
		t.Fatalf("autoFinalize: %v", r)
	}
	// Bad file parts give UPLOAD_ERROR.
	m = e.ok("uploadtoken", "add", map[string]string{"ks": ks})
	id = str(m["id"])
	if r := e.upload(ks, id, seq(10, 1), "", nil); code(r) != CodeUploadError {
		t.Fatalf("empty filename: %v", r)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("format", "1")
	_ = mw.WriteField("ks", ks)
	_ = mw.WriteField("uploadTokenId", id)
	_ = mw.WriteField("fileData", "not a file")
	_ = mw.Close()
	_, b := e.raw("POST", "/api_v3/service/uploadtoken/action/upload", mw.FormDataContentType(), buf.Bytes())
	if code(decode(t, b)) != CodeUploadError {
		t.Fatalf("fileData as a field: %s", b)
	}
	// Not multipart at all.
	if v := e.call("uploadtoken", "upload", map[string]string{"ks": ks, "uploadTokenId": id}); code(v) != CodeUploadError {
		t.Fatalf("urlencoded upload: %v", v)
	}
	// delete: status 5, then uploads are refused.
	if v := e.call("uploadtoken", "delete", map[string]string{"ks": ks, "uploadTokenId": id}); v != nil {
		t.Fatalf("delete: %v", v)
	}
	if g := e.ok("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": id}); num(g["status"]) != UploadDeleted {
		t.Fatalf("after delete: %v", g)
	}
	if r := e.upload(ks, id, seq(10, 1), "a.mp4", nil); code(r) != CodeUploadTokenInvalidStatus {
		t.Fatalf("upload after delete: %v", r)
	}
}

func TestFinalChunkWaitsForParkedChunks(t *testing.T) {
	var e *env
	var sleeps atomic.Int32
	var ks, id string
	missing := seq(100, 2)
	e = newEnv(t, Options{Sleep: func(ctx context.Context, d time.Duration) error {
		if d != time.Second {
			t.Errorf("poll interval %v", d)
		}
		if sleeps.Add(1) == 3 {
			// The missing middle chunk arrives while the final one waits.
			r := e.upload(ks, id, missing, "rec.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"})
			if code(r) != "" {
				t.Errorf("middle chunk: %v", r)
			}
		}
		return nil
	}})
	ks = e.adminKS()
	id = str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])
	e.upload(ks, id, seq(100, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"})
	r := e.upload(ks, id, seq(50, 3), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"})
	if code(r) != "" || num(r["status"]) != UploadFull || num(r["uploadedFileSize"]) != 250 {
		t.Fatalf("final: %v", r)
	}
	if sleeps.Load() != 3 {
		t.Fatalf("polled %d times, want 3", sleeps.Load())
	}
	if !bytes.Equal(e.tokenData(id), cat(seq(100, 1), missing, seq(50, 3))) {
		t.Fatal("data mismatch")
	}
}

func TestFinalChunkTimeout(t *testing.T) {
	var sleeps atomic.Int32
	e := newEnv(t, Options{Sleep: func(ctx context.Context, d time.Duration) error { sleeps.Add(1); return nil }})
	ks := e.adminKS()
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])
	e.upload(ks, id, seq(100, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"})
	r := e.upload(ks, id, seq(50, 3), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"})
	if code(r) != CodeUploadTokenCannotMatch {
		t.Fatalf("want CANNOT_MATCH: %v", r)
	}
	// 45 polls of upload_final_chunk_max_append_time, one second apart.
	if sleeps.Load() != 44 {
		t.Fatalf("slept %d times, want 44", sleeps.Load())
	}
	g := e.ok("uploadtoken", "get", map[string]string{"ks": ks, "uploadTokenId": id})
	if num(g["status"]) != UploadPartial || num(g["uploadedFileSize"]) != 100 {
		t.Fatalf("after timeout: %v", g)
	}
	// The missing chunk and a retried final chunk complete it (retryable).
	e.upload(ks, id, seq(100, 2), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": "100"})
	r = e.upload(ks, id, seq(50, 3), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "1", "resumeAt": "200"})
	if code(r) != "" || num(r["uploadedFileSize"]) != 250 {
		t.Fatalf("retry: %v", r)
	}
}

func TestUploadResumeLimit(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.adminKS()
	up := func(id string, at int64) map[string]any {
		return e.upload(e.adminKS(), id, seq(10, 1), "rec.mp4", map[string]string{"resume": "1", "finalChunk": "0", "resumeAt": strconv.FormatInt(at, 10)})
	}
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": ks})["id"])
	e.upload(ks, id, seq(10, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"})
	e.srv.AdvanceClock(7 * 24 * time.Hour) // exactly 7 days idle: still allowed
	if r := up(id, 10); code(r) != "" {
		t.Fatalf("at 7 days: %v", r)
	}
	e.srv.AdvanceClock(7*24*time.Hour + time.Second)
	r := up(id, 20)
	if code(r) != CodeUploadPassedMaxResumeTime || argOf(r, "MAX_RESUME_TIME") != "604800" {
		t.Fatalf("past 7 days: %v", r)
	}
	// Only PARTIAL_UPLOAD is limited: an untouched PENDING token is fine.
	id2 := str(e.ok("uploadtoken", "add", map[string]string{"ks": e.adminKS()})["id"])
	e.srv.AdvanceClock(30 * 24 * time.Hour)
	if r := e.upload(e.adminKS(), id2, seq(10, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "1"}); code(r) != "" {
		t.Fatalf("pending token: %v", r)
	}
}

func TestUploadTokenVisibility(t *testing.T) {
	e := newEnv(t, Options{})
	box1 := e.deviceSession(e.deviceToken("box1"))
	box1b := e.deviceSession(e.deviceToken("box1"))
	box2 := e.deviceSession(e.deviceToken("box2"))
	id := str(e.ok("uploadtoken", "add", map[string]string{"ks": box1})["id"])
	if r := e.upload(box1, id, seq(10, 1), "rec.mp4", map[string]string{"resume": "0", "finalChunk": "0"}); code(r) != "" {
		t.Fatalf("own upload: %v", r)
	}
	if g := e.ok("uploadtoken", "get", map[string]string{"ks": box1b, "uploadTokenId": id}); num(g["uploadedFileSize"]) != 10 {
		t.Fatalf("same user, other token: %v", g)
	}
	for _, v := range []any{
		e.call("uploadtoken", "get", map[string]string{"ks": box2, "uploadTokenId": id}),
		e.upload(box2, id, seq(10, 1), "rec.mp4", nil),
	} {
		if code(v) != CodeUploadTokenNotFound {
			t.Fatalf("other user: %v", v)
		}
	}
	if l := e.ok("uploadtoken", "list", map[string]string{"ks": box2}); num(l["totalCount"]) != 0 {
		t.Fatalf("other user's list: %v", l)
	}
	if l := e.ok("uploadtoken", "list", map[string]string{"ks": box1}); num(l["totalCount"]) != 1 {
		t.Fatalf("own list: %v", l)
	}
	if g := e.ok("uploadtoken", "get", map[string]string{"ks": e.adminKS(), "uploadTokenId": id}); str(g["userId"]) != "box1" {
		t.Fatalf("admin get: %v", g)
	}
}
