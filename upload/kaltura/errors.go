package kaltura

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Class says what a caller should do about an error.
type Class int

// Error classes. The zero value, ClassUnknown, is for errors this package
// does not recognise: the queue treats them like transient errors but raises
// a fault when they persist.
const (
	ClassUnknown Class = iota
	// ClassTransient: retry later with backoff (rate limit, lock timeout,
	// server or network trouble).
	ClassTransient
	// ClassReAuth: the KS expired or was revoked; get a new one and retry once.
	ClassReAuth
	// ClassConfig: a setting or a server-side permission is wrong; retrying
	// cannot help until a person fixes it.
	ClassConfig
	// ClassTokenRestart: the upload token cannot be resumed; start over with
	// a new token.
	ClassTokenRestart
	// ClassTokenState: the upload token is not in the state the call needs;
	// read it with uploadToken.get and decide from its status.
	ClassTokenState
	// ClassAlreadyDone: the call was already applied by an earlier attempt
	// whose reply was lost (ENTRY_ALREADY_WITH_CONTENT).
	ClassAlreadyDone
	// ClassNotFound: the object named in the call does not exist (or is not
	// visible to this session).
	ClassNotFound
)

var classNames = [...]string{"unknown", "transient", "reauth", "config", "token-restart", "token-state", "already-done", "not-found"}

// String returns a short lowercase name.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error codes the box reacts to (kaltura.md §3–§6).
const (
	CodeInvalidKS                  = "INVALID_KS"
	CodeMissingKS                  = "MISSING_KS"
	CodeServiceForbidden           = "SERVICE_FORBIDDEN"
	CodeActionBlocked              = "ACTION_BLOCKED"
	CodeLockTimedOut               = "LOCK_TIMED_OUT"
	CodeInternalDatabaseError      = "INTERNAL_DATABASE_ERROR"
	CodeInternalServerError        = "INTERNAL_SERVERL_ERROR" // sic, as the server spells it
	CodeStartWidgetSessionError    = "START_WIDGET_SESSION_ERROR"
	CodeInvalidWidgetID            = "INVALID_WIDGET_ID"
	CodeAppTokenIDNotFound         = "APP_TOKEN_ID_NOT_FOUND"
	CodeAppTokenNotActive          = "APP_TOKEN_NOT_ACTIVE"
	CodeAppTokenExpired            = "APP_TOKEN_EXPIRED"
	CodeInvalidAppTokenHash        = "INVALID_APP_TOKEN_HASH"
	CodeStartSessionError          = "START_SESSION_ERROR"
	CodeUploadTokenNotFound        = "UPLOAD_TOKEN_NOT_FOUND"
	CodeUploadTokenCannotMatchSize = "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE"
	CodeUploadTokenInvalidStatus   = "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD"
	CodeUploadTokenInvalidForEntry = "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY"
	CodeUploadPassedMaxResumeTime  = "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED"
	CodeUploadTokenCannotResume    = "UPLOAD_TOKEN_CANNOT_RESUME"
	CodeUploadTokenMissingFileSize = "UPLOAD_TOKEN_MISSING_FILE_SIZE"
	CodeMaxChunkCountExceeded      = "MAX_ALLOWED_CHUNK_COUNT_EXCEEDED"
	CodeFileTypeRestricted         = "UPLOAD_TOKEN_FILE_TYPE_RESTRICTED_FOR_UPLOAD"
	CodeUploadError                = "UPLOAD_ERROR"
	CodeUploadPartialError         = "UPLOAD_PARTIAL_ERROR"
	CodeEntryIDNotFound            = "ENTRY_ID_NOT_FOUND"
	CodeEntryAlreadyWithContent    = "ENTRY_ALREADY_WITH_CONTENT"
)

// INVALID_KS reasons carried in args.KSID.
const (
	KSExpired = "EXPIRED"
	KSLogout  = "LOGOUT"
)

// knownKSReasons are the args.KSID values that are reasons, not a raw KS.
var knownKSReasons = map[string]bool{
	"EXPIRED": true, "LOGOUT": true, "INVALID_STR": true, "INVALID_PARTNER": true,
	"INVALID_USER": true, "INVALID_TYPE": true, "EXCEEDED_RESTRICTED_IP": true,
}

// APIError is a KalturaAPIException returned in an HTTP-200 body (or in the
// X-Kaltura header, or as an iCal VERROR block).
//
// Args is kept for decisions only and MUST NOT be logged verbatim: for an
// unparsable KS, INVALID_KS carries the raw KS in Args["KSID"]. Error() and
// LogValue() never include Args, and they redact anything that looks like a
// KS from the message.
type APIError struct {
	Code    string
	Message string
	Args    map[string]string
	// Service and Action name the call that failed (not secret).
	Service, Action string
}

// Error implements error. It names the call and the code, and a redacted
// message; it never contains Args verbatim or any KS.
func (e *APIError) Error() string {
	msg := e.safeMessage()
	call := ""
	if e.Service != "" {
		call = e.Service + "." + e.Action + ": "
	}
	if msg == "" {
		return "kaltura: " + call + e.Code
	}
	return "kaltura: " + call + e.Code + ": " + msg
}

// LogValue implements slog.LogValuer with the same redactions as Error.
func (e *APIError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("code", e.Code), slog.String("message", e.safeMessage())}
	if e.Code == CodeInvalidKS {
		attrs = append(attrs, slog.String("reason", e.KSReason()))
	}
	if e.Service != "" {
		attrs = append(attrs, slog.String("call", e.Service+"."+e.Action))
	}
	return slog.GroupValue(attrs...)
}

