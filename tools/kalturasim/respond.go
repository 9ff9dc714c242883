package kalturasim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Response formats (kaltura.md §0).
const (
	formatJSON  = "1"
	formatXML   = "2"
	formatJSONP = "9"
	formatICal  = "ical"
)

// object builds a Kaltura API object: objectType plus alternating
// key/value pairs; nil values are dropped (JSON drops null fields).
func object(objectType string, kv ...any) map[string]any {
	m := map[string]any{"objectType": objectType}
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		if kv[i+1] == nil {
			continue
		}
		m[k] = kv[i+1]
	}
	return m
}

// listResponse is `{"objects":[…],"totalCount":N,"objectType":"…ListResponse"}`.
func listResponse(objectType string, objects []any, total int) map[string]any {
	if objects == nil {
		objects = []any{}
	}
	return map[string]any{"objectType": objectType, "objects": objects, "totalCount": total}
}

// normalize turns any result into plain JSON values (maps, slices,
// json.Number, string, bool) with null fields removed.
func normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return dropNulls(out), nil
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			if sub == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(sub)
		}
	case []any:
		for i, sub := range t {
			t[i] = dropNulls(sub)
		}
	}
	return v
}

// exceptionObject is the KalturaAPIException body; args is [] when empty.
func exceptionObject(e *kapi.Exception) map[string]any {
	var args any = []any{}
	if len(e.Args) > 0 {
		m := map[string]any{}
		for _, a := range e.Args {
			m[a.Name] = a.Value
		}
		args = m
	}
	return map[string]any{"code": e.Code, "message": e.Message, "objectType": "KalturaAPIException", "args": args}
}

// asException converts any action error to a Kaltura exception; errors
// that are not exceptions become INTERNAL_SERVERL_ERROR.
func asException(err error) *kapi.Exception {
	var ex *kapi.Exception
	if errors.As(err, &ex) {
		return ex
	}
	return errInternal()
}

// writeResult serialises one result (or error) in the requested format.
func (s *Server) writeResult(w http.ResponseWriter, format string, p kapi.Params, result any, err error) {
	ctOverride := p.String("content-type")
	setCT := func(ct string) {
		if ctOverride != "" {
			ct = ctOverride
		}
		w.Header().Set("Content-Type", ct)
	}
	if format == formatICal {
		if err != nil {
			setCT("text/calendar; charset=UTF-8")
			_, _ = w.Write(icalError(asException(err)))
			return
		}
		if ic, ok := result.(kapi.ICal); ok {
			setCT("text/calendar; charset=UTF-8")
			_, _ = w.Write(ic.ICal())
			return
		}
		// A result the iCal serializer cannot write goes out as JSON.
		format = formatJSON
	}
	var body any
	if err != nil {
		body = exceptionObject(asException(err))
	} else {
		n, nerr := normalize(result)
		if nerr != nil {
			s.log.Error("serialise result", "err", nerr)
			body = exceptionObject(errInternal())
		} else {
			body = n
		}
	}
	switch format {
	case formatXML:
		setCT("text/xml")
		_, _ = w.Write(xmlDocument(body, err != nil))
	case formatJSONP:
		cb := p.String("callback")
		if cb == "" {
			cb = "callback"
		}
		setCT("application/javascript")
		b, _ := json.Marshal(body)
		_, _ = fmt.Fprintf(w, "%s(%s);", cb, b)
	default:
		setCT("application/json")
		b, _ := json.Marshal(body)
		_, _ = w.Write(b)
	}
}

// icalError is the VERROR calendar of kaltura.md §1.
func icalError(e *kapi.Exception) []byte {
	vals := make([]string, len(e.Args))
	for i, a := range e.Args {
		vals[i] = a.Value
	}
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nBEGIN:VERROR\r\n")
	b.WriteString("X-KALTURA-CODE:" + e.Code + "\r\n")
	b.WriteString("X-KALTURA-MESSAGE:" + e.Message + "\r\n")
	b.WriteString("X-KALTURA-ARGUMENTS:" + strings.Join(vals, ";") + "\r\n")
	b.WriteString("END:VERROR\r\nEND:VCALENDAR\r\n")
	return []byte(b.String())
}

// xmlDocument writes the minimal Kaltura XML envelope:
// <xml><result>…</result><executionTime>0</executionTime></xml>, with an
// error as <result><error>…</error></result>.
func xmlDocument(body any, isErr bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><xml><result>`)
	if isErr {
		b.WriteString("<error>")
		writeXMLValue(&b, body)
		b.WriteString("</error>")
	} else {
		writeXMLValue(&b, body)
	}
	b.WriteString("</result><executionTime>0</executionTime></xml>")
	return b.Bytes()
}

func writeXMLValue(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		// objectType first, as the server writes it.
		if i := slices.Index(keys, "objectType"); i > 0 {
			keys = append([]string{"objectType"}, slices.Delete(keys, i, i+1)...)
		}
		for _, k := range keys {
			b.WriteString("<" + k + ">")
			writeXMLValue(b, t[k])
			b.WriteString("</" + k + ">")
		}
	case []any:
		for _, sub := range t {
			b.WriteString("<item>")
			writeXMLValue(b, sub)
			b.WriteString("</item>")
		}
	case bool:
		if t {
			b.WriteString("1")
		} else {
			b.WriteString("0")
		}
	case nil:
	default:
		_ = xml.EscapeText(b, []byte(fmt.Sprint(t)))
	}
}
