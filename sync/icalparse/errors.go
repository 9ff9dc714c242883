package icalparse

import (
	"errors"
	"strings"
)

// KalturaError is an API error that Kaltura returned inside the calendar
// as a VERROR block (kaltura.md §1). Callers find it with errors.As:
//
//	var kerr *icalparse.KalturaError
//	if errors.As(err, &kerr) && kerr.SessionExpired() { renew the KS }
//
// Args may hold the raw KS (INVALID_KS for an unparsable KS puts it in
// KSID): never log Args or Message verbatim. Error() is safe to log.
type KalturaError struct {
	Code    string   // X-KALTURA-CODE, e.g. INVALID_KS
	Message string   // X-KALTURA-MESSAGE
	Args    []string // X-KALTURA-ARGUMENTS, split on ';'
}

// ErrSessionExpired matches (errors.Is) a KalturaError that says the KS has
// expired or was revoked (INVALID_KS with EXPIRED or LOGOUT): renew the
// session and try again.
var ErrSessionExpired = errors.New("kaltura session expired or revoked")

// ksReasons are the INVALID_KS reasons (kaltura.md §6); only these are ever
// repeated in Error(), since the argument can otherwise be the KS itself.
var ksReasons = map[string]bool{
	"EXPIRED": true, "LOGOUT": true, "INVALID_STR": true, "INVALID_PARTNER": true,
	"INVALID_USER": true, "INVALID_TYPE": true, "EXCEEDED_RESTRICTED_IP": true,
}

// KSReason returns the reason of an INVALID_KS error (EXPIRED, LOGOUT,
// INVALID_STR, ...), or "" for other errors or an unrecognised reason.
func (e *KalturaError) KSReason() string {
	if e.Code != "INVALID_KS" || len(e.Args) == 0 {
		return ""
	}
	if r := strings.ToUpper(strings.TrimSpace(e.Args[0])); ksReasons[r] {
		return r
	}
	return ""
}

// SessionExpired reports whether the error is INVALID_KS with EXPIRED or
// LOGOUT: the session must be renewed; anything else is a configuration
// fault.
func (e *KalturaError) SessionExpired() bool {
	r := e.KSReason()
	return r == "EXPIRED" || r == "LOGOUT"
}

// Is makes errors.Is(err, ErrSessionExpired) work.
func (e *KalturaError) Is(target error) bool {
	return target == ErrSessionExpired && e.SessionExpired()
}

// Error returns the code and, for INVALID_KS, the recognised reason. The
// message and arguments are left out: they can carry the KS.
func (e *KalturaError) Error() string {
	s := "kaltura error " + safeCode(e.Code)
	if r := e.KSReason(); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// safeCode keeps a code to the characters Kaltura codes use.
func safeCode(c string) string {
	c = strings.TrimSpace(c)
	if c == "" {
		return "(no code)"
	}
	if len(c) > 64 {
		return "(invalid code)"
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return "(invalid code)"
		}
	}
	return c
}
