package kalturasim

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// ServeHTTP answers /api_v3/... (the API) and /admin/... (test controls,
// loopback clients only).
//
// Every reply carries a Date header of the simulator's time (Now), as the
// real server's web server sends its own: a box cross-checks its clock
// against it, so a simulator clock set off (AdvanceClock) is seen.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
	switch {
	case strings.HasPrefix(r.URL.Path, "/api_v3"):
		s.serveAPI(w, r)
	case strings.HasPrefix(r.URL.Path, "/admin/") || r.URL.Path == "/admin":
		s.serveAdmin(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveAPI handles one API request (kaltura.md §0).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	pathP := pathParams(r.URL)
	queryP := queryParams(r.URL.RawQuery)
	early := mergeParams(pathP, queryP)
	service := strings.ToLower(early.String("service"))
	action := strings.ToLower(early.String("action"))

	// Transport faults fire before the body is read (a reset reads part of it).
	if s.transportFault(w, r, service, action) {
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBody)
	bodyP, files, err := s.parseBody(r)
	if err != nil {
		s.log.Warn("bad request body", "service", service, "action", action, "err", err)
		bodyP, files = kapi.Params{}, map[string]*upFile{}
	}
	defer s.removeFiles(files)
	p := mergeParams(pathP, queryP, bodyP)
	service = strings.ToLower(p.String("service"))
	action = strings.ToLower(p.String("action"))

	format := strings.ToLower(p.String("format"))
	if format == "" {
		format = formatXML
	}
	switch format {
	case formatJSON, formatXML, formatJSONP, formatICal:
	default:
		w.Header().Set("X-Kaltura", "error- UNKNOWN_RESPONSE_FORMAT")
		w.WriteHeader(http.StatusOK)
		return
	}

	base := s.opts.ServiceURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}

	var result any
	var callErr error
	if service == "multirequest" {
		result = s.multiRequest(r.Context(), p, files, base, w.Header())
		if format == formatICal {
			format = formatJSON
		}
	} else {
		result, callErr = s.dispatch(&call{ctx: r.Context(), p: p, files: files, service: service, action: action, baseURL: base, header: w.Header()})
	}
	s.writeResult(w, format, p, result, callErr)
	code := ""
	if callErr != nil {
		code = asException(callErr).Code
	}
	s.log.Info("api", "service", service, "action", action, "format", format, "error", code, "took", time.Since(start))
}

// dispatch resolves the action, establishes the caller from the KS,
// applies permissions and API-level faults, and runs the action.
func (s *Server) dispatch(r *call) (any, error) {
	if r.service == "" {
		return nil, kapi.Errorf("SERVICE_NOT_SPECIFIED", "Service name was not specified, please specify one")
	}
	if r.action == "" {
		return nil, kapi.Errorf("ACTION_NOT_SPECIFIED", "Action name was not specified, please specify one")
	}
	h, ex := s.lookup(r.service, r.action)
	if ex != nil {
		return nil, ex
	}
	now := s.Now()
	r.ks = r.p.String("ks")
	if r.ks == "" {
		r.caller = kapi.Caller{Anonymous: true, Now: now}
	} else {
		if f := s.faults.match(r, faultKSExpire); f != nil {
			s.mu.Lock()
			s.expiredKS[r.ks] = true
			s.mu.Unlock()
		}
		c, ex := s.validateKS(r.ks, now)
		if ex != nil {
			return nil, ex
		}
		r.caller = c
	}
	if ex := s.authorize(h, r.caller, r.service, r.action); ex != nil {
		return nil, ex
	}
	if f := s.faults.match(r, faultAPI); f != nil {
		return nil, f.exception(r.service, r.action)
	}
	return h.fn(r)
}

// resultRef is `{N:result:path}` inside a multirequest parameter value.
var resultRef = regexp.MustCompile(`\{(\d+):result(?::([^}]*))?\}`)

// multiRequest runs `service=multirequest` (kaltura.md §0): sub-calls as
// `N:key` params (numbered from 0 or 1), a top-level ks for all, and
// `{N:result:path}` references counting from 1. Errors stay inline.
func (s *Server) multiRequest(ctx context.Context, p kapi.Params, files map[string]*upFile, base string, header http.Header) []any {
	groups := map[int]kapi.Params{}
	top := kapi.Params{}
	for k, v := range p {
		n, rest, ok := strings.Cut(k, ":")
		i, err := strconv.Atoi(n)
		if !ok || err != nil {
			top[k] = v
			continue
		}
		if groups[i] == nil {
			groups[i] = kapi.Params{}
		}
		groups[i][rest] = v
	}
	order := make([]int, 0, len(groups))
	for i := range groups {
		order = append(order, i)
	}
	sort.Ints(order)
	results := make([]any, 0, len(order))
	var plain []any // results as plain JSON values, for references
	for _, i := range order {
		sub := groups[i]
		for k, v := range sub {
			sub[k] = resultRef.ReplaceAllStringFunc(v, func(m string) string {
				g := resultRef.FindStringSubmatch(m)
				n, _ := strconv.Atoi(g[1])
				if n < 1 || n > len(plain) {
					return m
				}
				return refValue(plain[n-1], g[2])
			})
		}
		if !sub.Has("ks") && top.Has("ks") {
			sub["ks"] = top["ks"]
		}
		subFiles := map[string]*upFile{}
		prefix := strconv.Itoa(i) + ":"
		for k, f := range files {
			if name, ok := strings.CutPrefix(k, prefix); ok {
				subFiles[name] = f
			}
		}
		res, err := s.dispatch(&call{ctx: ctx, p: sub, files: subFiles, service: strings.ToLower(sub.String("service")),
			action: strings.ToLower(sub.String("action")), baseURL: base, header: header})
		var out any
		if err != nil {
			out = exceptionObject(asException(err))
		} else if n, nerr := normalize(res); nerr == nil {
			out = n
		} else {
			out = exceptionObject(errInternal())
		}
		results = append(results, out)
		plain = append(plain, out)
	}
	return results
}

// refValue walks a `:`-separated path into a plain JSON value.
func refValue(v any, path string) string {
	if path != "" {
		for _, seg := range strings.Split(path, ":") {
			switch t := v.(type) {
			case map[string]any:
				v = t[seg]
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(t) {
					return ""
				}
				v = t[i]
			default:
				return ""
			}
		}
	}
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "1"
		}
		return "0"
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}
