// Package simtest runs the Kaltura simulator (tools/kalturasim) in process
// for the upload tests: a RoundTripper that serves requests without a
// socket (so tests run inside a testing/synctest bubble), a call log, and
// the network faults a simulator cannot produce by itself — a reply lost
// after the server processed the call, an error answered after processing.
// Every Kaltura behaviour (sessions, permissions of the CAPTURE_DEVICE role,
// upload tokens, entries, template copy, API errors) is the simulator's:
// this package adds no second fake of Kaltura.
package simtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// Fault makes matching calls fail. Code and HTTPStatus faults are the
// simulator's own (so they apply to the sub-calls of a multirequest too);
// LoseReply and AfterProcess act on the HTTP exchange.
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

// Call is one logged HTTP request.
type Call struct {
	Service, Action string
	ContentType     string
	URL             string
	KSInBody        bool
	Params          map[string]string
	FileName        string // fileData part name for uploads
	ChunkLen        int
}

// Entry is an entry as the simulator holds it, with its content.
type Entry struct {
	kaltura.MediaEntry
	Content []byte
	TokenID string
}

type httpFault struct {
	Fault
	seen, used int
}

// Server is the simulator with a call log and network faults.
type Server struct {
	Sim *kalturasim.Server
	// Clock is the simulator's time source (default time.Now: the fake
	// clock inside a synctest bubble).
	Clock func() time.Time
	// SkipTemplateCopy removes templateEntryId from media.add on its way
	// to the simulator: the entry is created without the copy, the silent
	// failure of kaltura.md §5.
	SkipTemplateCopy bool
	// OnCall, when set, is called with each request before it is served.
	OnCall func(Call)

	mu          sync.Mutex
	calls       []Call
	faults      []*httpFault
	issued      []string
	convertErr  bool
	partnerID   int64
	closeOnce   sync.Once
	closeResult error
}

// New starts a simulator whose entries become READY processing after their
// content arrived. Close removes its data.
func New(processing time.Duration) (*Server, error) {
	s := &Server{Clock: time.Now}
	sim, err := kalturasim.New(kalturasim.Options{
		Clock:                   func() time.Time { return s.Clock() },
		Seed:                    1,
		ProcessingDelay:         processing,
		FinalChunkMaxAppendTime: 2 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	s.Sim, s.partnerID = sim, sim.PartnerID()
	return s, nil
}

// Close stops the simulator and removes its data.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeResult = s.Sim.Close() })
	return s.closeResult
}

// PartnerID is the simulated partner.
func (s *Server) PartnerID() int64 { return s.partnerID }

// AddAppToken creates a CAPTURE_DEVICE app token (kaltura.md §3) and
// returns its id and secret.
func (s *Server) AddAppToken(hashType string, sessionDuration time.Duration) (id, secret string, err error) {
	t, err := s.Sim.AddAppToken(kalturasim.AppTokenSpec{HashType: hashType, SessionDuration: int64(sessionDuration / time.Second),
		SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		return "", "", err
	}
	return t.ID, t.Token, nil
}

// DeleteAppToken deletes a token; its sessions are revoked.
func (s *Server) DeleteAppToken(id string) error { return s.Sim.DeleteAppToken(id) }

// ExpireAll expires every KS issued so far (server side).
func (s *Server) ExpireAll() {
	for _, ks := range s.IssuedKS() {
		s.Sim.ExpireKS(ks)
	}
}

// IssuedKS returns every KS the simulator handed out through this server.
func (s *Server) IssuedKS() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// AddTemplate creates a template entry from e (ID optional).
func (s *Server) AddTemplate(e kaltura.MediaEntry) (string, error) {
	info, err := s.Sim.AddTemplateEntry(kalturasim.EntrySpec{ID: e.ID, Name: e.Name, Description: e.Description, Tags: e.Tags,
		AdminTags: e.AdminTags, UserID: string(e.UserID), CategoriesIDs: e.CategoriesIDs, Categories: e.Categories,
		EntitledUsersEdit: e.EntitledUsersEdit, EntitledUsersPublish: e.EntitledUsersPublish})
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

// ConvertError makes every entry that gets content end in status -1
// (ERROR_CONVERTING) instead of READY.
func (s *Server) ConvertError() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.convertErr {
		s.convertErr = true
		s.Sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultConversionError, Service: "media", Action: "addcontent", Always: true})
	}
}

// AddFault installs f.
func (s *Server) AddFault(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	if f.LoseReply || f.AfterProcess {
		s.mu.Lock()
		s.faults = append(s.faults, &httpFault{Fault: f})
		s.mu.Unlock()
		return
	}
	sf := kalturasim.Fault{Kind: kalturasim.FaultAPIError, Service: f.Service, Action: f.Action, Code: f.Code, Args: f.Args,
		Nth: f.Skip + 1, Message: f.Code}
	if f.HTTPStatus != 0 {
		sf = kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Service: f.Service, Action: f.Action, Status: f.HTTPStatus, Nth: f.Skip + 1}
	}
	if f.Times < 0 {
		sf.Always = true
		s.Sim.Faults().Add(sf)
		return
	}
	// The simulator's faults fire once each, the first eligible one per
	// call: Times of them fire on Times consecutive calls after Skip.
	for range f.Times {
		s.Sim.Faults().Add(sf)
	}
}

