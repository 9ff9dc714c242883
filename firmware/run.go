package firmware

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/atomicfile"
	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
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
	// Audio is the sound input, encoded by AudioCodec; nil records
	// picture only (hardware.audio_device = "none").
	Audio      hal.AudioSource
	AudioCodec hal.AudioCodec
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
	// Commands are console commands the entry point adds (the development
	// box's button keys).
	Commands []console.Command
	// ConsoleEcho makes the console echo what is typed and the edits of
	// backspace: a serial line shows only what the box sends back. The
	// development terminal echoes by itself.
	ConsoleEcho bool
	// ConfigPath is the configuration file the box started with (the
	// console's "config check" and "config set").
	ConfigPath string
	// Reboot restarts the machine (the console's "reboot"); nil: the
	// console says this box cannot reboot itself.
	Reboot func() error
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
	guard    *capture.Guard
	loop     *controller.Loop
	sup      *supervisor.Supervisor
	console  *console.Console
	button   *consoleButton
	trust    *clockGate
	warm     warmer
	recDir   string

	// recMu orders the closing, joining and queueing of recordings with
	// the recovery's scan, so that the recovery never queues a part the
	// controller is about to join.
	recMu sync.Mutex
	// waiting are the recordings only the controller may queue
	// (controller.State.Waiting of the last state it saved).
	waitMu  sync.Mutex
	waiting map[string]bool
	// roomFor is the recording that started without room for the whole
	// lecture (the "room" fault is its), "" when none.
	roomFor string
	ledger  *boxLedger // nil when the ledger cannot be opened
	metrics *metrics
	auth    *statusAuth // the status page's login
}

