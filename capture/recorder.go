// Package capture records the capture input to files: the recording
// lifecycle of design.md §2 "Recording".
//
// A Recorder owns one capture stream, opened when the first recording
// starts and closed when the last one stops, and fans its samples out to
// any number of concurrent recordings. Overlapping events each get their
// own file from their own start to their own end, cut from the same
// capture. Every recording begins on a key frame: starting one asks the
// stream for a key frame (hal.Stream.RequestKeyFrame) and skips samples
// until it comes.
//
// Files are fragmented MP4 (H.264 in avc1, 90 kHz timescale): an init
// segment, then one moof+mdat fragment per FragmentDuration, each written
// and fsynced, under <dir>/<id>.part.mp4. A crash or a pulled plug loses at
// most the fragment being collected (about FragmentDuration) and leaves a
// playable prefix that Recover closes after the reboot. Stop writes the
// last fragment, fsyncs, renames the file to <dir>/<id>.mp4 and fsyncs the
// directory before it returns; only then may the caller publish the
// recording to the upload queue. Next to each file a sidecar,
// <dir>/<id>.json (see Sidecar), carries the recording's Meta and state.
// Meta is typed from the event to the entry and checked (Meta.Validate)
// when a recording starts and whenever a sidecar is read: a sidecar that
// cannot be trusted is a *SidecarError, and its recording stays on the box.
//
// A write that fails (a full disk) is cut back to the last whole fragment,
// so no fragment is ever in a file twice or torn, and is reported at once
// (Config.OnDisk); the recording drops samples, retries every
// RetryInterval from a key frame, and goes on in the same file when space
// returns. The disk guard (Guard) makes that space: it deletes recordings
// that have reached Kaltura, by retention and by free space, never others.
// Join makes one file of an event's parts.
//
// When the signal is lost the recorder reports it (Config.OnHealth,
// Recorder.Health), keeps the recordings open, retries every RetryInterval
// and records again from the first key frame after the signal returns. In
// the file, media time is capture time since the recording's first frame:
// the frame before the loss keeps its nominal duration and the fragment
// after the gap starts (tfdt) at the capture time of its first frame, so
// the gap is a hole in the timeline of the same length as the outage, and
// the sidecar's Parts list the continuous spans.
//
// Sound comes from a separate input (Config.Audio, a hal.AudioSource of
// PCM) and is encoded by Config.AudioCodec into a second track of the same
// file, in the same fragments, on the same capture clock; see audio.go and
// audiotrack.go. The audio samples of hal.Stream are not used.
package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// DefaultFragmentDuration is the fragment (and fsync) interval when
// Config.FragmentDuration is not set: a power cut loses at most about this
// much media plus the frame being encoded, so the recovered file ends
// within a second of the cut (tools/vmlab/capturevm TestPowerCut).
const DefaultFragmentDuration = 500 * time.Millisecond

// Errors returned by the Recorder.
var (
	// ErrNoMedia: the recording ended before any frame was recorded; there
	// is no file (the sidecar says StateEmpty).
	ErrNoMedia = errors.New("capture: recording has no media")
	// ErrUnknownRecording: no running recording has that id.
	ErrUnknownRecording = errors.New("capture: no such recording")
	// ErrExists: a recording with that id is running or has files in the
	// directory.
	ErrExists = errors.New("capture: recording already exists")
	// ErrInvalidID: the id cannot name a file.
	ErrInvalidID = errors.New("capture: invalid recording id")
	// ErrClosed: the Recorder was closed.
	ErrClosed = errors.New("capture: recorder closed")
	// ErrNotCapturing is returned by Still while no capture stream is
	// open (nothing is recording).
	ErrNotCapturing = errors.New("capture: nothing is recording")
	// ErrNoStill is returned by Still when the capture source makes no
	// stills (its stream is not a hal.Stiller).
	ErrNoStill = errors.New("capture: the capture source makes no stills")
)

