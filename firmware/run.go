package firmware

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/sync/syncer"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// Devices are the box's hardware, as hal contracts. Display and Console are
// optional.
type Devices struct {
	LED      hal.LED
	Button   hal.Button
	Display  hal.Display
	Console  hal.ConsolePort
	Capture  hal.CaptureSource
	TimeSync hal.TimeSync
	// Press, when set, lets the console press the button ("press", "hold"):
	// the development box's button is a key.
	Press func(hal.ButtonKind)
}

// Options are the parts of Run that are not configuration.
type Options struct {
	// Logger receives the box's log; nil discards it.
	Logger *slog.Logger
	// Ring keeps the log tail for the console; may be nil.
	Ring *supervisor.Ring
	// HTTPClient, when set, carries every Kaltura call (tests pass an
	// in-memory transport to the simulator). Otherwise a client that
	// verifies TLS certificates is built from the configuration.
	HTTPClient *http.Client
	// Rand seeds the sync jitter and upload backoff; 0 picks one from the clock.
	Seed int64
	// OnUploaded is called when a recording's entry is READY in Kaltura.
	OnUploaded func(recordingID, entryID string)
}

// Run runs the box until ctx ends: it recovers what a crash left, loads the
// last good schedule, and supervises the sync, upload, controller, clock and
// console subsystems. It returns ctx's error after a clean shutdown, in
// which running recordings are closed and queued for upload.
func Run(ctx context.Context, cfg *config.Config, dev Devices, opts Options) error {
	b, err := newBox(cfg, dev, opts)
	if err != nil {
		return err
	}
	return b.run(ctx)
}

type box struct {
	cfg    *config.Config
	dev    Devices
	opts   Options
	log    *slog.Logger
	faults *faults

	session  *kaltura.Session
	syncer   *syncer.Syncer
	queue    *upload.Queue
	recorder *capture.Recorder
	loop     *controller.Loop
	sup      *supervisor.Supervisor
	console  *console.Console
	trust    *clockGate
	recDir   string
}

