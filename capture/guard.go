package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// The disk guard of design.md §2 "Recording": uploaded recordings are
// deleted oldest first when space runs low or after the retention period;
// a recording that has not reached Kaltura is never deleted automatically.
// When space cannot be found the guard reports how much is missing, so
// the box can signal the fault and refuse to start what would not fit.
//
// The decision is a pure function (GuardPolicy.Decide) of the recordings
// on disk, the free space and the time; Guard.Check is one attempt that
// reads those facts and carries the decision out, and Guard.Run the loop.

// DiskFile is one recording on disk as the guard sees it.
type DiskFile struct {
	ID string
	// Bytes is the media file's size.
	Bytes int64
	// Recorded is when the media starts; it orders recordings oldest
	// first.
	Recorded time.Time
	// Duration is the media duration (for the bitrate estimate).
	Duration time.Duration
	// Uploaded is true once the recording's entry is READY in Kaltura;
	// UploadedAt is since when.
	Uploaded   bool
	UploadedAt time.Time
}

// GuardPolicy is what the guard keeps.
type GuardPolicy struct {
	// Retention keeps an uploaded recording this long after it reached
	// Kaltura, space permitting (upload.retention; 0 deletes it at once).
	Retention time.Duration
	// MinFree is the free space the guard keeps, in bytes
	// (upload.min_free_space).
	MinFree int64
}

// Deletion is one recording the guard deletes, and why.
type Deletion struct {
	ID string
	// Why is "retention" or "space".
	Why string
}

// GuardDecision is what the guard does now.
type GuardDecision struct {
	// Delete lists the recordings to delete, in order.
	Delete []Deletion
	// Short is how many bytes are still missing below MinFree once they
	// are deleted; more than 0 is a fault (only recordings that have not
	// reached Kaltura are left).
	Short int64
}

// Decide is the guard's decision for files on a disk with free bytes free
// at now: every uploaded recording past its retention, then more uploaded
// recordings, oldest first, until MinFree is free. It never picks a
// recording that is not uploaded.
func (p GuardPolicy) Decide(files []DiskFile, free int64, now time.Time) GuardDecision {
	up := uploadedOldestFirst(files)
	var d GuardDecision
	var kept []DiskFile
	for _, f := range up {
		if !now.Before(f.UploadedAt.Add(p.Retention)) {
			d.Delete = append(d.Delete, Deletion{ID: f.ID, Why: "retention"})
			free += f.Bytes
		} else {
			kept = append(kept, f)
		}
	}
	for _, f := range kept {
		if free >= p.MinFree {
			break
		}
		d.Delete = append(d.Delete, Deletion{ID: f.ID, Why: "space"})
		free += f.Bytes
	}
	if free < p.MinFree {
		d.Short = p.MinFree - free
	}
	return d
}

// Room reports whether a recording of need bytes fits while MinFree stays
// free, counting the uploaded recordings the guard may delete; short is
// what is missing when it does not.
func (p GuardPolicy) Room(files []DiskFile, free, need int64) (ok bool, short int64) {
	avail := free
	for _, f := range files {
		if f.Uploaded {
			avail += f.Bytes
		}
	}
	if s := need + p.MinFree - avail; s > 0 {
		return false, s
	}
	return true, 0
}

// ProjectedSize is the size of a recording of duration d at bitrate bits
// per second.
func ProjectedSize(bitrate int64, d time.Duration) int64 {
	if bitrate <= 0 || d <= 0 {
		return 0
	}
	return int64(float64(bitrate) / 8 * d.Seconds())
}

// EstimateBitrate is the highest bitrate (bits per second) of the files
// that have at least a minute of media, or fallback when there are none:
// the projection errs on the large side.
func EstimateBitrate(files []DiskFile, fallback int64) int64 {
	best := int64(0)
	for _, f := range files {
		if f.Duration < time.Minute || f.Bytes <= 0 {
			continue
		}
		best = max(best, int64(float64(f.Bytes)*8/f.Duration.Seconds()))
	}
	if best == 0 {
		return fallback
	}
	return best
}