// Config configures a Recorder.
type Config struct {
	// Dir is where recordings and sidecars are written. It must exist.
	Dir string
	// Source is the capture input.
	Source hal.CaptureSource
	// Clock gives the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives the recorder's log; nil discards it.
	Logger *slog.Logger
	// FragmentDuration is how much media each fragment holds, and so
	// about how much a crash can lose; default DefaultFragmentDuration.
	FragmentDuration time.Duration
	// RetryInterval is how long the recorder waits before opening the
	// source again after it failed or lost its signal; default 1 s.
	RetryInterval time.Duration
	// OnHealth, if set, is called on every change of capture health, from
	// the recorder's capture goroutine. It must not block for long nor
	// call the Recorder.
	OnHealth func(Health)
	// FS creates the media files; nil means the real file system (tests
	// inject a full disk).
	FS MediaFS
	// OnDisk, if set, is called from the capture goroutine the moment a
	// recording cannot write (a full or failing disk: the fault to show at
	// once) and again when it writes again. Same rules as OnHealth.
	OnDisk func(DiskHealth)

	// Audio is the sound input; nil records picture only. AudioCodec
	// encodes it and is required with it. See audio.go.
	Audio      hal.AudioSource
	AudioCodec hal.AudioCodec
	// SilenceAfter is how long the sound must stay below SilenceLevel
	// (dBFS) to be noted in the sidecar; defaults DefaultSilenceAfter and
	// DefaultSilenceLevel.
	SilenceAfter time.Duration
	SilenceLevel float64
	// BlackAfter is how long the picture must stay black (hal.Sample's
	// Black) to be noted in the sidecar; default DefaultBlackAfter.
	BlackAfter time.Duration
}

// DefaultBlackAfter is Config.BlackAfter's default.
const DefaultBlackAfter = 30 * time.Second

// DiskHealth is whether the recordings can write their files.
type DiskHealth struct {
	// OK is false from a failed write until a recording writes again.
	OK bool
	// ID is the recording that failed or resumed.
	ID string
	// Err is the write error (it wraps syscall.ENOSPC for a full disk).
	Err error
	// Since is the capture time of the change.
	Since time.Time
}

// Health is the state of the capture input while recording.
type Health struct {
	// Signal is true while the capture stream delivers samples.
	Signal bool
	// Err says why there is no signal (it wraps hal.ErrNoSignal when the
	// input is unplugged).
	Err error
	// Since is when this state began.
	Since time.Time
}

// Result describes a closed recording.
type Result struct {
	ID   string
	Meta Meta
	// Path is the closed media file, <dir>/<id>.mp4; empty when the
	// recording has no media.
	Path string
	// Sidecar is the path of the sidecar JSON.
	Sidecar string
	// Start and End are the capture times of the start of the first frame
	// and the end of the last frame in the file.
	Start, End time.Time
	// Bytes is the size of the file.
	Bytes int64
	// Duration is the media duration, End-Start (signal gaps included).
	Duration time.Duration
	// Parts are the spans of continuous media.
	Parts []Span
	// Notes are the sidecar's notes of silence and black picture, for the
	// upload to mention.
	Notes Notes
}

// Notes are the stretches of a recording worth telling its viewers about.
type Notes struct {
	Silences []Span // the sound below the silence level (AudioNotes)
	Black    []Span // the picture black (Sidecar.Black)
}

// Notes returns the sidecar's notes.
func (sc Sidecar) Notes() Notes {
	n := Notes{Black: sc.Black}
	if sc.Audio != nil {
		n.Silences = sc.Audio.Silences
	}
	return n
}

// Status is a running recording as the console shows it.
type Status struct {
	ID   string
	Meta Meta
	// Waiting is true until the first frame is written, and again after a
	// signal loss until the next key frame.
	Waiting bool
	// Start is the capture time of the first frame; zero while none.
	Start time.Time
	// End is the capture time of the end of the last frame received.
	End    time.Time
	Frames int
	// Dropped counts the frames missing between consecutive frames of a
	// span (a gap of at least one and a half frame durations), as a
	// device or a late reader loses them; a signal loss is a gap in the
	// timeline, not dropped frames.
	Dropped int
	Bytes   int64
	Started time.Time // when Start was called
	Err     error     // a write error that ended the recording early
	// DiskErr is the write error the recording is waiting out (a full
	// disk); it records again when space returns.
	DiskErr error
}

