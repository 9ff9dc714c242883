package kalturasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// upFile is one uploaded multipart file part, spooled to disk.
type upFile struct {
	name    string // the part's filename ("" when filename="" was sent)
	hasName bool   // the part had a filename attribute at all
	path    string // spooled data
	size    int64
}

// maxFieldSize bounds one non-file form field.
const maxFieldSize = 8 << 20

// pathParams returns the `/key/value` pairs of the URL path after /api_v3.
// Brackets are not parsed here: `filter[x]` stays a literal key that no
// action reads (kaltura.md §0).
func pathParams(u *url.URL) kapi.Params {
	p := kapi.Params{}
	rest := strings.TrimPrefix(u.EscapedPath(), "/api_v3")
	var segs []string
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || strings.EqualFold(seg, "index.php") {
			continue
		}
		if v, err := url.PathUnescape(seg); err == nil {
			seg = v
		}
		segs = append(segs, seg)
	}
	for i := 0; i+1 < len(segs); i += 2 {
		p[segs[i]] = segs[i+1]
	}
	return p
}

// bracketKey turns PHP's `a[b][c]` into Kaltura's flat `a:b:c`. Empty
// brackets (`a[]`) number the values in order.
func bracketKey(k string, counter map[string]int) string {
	i := strings.IndexByte(k, '[')
	if i <= 0 || !strings.HasSuffix(k, "]") {
		return k
	}
	parts := []string{k[:i]}
	rest := k[i:]
	for len(rest) > 0 {
		if rest[0] != '[' {
			return k
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return k
		}
		name := rest[1:j]
		if name == "" {
			base := strings.Join(parts, ":")
			name = strconv.Itoa(counter[base])
			counter[base]++
		}
		parts = append(parts, name)
		rest = rest[j+1:]
	}
	return strings.Join(parts, ":")
}

// queryParams parses the query string; only here are brackets parsed.
func queryParams(raw string) kapi.Params {
	p := kapi.Params{}
	vals, _ := url.ParseQuery(raw)
	counter := map[string]int{}
	for _, k := range sortedKeys(vals) {
		for _, v := range vals[k] {
			p[bracketKey(k, counter)] = v
		}
	}
	return p
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	// url.Values is unordered; PHP keeps the order sent. Sorting makes the
	// result deterministic, which is all that matters for distinct keys.
	slices.Sort(keys)
	return keys
}

// flattenJSON decodes a JSON object into flat `a:b` params. null becomes
// `name__null`, booleans 1/0, numbers their literal text.
func flattenJSON(data []byte, p kapi.Params, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("decode json params: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return errors.New("json params: not an object")
	}
	flattenValue(v, prefix, p)
	return nil
}

func flattenValue(v any, key string, p kapi.Params) {
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + ":" + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			flattenValue(sub, join(k), p)
		}
	case []any:
		for i, sub := range t {
			flattenValue(sub, join(strconv.Itoa(i)), p)
		}
	case nil:
		if key != "" {
			p[key+kapi.NullSuffix] = "1"
		}
	case bool:
		if t {
			p[key] = "1"
		} else {
			p[key] = "0"
		}
	case json.Number:
		p[key] = t.String()
	case string:
		p[key] = t
	default:
		p[key] = fmt.Sprint(t)
	}
}

// parseBody reads the body params and file parts. JSON is read only when
// Content-Type is exactly application/json (kaltura.md §0); with a charset
// or any other type that is not a form, the body is silently ignored.
func (s *Server) parseBody(r *http.Request) (kapi.Params, map[string]*upFile, error) {
	p := kapi.Params{}
	files := map[string]*upFile{}
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	switch {
	case ct == "application/json":
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("read body: %w", err)
		}
		if len(bytes.TrimSpace(data)) > 0 {
			if err := flattenJSON(data, p, ""); err != nil {
				return nil, nil, err
			}
		}
	case mt == "application/x-www-form-urlencoded":
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("read body: %w", err)
		}
		vals, _ := url.ParseQuery(string(data))
		for _, k := range sortedKeys(vals) {
			for _, v := range vals[k] {
				p[k] = v
			}
		}
	case mt == "multipart/form-data" && params["boundary"] != "":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, fmt.Errorf("multipart: %w", err)
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				s.removeFiles(files)
				return nil, nil, fmt.Errorf("multipart: %w", err)
			}
			name := part.FormName()
			_, dparams, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			fname, isFile := dparams["filename"]
			if isFile {
				f, err := s.spool(part)
				if err != nil {
					s.removeFiles(files)
					return nil, nil, err
				}
				f.name, f.hasName = fname, true
				if old := files[name]; old != nil {
					_ = os.Remove(old.path)
				}
				files[name] = f
				continue
			}
			data, err := io.ReadAll(io.LimitReader(part, maxFieldSize))
			if err != nil {
				s.removeFiles(files)
				return nil, nil, fmt.Errorf("multipart field %s: %w", name, err)
			}
			if name == "json" {
				if err := flattenJSON(data, p, ""); err != nil {
					s.removeFiles(files)
					return nil, nil, err
				}
				continue
			}
			p[name] = string(data)
		}
	}
	return p, files, nil
}

// spool writes a file part to a temporary file under the data dir.
func (s *Server) spool(r io.Reader) (*upFile, error) {
	f, err := os.CreateTemp(filepath.Join(s.dataDir, "tmp"), "part-")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &upFile{path: f.Name(), size: n}, nil
}

// removeFiles deletes spooled parts that no action consumed.
func (s *Server) removeFiles(files map[string]*upFile) {
	for _, f := range files {
		if f != nil && f.path != "" {
			_ = os.Remove(f.path)
		}
	}
}

// mergeParams merges in order; later sources win (path, query, body).
func mergeParams(srcs ...kapi.Params) kapi.Params {
	out := kapi.Params{}
	for _, src := range srcs {
		for k, v := range src {
			out[k] = v
		}
	}
	// name__null removes name (kaltura.md §0); the __null key stays so an
	// action can tell "sent as null" from "not sent".
	for k := range out {
		if base, ok := strings.CutSuffix(k, kapi.NullSuffix); ok {
			delete(out, base)
		}
	}
	return out
}
