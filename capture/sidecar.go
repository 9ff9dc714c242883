package capture

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Meta describes what a recording is of. The recorder stores it in the
// sidecar and does not interpret it.
type Meta struct {
	// EventID is the Kaltura schedule event id (X-KALTURA-ID); empty for
	// an ad-hoc recording.
	EventID string `json:"eventId,omitempty"`
	// Title is the event's summary, or the room and time of an ad-hoc
	// recording.
	Title string `json:"title,omitempty"`
	// Start and End are the planned span (the event's DTSTART and DTEND,
	// with padding); zero for an ad-hoc recording.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Part numbers the recordings of one event from 1: an event stopped
	// early and resumed has a second part.
	Part int `json:"part,omitempty"`
	// TemplateEntryID is the Kaltura template entry the upload uses.
	TemplateEntryID string `json:"templateEntryId,omitempty"`
	// Extra carries anything else the upload needs.
	Extra map[string]string `json:"extra,omitempty"`
}

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
	ID    string `json:"id"`
	Meta  Meta   `json:"meta"`
	State State  `json:"state"`
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
	// Audio describes the sound track (audio.go); nil without one.
	Audio *AudioNotes `json:"audio,omitempty"`
}

// SidecarPath returns the sidecar path of recording id in dir.
func SidecarPath(dir, id string) string { return filepath.Join(dir, id+".json") }

// ReadSidecar reads the sidecar of recording id in dir.
func ReadSidecar(dir, id string) (Sidecar, error) {
	var sc Sidecar
	b, err := os.ReadFile(SidecarPath(dir, id))
	if err != nil {
		return sc, fmt.Errorf("read sidecar: %w", err)
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("read sidecar %s: %w", id, err)
	}
	return sc, nil
}

// writeSidecar writes sc atomically.
func writeSidecar(dir string, sc Sidecar) error {
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return fmt.Errorf("write sidecar %s: %w", sc.ID, err)
	}
	if err := writeFileAtomic(SidecarPath(dir, sc.ID), append(b, '\n')); err != nil {
		return fmt.Errorf("write sidecar %s: %w", sc.ID, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
