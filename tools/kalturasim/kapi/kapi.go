// Package kapi holds the vocabulary shared by the parts of the Kaltura
// simulator: decoded request parameters, the authenticated caller, API
// exceptions and the shape of a service action. It has no behaviour of its
// own beyond parsing parameter values the way the Kaltura server does
// (kaltura.md §0).
package kapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params are the merged request parameters of one call, flattened to
// Kaltura's `a:b` keys: a nested JSON object {"filter":{"x":1}} and the
// form field filter:x=1 both become Params{"filter:x": "1"}. Keys compare
// as sent (Kaltura property names are case-sensitive).
type Params map[string]string

// Has reports whether key was sent (and not sent as null, `key__null`).
func (p Params) Has(key string) bool {
	_, ok := p[key]
	return ok
}

// String returns the value of key, or "" when absent.
func (p Params) String(key string) string { return p[key] }

// Int returns key as an integer; ok is false when it is absent.
// A value that is present but not an integer is an INVALID_ENUM_VALUE-style
// error for the caller to report; here it returns an error.
func (p Params) Int(key string) (v int64, ok bool, err error) {
	s, ok := p[key]
	if !ok || s == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("parameter %s: %q is not an integer", key, s)
	}
	return v, true, nil
}

// Bool returns key as a boolean: Kaltura accepts 0, 1, true and false.
func (p Params) Bool(key string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(p[key])) {
	case "1", "true":
		return true
	case "0", "false":
		return false
	}
	return def
}

// Sub returns the parameters under prefix ("filter" gives the keys that
// started with "filter:"), with the prefix removed.
func (p Params) Sub(prefix string) Params {
	out := Params{}
	pre := prefix + ":"
	for k, v := range p {
		if strings.HasPrefix(k, pre) {
			out[k[len(pre):]] = v
		}
	}
	return out
}

// Keys returns the keys in sorted order.
func (p Params) Keys() []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KS session types.
const (
	SessionUser  = 0
	SessionAdmin = 2
)

// RoleCaptureDevice is the role a capture box's app token sets.
const RoleCaptureDevice = "CAPTURE_DEVICE_ROLE"

// Caller is who makes a call, as established from the KS (or from an FTP
// login). A call without a KS has a zero Caller with Anonymous set.
type Caller struct {
	Anonymous   bool
	PartnerID   int64
	UserID      string
	SessionType int      // SessionUser or SessionAdmin
	Role        string   // from the setrole privilege; "" means the user's own role (all permissions in the simulator)
	Privileges  []string // as granted, e.g. "disableentitlement", "setrole:CAPTURE_DEVICE_ROLE"
	KSID        string   // opaque id of the session, for revocation
	Widget      bool     // a widget session (view:*,widget:1)
	// LegacyICal is the partner's FEATURE_DISABLE_NEW_ICAL_STANDARD switch.
	LegacyICal bool
	// Now is the simulator clock's time for this call.
	Now time.Time
}

// HasPrivilege reports whether the session carries priv (e.g. "disableentitlement").
func (c Caller) HasPrivilege(priv string) bool {
	for _, p := range c.Privileges {
		if p == priv {
			return true
		}
	}
	return false
}

// Exception is a KalturaAPIException: sent as HTTP 200 with this body
// (kaltura.md §0). Args keep their order of definition for the iCal VERROR
// form, which joins the values with ';'.
type Exception struct {
	Code    string
	Message string
	Args    []Arg
}

// Arg is one named argument of an Exception.
type Arg struct{ Name, Value string }

// Error implements error.
func (e *Exception) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Exception. args alternate name, value.
func Errorf(code, message string, args ...string) *Exception {
	e := &Exception{Code: code, Message: message}
	for i := 0; i+1 < len(args); i += 2 {
		e.Args = append(e.Args, Arg{args[i], args[i+1]})
	}
	return e
}

// ICal is a result that a `format=ical` request writes as text/calendar.
type ICal interface {
	// ICal returns the calendar text as the serializer writes it.
	ICal() []byte
}

// Action handles one service action. The result is serialised as JSON
// (format=1), or as iCal when the request asked for format=ical and the
// result implements ICal. A *Exception error becomes an HTTP-200 error body.
type Action func(c Caller, p Params) (any, error)

// IsNull reports whether key was sent as null (`key__null`, or a JSON null).
func (p Params) IsNull(key string) bool {
	_, ok := p[key+NullSuffix]
	return ok
}

// NullSuffix marks a parameter sent as null: `name__null` (kaltura.md §0).
const NullSuffix = "__null"