// Recorder records the capture input. Its methods are safe for concurrent
// use.
type Recorder struct {
	cfg   Config
	clock func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	recs     map[string]*Recording
	stream   hal.Stream // the open stream, nil when none
	cancel   context.CancelFunc
	loopDone chan struct{} // closed when the capture goroutine has exited
	health   Health
	closed   bool
	// audioLostSince is when the sound input stopped delivering; zero
	// while it delivers (or has not been opened yet).
	audioLostSince time.Time
	// warmUntil keeps the capture open without a recording until then
	// (Warm); coolTimer closes it at that time if nothing records.
	warmUntil time.Time
	coolTimer *time.Timer
}

// New returns a Recorder. It opens nothing until a recording starts. Call
// Recover on the directory first, so that recordings interrupted by a
// crash are closed.
func New(cfg Config) (*Recorder, error) {
	if cfg.Source == nil {
		return nil, errors.New("capture: no source")
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("capture: recordings dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("capture: recordings dir %s is not a directory", cfg.Dir)
	}
	if cfg.FragmentDuration <= 0 {
		cfg.FragmentDuration = DefaultFragmentDuration
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.FS == nil {
		cfg.FS = OSMediaFS{}
	}
	if cfg.Audio != nil && cfg.AudioCodec == nil {
		return nil, errors.New("capture: a sound input without a sound codec")
	}
	if cfg.SilenceAfter <= 0 {
		cfg.SilenceAfter = DefaultSilenceAfter
	}
	if cfg.BlackAfter <= 0 {
		cfg.BlackAfter = DefaultBlackAfter
	}
	if cfg.SilenceLevel == 0 {
		cfg.SilenceLevel = DefaultSilenceLevel
	}
	r := &Recorder{
		cfg:   cfg,
		clock: cfg.Clock,
		log:   cfg.Logger,
		recs:  make(map[string]*Recording),
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Recording is one running recording.
type Recording struct {
	id      string
	meta    Meta
	dir     string
	started time.Time
	rec     *Recorder

	mu        sync.Mutex
	w         *fmp4Writer
	needKey   bool
	stopped   bool
	err       error
	parts     []Span
	spanStart time.Time // start of the current span; zero between spans
	lastEnd   time.Time
	dropped   int // frames missing within spans (Status.Dropped)
	// The picture's black stretches, like the sound's silences: black
	// noted in the sidecar, blackSince the start of the current one
	// (zero when the picture is not black), blackNoted whether it is the
	// last of black.
	black      []Span
	blackSince time.Time
	blackNoted bool
	// diskErr is the write error the recording is waiting out (a full
	// disk): it drops samples until retryAt, then tries again from the
	// next key frame; diskSeq is the fragment that failed, so the first
	// fragment written after it clears the fault.
	diskErr error
	retryAt time.Time
	diskSeq uint32
	// keyAsked is set once a key frame was requested for the retry.
	keyAsked bool
	// diskNote is the last write error, kept after writing resumed, for
	// the sidecar.
	diskNote error

	// Sound (audio.go).
	audio        AudioNotes
	audioEnd     time.Time     // end of the last sound packet written
	audioMoved   chan struct{} // closed when sound is written; nil when nobody waits
	videoClosed  bool          // Stop is draining the sound: no more video
	drainTo      time.Time     // the sound Stop waits for: min(last frame's end, the stop)
	silentSince  time.Time     // start of the current silence; zero when not silent
	silenceNoted bool          // the current silence is in audio.Silences
}

// ID returns the recording's id.
func (rc *Recording) ID() string { return rc.id }

// Status returns the recording's progress.
func (rc *Recording) Status() Status {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := Status{ID: rc.id, Meta: rc.meta, Waiting: rc.needKey, End: rc.lastEnd, Dropped: rc.dropped, Started: rc.started, Err: rc.err, DiskErr: rc.diskErr}
	if rc.w != nil {
		st.Start = rc.w.origin
		st.Frames = rc.w.samples + len(rc.w.pending)
		st.Bytes = rc.w.bytes
	}
	return st
}

// ValidID reports whether id can name a recording: 1 to 128 characters
// from A–Z, a–z, 0–9, '-', '_' and '.', not starting with '.'.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func partPath(dir, id string) string  { return filepath.Join(dir, id+".part.mp4") }
func finalPath(dir, id string) string { return filepath.Join(dir, id+".mp4") }

// Start starts recording id. The sidecar is written before Start returns;
// the file is created at the first key frame. Start succeeds without a
// signal: the recording waits for it.
func (r *Recorder) Start(id string, meta Meta) (*Recording, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("start %q: %w", id, ErrInvalidID)
	}
	if err := meta.Validate(); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("start %s: %w", id, ErrClosed)
	}
	if _, ok := r.recs[id]; ok {
		return nil, fmt.Errorf("start %s: %w", id, ErrExists)
	}
	for _, p := range []string{partPath(r.cfg.Dir, id), finalPath(r.cfg.Dir, id), SidecarPath(r.cfg.Dir, id)} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("start %s: %s: %w", id, filepath.Base(p), ErrExists)
		}
	}
	rc := &Recording{id: id, meta: meta, dir: r.cfg.Dir, started: r.clock(), rec: r, needKey: true}
	if err := writeSidecar(r.cfg.Dir, rc.sidecarLocked(StateRecording)); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	r.recs[id] = rc
	if r.cancel == nil {
		r.openLocked()
	} else if r.stream != nil {
		r.stream.RequestKeyFrame()
	}
	r.log.Info("recording started", "id", id, "event", meta.EventID, "part", meta.Part)
	return rc, nil
}