func uploadedOldestFirst(files []DiskFile) []DiskFile {
	var up []DiskFile
	for _, f := range files {
		if f.Uploaded {
			up = append(up, f)
		}
	}
	slices.SortStableFunc(up, func(a, b DiskFile) int {
		if c := a.Recorded.Compare(b.Recorded); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return up
}

// Uploads tells the guard which recordings have reached Kaltura. The
// firmware implements it over the upload queue.
type Uploads interface {
	// Uploaded reports whether recording id's entry is READY in Kaltura,
	// and since when.
	Uploaded(id string) (since time.Time, ok bool)
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Dir is the recordings directory.
	Dir     string
	Policy  GuardPolicy
	Uploads Uploads
	// FreeSpace returns the bytes available to the box in Dir; nil uses
	// statfs.
	FreeSpace func(dir string) (int64, error)
	// Clock gives the current time; nil means time.Now.
	Clock func() time.Time
	// Interval between checks; default 1 minute. Poke checks at once.
	Interval time.Duration
	// Bitrate is the bitrate (bits per second) assumed for the projection
	// until a recording of a minute or more is on disk; default 8 Mbit/s.
	Bitrate int64
	// OnDeleted, if set, is called after a recording's files are deleted
	// (the firmware forgets its upload queue item).
	OnDeleted func(id string)
	// OnShort, if set, is called after every check with the bytes missing
	// below MinFree (0 when there is enough): more than 0 is the fault.
	OnShort func(short int64)
	Logger  *slog.Logger
}

// Guard is the disk guard. Its methods are safe for concurrent use.
type Guard struct {
	cfg  GuardConfig
	log  *slog.Logger
	poke chan struct{}

	mu   sync.Mutex // serialises checks
	last GuardStatus
}

// GuardStatus is the guard's last check, for the console.
type GuardStatus struct {
	At      time.Time
	Free    int64
	Short   int64
	Deleted []Deletion
	Err     error
}

// NewGuard returns a disk guard.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	if cfg.Dir == "" || cfg.Uploads == nil {
		return nil, errors.New("capture: guard needs a directory and the upload state")
	}
	if cfg.FreeSpace == nil {
		cfg.FreeSpace = freeSpace
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 8_000_000
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, poke: make(chan struct{}, 1)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

// Poke asks the loop for a check now (a recording reported a full disk).
func (g *Guard) Poke() {
	select {
	case g.poke <- struct{}{}:
	default:
	}
}

// Status returns the last check.
func (g *Guard) Status() GuardStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// Run checks every Interval and on Poke until ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := g.Check(); err != nil {
			g.log.Error("disk guard", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-g.poke:
		}
	}
}

// Files lists the closed recordings in the directory with their upload
// state. Running recordings, recordings with an untrusted sidecar and
// anything else the guard may not touch are left out, except that their
// bytes count against the free space as the file system already says.
func (g *Guard) Files() ([]DiskFile, error) {
	ents, err := os.ReadDir(g.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("disk guard: %w", err)
	}
	var files []DiskFile
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidID(id) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sc, err := ReadSidecar(g.cfg.Dir, id)
		if err != nil || (sc.State != StateClosed && sc.State != StateRecovered && sc.State != StateJoined) || sc.File == "" {
			continue
		}
		fi, err := os.Stat(filepath.Join(g.cfg.Dir, sc.File))
		if err != nil {
			continue
		}
		f := DiskFile{ID: id, Bytes: fi.Size(), Recorded: sc.MediaStart, Duration: sc.Duration}
		if sc.State == StateJoined {
			// A part is gone to Kaltura when the recording it was joined
			// into is.
			f.UploadedAt, f.Uploaded = g.cfg.Uploads.Uploaded(sc.JoinedInto)
		} else {
			f.UploadedAt, f.Uploaded = g.cfg.Uploads.Uploaded(id)
		}
		files = append(files, f)
	}
	return files, nil
}

