package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/jpeg"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/upload"
)

// The local status page, served beside /metrics on box.metrics_address:
// one HTML page with its style inline (no external assets, no script), in
// the box's local time: the state, the faults, a still of the picture
// while something records (/still.jpg), what records now and next, the
// upload queue and today's ledger. Reading it needs no login. With
// box.status_password set it offers a login (statusauth.go) and, logged
// in, its few actions: sync now, and retry an upload stopped by a fault,
// through the same code as the console's "sync now" and "retry".

// maxPageRows bounds each table, so the page stays small (under 50 KiB
// with its still).
const maxPageRows = 30

// The still: at most stillWidth pixels wide, and at most stillBudget
// bytes (the JPEG quality steps down until it fits), so that the page and
// everything it loads stay under 50 KiB. stillWait bounds the wait for a
// frame.
const (
	stillWidth  = 400
	stillBudget = 24 << 10
	stillWait   = 2 * time.Second
)

// statusPage is what the page's template shows.
type statusPage struct {
	Box, State, Now string
	Faults          []string
	Recording       []pageRow
	Next            []pageRow
	Queue           []pageRow
	Ledger          []pageRow
	LastSync        string

	// Still shows /still.jpg (something records).
	Still bool
	// Login: the page has a login (box.status_password is set);
	// LoggedIn: this request's session is valid, and CSRF is the token
	// its forms carry. Message answers the last action.
	Login, LoggedIn bool
	CSRF, Message   string
}

// pageRow is a table row; ID and Retry are for the upload queue's rows
// (Retry: stopped by a fault, the page offers to retry it).
type pageRow struct {
	When, What, Detail string
	ID                 string
	Retry              bool
}

// statusMessages are what the page says after an action (?m=), so that
// the page never shows text from the URL.
var statusMessages = map[string]string{
	"sync":      "Sync requested: the schedule updates within a few seconds.",
	"retry":     "Retrying the upload.",
	"noretry":   "That upload could not be retried: see the console's uploads.",
	"badlogin":  "Wrong password.",
	"loggedout": "Logged out.",
}

