package firmware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/upload"
)

// boxStates are the values of capturebox_state (one is 1, the others 0).
var boxStates = []string{"recording", "idle", "fault", "waiting_clock"}

// metrics is the box's health for the campus's Prometheus
// (box.metrics_address): what it reads at each scrape from the box's own
// state, and the counters the box keeps since it started.
type metrics struct {
	b   *box
	reg *prometheus.Registry

	recordings *prometheus.CounterVec // outcome: made, failed
	uploaded   prometheus.Counter     // bytes of recordings READY in Kaltura

	state, syncAge, queueLen, queueOldest, diskFree, faults, fps, dropped *prometheus.Desc
}

func newMetrics(b *box) *metrics {
	m := &metrics{b: b, reg: prometheus.NewRegistry(),
		recordings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capturebox_recordings_total",
			Help: "Recordings the box started since it booted, by outcome (made, failed)."}, []string{"outcome"}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "capturebox_upload_bytes_total",
			Help: "Bytes of recordings that reached READY in Kaltura since the box booted."}),
		state: prometheus.NewDesc("capturebox_state", "What the box is doing: 1 for the current state.", []string{"state"}, nil),
		syncAge: prometheus.NewDesc("capturebox_last_sync_age_seconds",
			"Seconds since the last good schedule sync (absent before the first).", nil, nil),
		queueLen: prometheus.NewDesc("capturebox_upload_queue_length", "Recordings in the upload queue not yet READY.", nil, nil),
		queueOldest: prometheus.NewDesc("capturebox_upload_queue_oldest_age_seconds",
			"Age of the oldest recording in the upload queue not yet READY (0 when none).", nil, nil),
		diskFree: prometheus.NewDesc("capturebox_disk_free_bytes", "Free space on the recordings disk at the disk guard's last check.", nil, nil),
		faults:   prometheus.NewDesc("capturebox_fault", "Faults that need a person: 1 per source.", []string{"source", "text"}, nil),
		fps:      prometheus.NewDesc("capturebox_capture_fps", "Frames per second of each running recording since its first frame.", []string{"recording"}, nil),
		dropped: prometheus.NewDesc("capturebox_capture_dropped_frames",
			"Frames each running recording lost (gaps in the capture timestamps within a span; a signal loss is not counted).", []string{"recording"}, nil),
	}
	m.recordings.WithLabelValues("made")
	m.recordings.WithLabelValues("failed")
	m.reg.MustRegister(m, m.recordings, m.uploaded)
	return m
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.syncAge, m.queueLen, m.queueOldest, m.diskFree, m.faults, m.fps, m.dropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the box's state now.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	b := m.b
	now := time.Now()
	faults := b.faults.list()
	state := b.stateName()
	for _, s := range boxStates {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, s)
	}
	if st := b.syncer.Status(); !st.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(m.syncAge, prometheus.GaugeValue, now.Sub(st.LastSuccess).Seconds())
	}
	n, oldest := 0, time.Time{}
	for _, it := range b.queue.Items() {
		if it.State == upload.StateReady {
			continue
		}
		n++
		if oldest.IsZero() || it.EnqueuedAt.Before(oldest) {
			oldest = it.EnqueuedAt
		}
	}
	ch <- prometheus.MustNewConstMetric(m.queueLen, prometheus.GaugeValue, float64(n))
	age := 0.0
	if !oldest.IsZero() {
		age = now.Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(m.queueOldest, prometheus.GaugeValue, age)
	if gs := b.guard.Status(); !gs.At.IsZero() {
		ch <- prometheus.MustNewConstMetric(m.diskFree, prometheus.GaugeValue, float64(gs.Free))
	}
	for _, f := range faults {
		ch <- prometheus.MustNewConstMetric(m.faults, prometheus.GaugeValue, 1, f.Source, f.Text)
	}
	for _, r := range b.recorder.Recordings() {
		if d := r.End.Sub(r.Start); !r.Start.IsZero() && d > 0 {
			ch <- prometheus.MustNewConstMetric(m.fps, prometheus.GaugeValue, float64(r.Frames)/d.Seconds(), r.ID)
			ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.GaugeValue, float64(r.Dropped), r.ID)
		}
	}
}

// note counts what the ledger is told: recordings made and failed.
func (m *metrics) note(r ledger.Record) {
	if m == nil {
		return
	}
	switch {
	case r.Step == ledger.StepOpened && r.Reason == "":
		m.recordings.WithLabelValues("made").Inc()
	case r.Step == ledger.StepOpened, r.Step == ledger.StepFirstFrame && r.Reason != "":
		m.recordings.WithLabelValues("failed").Inc()
	}
}

// ready counts the bytes of a recording that reached READY.
func (m *metrics) ready(id string) {
	if m == nil {
		return
	}
	for _, it := range m.b.queue.Items() {
		if it.ID == id {
			m.uploaded.Add(float64(it.Size))
			return
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// serve is the metrics subsystem: an HTTP server on box.metrics_address
// with /metrics and the status page (statusRoutes), until ctx ends.
func (m *metrics) serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", m.b.cfg.Box.MetricsAddress)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return m.serveOn(ctx, ln)
}

// serveOn serves /metrics and the status page on ln until ctx ends.
func (m *metrics) serveOn(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	m.b.statusRoutes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return ctx.Err()
}