// Stop stops recording id and closes its file: the last fragment is
// written, the file fsynced, renamed to <id>.mp4 and the directory fsynced,
// and the sidecar updated, all before Stop returns. A recording that got no
// frame returns its Result (without Path) and ErrNoMedia. When it was the
// last recording, the capture stream is closed before Stop returns.
func (r *Recorder) Stop(id string) (Result, error) {
	r.mu.Lock()
	rc, ok := r.recs[id]
	r.mu.Unlock()
	if ok {
		rc.drainAudio()
	}
	r.mu.Lock()
	rc, ok = r.recs[id]
	if !ok {
		r.mu.Unlock()
		return Result{}, fmt.Errorf("stop %q: %w", id, ErrUnknownRecording)
	}
	delete(r.recs, id)
	done := r.closeIdleLocked()
	audioLost := r.audioLostSince
	r.mu.Unlock()

	res, err := rc.finish(audioLost)
	if done != nil {
		<-done
	}
	if err != nil && !errors.Is(err, ErrNoMedia) {
		r.log.Error("recording stopped with an error", "id", id, "err", err)
	} else {
		r.log.Info("recording stopped", "id", id, "duration", res.Duration, "bytes", res.Bytes)
	}
	return res, err
}

// openLocked starts the capture goroutine, which opens the source. r.mu
// is held and no capture goroutine is running (r.cancel is nil).
func (r *Recorder) openLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	prev := r.loopDone
	done := make(chan struct{})
	r.cancel, r.loopDone = cancel, done
	go r.run(ctx, prev, done)
}

// closeIdleLocked stops the capture goroutine when nothing records and
// no warm-up holds the capture open; it returns the channel closed when
// the goroutine has exited (nil if it was not stopped). r.mu is held.
func (r *Recorder) closeIdleLocked() chan struct{} {
	if len(r.recs) > 0 || r.cancel == nil || (r.clock().Before(r.warmUntil) && !r.closed) {
		return nil
	}
	r.cancel()
	r.cancel = nil
	return r.loopDone
}