func newBox(cfg *config.Config, dev Devices, opts Options) (*box, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &box{cfg: cfg, dev: dev, opts: opts, log: log, faults: newFaults()}
	b.recDir = cfg.Recording.Dir
	b.warm = warmer{lead: cfg.Recording.Warmup, pre: cfg.Recording.PrePadding}
	for _, d := range []string{cfg.Box.DataDir, b.recDir, b.path("queue"), b.path("schedule")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("firmware: data directory: %w", err)
		}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}

	b.trust = &clockGate{sync: dev.TimeSync, log: log, faults: b.faults}
	client, session, err := newSession(cfg, opts.HTTPClient, log, b.trust.serverTime)
	if err != nil {
		return nil, err
	}
	b.session = session

	b.openLedger()
	b.metrics = newMetrics(b)
	b.auth = newStatusAuth(cfg.Box.StatusPassword, time.Now)
	b.button = newConsoleButton(dev.Button)

	fetcher, err := NewFetcher(cfg, client, session, log)
	if err != nil {
		return nil, err
	}
	camera, room := PlanResource(cfg)
	b.syncer, err = syncer.New(syncer.Config{
		Fetcher:    faultingFetcher{inner: fetcher, faults: b.faults},
		Store:      cache.New(b.path("schedule")),
		Clock:      time.Now,
		Trusted:    b.trust.Trusted,
		ResourceID: camera,
		RoomID:     room,
		// The parser refuses what the fetch would not read: one limit,
		// sync.max_response_size.
		Parse: func(page []byte) (*icalparse.Calendar, error) {
			return icalparse.ParseBytes(page, icalparse.Options{MaxBytes: int64(cfg.Sync.MaxResponseSize), Logger: log.With("subsystem", "sync")})
		},
		Interval: cfg.Sync.Interval,
		Jitter:   jitterFraction(cfg.Sync.Interval, cfg.Sync.Jitter),
		Logger:   log.With("subsystem", "sync"),
		Rand:     newRand(seed),
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: sync: %w", err)
	}

	b.queue, err = upload.OpenQueue(b.path("queue"), upload.QueueOptions{
		API:                    b.session,
		Logger:                 log.With("subsystem", "upload"),
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
		StuckAfter:          15,
		OnFault:             b.onUploadFault,
		OnReady:             b.onReady,
		OnResume:            func() { go b.refreshUploadFault() },
		UnverifiedRetention: cfg.Upload.UnverifiedRetention,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: upload queue: %w", err)
	}

	b.recorder, err = capture.New(capture.Config{
		Dir:      b.recDir,
		Source:   dev.Capture,
		Logger:   log.With("subsystem", "capture"),
		OnHealth: b.onHealth,
		OnDisk:   b.onDisk,

		Audio:        dev.Audio,
		AudioCodec:   dev.AudioCodec,
		SilenceAfter: cfg.Recording.SilenceAfter,
		BlackAfter:   cfg.Recording.BlackAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: capture: %w", err)
	}

	b.guard, err = capture.NewGuard(capture.GuardConfig{
		Dir:       b.recDir,
		Policy:    capture.GuardPolicy{Retention: cfg.Upload.Retention, MinFree: int64(cfg.Upload.MinFreeSpace)},
		Uploads:   queueUploads{b.queue},
		OnDeleted: b.onGuardDeleted,
		OnShort:   b.onGuardShort,
		Logger:    log.With("subsystem", "guard"),
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: disk guard: %w", err)
	}

	b.loop = &controller.Loop{
		Policy: controller.Policy{
			PrePadding:  cfg.Recording.PrePadding,
			PostPadding: cfg.Recording.PostPadding,
			AdHocMax:    cfg.Recording.AdhocMax,
			// One lecture, one entry, unless the parts are kept separate.
			KeepPartsSeparate: cfg.Recording.KeepPartsSeparate,
		},
		Log:      log.With("subsystem", "controller"),
		LED:      dev.LED,
		Display:  dev.Display,
		Button:   b.button,
		Recorder: ledgerRecorder{inner: (*boxRecorder)(b), b: b},
		Store:    waitingStore{b: b, inner: &controller.FileStore{Path: b.path("controller.json")}},
		Facts:    b,
		Changed:  b.faults.changed,
		Room:     cfg.Box.Name,
		Loc:      cfg.Box.Location(),
	}
	b.sup = supervisor.New(log.With("subsystem", "supervisor"), supervisor.Policy{})
	b.console = console.New(log, "capturebox> ")
	b.console.SetPIN(cfg.Hardware.ConsolePIN.Reveal())
	b.console.SetEcho(opts.ConsoleEcho)
	b.registerCommands()
	b.registerUnverified()
	b.registerUpdateCommand()
	return b, nil
}

// NewSession builds the Kaltura client and the app-token session that sync
// and upload share, from the configuration. httpClient may be nil: then a
// client that verifies TLS certificates against the system roots, plus
// kaltura.ca_file when set, is used.
func NewSession(cfg *config.Config, httpClient *http.Client, log *slog.Logger) (*kaltura.Client, *kaltura.Session, error) {
	return newSession(cfg, httpClient, log, nil)
}

// newSession is NewSession whose client reports the Date of each reply
// to onServerTime (the box's clock cross-check; nil: not reported).
func newSession(cfg *config.Config, httpClient *http.Client, log *slog.Logger, onServerTime func(time.Time)) (*kaltura.Client, *kaltura.Session, error) {
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
		Logger:            log.With("subsystem", "kaltura"),
		OnServerTime:      onServerTime,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: kaltura client: %w", err)
	}
	session, err := kaltura.NewSession(client, kaltura.SessionConfig{
		PartnerID:  cfg.Kaltura.PartnerID,
		AppTokenID: cfg.Kaltura.AppTokenID,
		AppToken:   cfg.Kaltura.AppToken.Reveal(),
		HashType:   cfg.Kaltura.AppTokenHashType,
		Logger:     log.With("subsystem", "session"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: kaltura session: %w", err)
	}
	return client, session, nil
}

func (b *box) path(name string) string { return filepath.Join(b.cfg.Box.DataDir, name) }

// PlanResource returns the resources the plan keeps events of: the box's
// camera and the room it stands in (kaltura.parent_resource_id, 0 for
// none; plan.BoxResources). The box's sync and `capturebox schedule` plan
// with it alike.
func PlanResource(cfg *config.Config) (camera, room int64) {
	return cfg.Kaltura.ResourceID, cfg.Kaltura.ParentResourceID
}

// NewFetcher builds the schedule fetcher of the configuration (HTTPS, or
// FTP when sync.transport says so), for the box and for `capturebox
// schedule`, which runs the same sync once.
func NewFetcher(cfg *config.Config, client *kaltura.Client, session *kaltura.Session, log *slog.Logger) (syncer.Fetcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	filter := fetch.Filter{
		ResourceID:       cfg.Kaltura.ResourceID,
		ParentResourceID: cfg.Kaltura.ParentResourceID,
		AllTypes:         !cfg.Sync.RecordOnly,
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
			Logger:    log.With("subsystem", "fetch"),
		})
		if err != nil {
			return nil, fmt.Errorf("firmware: ftp fetch: %w", err)
		}
		return f, nil
	default:
		h, err := fetch.NewHTTPS(fetch.HTTPSOptions{
			Caller:           client,
			Session:          session,
			Filter:           filter,
			Window:           cfg.Sync.Window,
			MaxBytes:         int64(cfg.Sync.MaxResponseSize),
			PageSize:         cfg.Sync.PageSize,
			NarrowOnOverflow: true,
			Logger:           log.With("subsystem", "fetch"),
		})
		if err != nil {
			return nil, fmt.Errorf("firmware: https fetch: %w", err)
		}
		return h, nil
	}
}

func (b *box) run(ctx context.Context) error {
	// A full or read-only data disk must not stop the box: what could not
	// be recovered or queued is shown as a fault and retried.
	// The controller's state comes first: the parts it collected for a
	// join are not queued by the recovery.
	if err := b.loop.Init(); err != nil {
		return err
	}
	for _, r := range b.loop.Recovered() {
		b.log.Info("recording was running at the last stop; its file is recovered", "id", r.ID, "title", r.Occ.Title)
		b.ledgerRecovered(r)
	}
	recoverPending := b.recover(false) != nil
	if err := b.syncer.LoadCache(); err != nil {
		b.log.Warn("no last good schedule on disk", "err", err)
	}
	b.trust.check(ctx, b.faults)
	go b.forward(ctx, b.syncer.Updates())
	go b.button.forward(ctx)
	b.trust.onTrust = b.syncer.SyncNow

	subs := []supervisor.Subsystem{
		{Name: "clock", Run: b.trust.run(b.faults)},
		{Name: "sync", Run: b.syncer.Run},
		{Name: "upload", Run: b.queue.Run},
		{Name: "controller", Run: b.loop.Run},
		{Name: "guard", Run: b.guard.Run},
		{Name: "warmup", Run: b.warm.run(b)},
		{Name: "beacon", Run: b.runBeacon},
	}
	subs = append(subs, b.healthSubsystems()...)
	if recoverPending {
		subs = append(subs, supervisor.Subsystem{Name: "recover", Run: b.recoverLater})
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

// recoverRetry is how often a recovery that a full or read-only disk
// stopped is tried again.
const recoverRetry = 30 * time.Second

// recover closes what a crash left open and makes sure every closed
// recording that is not held is in the upload queue (Enqueue is idempotent).
// live is set when the recorder is running (only the recordings it is not
// running are touched). It never stops the box: a recording it could not
// close or queue is a "recover" fault and an error, and the caller retries;
// a recording whose sidecar cannot be trusted is a "sidecar" fault, kept
// on the box and not retried. The recordings the controller is waiting on
// (parts collected for a join, a pending stop or join) are left to it.
func (b *box) recover(live bool) error {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	var recovered []capture.Result
	var err error
	if live {
		recovered, err = b.recorder.Recover()
	} else {
		recovered, err = capture.Recover(b.recDir)
	}
	var errs []error
	if err != nil {
		b.log.Error("recovering recordings", "err", err)
		errs = append(errs, err)
	}
	for _, r := range recovered {
		b.log.Warn("recovered a recording cut short by a crash or power loss", "id", r.ID, "duration", r.Duration)
	}
	sidecars, err := filepath.Glob(filepath.Join(b.recDir, "*.json"))
	if err != nil {
		errs = append(errs, fmt.Errorf("firmware: list recordings: %w", err))
	}
	var bad []string
	for _, sc := range sidecars {
		id := strings.TrimSuffix(filepath.Base(sc), ".json")
		if !capture.ValidID(id) || b.held(id) || b.isWaiting(id) {
			continue
		}
		s, err := capture.ReadSidecar(b.recDir, id)
		if err != nil {
			b.log.Error("recording kept on the box: its sidecar cannot be trusted", "id", id, "err", err)
			bad = append(bad, id)
			continue
		}
		if !s.Uploadable() {
			continue
		}
		if err := b.queue.Enqueue(b.uploadRecording(closedResult(b.recDir, s))); err != nil {
			b.log.Error("cannot queue a recording; retrying later", "id", id, "err", err)
			errs = append(errs, fmt.Errorf("firmware: queue recovered recording %s: %w", id, err))
		}
	}
	if len(bad) > 0 {
		b.faults.set("sidecar", "BAD SIDECAR "+strings.Join(bad, " "))
	}
	if err := errors.Join(errs...); err != nil {
		b.faults.set("recover", diskFault(err))
		return err
	}
	b.faults.clear("recover")
	return nil
}

// recoverLater retries recover every recoverRetry until it succeeds (space
// returned, the disk is writable again).
func (b *box) recoverLater(ctx context.Context) error {
	t := time.NewTicker(recoverRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := b.recover(true); err == nil {
			b.log.Info("recordings recovered and queued")
			return nil
		}
	}
}

// diskFault is the display text of a write error.
func diskFault(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "DISK FULL"
	case errors.Is(err, syscall.EROFS):
		return "DISK READ-ONLY"
	}
	return "DISK ERROR"
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

// Schedule implements controller.Facts: the plan of the last good
// schedule, which alone decides what is recorded (blackouts included).
func (b *box) Schedule() plan.Plan {
	s := b.syncer.Current()
	if s == nil {
		return plan.Plan{}
	}
	return s.Plan
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

// onDisk shows a recording that cannot write (a full or failing disk) at
// once, and clears the fault when it writes again.
func (b *box) onDisk(h capture.DiskHealth) {
	if h.OK {
		b.faults.clear("disk")
		return
	}
	b.faults.set("disk", diskFault(h.Err))
	b.guard.Poke()
}

// queueUploads tells the disk guard which recordings are READY in Kaltura.
type queueUploads struct{ q *upload.Queue }

func (u queueUploads) Uploaded(id string) (time.Time, bool) {
	for _, it := range u.q.Items() {
		if it.ID == id {
			return it.UpdatedAt, it.State == upload.StateReady
		}
	}
	return time.Time{}, false
}

func (b *box) onGuardDeleted(id string) {
	if err := b.queue.Forget(id); err != nil {
		b.log.Warn("disk guard: forgetting the upload of a deleted recording", "id", id, "err", err)
	}
}

// onGuardShort shows a disk that stays below upload.min_free_space with
// nothing uploaded left to delete.
func (b *box) onGuardShort(short int64) {
	if short > 0 {
		b.faults.set("space", "DISK FULL")
		return
	}
	b.faults.clear("space")
}

func (b *box) onUploadFault(f upload.Fault) {
	b.ledgerUploadFault(f)
	if f.Severity == upload.SeverityNotice {
		// For the console and the log, never the LED (a template without
		// categories, a recording delivered but not verified).
		b.log.Warn("upload notice", "item", f.ItemID, "code", f.Code, "setting", f.Setting, "msg", f.Message)
		return
	}
	b.log.Error("upload fault", "item", f.ItemID, "code", f.Code, "setting", f.Setting, "msg", f.Message)
	if (f.Severity == "warning" && f.ItemID != "") || f.Code == "UPLOAD_BACKLOG_STALLED" {
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
	if b.queue.Paused() != nil || b.queue.Stalled() != nil {
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
	b.ledgerReady(id, entryID)
	go b.refreshUploadFault() // not from inside the queue's callback
	if b.opts.OnUploaded != nil {
		b.opts.OnUploaded(id, entryID)
	}
}

// checkRoom asks the disk guard, before a scheduled recording starts,
// whether the disk has room for the whole lecture (what is free plus what
// the guard may delete). Without room the recording still starts, into
// what space there is (a full disk cuts it back to whole fragments and it
// resumes when space returns), and the fault "NO ROOM FOR LECTURE" is
// raised at once, with the shortfall in the log and on the console; it
// clears when that recording ends or the next start finds room.
func (b *box) checkRoom(rec controller.Rec) {
	d := rec.Occ.End.Add(b.cfg.Recording.PostPadding).Sub(rec.Started)
	ok, short, err := b.guard.Room(d)
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	switch {
	case err != nil:
		b.log.Warn("disk guard: cannot tell whether the lecture fits", "id", rec.ID, "err", err)
	case ok:
		if b.roomFor != "" {
			b.roomFor = ""
			b.faults.clear("room")
		}
	default:
		b.roomFor = rec.ID
		b.log.Error("not enough room on the disk for the whole lecture; recording into what space there is",
			"id", rec.ID, "title", rec.Occ.Title, "length", d.Round(time.Second), "short_bytes", short)
		b.faults.set("room", fmt.Sprintf("NO ROOM FOR LECTURE (%d MiB short)", (short+(1<<20)-1)>>20))
	}
}

// roomDone clears the room fault when its recording ends.
func (b *box) roomDone(id string) {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	if b.roomFor == id {
		b.roomFor = ""
		b.faults.clear("room")
	}
}

// waitingStore is the controller's state store; it keeps the box's view
// of the recordings the controller waits on up to date with every state
// the controller loads or saves.
type waitingStore struct {
	b     *box
	inner controller.StateStore
}

func (w waitingStore) Load() (controller.State, error) {
	st, err := w.inner.Load()
	w.b.setWaiting(st)
	return st, err
}

func (w waitingStore) Save(st controller.State) error {
	w.b.setWaiting(st)
	return w.inner.Save(st)
}

func (b *box) setWaiting(st controller.State) {
	ids := st.Waiting()
	b.waitMu.Lock()
	b.waiting = ids
	b.waitMu.Unlock()
}

func (b *box) isWaiting(id string) bool {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	return b.waiting[id]
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
	b := (*box)(r)
	o := rec.Occ
	if !rec.AdHoc() {
		b.checkRoom(rec)
	}
	meta := capture.Meta{
		Title:           o.Title,
		Description:     o.Description,
		Tags:            o.Tags,
		CategoryIDs:     o.CategoryIDs,
		ResourceIDs:     o.ResourceIDs,
		Start:           o.Start,
		End:             o.End,
		Part:            rec.Part,
		TemplateEntryID: o.TemplateEntryID,
	}
	if !rec.AdHoc() {
		meta.EventID = o.ReferenceID()
	} else {
		meta.Start, meta.End = time.Time{}, time.Time{}
	}
	_, err := r.recorder.Start(rec.ID, meta)
	if errors.Is(err, capture.ErrExists) {
		return nil
	}
	return err
}

func (r *boxRecorder) Finish(_ context.Context, rec controller.Rec, d controller.Disposition, why string) error {
	b := (*box)(r)
	b.recMu.Lock()
	defer b.recMu.Unlock()
	b.roomDone(rec.ID)
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
	switch d {
	case controller.Keep:
		if err := atomicfile.WriteFile(filepath.Join(b.recDir, rec.ID+".held"), []byte(why+"\n"), 0o644); err != nil {
			return fmt.Errorf("hold %s: %w", rec.ID, err)
		}
		b.log.Warn("recording kept on the box, not uploaded", "id", rec.ID, "why", why, "path", res.Path)
		return nil
	case controller.Collect:
		b.log.Info("part kept for its event's join", "id", rec.ID, "part", rec.Part, "why", why)
		return nil
	}
	return b.queue.Enqueue(b.uploadRecording(res))
}

// Join joins the parts of one event into the recording rec.ID and queues
// it: one lecture, one entry. It is idempotent: a join done before a crash
// is queued again (Enqueue is idempotent); a join cut short was undone by
// the recovery and is done again. Parts without media are left out; one
// part with media is queued as it is; parts that cannot be joined (a
// capture device with other settings, no room on the disk for the joined
// copy) are queued each on its own, so that nothing is lost.
// A join that fails otherwise (a disk error) is a fault on the LED until
// its retry succeeds.
func (r *boxRecorder) Join(_ context.Context, rec controller.Rec, parts []string) error {
	b := (*box)(r)
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if err := b.join(rec, parts); err != nil {
		b.faults.set("join", diskFault(err))
		return err
	}
	b.faults.clear("join")
	return nil
}

func (b *box) join(rec controller.Rec, parts []string) error {
	if s, err := capture.ReadSidecar(b.recDir, rec.ID); err == nil && s.Uploadable() {
		return b.queue.Enqueue(b.uploadRecording(closedResult(b.recDir, s)))
	}
	var usable []capture.Sidecar
	for _, id := range parts {
		s, err := capture.ReadSidecar(b.recDir, id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b.log.Warn("part of a lecture left no recording", "id", id, "lecture", rec.ID)
			continue
		case err != nil:
			// A damaged sidecar: the recovery shows it as a fault and keeps it.
			b.log.Error("part of a lecture kept on the box: its sidecar cannot be trusted", "id", id, "err", err)
			continue
		}
		if !s.Uploadable() || s.MediaStart.IsZero() || !s.MediaEnd.After(s.MediaStart) {
			b.log.Warn("part of a lecture has no media", "id", id, "state", s.State)
			continue
		}
		usable = append(usable, s)
	}
	switch len(usable) {
	case 0:
		b.log.Warn("lecture has no media in any part", "lecture", rec.ID, "parts", parts)
		return nil
	case 1:
		return b.queue.Enqueue(b.uploadRecording(closedResult(b.recDir, usable[0])))
	}
	ids := make([]string, len(usable))
	for i, s := range usable {
		ids[i] = s.ID
	}
	res, err := capture.Join(b.recDir, ids, rec.ID)
	// Parts that cannot be joined, or a disk without room for the joined
	// copy: each part goes on its own rather than never.
	if errors.Is(err, capture.ErrCannotJoin) || errors.Is(err, capture.ErrInvalidID) || errors.Is(err, syscall.ENOSPC) {
		b.log.Error("parts of a lecture cannot be joined; each is uploaded on its own", "lecture", rec.ID, "parts", ids, "err", err)
		for _, s := range usable {
			up := b.uploadRecording(closedResult(b.recDir, s))
			up.Title = partTitle(s.Meta)
			if err := b.queue.Enqueue(up); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("join %s: %w", rec.ID, err)
	}
	b.log.Info("lecture joined into one recording", "id", rec.ID, "parts", ids, "duration", res.Duration, "gaps", len(res.Meta.Gaps))
	return b.queue.Enqueue(b.uploadRecording(res))
}

// closedResult describes a closed recording from its sidecar.
func closedResult(dir string, s capture.Sidecar) capture.Result {
	return capture.Result{ID: s.ID, Meta: s.Meta, Path: filepath.Join(dir, s.File), Start: s.MediaStart, End: s.MediaEnd, Bytes: s.Bytes, Duration: s.Duration, Parts: s.Parts, Notes: s.Notes()}
}

// uploadRecording builds the upload queue's item from a closed recording.
// A part is titled "(part N)" only when parts are kept separate; a joined
// recording's gaps, and the stretches of silence and of black picture,
// are noted in its description.
func (b *box) uploadRecording(res capture.Result) upload.Recording {
	m := res.Meta
	title := m.Title
	if b.cfg.Recording.KeepPartsSeparate {
		title = partTitle(m)
	}
	return upload.Recording{
		ID:              res.ID,
		Path:            res.Path,
		Title:           title,
		Description:     describe(m.Description, m.Gaps, res.Notes, b.cfg.Box.Location()),
		Tags:            m.Tags,
		CategoryIDs:     m.CategoryIDs,
		TemplateEntryID: m.TemplateEntryID,
		EventID:         m.EventID,
		Start:           res.Start,
		Duration:        res.Duration,
	}
}

// partTitle is the title of a part uploaded on its own.
func partTitle(m capture.Meta) string {
	if m.Part > 1 {
		return fmt.Sprintf("%s (part %d)", m.Title, m.Part)
	}
	return m.Title
}

// describe notes after an entry's description, in local times, the gaps
// of a joined recording (where the box was stopped, crashed or out of
// power) and the stretches of silence and of black picture the recording
// noted, so that a viewer knows before scrubbing through them.
func describe(desc string, gaps []capture.Span, notes capture.Notes, loc *time.Location) string {
	var sb strings.Builder
	sb.WriteString(desc)
	list := func(spans []capture.Span, one, many, what string) {
		if len(spans) == 0 {
			return
		}
		if sb.Len() > 0 {
			sb.WriteString("\n\n")
		}
		if len(spans) == 1 {
			sb.WriteString(one)
		} else {
			fmt.Fprintf(&sb, many, len(spans))
		}
		for _, g := range spans {
			fmt.Fprintf(&sb, "\n- %s to %s (%s %s)", g.Start.In(loc).Format("15:04:05"), g.End.In(loc).Format("15:04:05 MST"), g.End.Sub(g.Start).Round(time.Second), what)
		}
	}
	list(gaps, "This recording has a gap (the capture box was stopped or restarted):",
		"This recording has %d gaps (the capture box was stopped or restarted):", "missing")
	list(notes.Silences, "The sound is silent for a while (the microphone may have been muted):",
		"The sound is silent %d times (the microphone may have been muted):", "silent")
	list(notes.Black, "The picture is black for a while (the source may have been asleep or muted):",
		"The picture is black %d times (the source may have been asleep or muted):", "black")
	return sb.String()
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
