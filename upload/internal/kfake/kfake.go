// Package kfake is a small in-process fake of the Kaltura calls the upload
// package makes (sessions, uploadToken, media, baseEntry, multirequest),
// with fault injection and a call log. It exists so that the upload tests do
// not depend on the full simulator in tools/kalturasim; it follows
// kaltura.md §0 and §3–§5 for the behaviour the box relies on.
package kfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// Fault makes a matching call fail.
type Fault struct {
	Service, Action string // lowercase; "" matches any
	// Skip lets this many matching calls through first; Times is how many
	// calls fail after that (0 = 1; -1 = forever).
	Skip, Times int
	// Exactly one of:
	Code       string            // answer this API error (HTTP 200)
	Args       map[string]string // with these args
	HTTPStatus int               // answer this HTTP status without processing
	LoseReply  bool              // process the call, then answer HTTP 502
	// AfterProcess with Code: process the call, then answer Code anyway.
	AfterProcess bool
}

// Call is one logged request.
type Call struct {
	Service, Action string
	ContentType     string
	URL             string
	KSInBody        bool
	Params          map[string]string
	FileName        string // fileData part name for uploads
	ChunkLen        int
}

// Entry is a media entry as stored.
type Entry struct {
	kaltura.MediaEntry
	Content  []byte
	TokenID  string
	Template bool // is a template entry
	gets     int
}

type token struct {
	kaltura.UploadToken
	data   []byte
	parked map[int64][]byte
	user   string
}

type ksInfo struct {
	expires time.Time
	widget  bool
	revoked bool
	appTok  string
}

type appToken struct {
	id, token, hashType string
	disabled, deleted   bool
	sessionDuration     time.Duration
}

// Server is the fake. Create it with New.
type Server struct {
	PartnerID int64
	Clock     func() time.Time
	// ReadyAfterGets: an entry with content becomes READY on the n-th
	// media.get after addContent (default 1).
	ReadyAfterGets int
	// ConvertError makes entries go to status -1 instead of READY.
	ConvertError bool
	// NoAttachedObject hides attachedObjectId on tokens (servers that do not
	// fill it).
	NoAttachedObject bool
	// SkipTemplateCopy creates entries without copying the template (the
	// silent failure of kaltura.md §5).
	SkipTemplateCopy bool
	// OnCall, when set, is called with each request before it is handled.
	OnCall func(Call)

	mu        sync.Mutex
	ks        map[string]*ksInfo
	appTokens map[string]*appToken
	tokens    map[string]*token
	entries   map[string]*Entry
	order     []string
	faults    []*faultState
	calls     []Call
	seq       int
}

type faultState struct {
	Fault
	seen, used int
}

// New returns a fake for partner pid.
func New(pid int64) *Server {
	return &Server{PartnerID: pid, Clock: time.Now, ReadyAfterGets: 1,
		ks: map[string]*ksInfo{}, appTokens: map[string]*appToken{}, tokens: map[string]*token{}, entries: map[string]*Entry{}}
}

func (s *Server) id(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08d", prefix, s.seq)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// AddAppToken creates an app token and returns id and secret.
func (s *Server) AddAppToken(hashType string, sessionDuration time.Duration) (id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id = "0_" + randHex(4)
	secret = randHex(16)
	s.appTokens[id] = &appToken{id: id, token: secret, hashType: hashType, sessionDuration: sessionDuration}
	return id, secret
}

// DeleteAppToken deletes a token: its sessions get INVALID_KS/LOGOUT and it
// can start no more.
func (s *Server) DeleteAppToken(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.appTokens[id]; t != nil {
		t.deleted = true
	}
	for _, k := range s.ks {
		if k.appTok == id {
			k.revoked = true
		}
	}
}

// ExpireAll makes every KS issued so far expired.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.ks {
		k.expires = time.Unix(0, 0)
	}
}

// IssuedKS returns every KS the fake has issued.
func (s *Server) IssuedKS() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.ks {
		out = append(out, k)
	}
	return out
}

// Transport returns an http.RoundTripper that serves requests with s
// in-process (no network), so tests can run inside a testing/synctest
// bubble.
func (s *Server) Transport() http.RoundTripper { return handlerTransport{s} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	return rec.Result(), nil
}