// Warm opens the capture input now, if it is not open, and keeps it open
// until until even while nothing records, so that a recording started
// before then begins with the next frame from a running pipeline (its
// first frame a key frame forced at Start) instead of waiting for the
// device to open and the encoder's first key frame: a scheduled lecture
// warms up ahead of DTSTART (recording.warmup) and its file begins with
// the first frame at or after the start. A later Warm extends the time;
// when it passes with nothing recording, the input is closed.
func (r *Recorder) Warm(until time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("warm up: %w", ErrClosed)
	}
	now := r.clock()
	if !until.After(now) {
		return nil
	}
	if until.After(r.warmUntil) {
		r.warmUntil = until
	}
	if r.cancel == nil {
		r.log.Info("capture warming up", "until", until)
		r.openLocked()
	}
	if r.coolTimer != nil {
		r.coolTimer.Stop()
	}
	r.coolTimer = time.AfterFunc(r.warmUntil.Sub(now), r.cool)
	return nil
}

// cool closes the capture input when its warm-up has passed and nothing
// records. It does not wait for the capture goroutine: the next open
// waits for it (run's prev).
func (r *Recorder) cool() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closeIdleLocked() != nil {
		r.log.Info("capture closed: warmed up and nothing recorded")
	}
}

// Capturing reports whether the recorder holds the capture input (and the
// sound input) open: a recording runs or a warm-up holds it.
func (r *Recorder) Capturing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancel != nil
}

// Recordings returns the status of the running recordings.
func (r *Recorder) Recordings() []Status {
	r.mu.Lock()
	recs := make([]*Recording, 0, len(r.recs))
	for _, rc := range r.recs {
		recs = append(recs, rc)
	}
	r.mu.Unlock()
	out := make([]Status, len(recs))
	for i, rc := range recs {
		out[i] = rc.Status()
	}
	return out
}

// Still returns a still of the picture the open capture stream delivers
// (hal.Stiller): ErrNotCapturing while no stream is open, ErrNoStill when
// the source makes none, and the stream's error (no signal) otherwise.
func (r *Recorder) Still(ctx context.Context) (image.Image, error) {
	r.mu.Lock()
	s := r.stream
	r.mu.Unlock()
	if s == nil {
		return nil, ErrNotCapturing
	}
	st, ok := s.(hal.Stiller)
	if !ok {
		return nil, ErrNoStill
	}
	img, err := st.Still(ctx)
	if err != nil {
		return nil, fmt.Errorf("capture: still: %w", err)
	}
	return img, nil
}

// Health returns the capture health last seen. Before any recording it
// reports a signal (nothing is known to be wrong).
func (r *Recorder) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health
	if h.Since.IsZero() {
		h.Signal = true
	}
	return h
}