// Room reports whether a recording of duration d fits, at the bitrate the
// recordings on disk show (Config.Bitrate until there is one), counting
// what the guard may delete; short is what is missing when it does not.
func (g *Guard) Room(d time.Duration) (ok bool, short int64, err error) {
	files, err := g.Files()
	if err != nil {
		return false, 0, err
	}
	free, err := g.cfg.FreeSpace(g.cfg.Dir)
	if err != nil {
		return false, 0, fmt.Errorf("disk guard: free space: %w", err)
	}
	need := ProjectedSize(EstimateBitrate(files, g.cfg.Bitrate), d)
	ok, short = g.cfg.Policy.Room(files, free, need)
	return ok, short, nil
}

// Check is one attempt: it reads the recordings and the free space,
// decides, and deletes. It returns the decision; an error from a deletion
// stops the check (the next one tries again).
func (g *Guard) Check() (GuardDecision, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Clock()
	st := GuardStatus{At: now}
	defer func() { g.last = st }()
	if err := g.finishDeletions(); err != nil {
		st.Err = err
		return GuardDecision{}, err
	}
	files, err := g.Files()
	if err != nil {
		st.Err = err
		return GuardDecision{}, err
	}
	free, err := g.cfg.FreeSpace(g.cfg.Dir)
	if err != nil {
		st.Err = fmt.Errorf("disk guard: free space: %w", err)
		return GuardDecision{}, st.Err
	}
	d := g.cfg.Policy.Decide(files, free, now)
	for _, del := range d.Delete {
		if err := g.delete(del.ID); err != nil {
			st.Err = err
			return d, err
		}
		st.Deleted = append(st.Deleted, del)
		g.log.Info("disk guard: deleted an uploaded recording", "id", del.ID, "why", del.Why)
		if g.cfg.OnDeleted != nil {
			g.cfg.OnDeleted(del.ID)
		}
	}
	st.Free, st.Short = free, d.Short
	if d.Short > 0 {
		g.log.Warn("disk guard: not enough free space and nothing uploaded left to delete", "short", d.Short)
	}
	if g.cfg.OnShort != nil {
		g.cfg.OnShort(d.Short)
	}
	return d, nil
}

// delete removes a recording's media file, then its sidecar. The sidecar
// is first rewritten as StateDeleted, so that a power cut in between
// leaves a sidecar that says so rather than one pointing at a missing
// file (which the box would try to upload again).
func (g *Guard) delete(id string) error {
	dir := g.cfg.Dir
	sc, err := ReadSidecar(dir, id)
	if err != nil {
		return fmt.Errorf("disk guard: %w", err)
	}
	media := filepath.Join(dir, sc.File)
	sc.State, sc.File = StateDeleted, ""
	if err := writeSidecar(dir, sc); err != nil {
		return fmt.Errorf("disk guard: delete %s: %w", id, err)
	}
	if err := os.Remove(media); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disk guard: delete %s: %w", id, err)
	}
	if err := os.Remove(SidecarPath(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disk guard: delete %s: %w", id, err)
	}
	return atomicfile.SyncDir(atomicfile.OS, dir)
}

// finishDeletions completes deletions a power cut interrupted: a sidecar
// in StateDeleted loses its media file (if still there) and then itself.
func (g *Guard) finishDeletions() error {
	dir := g.cfg.Dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("disk guard: %w", err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidID(id) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if sc, err := ReadSidecar(dir, id); err != nil || sc.State != StateDeleted {
			continue
		}
		if err := os.Remove(finalPath(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disk guard: delete %s: %w", id, err)
		}
		if err := os.Remove(SidecarPath(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disk guard: delete %s: %w", id, err)
		}
		if err := atomicfile.SyncDir(atomicfile.OS, dir); err != nil {
			return fmt.Errorf("disk guard: %w", err)
		}
	}
	return nil
}
