package firmware

import (
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/upload"
)

// The local status page, served beside /metrics on box.metrics_address:
// read-only, one HTML page with its style inline (no external assets, no
// script), in the box's local time: the state, the faults, what records
// now and next, the upload queue and today's ledger. It offers no actions
// (sync now, retry) and no still of the picture: those need the login the
// issue asks for, which is not built.

// maxPageRows bounds each table, so the page stays small (under 50 KiB).
const maxPageRows = 30

type statusPage struct {
	Box, State, Now string
	Faults          []string
	Recording       []pageRow
	Next            []pageRow
	Queue           []pageRow
	Ledger          []pageRow
	LastSync        string
}

type pageRow struct{ When, What, Detail string }

var statusTemplate = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="30"><title>{{.Box}}: {{.State}}</title>
<style>body{font:15px system-ui,sans-serif;margin:1em;color:#222}h1{font-size:1.3em}
.s{display:inline-block;padding:.1em .5em;border-radius:.3em;background:#ddd}.fault{background:#e33;color:#fff}
.recording{background:#c00;color:#fff}table{border-collapse:collapse;margin-bottom:1em}td,th{padding:.2em .6em;text-align:left;border-bottom:1px solid #ddd}</style></head>
<body><h1>{{.Box}} <span class="s {{.State}}" id="state">{{.State}}</span></h1>
<p>{{.Now}} · last good sync {{.LastSync}}</p>
{{if .Faults}}<h2>Faults</h2><ul id="faults">{{range .Faults}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Recording now</h2>{{template "rows" .Recording}}
<h2>Next</h2>{{template "rows" .Next}}
<h2>Uploads</h2>{{template "rows" .Queue}}
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
		p.Recording = append(p.Recording, pageRow{at(r.Started), r.Meta.Title, clock(now.Sub(r.Started))})
	}
	if s := b.syncer.Current(); s != nil {
		for _, e := range s.Plan.Entries {
			if e.Record && e.Start.After(now) && len(p.Next) < 5 {
				p.Next = append(p.Next, pageRow{at(e.Start), e.Title, "until " + e.End.In(loc).Format("15:04")})
			}
		}
	}
	for _, it := range b.queue.Items() {
		detail := string(it.State)
		if it.Size > 0 && it.State != upload.StateReady {
			detail += " " + strconv.FormatInt(it.Offset*100/it.Size, 10) + "%"
		}
		p.Queue = append(p.Queue, pageRow{at(it.EnqueuedAt), it.Title, detail})
	}
	if b.ledger != nil {
		recs, err := b.ledger.l.Day(now.In(loc))
		if err == nil {
			for _, r := range recs {
				p.Ledger = append(p.Ledger, pageRow{r.Time.In(loc).Format("15:04:05"), r.Title, ledger.Words(r)})
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
	return p
}

// serveStatus writes the page.
func (b *box) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := statusTemplate.Execute(w, b.statusPage(time.Now())); err != nil {
		b.log.Warn("status page", "err", err)
	}
}