// Calls returns the call log.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Entries returns the non-template entries in creation order, with content.
func (s *Server) Entries() []Entry {
	var out []Entry
	for _, e := range s.Sim.Entries() {
		if e.Template {
			continue
		}
		f := e.Fields
		me := kaltura.MediaEntry{ID: e.ID, PartnerID: kaltura.Num(e.PartnerID), Name: f["name"], Description: f["description"],
			Tags: f["tags"], AdminTags: f["adminTags"], ReferenceID: f["referenceId"], TemplateEntryID: f["templateEntryId"],
			CategoriesIDs: f["categoriesIds"], Categories: f["categories"], UserID: kaltura.Str(f["userId"]),
			EntitledUsersEdit: f["entitledUsersEdit"], EntitledUsersPublish: f["entitledUsersPublish"],
			Status: kaltura.Num(e.Status), CreatedAt: kaltura.Num(e.CreatedAt)}
		if mt, err := strconv.ParseInt(f["mediaType"], 10, 64); err == nil {
			me.MediaType = kaltura.Num(mt)
		}
		ent := Entry{MediaEntry: me, TokenID: e.UploadTokenID}
		if e.ContentPath != "" {
			if r, err := s.Sim.EntryContent(e.ID); err == nil {
				ent.Content, _ = io.ReadAll(r)
				r.Close()
			}
		}
		out = append(out, ent)
	}
	return out
}

// Tokens returns the upload tokens sorted by id.
func (s *Server) Tokens() []kaltura.UploadToken {
	var out []kaltura.UploadToken
	for _, t := range s.Sim.UploadTokens() {
		u := kaltura.UploadToken{ID: t.ID, Status: kaltura.Num(t.Status), FileName: t.FileName,
			UploadedFileSize: kaltura.Num(t.UploadedFileSize), CreatedAt: kaltura.Num(t.CreatedAt), UpdatedAt: kaltura.Num(t.UpdatedAt)}
		if t.FileSize != nil {
			u.FileSize = kaltura.Num(*t.FileSize)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Sum is the hex sha256 of b, for messages.
func Sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Transport returns an http.RoundTripper that serves requests in process.
// A request whose context ends first fails with the context's cause.
func (s *Server) Transport() http.RoundTripper { return transport{s} }

type transport struct{ s *Server }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, context.Cause(req.Context())
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:1"
	r.Body = io.NopCloser(bytes.NewReader(body))
	type result struct{ resp *http.Response }
	done := make(chan result, 1)
	go func() {
		rec := httptest.NewRecorder()
		t.s.serve(rec, r, body)
		done <- result{rec.Result()}
	}()
	select {
	case res := <-done:
		return res.resp, nil
	case <-req.Context().Done():
		return nil, context.Cause(req.Context())
	}
}

// serve logs the call, applies the HTTP-level faults and lets the
// simulator answer.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	service, action := "", ""
	if len(parts) >= 5 && parts[0] == "api_v3" && parts[1] == "service" && parts[3] == "action" {
		service, action = strings.ToLower(parts[2]), strings.ToLower(parts[4])
	}
	call := Call{Service: service, Action: action, ContentType: r.Header.Get("Content-Type"), URL: r.URL.String(), Params: map[string]string{}}
	for k, v := range r.URL.Query() {
		call.Params[k] = v[0]
	}
	mt, mp, _ := mime.ParseMediaType(call.ContentType)
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), mp["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "fileData" {
				call.FileName, call.ChunkLen = p.FileName(), len(b)
				continue
			}
			call.Params[p.FormName()] = string(b)
		}
	case "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			call.Params[k] = v[0]
		}
		if s.SkipTemplateCopy {
			changed := false
			for k := range form {
				if k == "entry:templateEntryId" || strings.HasSuffix(k, ":entry:templateEntryId") {
					form.Del(k)
					changed = true
				}
			}
			if changed {
				body = []byte(form.Encode())
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.ContentLength = int64(len(body))
			}
		}
	}
	call.KSInBody = call.Params["ks"] != "" && !r.URL.Query().Has("ks")
	if s.OnCall != nil {
		s.OnCall(call)
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	f := s.match(service, action)
	s.mu.Unlock()

	rec := httptest.NewRecorder()
	s.Sim.ServeHTTP(rec, r)
	s.noteKS(service, rec.Body.Bytes())
	switch {
	case f != nil && f.LoseReply:
		http.Error(w, "reply lost", http.StatusBadGateway)
		return
	case f != nil && f.AfterProcess:
		w.Header().Set("Content-Type", "application/json")
		args := any([]any{})
		if len(f.Args) > 0 {
			args = f.Args
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": f.Code, "message": fmt.Sprintf("injected %s", f.Code),
			"objectType": "KalturaAPIException", "args": args})
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// match finds the HTTP-level fault for a call; s.mu is held.
func (s *Server) match(service, action string) *httpFault {
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

// noteKS records the KS of a session reply.
func (s *Server) noteKS(service string, body []byte) {
	if service != "session" && service != "apptoken" {
		return
	}
	var v struct {
		KS string `json:"ks"`
	}
	if json.Unmarshal(body, &v) == nil && v.KS != "" {
		s.mu.Lock()
		s.issued = append(s.issued, v.KS)
		s.mu.Unlock()
	}
}
