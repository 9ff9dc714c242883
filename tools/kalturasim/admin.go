package kalturasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

func (s *Server) registerBuiltins() {
	s.registerSessionServices()
	s.registerUploadServices()
	s.registerMediaServices()
	s.registerBeaconServices()
}

// adminMounts are extra admin handlers under /admin/<name>/ (the schedule
// store's, for instance).
var adminMountsMu sync.Mutex

// MountAdmin serves h under /admin/<name>/ (loopback only), for parts of
// the simulator that bring their own admin API.
func (s *Server) MountAdmin(name string, h http.Handler) {
	adminMountsMu.Lock()
	defer adminMountsMu.Unlock()
	if s.adminMounts == nil {
		s.adminMounts = map[string]http.Handler{}
	}
	s.adminMounts[name] = h
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// decodeBody reads a JSON body into v; an empty body leaves v unchanged.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

// serveAdmin is the JSON admin API (loopback clients only):
//
//	GET  /admin/partner                       partner id, admin secret, clock
//	GET  /admin/apptokens                     list app tokens
//	POST /admin/apptokens                     create (AppTokenSpec) → AppToken with token
//	POST /admin/apptokens/{id}/disable|enable
//	DELETE /admin/apptokens/{id}              delete (revokes its sessions)
//	POST /admin/templates                     create a template entry (EntrySpec)
//	GET  /admin/entries                       entries with content size, sha256, path
//	GET  /admin/entries/{id}/content          the content bytes
//	GET  /admin/uploadtokens                  upload tokens with parked chunks
//	GET  /admin/clock                         simulator time
//	POST /admin/clock/advance {"seconds":N}   move the clock
//	GET|POST|DELETE /admin/faults[/{id}]      fault table (Fault as JSON; delay in ns)
//	POST /admin/users                         add a user (User, with "password")
//	POST /admin/ks {"userId","type","seconds","privileges"}  issue a KS
//	/admin/<mount>/...                        handlers added with MountAdmin
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/admin"), "/"), "/")
	head := parts[0]
	switch {
	case head == "partner" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"partnerId": s.PartnerID(), "adminSecret": s.AdminSecret(),
			"userSecret": DefaultUserSecret, "now": s.Now().Unix()})
	case head == "apptokens":
		s.adminAppTokens(w, r, parts[1:])
	case head == "templates" && r.Method == http.MethodPost:
		var spec EntrySpec
		if err := decodeBody(r, &spec); err != nil {
			adminError(w, 400, err)
			return
		}
		e, err := s.AddTemplateEntry(spec)
		if err != nil {
			adminError(w, 400, err)
			return
		}
		writeJSON(w, 200, e)
	case head == "entries":
		s.adminEntries(w, r, parts[1:])
	case head == "uploadtokens" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.UploadTokens())
	case head == "clock":
		if len(parts) > 1 && parts[1] == "advance" && r.Method == http.MethodPost {
			var body struct {
				Seconds float64 `json:"seconds"`
			}
			if err := decodeBody(r, &body); err != nil {
				adminError(w, 400, err)
				return
			}
			s.AdvanceClock(time.Duration(body.Seconds * float64(time.Second)))
		}
		writeJSON(w, 200, map[string]any{"now": s.Now().Unix(), "time": s.Now().UTC().Format(time.RFC3339)})
	case head == "faults":
		s.adminFaults(w, r, parts[1:])
	case head == "users" && r.Method == http.MethodPost:
		var body struct {
			User
			Password string `json:"password"`
		}
		if err := decodeBody(r, &body); err != nil {
			adminError(w, 400, err)
			return
		}
		u := body.User
		u.Password = body.Password
		if err := s.AddUser(u); err != nil {
			adminError(w, 400, err)
			return
		}
		writeJSON(w, 200, u)
	case head == "ks" && r.Method == http.MethodPost:
		var body struct {
			UserID     string   `json:"userId"`
			Type       int      `json:"type"`
			Seconds    int64    `json:"seconds"`
			Privileges []string `json:"privileges"`
		}
		if err := decodeBody(r, &body); err != nil {
			adminError(w, 400, err)
			return
		}
		if body.Seconds <= 0 {
			body.Seconds = 86400
		}
		writeJSON(w, 200, map[string]string{"ks": s.IssueKS(body.UserID, body.Type, time.Duration(body.Seconds)*time.Second, body.Privileges...)})
	default:
		adminMountsMu.Lock()
		h := s.adminMounts[head]
		adminMountsMu.Unlock()
		if h != nil {
			http.StripPrefix("/admin/"+head, h).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

func (s *Server) adminAppTokens(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeJSON(w, 200, s.AppTokens())
	case len(rest) == 0 && r.Method == http.MethodPost:
		var spec AppTokenSpec
		if err := decodeBody(r, &spec); err != nil {
			adminError(w, 400, err)
			return
		}
		t, err := s.AddAppToken(spec)
		if err != nil {
			adminError(w, 400, err)
			return
		}
		writeJSON(w, 200, t)
	case len(rest) == 1 && r.Method == http.MethodDelete:
		if err := s.DeleteAppToken(rest[0]); err != nil {
			adminError(w, 404, err)
			return
		}
		writeJSON(w, 200, map[string]string{"deleted": rest[0]})
	case len(rest) == 2 && r.Method == http.MethodPost && (rest[1] == "disable" || rest[1] == "enable"):
		st := AppTokenDisabled
		if rest[1] == "enable" {
			st = AppTokenActive
		}
		if err := s.SetAppTokenStatus(rest[0], st); err != nil {
			adminError(w, 404, err)
			return
		}
		writeJSON(w, 200, map[string]any{"id": rest[0], "status": st})
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) adminEntries(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Entries())
	case len(rest) == 1 && r.Method == http.MethodGet:
		e, ok := s.Entry(rest[0])
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, 200, e)
	case len(rest) == 2 && rest[1] == "content" && r.Method == http.MethodGet:
		rc, err := s.EntryContent(rest[0])
		if err != nil {
			adminError(w, 404, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, rc)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case r.Method == http.MethodGet:
		writeJSON(w, 200, s.faults.List())
	case r.Method == http.MethodPost && len(rest) == 0:
		var f Fault
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if err := r.ParseForm(); err != nil {
				adminError(w, 400, err)
				return
			}
			m := map[string]string{}
			for k := range r.PostForm {
				m[k] = r.PostForm.Get(k)
			}
			f = faultFromParams(m)
		} else if err := decodeBody(r, &f); err != nil {
			adminError(w, 400, err)
			return
		}
		if f.Kind == "" {
			adminError(w, 400, fmt.Errorf("fault kind missing"))
			return
		}
		writeJSON(w, 200, map[string]int{"id": s.faults.Add(f)})
	case r.Method == http.MethodDelete && len(rest) == 0:
		s.faults.Clear()
		writeJSON(w, 200, map[string]string{"cleared": "all"})
	case r.Method == http.MethodDelete && len(rest) == 1:
		id, err := strconv.Atoi(rest[0])
		if err != nil {
			adminError(w, 400, err)
			return
		}
		s.faults.Remove(id)
		writeJSON(w, 200, map[string]int{"removed": id})
	default:
		http.NotFound(w, r)
	}
}
