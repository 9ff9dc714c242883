package firmware

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/firmware/config"
)

// The status page's login (box.status_password). Without a password the
// page offers no actions and has no login. With one, a correct password
// gets a session cookie signed with a key drawn at boot (a reboot ends
// every session), valid sessionTTL; each POST action carries a CSRF token
// derived from the session, and failed logins are limited to
// maxFailedLogins per loginWindow for the whole box.

const (
	sessionCookie   = "capturebox_session"
	sessionTTL      = 8 * time.Hour
	loginWindow     = time.Minute
	maxFailedLogins = 5
)

// statusAuth checks the status page's password, sessions and CSRF tokens.
type statusAuth struct {
	password config.Secret
	key      []byte // HMAC key, random per boot
	clock    func() time.Time

	mu       sync.Mutex
	failures []time.Time // failed logins within the last loginWindow
}

// newStatusAuth returns the login of password ("" for none); clock is
// time.Now outside tests.
func newStatusAuth(password config.Secret, clock func() time.Time) *statusAuth {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand since Go 1.24)
	return &statusAuth{password: password, key: key, clock: clock}
}

// enabled reports whether the page has a login and offers its actions.
func (a *statusAuth) enabled() bool { return a.password.IsSet() }

// mac signs the parts, each prefixed by its length so that no two
// different lists sign alike.
func (a *statusAuth) mac(parts ...string) string {
	h := hmac.New(sha256.New, a.key)
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// login checks given against the password: the password compared in
// constant time (their SHA-256 digests, so that not even the length
// shows), a failure counted. Once maxFailedLogins failed within the last
// loginWindow it refuses whatever is given, and says after how long the
// oldest failure leaves the window. One lock, so that parallel guesses
// cannot pass the limit.
func (a *statusAuth) login(given string) (ok bool, locked time.Duration) {
	if !a.enabled() {
		return false, 0
	}
	now := a.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := a.failures[:0]
	for _, t := range a.failures {
		if now.Sub(t) < loginWindow {
			keep = append(keep, t)
		}
	}
	a.failures = keep
	if len(keep) >= maxFailedLogins {
		return false, loginWindow - now.Sub(keep[0])
	}
	g, w := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(a.password.Reveal()))
	if subtle.ConstantTimeCompare(g[:], w[:]) == 1 {
		return true, 0
	}
	a.failures = append(a.failures, now)
	return false, 0
}

// newSession returns the cookie of a session that starts now: its expiry
// (Unix seconds), a random nonce and their signature.
func (a *statusAuth) newSession(secure bool) *http.Cookie {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	exp := a.clock().Add(sessionTTL)
	e, n := strconv.FormatInt(exp.Unix(), 10), hex.EncodeToString(nonce)
	return &http.Cookie{
		Name: sessionCookie, Value: e + "." + n + "." + a.mac("session", e, n),
		Path: "/", Expires: exp, MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	}
}

// endSession returns the cookie that removes the session's.
func endSession(secure bool) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure}
}

// session returns the request's valid session cookie value, or "".
func (a *statusAuth) session(r *http.Request) string {
	if !a.enabled() {
		return ""
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	e, rest, ok1 := strings.Cut(c.Value, ".")
	n, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return ""
	}
	if !hmac.Equal([]byte(sig), []byte(a.mac("session", e, n))) {
		return ""
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !a.clock().Before(time.Unix(exp, 0)) {
		return ""
	}
	return c.Value
}

// csrfToken is the token the forms of session carry.
func (a *statusAuth) csrfToken(session string) string { return a.mac("csrf", session) }

// authorized reports whether r (a POST action) comes from a valid session
// and carries its CSRF token.
func (a *statusAuth) authorized(r *http.Request) bool {
	s := a.session(r)
	if s == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(a.csrfToken(s)))
}