// KSReason returns args.KSID of an INVALID_KS error when it is one of the
// known reason words (EXPIRED, LOGOUT, …), and "UNPARSABLE" otherwise (the
// argument then holds the raw KS, which is never returned).
func (e *APIError) KSReason() string {
	r := e.Args["KSID"]
	if knownKSReasons[r] {
		return r
	}
	if r == "" {
		return ""
	}
	return "UNPARSABLE"
}

func (e *APIError) safeMessage() string {
	if e.Code == CodeInvalidKS {
		// The message is built from the args; rebuild it from the reason.
		if r := e.KSReason(); r != "" {
			return "invalid KS (" + r + ")"
		}
		return "invalid KS"
	}
	return Redact(e.Message, e.Args)
}

// Class classifies the error (kaltura.md §6).
func (e *APIError) Class() Class {
	c := e.Code
	switch {
	case c == CodeInvalidKS:
		if r := e.Args["KSID"]; r == KSExpired || r == KSLogout {
			return ClassReAuth
		}
		return ClassConfig
	case c == CodeActionBlocked, c == CodeLockTimedOut, c == CodeInternalDatabaseError,
		c == CodeInternalServerError, c == CodeStartWidgetSessionError,
		c == CodeUploadTokenCannotMatchSize, c == CodeUploadError, c == CodeUploadPartialError:
		return ClassTransient
	case c == CodeMissingKS, strings.HasPrefix(c, CodeServiceForbidden), c == "USER_BLOCKED",
		c == "ACCESS_UNAUTHORIZED", c == CodeInvalidWidgetID, strings.HasPrefix(c, "APP_TOKEN_"),
		c == CodeInvalidAppTokenHash, c == CodeStartSessionError, c == "INVALID_OBJECT_ID",
		c == "MISSING_MANDATORY_PARAMETER", c == "INVALID_ENUM_VALUE", strings.HasPrefix(c, "PROPERTY_VALIDATION_"),
		c == CodeMaxChunkCountExceeded, c == CodeFileTypeRestricted, c == CodeUploadTokenMissingFileSize,
		c == "INVALID_PARTNER_ID", c == "SERVICE_DOES_NOT_EXISTS", c == "ACTION_DOES_NOT_EXISTS":
		return ClassConfig
	case c == CodeUploadPassedMaxResumeTime, c == CodeUploadTokenCannotResume, c == CodeUploadTokenNotFound:
		return ClassTokenRestart
	case c == CodeUploadTokenInvalidStatus, c == CodeUploadTokenInvalidForEntry:
		return ClassTokenState
	case c == CodeEntryAlreadyWithContent:
		return ClassAlreadyDone
	case c == CodeEntryIDNotFound:
		return ClassNotFound
	}
	return ClassUnknown
}

// HTTPError is a reply with a status other than 200, or a reply that is not
// a Kaltura response at all.
type HTTPError struct {
	Service, Action string
	StatusCode      int
	// Detail is a short, safe description (never the body).
	Detail string
}

// Error implements error.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("kaltura: %s: HTTP %d", callName(e.Service, e.Action), e.StatusCode)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Class: 5xx, 408 and 429 are transient; a 200 with an undecodable body is
// transient too (a proxy or captive portal); other 4xx point at a wrong
// service URL (config).
func (e *HTTPError) Class() Class {
	switch {
	case e.StatusCode >= 500, e.StatusCode == 408, e.StatusCode == 429, e.StatusCode == 200:
		return ClassTransient
	case e.StatusCode >= 400:
		return ClassConfig
	}
	return ClassTransient
}

// ConfigError is a configuration fault: retrying will not help until the
// named setting (e.g. "kaltura.app_token_id") or the server-side object it
// points to is fixed.
type ConfigError struct {
	// Setting names the configuration key to check, or describes the object
	// (e.g. "template entry 1_abc (event 7340012)").
	Setting string
	Err     error
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("configuration fault (check %s): %v", e.Setting, e.Err)
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Classify returns the Class of any error returned by this package, looking
// through wrapping. Network errors and per-call timeouts are transient. A
// cancelled parent context is ClassUnknown: the caller is shutting down.
func Classify(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ClassConfig
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Class()
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Class()
	}
	if errors.Is(err, context.Canceled) {
		return ClassUnknown
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errCallTimeout) || errors.Is(err, ErrStalled) {
		return ClassTransient
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return ClassTransient
	}
	return ClassUnknown
}

// Code returns the Kaltura error code inside err, or "".
func Code(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

var errCallTimeout = errors.New("kaltura: call timed out")

// ksLike matches things that look like a KS or another long secret: a v2 KS
// starts with "djJ8" (base64 of "v2|"); anything base64-ish of 40 or more
// characters is redacted too.
var ksLike = regexp.MustCompile(`djJ8[A-Za-z0-9_\-+/=]*|[A-Za-z0-9_\-+/=]{40,}`)

// Redact removes from s every value of args longer than 16 characters and
// anything that looks like a KS. It is used on server messages before they
// go into an error string or a log.
func Redact(s string, args map[string]string) string {
	for _, v := range args {
		if len(v) > 16 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return ksLike.ReplaceAllString(s, "[redacted]")
}