var statusTemplate = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="30"><title>{{.Box}}: {{.State}}</title>
<style>body{font:15px system-ui,sans-serif;margin:1em;color:#222}h1{font-size:1.3em}
.s{display:inline-block;padding:.1em .5em;border-radius:.3em;background:#ddd}.fault{background:#e33;color:#fff}
.recording{background:#c00;color:#fff}table{border-collapse:collapse;margin-bottom:1em}td,th{padding:.2em .6em;text-align:left;border-bottom:1px solid #ddd}
form{display:inline}.msg{background:#ffd;padding:.3em .6em}.still{max-width:100%;border:1px solid #888}</style></head>
<body><h1>{{.Box}} <span class="s {{.State}}" id="state">{{.State}}</span></h1>
<p>{{.Now}} · last good sync {{.LastSync}}</p>
{{with .Message}}<p class="msg" id="msg">{{.}}</p>{{end}}
{{if .LoggedIn}}<div id="actions"><form method="post" action="/sync"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>Sync now</button></form>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>Log out</button></form></div>
{{else if .Login}}<form method="post" action="/login" id="login"><label>Password <input type="password" name="password" autocomplete="current-password" required></label> <button>Log in for actions</button></form>
{{end}}
{{if .Faults}}<h2>Faults</h2><ul id="faults">{{range .Faults}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Still}}<h2>Picture</h2><p><img class="still" src="/still.jpg" alt="the current picture"></p>{{end}}
<h2>Recording now</h2>{{template "rows" .Recording}}
<h2>Next</h2>{{template "rows" .Next}}
<h2>Uploads</h2>{{if .Queue}}<table>{{range .Queue}}<tr><td>{{.When}}</td><td>{{.What}}</td><td>{{.Detail}}</td>
{{- if and $.LoggedIn .Retry}}<td><form method="post" action="/retry"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.ID}}"><button>Retry</button></form></td>{{end}}</tr>{{end}}</table>{{else}}<p>none</p>{{end}}
<h2>Today</h2>{{template "rows" .Ledger}}
</body></html>
{{define "rows"}}{{if .}}<table>{{range .}}<tr><td>{{.When}}</td><td>{{.What}}</td><td>{{.Detail}}</td></tr>{{end}}</table>{{else}}<p>none</p>{{end}}{{end}}`))

// stateName is what the box is doing, for the metrics and the page.
func (b *box) stateName() string {
	switch {
	case len(b.faults.list()) > 0:
		return "fault"
	case len(b.recorder.Recordings()) > 0:
		return "recording"
	case !b.trust.Trusted():
		return "waiting_clock"
	}
	return "idle"
}

func (b *box) statusPage(now time.Time) statusPage {
	loc := b.cfg.Box.Location()
	at := func(t time.Time) string { return t.In(loc).Format("Mon 2 Jan 15:04") }
	p := statusPage{Box: b.cfg.Box.Name, State: b.stateName(), Now: at(now), LastSync: b.when(b.lastGoodSync())}
	for _, f := range b.faults.list() {
		p.Faults = append(p.Faults, f.Source+": "+f.Text)
	}
	for _, r := range b.recorder.Recordings() {
		p.Recording = append(p.Recording, pageRow{When: at(r.Started), What: r.Meta.Title, Detail: clock(now.Sub(r.Started))})
	}
	if s := b.syncer.Current(); s != nil {
		for _, e := range s.Plan.Entries {
			if e.Record && e.Start.After(now) && len(p.Next) < 5 {
				p.Next = append(p.Next, pageRow{When: at(e.Start), What: e.Title, Detail: "until " + e.End.In(loc).Format("15:04")})
			}
		}
	}
	for _, it := range b.queue.Items() {
		detail := string(it.State)
		if it.Size > 0 && it.State != upload.StateReady {
			detail += " " + strconv.FormatInt(it.Offset*100/it.Size, 10) + "%"
		}
		retry := it.Fault != nil || it.State == upload.StateFailed
		p.Queue = append(p.Queue, pageRow{When: at(it.EnqueuedAt), What: it.Title, Detail: detail, ID: it.ID, Retry: retry})
	}
	if b.ledger != nil {
		recs, err := b.ledger.l.Day(now.In(loc))
		if err == nil {
			for _, r := range recs {
				p.Ledger = append(p.Ledger, pageRow{When: r.Time.In(loc).Format("15:04:05"), What: r.Title, Detail: ledger.Words(r)})
			}
		}
	}
	keep := func(rows []pageRow) []pageRow {
		if len(rows) > maxPageRows {
			return slices.Clone(rows[len(rows)-maxPageRows:])
		}
		return rows
	}
	p.Queue, p.Ledger = keep(p.Queue), keep(p.Ledger)
	p.Still = len(p.Recording) > 0
	return p
}

// statusRoutes puts the status page on mux: the page, its still, the
// login and the actions.
func (b *box) statusRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", b.serveStatus)
	mux.HandleFunc("GET /still.jpg", b.serveStill)
	mux.HandleFunc("POST /login", b.serveLogin)
	mux.HandleFunc("POST /logout", b.action("log out", func(*http.Request) string { return "loggedout" }))
	mux.HandleFunc("POST /sync", b.action("sync now", func(*http.Request) string {
		b.syncNow()
		return "sync"
	}))
	mux.HandleFunc("POST /retry", b.action("retry", func(r *http.Request) string {
		if err := b.retryUpload(r.PostFormValue("id")); err != nil {
			b.log.Warn("status page: retry", "id", r.PostFormValue("id"), "err", err)
			return "noretry"
		}
		return "retry"
	}))
}

// securityHeaders are the headers of every answer of the status page: it
// loads nothing from elsewhere, runs no script, posts only to itself and is
// never framed.
func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

// serveStatus writes the page.
func (b *box) serveStatus(w http.ResponseWriter, r *http.Request) {
	p := b.statusPage(time.Now())
	p.Login = b.auth.enabled()
	if s := b.auth.session(r); s != "" {
		p.LoggedIn, p.CSRF = true, b.auth.csrfToken(s)
	}
	p.Message = statusMessages[r.URL.Query().Get("m")]
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, p); err != nil {
		b.log.Warn("status page", "err", err)
	}
}

// maxFormBytes bounds what a form of the page posts.
const maxFormBytes = 4 << 10

// serveLogin checks the password: a session cookie and back to the page,
// or a failure counted; past maxFailedLogins in loginWindow, 429 whatever
// the password.
func (b *box) serveLogin(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if !b.auth.enabled() {
		http.Error(w, "this box has no status page login (box.status_password is not set)", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ok, locked := b.auth.login(r.PostFormValue("password"))
	if locked > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(locked.Seconds())+1))
		http.Error(w, "too many failed logins: try again in a minute", http.StatusTooManyRequests)
		return
	}
	if !ok {
		b.log.Warn("status page: failed login", "remote", r.RemoteAddr)
		http.Redirect(w, r, "/?m=badlogin", http.StatusSeeOther)
		return
	}
	b.log.Info("status page: login", "remote", r.RemoteAddr)
	http.SetCookie(w, b.auth.newSession(r.TLS != nil))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// action wraps a POST action of the page: it runs do only for a logged-in
// session with its CSRF token (else 403), logs it, and goes back to the
// page with do's message code.
func (b *box) action(name string, do func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if !b.auth.authorized(r) {
			http.Error(w, "not logged in, or the form is stale: reload the status page and log in", http.StatusForbidden)
			return
		}
		b.log.Info("status page: action", "action", name, "remote", r.RemoteAddr)
		code := do(r)
		if code == "loggedout" {
			http.SetCookie(w, endSession(r.TLS != nil))
		}
		http.Redirect(w, r, "/?m="+code, http.StatusSeeOther)
	}
}

// serveStill writes a JPEG of the current picture, or 503 saying why there
// is none (nothing records, no signal).
func (b *box) serveStill(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), stillWait)
	defer cancel()
	img, err := b.recorder.Still(ctx)
	if err != nil {
		msg := "no picture: the capture input gave none in time"
		switch {
		case errors.Is(err, capture.ErrNotCapturing):
			msg = "no picture: nothing is recording (the capture input is open only while a recording runs)"
		case errors.Is(err, hal.ErrNoSignal):
			msg = "no picture: no capture signal (check the HDMI cable and the capture device)"
		case errors.Is(err, capture.ErrNoStill):
			msg = "no picture: this capture source makes no stills"
		default:
			b.log.Warn("status page: still", "err", err)
		}
		w.Header().Set("Retry-After", "30")
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	data, err := encodeStill(img)
	if err != nil {
		b.log.Warn("status page: still", "err", err)
		http.Error(w, "no picture: it could not be encoded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// encodeStill scales img down to stillWidth and encodes it as a JPEG of
// at most stillBudget bytes where a quality of 30 allows it.
func encodeStill(img image.Image) ([]byte, error) {
	small := thumbnail(img, stillWidth)
	var buf bytes.Buffer
	for _, q := range []int{75, 55, 30} {
		buf.Reset()
		if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("still: %w", err)
		}
		if buf.Len() <= stillBudget {
			break
		}
	}
	return buf.Bytes(), nil
}

// thumbnail shrinks img by a whole factor to at most maxW pixels wide,
// each pixel the mean of the block it replaces (Y'CbCr stays Y'CbCr, at
// full chroma; any other image becomes RGBA).
func thumbnail(img image.Image, maxW int) image.Image {
	b := img.Bounds()
	f := (b.Dx() + maxW - 1) / maxW
	if f <= 1 {
		return img
	}
	w, h := b.Dx()/f, b.Dy()/f
	n := f * f
	if yc, ok := img.(*image.YCbCr); ok {
		out := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio444)
		for y := range h {
			for x := range w {
				var sy, sb, sr int
				for dy := range f {
					for dx := range f {
						px, py := b.Min.X+x*f+dx, b.Min.Y+y*f+dy
						sy += int(yc.Y[yc.YOffset(px, py)])
						c := yc.COffset(px, py)
						sb += int(yc.Cb[c])
						sr += int(yc.Cr[c])
					}
				}
				o := out.YOffset(x, y)
				out.Y[o], out.Cb[o], out.Cr[o] = byte(sy/n), byte(sb/n), byte(sr/n)
			}
		}
		return out
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var sr, sg, sb, sa uint32
			for dy := range f {
				for dx := range f {
					r, g, bl, a := img.At(b.Min.X+x*f+dx, b.Min.Y+y*f+dy).RGBA()
					sr, sg, sb, sa = sr+r, sg+g, sb+bl, sa+a
				}
			}
			o := out.PixOffset(x, y)
			d := uint32(n) * 257
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = byte(sr/d), byte(sg/d), byte(sb/d), byte(sa/d)
		}
	}
	return out
}