// Close stops every running recording (see Stop) and refuses new ones.
// It returns the results of the recordings it stopped.
func (r *Recorder) Close() ([]Result, error) {
	r.mu.Lock()
	r.closed = true
	ids := make([]string, 0, len(r.recs))
	for id := range r.recs {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	var results []Result
	var errs []error
	for _, id := range ids {
		res, err := r.Stop(id)
		results = append(results, res)
		if err != nil && !errors.Is(err, ErrNoMedia) && !errors.Is(err, ErrUnknownRecording) {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	if r.coolTimer != nil {
		r.coolTimer.Stop()
	}
	done := r.closeIdleLocked() // a warm-up with nothing recording
	r.mu.Unlock()
	if done != nil {
		<-done
	}
	return results, errors.Join(errs...)
}

// run is the capture goroutine: it opens the source, pumps samples to the
// recordings, and on failure reports it, marks a gap and retries, until
// ctx ends. It waits for the previous capture goroutine to release the
// source first.
func (r *Recorder) run(ctx context.Context, prev <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	if r.cfg.Audio != nil {
		audioDone := make(chan struct{})
		go func() {
			defer close(audioDone)
			r.runAudio(ctx)
		}()
		defer func() { <-audioDone }()
	}
	for ctx.Err() == nil {
		s, err := r.cfg.Source.Open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.setHealth(false, fmt.Errorf("open capture: %w", err))
			if !sleep(ctx, r.cfg.RetryInterval) {
				return
			}
			continue
		}
		r.mu.Lock()
		r.stream = s
		// Recordings started while the stream was being opened wait for
		// a key frame; the stream's first sample is one.
		r.mu.Unlock()
		n, err := r.pump(ctx, s)
		r.mu.Lock()
		r.stream = nil
		r.mu.Unlock()
		if cerr := s.Close(); cerr != nil {
			r.log.Warn("closing capture stream", "err", cerr)
		}
		if ctx.Err() != nil {
			return
		}
		r.gapAll()
		r.setHealth(false, fmt.Errorf("capture: %w", err))
		if n == 0 && !sleep(ctx, r.cfg.RetryInterval) {
			return
		}
	}
}

// pump moves samples from s to the recordings until Next fails; it
// returns how many samples it moved.
func (r *Recorder) pump(ctx context.Context, s hal.Stream) (int, error) {
	var recs []*Recording
	for n := 0; ; n++ {
		smp, err := s.Next(ctx)
		if err != nil {
			return n, err
		}
		if n == 0 {
			r.setHealth(true, nil)
		}
		r.mu.Lock()
		recs = recs[:0]
		for _, rc := range r.recs {
			recs = append(recs, rc)
		}
		r.mu.Unlock()
		for _, rc := range recs {
			rc.write(smp)
		}
	}
}

func (r *Recorder) gapAll() {
	r.mu.Lock()
	recs := make([]*Recording, 0, len(r.recs))
	for _, rc := range r.recs {
		recs = append(recs, rc)
	}
	r.mu.Unlock()
	for _, rc := range recs {
		rc.gap()
	}
}

func (r *Recorder) setHealth(signal bool, err error) {
	r.mu.Lock()
	old := r.health
	// Report changes of state, and of the kind of fault (no signal or
	// something else), not every retry.
	if !old.Since.IsZero() && old.Signal == signal && errors.Is(old.Err, hal.ErrNoSignal) == errors.Is(err, hal.ErrNoSignal) {
		r.mu.Unlock()
		return
	}
	h := Health{Signal: signal, Err: err, Since: r.clock()}
	r.health = h
	r.mu.Unlock()
	if signal {
		r.log.Info("capture signal ok")
	} else {
		r.log.Warn("capture signal lost", "err", err)
	}
	if r.cfg.OnHealth != nil {
		r.cfg.OnHealth(h)
	}
}

// sleep waits for d or until ctx ends; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// write adds one sample to the recording. A write that fails (a full
// disk) does not end the recording: the file is cut back to its last whole
// fragment, the fault is reported at once (Config.OnDisk), samples are
// dropped for RetryInterval, and writing resumes from the next key frame
// into the same file, the outage a gap in its timeline like a signal loss.
func (rc *Recording) write(s hal.Sample) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.stopped || rc.err != nil || s.Kind != hal.Video || rc.videoClosed {
		return
	}
	if rc.diskErr != nil {
		if s.At.Before(rc.retryAt) {
			return
		}
		if !s.Key && !rc.keyAsked { // time to try again: from a key frame, soon
			rc.keyAsked = true
			rc.rec.requestKeyFrame()
		}
	}
	if rc.needKey && !s.Key {
		return
	}
	if rc.w == nil {
		w, err := createFMP4AV(rc.rec.cfg.FS, partPath(rc.dir, rc.id), s, rc.rec.cfg.FragmentDuration, rc.rec.audioEncoding())
		if errors.Is(err, errNoParameterSets) {
			rc.failLocked(err)
			return
		}
		if err != nil {
			rc.diskFailLocked(err, s.At)
			return
		}
		rc.w = w
		if err := writeSidecar(rc.dir, rc.sidecarLocked(StateRecording)); err != nil {
			// The file matters more than this update: Recover reads the
			// media start from the file if the sidecar lacks it.
			rc.rec.log.Warn("recording: cannot update the sidecar", "id", rc.id, "err", err)
		}
	}
	if rc.needKey {
		rc.needKey = false
		rc.spanStart = s.At
		rc.blackSince, rc.blackNoted = time.Time{}, false // a new span: black counts anew
	} else if gap := s.At.Sub(rc.lastEnd); s.Duration > 0 && gap >= s.Duration/2 {
		rc.dropped += int((gap + s.Duration/2) / s.Duration)
	}
	if err := rc.w.add(s); err != nil {
		rc.diskFailLocked(err, s.At)
		return
	}
	rc.lastEnd = s.At.Add(s.Duration)
	rc.noteBlackLocked(s)
	if rc.diskErr != nil && rc.w.seq > rc.diskSeq {
		rc.diskErr = nil
		rc.rec.log.Info("recording writes again", "id", rc.id)
		rc.rec.reportDisk(DiskHealth{OK: true, ID: rc.id, Since: s.At})
	}
}

// noteBlackLocked follows the black stretches of the picture: one that
// lasts Config.BlackAfter is noted in the sidecar at once (so a crash
// keeps it) and extended until the picture returns.
func (rc *Recording) noteBlackLocked(s hal.Sample) {
	end := s.At.Add(s.Duration)
	switch {
	case s.Black && rc.blackSince.IsZero():
		rc.blackSince = s.At
	case s.Black && rc.blackNoted:
		rc.black[len(rc.black)-1].End = end
	case s.Black && end.Sub(rc.blackSince) >= rc.rec.cfg.BlackAfter:
		rc.blackNoted = true
		rc.black = append(rc.black, Span{Start: rc.blackSince, End: end})
		rc.rec.log.Warn("the picture is black", "id", rc.id, "since", rc.blackSince)
		rc.writeNotesLocked()
	case !s.Black:
		if rc.blackNoted {
			rc.black[len(rc.black)-1].End = s.At
			rc.writeNotesLocked()
		}
		rc.blackSince, rc.blackNoted = time.Time{}, false
	}
}

// closeBlackLocked notes, when the recording ends, a black stretch that
// reached Config.BlackAfter only with its last frame.
func (rc *Recording) closeBlackLocked() {
	if !rc.blackSince.IsZero() && !rc.blackNoted && rc.lastEnd.Sub(rc.blackSince) >= rc.rec.cfg.BlackAfter {
		rc.black = append(rc.black, Span{Start: rc.blackSince, End: rc.lastEnd})
	}
}

// diskFailLocked handles a failed write: the file already ends at its last
// whole fragment (writeSync); what was pending is dropped, the span ends,
// and the recording waits for a key frame after RetryInterval.
func (rc *Recording) diskFailLocked(err error, at time.Time) {
	first := rc.diskErr == nil
	rc.diskErr = fmt.Errorf("recording %s: %w", rc.id, err)
	rc.diskNote = rc.diskErr
	rc.retryAt = at.Add(rc.rec.cfg.RetryInterval)
	rc.keyAsked = false
	rc.needKey = true
	if rc.w != nil {
		rc.w.discard()
		rc.diskSeq = rc.w.seq
		rc.endSpanLocked()
	}
	if first {
		rc.rec.log.Error("recording cannot write; it keeps what it has and retries", "id", rc.id, "err", err)
	}
	rc.rec.reportDisk(DiskHealth{ID: rc.id, Err: rc.diskErr, Since: at})
}

// requestKeyFrame asks the open stream, if any, for a key frame. It must
// not be called with r.mu held; it may be called with a Recording's mu held
// (no path takes a Recording's mu while holding r.mu).
func (r *Recorder) requestKeyFrame() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream != nil {
		r.stream.RequestKeyFrame()
	}
}