// AddTemplate stores a template entry.
func (s *Server) AddTemplate(e kaltura.MediaEntry) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.ID == "" {
		e.ID = s.id("1_")
	}
	e.Status = kaltura.EntryReady
	s.entries[e.ID] = &Entry{MediaEntry: e, Template: true}
	return e.ID
}

// AddFault queues a fault.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &faultState{Fault: f})
}

// Calls returns the call log.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Entries returns the non-template entries in creation order.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for _, id := range s.order {
		e := *s.entries[id]
		e.Content = append([]byte(nil), e.Content...)
		out = append(out, e)
	}
	return out
}

// Tokens returns the upload tokens sorted by id.
func (s *Server) Tokens() []kaltura.UploadToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kaltura.UploadToken
	for _, t := range s.tokens {
		out = append(out, t.UploadToken)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SetTokenStatus forces a token's status (e.g. TIMED_OUT) for tests.
func (s *Server) SetTokenStatus(id string, st int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[id]; t != nil {
		t.Status = kaltura.Num(st)
	}
}

type apiErr struct {
	code string
	args map[string]string
}

func errf(code string, args ...string) *apiErr {
	e := &apiErr{code: code, args: map[string]string{}}
	for i := 0; i+1 < len(args); i += 2 {
		e.args[args[i]] = args[i+1]
	}
	return e
}

func (e *apiErr) Error() string { return e.code }

func (e *apiErr) body() any {
	var args any = []any{}
	if len(e.args) > 0 {
		args = e.args
	}
	msg := e.code
	if v, ok := e.args["KSID"]; ok {
		msg = fmt.Sprintf("Invalid KS %q, Error \"-1,%s\"", v, v)
	}
	return map[string]any{"code": e.code, "message": msg, "objectType": "KalturaAPIException", "args": args}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 5 || parts[0] != "api_v3" || parts[1] != "service" || parts[3] != "action" {
		http.NotFound(w, r)
		return
	}
	service, action := strings.ToLower(parts[2]), strings.ToLower(parts[4])
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	var file []byte
	fileName := ""
	hasFile := false
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, "bad multipart", 400)
			return
		}
		for k, v := range r.MultipartForm.Value {
			params[k] = v[0]
		}
		if fh := r.MultipartForm.File["fileData"]; len(fh) > 0 {
			hasFile = true
			fileName = fh[0].Filename
			f, _ := fh[0].Open()
			file, _ = io.ReadAll(f)
			f.Close()
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		for k, v := range r.PostForm {
			params[k] = v[0]
		}
	}
	call := Call{Service: service, Action: action, ContentType: r.Header.Get("Content-Type"), URL: r.URL.String(),
		KSInBody: params["ks"] != "" && !r.URL.Query().Has("ks"), Params: params, FileName: fileName, ChunkLen: len(file)}
	if s.OnCall != nil {
		s.OnCall(call)
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	f := s.matchFault(service, action)
	if f != nil && f.HTTPStatus != 0 {
		s.mu.Unlock()
		http.Error(w, "injected", f.HTTPStatus)
		return
	}
	var out any
	if f != nil && f.Code != "" {
		if f.AfterProcess {
			s.dispatch(service, action, params, fileName, file, hasFile)
		}
		out = errf(f.Code).withArgs(f.Args).body()
	} else if service == "multirequest" {
		out = s.multi(params)
	} else {
		res, err := s.dispatch(service, action, params, fileName, file, hasFile)
		if err != nil {
			out = err.body()
		} else {
			out = res
		}
	}
	s.mu.Unlock()
	if f != nil && f.LoseReply {
		http.Error(w, "reply lost", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (e *apiErr) withArgs(a map[string]string) *apiErr {
	for k, v := range a {
		e.args[k] = v
	}
	return e
}

func (s *Server) matchFault(service, action string) *faultState {
	for _, f := range s.faults {
		if (f.Service != "" && f.Service != service) || (f.Action != "" && f.Action != action) {
			continue
		}
		if f.Times >= 0 && f.used >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		f.used++
		return f
	}
	return nil
}

func (s *Server) multi(params map[string]string) any {
	var out []any
	results := map[int]map[string]any{}
	for i := 1; ; i++ {
		p := strconv.Itoa(i) + ":"
		svc, ok := params[p+"service"]
		if !ok {
			break
		}
		sub := map[string]string{"ks": params["ks"]}
		for k, v := range params {
			if strings.HasPrefix(k, p) {
				sub[k[len(p):]] = s.resolveRef(v, results)
			}
		}
		if f := s.matchFault(strings.ToLower(svc), strings.ToLower(sub["action"])); f != nil && f.Code != "" {
			out = append(out, errf(f.Code).withArgs(f.Args).body())
			continue
		}
		res, err := s.dispatch(strings.ToLower(svc), strings.ToLower(sub["action"]), sub, "", nil, false)
		if err != nil {
			out = append(out, err.body())
			continue
		}
		b, _ := json.Marshal(res)
		var m map[string]any
		json.Unmarshal(b, &m)
		results[i] = m
		out = append(out, res)
	}
	return out
}

func (s *Server) resolveRef(v string, results map[int]map[string]any) string {
	if !strings.HasPrefix(v, "{") || !strings.HasSuffix(v, "}") {
		return v
	}
	f := strings.Split(v[1:len(v)-1], ":")
	if len(f) != 3 || f[1] != "result" {
		return v
	}
	n, _ := strconv.Atoi(f[0])
	if m := results[n]; m != nil {
		return fmt.Sprint(m[f[2]])
	}
	return v
}

func (s *Server) auth(p map[string]string) (*ksInfo, *apiErr) {
	ks := p["ks"]
	if ks == "" {
		return nil, errf(kaltura.CodeMissingKS)
	}
	k := s.ks[ks]
	if k == nil {
		return nil, errf(kaltura.CodeInvalidKS, "KSID", ks, "ERR_CODE", "-1", "ERR_DESC", "INVALID_STR")
	}
	if k.revoked {
		return nil, errf(kaltura.CodeInvalidKS, "KSID", kaltura.KSLogout)
	}
	if !s.Clock().Before(k.expires) {
		return nil, errf(kaltura.CodeInvalidKS, "KSID", kaltura.KSExpired)
	}
	return k, nil
}

func (s *Server) newKS(k *ksInfo) string {
	ks := "djJ8" + strconv.FormatInt(s.PartnerID, 10) + "fake" + randHex(24)
	s.ks[ks] = k
	return ks
}

func (s *Server) dispatch(service, action string, p map[string]string, fileName string, file []byte, hasFile bool) (any, *apiErr) {
	now := s.Clock()
	if service == "session" && action == "startwidgetsession" {
		if p["widgetId"] != "_"+strconv.FormatInt(s.PartnerID, 10) {
			return nil, errf(kaltura.CodeInvalidWidgetID, "ID", p["widgetId"])
		}
		ks := s.newKS(&ksInfo{expires: now.Add(24 * time.Hour), widget: true})
		return map[string]any{"ks": ks, "partnerId": s.PartnerID, "userId": "0", "objectType": "KalturaStartWidgetSessionResponse"}, nil
	}
	if service == "session" && action == "end" {
		return nil, errf("FAKE_FORBIDDEN_SESSION_END")
	}
	k, err := s.auth(p)
	if err != nil {
		return nil, err
	}
	if service == "apptoken" && action == "startsession" {
		t := s.appTokens[p["id"]]
		if t == nil || t.deleted {
			return nil, errf(kaltura.CodeAppTokenIDNotFound, "ID", p["id"])
		}
		if t.disabled {
			return nil, errf(kaltura.CodeAppTokenNotActive)
		}
		h, _ := kaltura.HashFunc(t.hashType)
		if p["tokenHash"] != kaltura.TokenHash(h, p["ks"], t.token) {
			return nil, errf(kaltura.CodeInvalidAppTokenHash)
		}
		life := 24 * time.Hour
		if e, _ := strconv.ParseInt(p["expiry"], 10, 64); e > 0 && time.Duration(e)*time.Second < life {
			life = time.Duration(e) * time.Second
		}
		if t.sessionDuration > 0 && t.sessionDuration < life {
			life = t.sessionDuration
		}
		exp := now.Add(life)
		ks := s.newKS(&ksInfo{expires: exp, appTok: t.id})
		return map[string]any{"ks": ks, "partnerId": s.PartnerID, "userId": "capture", "sessionType": 0, "expiry": exp.Unix(), "objectType": "KalturaSessionInfo"}, nil
	}
	if k.widget {
		return nil, errf(kaltura.CodeServiceForbidden, "SERVICE", service+"->"+action)
	}
	switch service + "." + action {
	case "uploadtoken.add":
		t := &token{parked: map[int64][]byte{}}
		t.ID = s.id("0_tok")
		t.FileName = p["uploadToken:fileName"]
		if v, _ := strconv.ParseInt(p["uploadToken:fileSize"], 10, 64); v > 0 {
			t.FileSize = kaltura.Num(v)
		}
		t.CreatedAt, t.UpdatedAt = kaltura.Num(now.Unix()), kaltura.Num(now.Unix())
		s.tokens[t.ID] = t
		return s.tokenView(t), nil
	case "uploadtoken.get":
		t := s.tokens[p["uploadTokenId"]]
		if t == nil {
			return nil, errf(kaltura.CodeUploadTokenNotFound)
		}
		return s.tokenView(t), nil
	case "uploadtoken.upload":
		return s.upload(p, fileName, file, hasFile)
	case "uploadtoken.list":
		// Filtered by file name; ordered by id for determinism.
		var objs []kaltura.UploadToken
		ids := make([]string, 0, len(s.tokens))
		for id := range s.tokens {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			t := s.tokens[id]
			if name := p["filter:fileNameEqual"]; name != "" && t.FileName != name {
				continue
			}
			objs = append(objs, s.tokenView(t))
		}
		return map[string]any{"objectType": "KalturaUploadTokenListResponse", "objects": objs, "totalCount": len(objs)}, nil
	case "media.get":
		// CAPTURE_DEVICE may not call media.get (kaltura.md §5).
		return nil, errf(kaltura.CodeServiceForbidden, "SERVICE", "media->get")
	case "baseentry.get":
		e := s.entries[p["entryId"]]
		if e == nil {
			return nil, errf(kaltura.CodeEntryIDNotFound, "ENTRY_ID", p["entryId"])
		}
		if !e.Template && e.Status == kaltura.EntryPreconvert {
			e.gets++
			if e.gets >= s.ReadyAfterGets {
				e.Status = kaltura.EntryReady
				if s.ConvertError {
					e.Status = kaltura.EntryConvertError
				}
			}
		}
		return s.entryView(e), nil
	case "media.add":
		return s.mediaAdd(p, now)
	case "media.addcontent":
		e := s.entries[p["entryId"]]
		if e == nil || e.Template {
			return nil, errf(kaltura.CodeEntryIDNotFound, "ENTRY_ID", p["entryId"])
		}
		if e.Status != kaltura.EntryNoContent {
			return nil, errf(kaltura.CodeEntryAlreadyWithContent)
		}
		if p["resource:objectType"] != "KalturaUploadedFileTokenResource" {
			return nil, errf("INVALID_OBJECT_TYPE")
		}
		t := s.tokens[p["resource:token"]]
		if t == nil {
			return nil, errf(kaltura.CodeUploadTokenNotFound)
		}
		if t.Status != kaltura.TokenFullUpload {
			return nil, errf(kaltura.CodeUploadTokenInvalidForEntry)
		}
		t.Status = kaltura.TokenClosed
		t.AttachedObjectType, t.AttachedObjectID = "KalturaMediaEntry", e.ID
		e.Content, e.TokenID, e.Status = t.data, t.ID, kaltura.EntryPreconvert
		return s.entryView(e), nil
	}
	return nil, errf("SERVICE_DOES_NOT_EXISTS", "SERVICE", service)
}

func (s *Server) tokenView(t *token) kaltura.UploadToken {
	v := t.UploadToken
	v.UploadedFileSize = kaltura.Num(len(t.data))
	if s.NoAttachedObject {
		v.AttachedObjectType, v.AttachedObjectID = "", ""
	}
	return v
}

func (s *Server) entryView(e *Entry) map[string]any {
	b, _ := json.Marshal(e.MediaEntry)
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	m["objectType"] = "KalturaMediaEntry"
	m["status"] = strconv.FormatInt(int64(e.Status), 10)
	return m
}

func (s *Server) mediaAdd(p map[string]string, now time.Time) (any, *apiErr) {
	if p["entry:objectType"] != "KalturaMediaEntry" {
		return nil, errf("INVALID_OBJECT_TYPE")
	}
	e := &Entry{}
	e.ID = s.id("0_e")
	e.PartnerID = kaltura.Num(s.PartnerID)
	e.Status = kaltura.EntryNoContent
	e.MediaType = 1
	e.UserID = "capture"
	e.CreatedAt = kaltura.Num(now.Unix())
	if tid := p["entry:templateEntryId"]; tid != "" {
		if t := s.entries[tid]; t != nil && t.Template && !s.SkipTemplateCopy {
			e.Name, e.Tags, e.Description = t.Name, t.Tags, t.Description
			e.EntitledUsersEdit, e.EntitledUsersPublish, e.CategoriesIDs = t.EntitledUsersEdit, t.EntitledUsersPublish, t.CategoriesIDs
			e.AdminTags = t.AdminTags
		}
		e.TemplateEntryID = tid // echoed, proves nothing
	}
	set := func(key string, dst *string) {
		if v, ok := p["entry:"+key]; ok {
			*dst = v
		}
	}
	set("name", &e.Name)
	set("description", &e.Description)
	set("tags", &e.Tags)
	set("adminTags", &e.AdminTags)
	// referenceId and categoriesIds are dropped for CAPTURE_DEVICE (kaltura.md §5).
	if e.Name == "" {
		e.Name = fmt.Sprintf("%d_%d", s.PartnerID, now.Unix())
	}
	s.entries[e.ID] = e
	s.order = append(s.order, e.ID)
	return s.entryView(e), nil
}

func (s *Server) upload(p map[string]string, fileName string, file []byte, hasFile bool) (any, *apiErr) {
	t := s.tokens[p["uploadTokenId"]]
	if t == nil {
		return nil, errf(kaltura.CodeUploadTokenNotFound)
	}
	if !hasFile || fileName == "" {
		return nil, errf(kaltura.CodeUploadError)
	}
	if t.Status != kaltura.TokenPending && t.Status != kaltura.TokenPartial {
		return nil, errf(kaltura.CodeUploadTokenInvalidStatus)
	}
	resume := p["resume"] == "1" || p["resume"] == "true"
	final := p["finalChunk"] != "0" && p["finalChunk"] != "false"
	resumeAt := int64(-1)
	if v, err := strconv.ParseInt(p["resumeAt"], 10, 64); err == nil {
		resumeAt = v
	}
	t.UpdatedAt = kaltura.Num(s.Clock().Unix())
	if !resume {
		t.data = append([]byte(nil), file...)
		t.parked = map[int64][]byte{}
	} else {
		at := resumeAt
		if at < 0 {
			at = int64(len(t.data))
		}
		if at <= int64(len(t.data)) && (len(file) > 0 || final) {
			end := at + int64(len(file))
			if end > int64(len(t.data)) {
				t.data = append(t.data[:at], file...)
			}
		} else if len(file) > 0 {
			t.parked[at] = append([]byte(nil), file...)
		}
		for {
			c, ok := t.parked[int64(len(t.data))]
			if !ok {
				break
			}
			delete(t.parked, int64(len(t.data)))
			t.data = append(t.data, c...)
		}
		if final && resumeAt > 0 && int64(len(t.data)) != resumeAt+int64(len(file)) {
			return nil, errf(kaltura.CodeUploadTokenCannotMatchSize)
		}
	}
	t.FileName = fileName
	if final {
		t.Status = kaltura.TokenFullUpload
	} else {
		t.Status = kaltura.TokenPartial
	}
	return s.tokenView(t), nil
}

// Sum returns the hex sha256 of b.
func Sum(b []byte) string {
	var h hash.Hash = sha256.New()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
