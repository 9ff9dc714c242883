package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// State is where a recording is in its life.
type State string

// The states a sidecar records.
const (
	// StateRecording: the recording is running (or the box crashed while
	// it was; Recover closes it).
	StateRecording State = "recording"
	// StateClosed: Stop closed the file; it may be uploaded.
	StateClosed State = "closed"
	// StateRecovered: Recover closed the file after a crash; it may be
	// uploaded.
	StateRecovered State = "recovered"
	// StateEmpty: the recording ended without any media (no signal the
	// whole time, or a crash before the first frame); there is no file.
	StateEmpty State = "empty"
	// StateDeleted: the disk guard is deleting the recording (it reached
	// Kaltura); there is no file. The sidecar goes right after the file.
	StateDeleted State = "deleted"
)

// Span is a stretch of continuous media in a file; a signal loss ends one.
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Sidecar is the JSON file next to each recording, <dir>/<id>.json. It is
// written atomically (temporary file, fsync, rename, fsync of the
// directory) when the recording starts, when its first frame is written,
// and when it is closed or recovered, so the upload side has everything it
// needs after a reboot.
type Sidecar struct {
	// Version is the format version; sidecars written before the metadata
	// was typed have none (0) and are read through Meta's UnmarshalJSON.
	Version int    `json:"version,omitempty"`
	ID      string `json:"id"`
	Meta    Meta   `json:"meta"`
	State   State  `json:"state"`
	// MetaError, when set, says why the metadata was lost (Recover found
	// the sidecar missing or damaged; the damaged one is kept beside as
	// <id>.json.bad). Such a recording is kept, not uploaded: ReadSidecar
	// returns a *SidecarError for it.
	MetaError string `json:"metaError,omitempty"`
	// File is the media file's name in the same directory: <id>.part.mp4
	// while recording, <id>.mp4 once closed, empty when StateEmpty.
	File string `json:"file,omitempty"`
	// MediaStart and MediaEnd are the capture times of the start of the
	// first frame and the end of the last one in the file.
	MediaStart time.Time `json:"mediaStart,omitzero"`
	MediaEnd   time.Time `json:"mediaEnd,omitzero"`
	// Parts lists the spans of continuous media (more than one when the
	// signal was lost during the recording); Recover reads them from the
	// holes in the fragments' decode times.
	Parts    []Span        `json:"parts,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Error records why the recording ended badly, if it did.
	Error string `json:"error,omitempty"`
	// JoinedInto names the recording a StateJoined part was copied into;
	// JoinedFrom lists the parts a joined recording was made of.
	JoinedInto string   `json:"joinedInto,omitempty"`
	JoinedFrom []string `json:"joinedFrom,omitempty"`
	// Audio describes the sound track (audio.go); nil without one.
	Audio *AudioNotes `json:"audio,omitempty"`
	// Black are the stretches, each at least Config.BlackAfter long, in
	// which the picture stayed black.
	Black []Span `json:"black,omitempty"`
}

// SidecarPath returns the sidecar path of recording id in dir.
func SidecarPath(dir, id string) string { return filepath.Join(dir, id+".json") }

// SidecarVersion is the sidecar format written.
const SidecarVersion = 2

// ReadSidecar reads the sidecar of recording id in dir and checks it: a
// sidecar that is missing, does not decode, is of an unknown version,
// names another recording, holds metadata that fails Meta.Validate or was
// rebuilt without its metadata (MetaError) is a *SidecarError. The
// Sidecar is returned with it when it decoded, so the console can show
// what there is.
func ReadSidecar(dir, id string) (Sidecar, error) {
	path := SidecarPath(dir, id)
	sc, err := decodeSidecar(path)
	fault := func(err error) (Sidecar, error) { return sc, &SidecarError{ID: id, Path: path, Err: err} }
	if err != nil {
		return fault(err)
	}
	switch {
	case sc.Version > SidecarVersion:
		return fault(fmt.Errorf("format version %d is newer than this firmware's %d", sc.Version, SidecarVersion))
	case sc.ID != id:
		return fault(fmt.Errorf("it names recording %q", sc.ID))
	case sc.MetaError != "":
		return fault(errors.New(sc.MetaError))
	}
	switch sc.State {
	case StateRecording, StateClosed, StateRecovered, StateEmpty, StateDeleted, StateJoined:
	default:
		return fault(fmt.Errorf("unknown state %q", sc.State))
	}
	if err := sc.Meta.Validate(); err != nil {
		return fault(err)
	}
	return sc, nil
}

// decodeSidecar reads and decodes a sidecar without checking it.
func decodeSidecar(path string) (Sidecar, error) {
	var sc Sidecar
	b, err := os.ReadFile(path)
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return Sidecar{}, err
	}
	return sc, nil
}

// writeSidecar writes sc atomically.
func writeSidecar(dir string, sc Sidecar) error {
	sc.Version = SidecarVersion
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return fmt.Errorf("write sidecar %s: %w", sc.ID, err)
	}
	if err := atomicfile.WriteFile(SidecarPath(dir, sc.ID), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write sidecar %s: %w", sc.ID, err)
	}
	return nil
}