// reportDisk passes a disk fault or recovery to Config.OnDisk.
func (r *Recorder) reportDisk(h DiskHealth) {
	if r.cfg.OnDisk != nil {
		r.cfg.OnDisk(h)
	}
}

func (rc *Recording) failLocked(err error) {
	rc.err = fmt.Errorf("recording %s: %w", rc.id, err)
	rc.rec.log.Error("recording failed; it keeps what it has", "id", rc.id, "err", err)
}

// gap ends the current span after a signal loss.
func (rc *Recording) gap() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.needKey = true
	if rc.stopped || rc.w == nil || rc.err != nil {
		return
	}
	if err := rc.w.gap(); err != nil {
		rc.diskFailLocked(err, rc.lastEnd)
		return
	}
	rc.endSpanLocked()
}

func (rc *Recording) endSpanLocked() {
	if rc.spanStart.IsZero() || rc.w == nil {
		return
	}
	// A span whose samples never reached the file (a write failed first)
	// is not a span.
	if rc.w.end.After(rc.spanStart) {
		rc.parts = append(rc.parts, Span{Start: rc.spanStart, End: rc.w.end})
	}
	rc.spanStart = time.Time{}
}

// sidecarLocked describes the recording in state st.
func (rc *Recording) sidecarLocked(st State) Sidecar {
	sc := Sidecar{ID: rc.id, Meta: rc.meta, State: st}
	switch st {
	case StateRecording:
		sc.File = filepath.Base(partPath(rc.dir, rc.id))
	case StateClosed:
		sc.File = filepath.Base(finalPath(rc.dir, rc.id))
	}
	if rc.w != nil {
		sc.MediaStart = rc.w.origin
		if !rc.w.end.IsZero() {
			sc.MediaEnd = rc.w.end
			sc.Duration = rc.w.end.Sub(rc.w.origin)
		}
		sc.Bytes = rc.w.bytes
	}
	sc.Parts = append([]Span(nil), rc.parts...)
	sc.Black = append([]Span(nil), rc.black...)
	if rc.w != nil && rc.w.audio != nil {
		notes := rc.audio
		notes.Codec = rc.w.audio.enc.Codec
		notes.Silences = append([]Span(nil), notes.Silences...)
		notes.Gaps = append([]Span(nil), notes.Gaps...)
		sc.Audio = &notes
	}
	switch {
	case rc.err != nil:
		sc.Error = rc.err.Error()
	case rc.diskNote != nil:
		sc.Error = "writing failed for a while (the file keeps what was written; see parts): " + rc.diskNote.Error()
	}
	return sc
}