func newBox(cfg *config.Config, dev Devices, opts Options) (*box, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &box{cfg: cfg, dev: dev, opts: opts, log: log, faults: newFaults()}
	b.recDir = cfg.Recording.Dir
	for _, d := range []string{cfg.Box.DataDir, b.recDir, b.path("queue"), b.path("schedule")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("firmware: data directory: %w", err)
		}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}

	client, session, err := NewSession(cfg, opts.HTTPClient, log)
	if err != nil {
		return nil, err
	}
	b.session = session

	b.trust = &clockGate{sync: dev.TimeSync, log: log}

	fetcher, err := b.newFetcher(client)
	if err != nil {
		return nil, err
	}
	var resources []int64
	if cfg.Kaltura.ParentResourceID == 0 {
		resources = []int64{cfg.Kaltura.ResourceID}
	}
	b.syncer, err = syncer.New(syncer.Config{
		Fetcher:     faultingFetcher{inner: fetcher, faults: b.faults},
		Store:       cache.New(b.path("schedule")),
		Clock:       func() (time.Time, bool) { return time.Now(), b.trust.Trusted() },
		ResourceIDs: resources,
		Interval:    cfg.Sync.Interval,
		Jitter:      jitterFraction(cfg.Sync.Interval, cfg.Sync.Jitter),
		Logger:      log.With("part", "sync"),
		Rand:        newRand(seed),
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: sync: %w", err)
	}

	b.queue, err = upload.OpenQueue(b.path("queue"), upload.QueueOptions{
		API:                    b.session,
		Logger:                 log.With("part", "upload"),
		Rand:                   newRand(seed + 1),
		ChunkSize:              int64(cfg.Upload.ChunkSize),
		BandwidthLimit:         int64(cfg.Upload.BandwidthLimit),
		Location:               cfg.Box.Location(),
		DefaultTemplateEntryID: cfg.Kaltura.DefaultTemplateEntryID,
		MinLength:              cfg.Recording.MinLength,
		ShortPolicy:            upload.ShortPolicy(cfg.Recording.ShortPolicy),
		MaxBackoff:             cfg.Upload.MaxBackoff,
		// A backlog is "stuck" (a fault for a person) after about an hour
		// of failures, not after a passing network outage.
		StuckAfter: 15,
		OnFault:    b.onUploadFault,
		OnReady:    b.onReady,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: upload queue: %w", err)
	}

	b.recorder, err = capture.New(capture.Config{
		Dir:      b.recDir,
		Source:   dev.Capture,
		Logger:   log.With("part", "capture"),
		OnHealth: b.onHealth,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: capture: %w", err)
	}

	b.loop = &controller.Loop{
		Policy: controller.Policy{
			PrePadding:  cfg.Recording.PrePadding,
			PostPadding: cfg.Recording.PostPadding,
			AdHocMax:    cfg.Recording.AdhocMax,
		},
		Log:      log.With("part", "controller"),
		LED:      dev.LED,
		Display:  dev.Display,
		Button:   dev.Button,
		Recorder: (*boxRecorder)(b),
		Store:    &stateFile{path: b.path("controller.json")},
		Facts:    b,
		Changed:  b.faults.changed,
		Room:     cfg.Box.Name,
		Loc:      cfg.Box.Location(),
	}
	b.sup = supervisor.New(log.With("part", "supervisor"), supervisor.Policy{})
	b.console = console.New(log, "capturebox> ")
	b.registerCommands()
	b.registerUpdateCommand()
	return b, nil
}

// NewSession builds the Kaltura client and the app-token session that sync
// and upload share, from the configuration. httpClient may be nil: then a
// client that verifies TLS certificates against the system roots, plus
// kaltura.ca_file when set, is used.
func NewSession(cfg *config.Config, httpClient *http.Client, log *slog.Logger) (*kaltura.Client, *kaltura.Session, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var roots *x509.CertPool
	if httpClient == nil && cfg.Kaltura.CAFile != "" {
		pem, err := os.ReadFile(cfg.Kaltura.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("firmware: kaltura.ca_file: %w", err)
		}
		roots, err = x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("firmware: kaltura.ca_file %s: no PEM certificates", cfg.Kaltura.CAFile)
		}
	}
	client, err := kaltura.New(kaltura.Options{
		BaseURL:           cfg.Kaltura.ServiceURL,
		AllowInsecureHTTP: cfg.Kaltura.AllowInsecureHTTP,
		HTTPClient:        httpClient,
		RootCAs:           roots,
		ClientTag:         "capturebox:" + Version,
		Timeout:           cfg.Kaltura.RequestTimeout,
		Logger:            log.With("part", "kaltura"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: kaltura client: %w", err)
	}
	session, err := kaltura.NewSession(client, kaltura.SessionConfig{
		PartnerID:  cfg.Kaltura.PartnerID,
		AppTokenID: cfg.Kaltura.AppTokenID,
		AppToken:   cfg.Kaltura.AppToken.Reveal(),
		HashType:   cfg.Kaltura.AppTokenHashType,
		Logger:     log.With("part", "session"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: kaltura session: %w", err)
	}
	return client, session, nil
}

func (b *box) path(name string) string { return filepath.Join(b.cfg.Box.DataDir, name) }

func (b *box) newFetcher(client *kaltura.Client) (syncer.Fetcher, error) {
	cfg := b.cfg
	filter := fetch.Filter{
		ResourceID:       cfg.Kaltura.ResourceID,
		ParentResourceID: cfg.Kaltura.ParentResourceID,
		AllTypes:         !cfg.Sync.RecordOnly,
	}
	if filter.ParentResourceID != 0 {
		filter.ResourceID = 0
	}
	switch cfg.Sync.Transport {
	case config.TransportFTP:
		f, err := fetch.NewFTP(fetch.FTPOptions{
			Addr:      cfg.Sync.FTPAddress,
			PartnerID: cfg.Kaltura.PartnerID,
			LoginID:   cfg.Sync.FTPLogin,
			Password:  cfg.Sync.FTPPassword.Reveal(),
			Filter:    filter,
			Window:    cfg.Sync.Window,
			MaxBytes:  int64(cfg.Sync.MaxResponseSize),
			Logger:    b.log.With("part", "fetch"),
		})
		if err != nil {
			return nil, fmt.Errorf("firmware: ftp fetch: %w", err)
		}
		return f, nil
	default:
		h, err := fetch.NewHTTPS(fetch.HTTPSOptions{
			Caller:           client,
			Session:          b.session,
			Filter:           filter,
			Window:           cfg.Sync.Window,
			MaxBytes:         int64(cfg.Sync.MaxResponseSize),
			NarrowOnOverflow: true,
			Logger:           b.log.With("part", "fetch"),
		})
		if err != nil {
			return nil, fmt.Errorf("firmware: https fetch: %w", err)
		}
		return h, nil
	}
}

func (b *box) run(ctx context.Context) error {
	if err := b.recover(); err != nil {
		return err
	}
	if err := b.syncer.LoadCache(); err != nil {
		b.log.Warn("no last good schedule on disk", "err", err)
	}
	b.trust.check(ctx, b.faults)
	if err := b.loop.Init(); err != nil {
		return err
	}
	for _, r := range b.loop.Recovered() {
		b.log.Info("recording was running at the last stop; its file was recovered", "id", r.ID, "title", r.Occ.Title)
	}
	go b.forward(ctx, b.syncer.Updates())
	b.trust.onTrust = b.syncer.SyncNow

	subs := []supervisor.Subsystem{
		{Name: "clock", Run: b.trust.run(b.faults)},
		{Name: "sync", Run: b.syncer.Run},
		{Name: "upload", Run: b.queue.Run},
		{Name: "controller", Run: b.loop.Run},
	}
	if b.dev.Console != nil {
		subs = append(subs, supervisor.Subsystem{Name: "console", Run: func(ctx context.Context) error {
			return b.console.Serve(ctx, b.dev.Console)
		}})
	}
	err := b.sup.Run(ctx, subs...)
	if _, cerr := b.recorder.Close(); cerr != nil {
		b.log.Error("closing the recorder", "err", cerr)
	}
	return err
}

// recover closes what a crash left open and makes sure every closed
// recording that is not held is in the upload queue (Enqueue is idempotent).
func (b *box) recover() error {
	recovered, err := capture.Recover(b.recDir)
	if err != nil {
		b.log.Error("recovering recordings", "err", err)
	}
	for _, r := range recovered {
		b.log.Warn("recovered a recording cut short by a crash or power loss", "id", r.ID, "duration", r.Duration)
	}
	sidecars, err := filepath.Glob(filepath.Join(b.recDir, "*.json"))
	if err != nil {
		return fmt.Errorf("firmware: list recordings: %w", err)
	}
	for _, sc := range sidecars {
		id := strings.TrimSuffix(filepath.Base(sc), ".json")
		if !capture.ValidID(id) || b.held(id) {
			continue
		}
		s, err := capture.ReadSidecar(b.recDir, id)
		if err != nil {
			b.log.Error("unreadable recording sidecar", "id", id, "err", err)
			continue
		}
		if s.File == "" || strings.HasSuffix(s.File, ".part.mp4") {
			continue
		}
		if err := b.queue.Enqueue(uploadRecording(closedResult(b.recDir, s))); err != nil {
			return fmt.Errorf("firmware: queue recovered recording %s: %w", id, err)
		}
	}
	return nil
}

// forward turns schedule updates into controller wake-ups.
func (b *box) forward(ctx context.Context, updates <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-updates:
			b.faults.poke()
		}
	}
}

// Schedule implements controller.Facts: the plan's occurrences. One the plan
// does not record although it is an active recording event (a blackout on
// this resource covers it) is handed to the controller as cancelled: it is
// not recorded, and a recording that a new blackout covers stops and is
// kept on the box.
func (b *box) Schedule() []schedule.Occurrence {
	s := b.syncer.Current()
	if s == nil {
		return nil
	}
	out := make([]schedule.Occurrence, 0, len(s.Plan.Entries))
	for _, e := range s.Plan.Entries {
		o := e.Occurrence
		if !e.Record && o.Recordable() {
			o.Status = schedule.StatusCancelled
		}
		out = append(out, o)
	}
	return out
}

// Trusted implements controller.Facts.
func (b *box) Trusted() bool { return b.trust.Trusted() }

// Faults implements controller.Facts.
func (b *box) Faults() []controller.Fault { return b.faults.list() }

func (b *box) onHealth(h capture.Health) {
	if h.Signal {
		b.faults.clear("capture")
		return
	}
	msg := "NO SIGNAL"
	if h.Err != nil && !errors.Is(h.Err, hal.ErrNoSignal) {
		msg = "CAPTURE ERROR"
	}
	b.faults.set("capture", msg)
}

func (b *box) onUploadFault(f upload.Fault) {
	b.log.Error("upload fault", "item", f.ItemID, "code", f.Code, "setting", f.Setting, "msg", f.Message)
	if f.Severity == "warning" && f.ItemID != "" {
		b.faults.set("upload", "UPLOAD STUCK")
		return
	}
	if f.Setting != "" {
		b.faults.set("upload", "CHECK "+f.Setting)
		return
	}
	b.faults.set("upload", "UPLOAD FAULT")
}

// refreshUploadFault clears the upload fault once nothing in the queue is
// stopped by a fault any more (the credentials were fixed, a stuck item went
// through, a technician retried).
func (b *box) refreshUploadFault() {
	if b.queue.Paused() != nil {
		return
	}
	for _, it := range b.queue.Items() {
		if it.Fault != nil {
			return
		}
	}
	b.faults.clear("upload")
}

func (b *box) onReady(id, entryID string) {
	b.log.Info("recording is in Kaltura", "id", id, "entry", entryID)
	go b.refreshUploadFault() // not from inside the queue's callback
	if b.opts.OnUploaded != nil {
		b.opts.OnUploaded(id, entryID)
	}
}

// held reports whether a recording is kept on the box and not uploaded.
func (b *box) held(id string) bool {
	_, err := os.Stat(filepath.Join(b.recDir, id+".held"))
	return err == nil
}

// boxRecorder adapts the capture recorder and the upload queue to the
// controller.
type boxRecorder box

func (r *boxRecorder) Start(_ context.Context, rec controller.Rec) error {
	o := rec.Occ
	meta := capture.Meta{
		Title:           o.Title,
		Start:           o.Start,
		End:             o.End,
		Part:            rec.Part,
		TemplateEntryID: o.TemplateEntryID,
		Extra: map[string]string{
			"description": o.Description,
			"tags":        o.Tags,
			"categories":  joinIDs(o.CategoryIDs),
		},
	}
	if !rec.AdHoc() {
		meta.EventID = strconv.FormatInt(o.ReferenceID(), 10)
	} else {
		meta.Start, meta.End = time.Time{}, time.Time{}
	}
	_, err := r.recorder.Start(rec.ID, meta)
	if errors.Is(err, capture.ErrExists) {
		return nil
	}
	return err
}

func (r *boxRecorder) Finish(_ context.Context, rec controller.Rec, publish bool, why string) error {
	b := (*box)(r)
	res, err := r.recorder.Stop(rec.ID)
	switch {
	case errors.Is(err, capture.ErrNoMedia):
		b.log.Warn("recording has no media (no capture signal the whole time)", "id", rec.ID, "title", rec.Occ.Title)
		return nil
	case errors.Is(err, capture.ErrUnknownRecording):
		// Stopped already (a retry after a failed enqueue): read what was closed.
		s, serr := capture.ReadSidecar(b.recDir, rec.ID)
		if serr != nil || s.File == "" {
			return fmt.Errorf("finish %s: %w", rec.ID, err)
		}
		res = closedResult(b.recDir, s)
	case err != nil:
		return fmt.Errorf("finish %s: %w", rec.ID, err)
	}
	if !publish {
		if err := os.WriteFile(filepath.Join(b.recDir, rec.ID+".held"), []byte(why+"\n"), 0o644); err != nil {
			return fmt.Errorf("hold %s: %w", rec.ID, err)
		}
		b.log.Warn("recording kept on the box, not uploaded", "id", rec.ID, "why", why, "path", res.Path)
		return nil
	}
	return b.queue.Enqueue(uploadRecording(res))
}

// closedResult describes a closed recording from its sidecar.
func closedResult(dir string, s capture.Sidecar) capture.Result {
	return capture.Result{ID: s.ID, Meta: s.Meta, Path: filepath.Join(dir, s.File), Start: s.MediaStart, End: s.MediaEnd, Bytes: s.Bytes, Duration: s.Duration, Parts: s.Parts}
}

// uploadRecording builds the upload queue's item from a closed recording.
func uploadRecording(res capture.Result) upload.Recording {
	m := res.Meta
	title := m.Title
	if m.Part > 1 {
		title = fmt.Sprintf("%s (part %d)", title, m.Part)
	}
	var eventID int64
	if m.EventID != "" {
		eventID, _ = strconv.ParseInt(m.EventID, 10, 64)
	}
	return upload.Recording{
		ID:              res.ID,
		Path:            res.Path,
		Title:           title,
		Description:     m.Extra["description"],
		Tags:            m.Extra["tags"],
		CategoryIDs:     splitIDs(m.Extra["categories"]),
		TemplateEntryID: m.TemplateEntryID,
		EventID:         eventID,
		Start:           res.Start,
		Duration:        res.Duration,
	}
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func splitIDs(s string) []int64 {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func jitterFraction(interval, jitter time.Duration) float64 {
	if interval <= 0 || jitter <= 0 {
		return 0
	}
	f := float64(jitter) / float64(interval)
	if f > 0.5 {
		f = 0.5
	}
	return f
}