// finish closes the recording's file and publishes it. audioLost is
// when the sound input was lost, if it still is.
func (rc *Recording) finish(audioLost time.Time) (Result, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.stopped = true
	res := Result{ID: rc.id, Meta: rc.meta, Sidecar: SidecarPath(rc.dir, rc.id)}
	if rc.w == nil {
		sc := rc.sidecarLocked(StateEmpty)
		err := writeSidecar(rc.dir, sc)
		if rc.err != nil {
			return res, errors.Join(rc.err, err)
		}
		return res, errors.Join(fmt.Errorf("stop %s: %w", rc.id, ErrNoMedia), err)
	}
	errs := []error{rc.err}
	if err := rc.w.close(); err != nil {
		// The file ends at its last whole fragment (writeSync): the
		// recording is good, only the unwritten tail is lost.
		rc.rec.log.Error("recording: the last fragment could not be written; the file keeps what it has", "id", rc.id, "err", err)
		rc.diskNote = fmt.Errorf("recording %s: %w", rc.id, err)
	}
	rc.closeAudioLocked(audioLost)
	rc.closeBlackLocked()
	rc.endSpanLocked()
	if err := os.Rename(rc.w.path, finalPath(rc.dir, rc.id)); err != nil {
		errs = append(errs, fmt.Errorf("stop %s: %w", rc.id, err))
		return res, errors.Join(errs...)
	}
	if err := syncDir(rc.dir); err != nil {
		errs = append(errs, fmt.Errorf("stop %s: %w", rc.id, err))
	}
	sc := rc.sidecarLocked(StateClosed)
	if err := writeSidecar(rc.dir, sc); err != nil {
		errs = append(errs, err)
	}
	res.Path = finalPath(rc.dir, rc.id)
	res.Start, res.End = sc.MediaStart, sc.MediaEnd
	res.Bytes, res.Duration, res.Parts, res.Notes = sc.Bytes, sc.Duration, sc.Parts, sc.Notes()
	return res, errors.Join(errs...)
}
