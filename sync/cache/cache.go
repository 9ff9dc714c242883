// Package cache keeps the box's last good schedule on disk: the complete
// event list of the last successful sync with its metadata (when, from
// where, the window, the total, and the FTP file index), so that the box
// keeps recording through a network or Kaltura outage and across reboots.
//
// The file is JSON: an envelope with a format version and a SHA-256 of the
// payload, the payload being the Entry. It is replaced atomically (temporary
// file in the same directory, fsync, rename, fsync of the directory), so a
// power cut leaves either the old or the new file. Load is meant to run at
// boot before any network; a file that does not decode or whose checksum
// does not match is reported (*CorruptError), moved aside as "<name>.bad"
// for the technician, and ignored.
package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/schedule"
)

// Version is the format version written. A file of another version is not
// corrupt, just unreadable by this firmware: Load reports ErrVersion and
// leaves it in place (the next successful sync overwrites it).
const Version = 1

// FileName is the default file name inside the cache directory.
const FileName = "schedule.json"

// Entry is the last good schedule.
type Entry struct {
	// FetchedAt is when the sync that produced it finished (trusted clock).
	FetchedAt time.Time `json:"fetchedAt"`
	// Transport is "https" or "ftp"; Source a secret-free description.
	Transport string `json:"transport"`
	Source    string `json:"source"`
	// From and To bound the listed window.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Total is the number of events the server announced (= len(Events)
	// unless the parser rejected some; see Rejected).
	Total int `json:"total"`
	// Rejected counts events the parser refused (they are not in Events).
	Rejected int `json:"rejected,omitempty"`
	// Events is the complete event list as fetched and parsed.
	Events []schedule.Event `json:"events"`
	// Files is the FTP file index (name, size, time, body) for the next
	// incremental FTP sync; FTPService the spelling that worked.
	Files      []fetch.File `json:"files,omitempty"`
	FTPService string       `json:"ftpService,omitempty"`
}

type envelope struct {
	Version  int             `json:"version"`
	SHA256   string          `json:"sha256"`
	Payload  json.RawMessage `json:"payload"`
	SavedAt  time.Time       `json:"savedAt"`
	Firmware string          `json:"firmware,omitempty"`
}

// Errors of Load.
var (
	// ErrVersion: the file was written in another format version.
	ErrVersion = errors.New("cache: unsupported format version")
)

// CorruptError reports a cache file that failed to decode or to verify.
// It has been renamed to Bad (when the rename worked).
type CorruptError struct {
	Path, Bad string
	Err       error
}

// Error implements error.
func (e *CorruptError) Error() string {
	s := fmt.Sprintf("cache: %s is corrupt: %v", e.Path, e.Err)
	if e.Bad != "" {
		s += " (kept as " + e.Bad + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Store reads and writes one cache file.
type Store struct {
	path string
	// Firmware is recorded in the file (for the technician); optional.
	Firmware string
}

// New returns a Store for the file FileName in dir (created if missing on
// the first Save).
func New(dir string) *Store { return &Store{path: filepath.Join(dir, FileName)} }

// NewFile returns a Store for an explicit path.
func NewFile(path string) *Store { return &Store{path: path} }

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Load reads the last good schedule. It returns (nil, nil) when there is
// none; a *CorruptError (the file moved to .bad) when it cannot be trusted;
// an error matching ErrVersion for another format version.
func (s *Store) Load() (*Entry, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: reading %s: %w", s.path, err)
	}
	e, err := decode(b)
	if errors.Is(err, ErrVersion) {
		return nil, fmt.Errorf("cache: %s: %w", s.path, err)
	}
	if err != nil {
		ce := &CorruptError{Path: s.path, Err: err}
		bad := s.path + ".bad"
		if rerr := os.Rename(s.path, bad); rerr == nil {
			ce.Bad = bad
			_ = atomicfile.SyncDir(atomicfile.OS, filepath.Dir(s.path))
		}
		return nil, ce
	}
	return e, nil
}

func decode(b []byte) (*Entry, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if env.Version != Version {
		return nil, fmt.Errorf("%w %d (want %d)", ErrVersion, env.Version, Version)
	}
	sum := sha256.Sum256(env.Payload)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, errors.New("checksum mismatch")
	}
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(env.Payload))
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return &e, nil
}

// Save replaces the cache file with e atomically and durably.
func (s *Store) Save(e *Entry) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cache: encoding: %w", err)
	}
	sum := sha256.Sum256(payload)
	// The envelope is written around the payload rather than marshalled
	// with it: json.Marshal would validate and copy the whole payload again
	// (the costliest part of saving 10,000 events). The result decodes as
	// an envelope exactly as before.
	hdr, err := json.Marshal(struct {
		Version  int       `json:"version"`
		SHA256   string    `json:"sha256"`
		SavedAt  time.Time `json:"savedAt"`
		Firmware string    `json:"firmware,omitempty"`
	}{Version, hex.EncodeToString(sum[:]), e.FetchedAt, s.Firmware})
	if err != nil {
		return fmt.Errorf("cache: encoding: %w", err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	err = atomicfile.Write(atomicfile.OS, s.path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(hdr[:len(hdr)-1]); err != nil {
			return err
		}
		if _, err := io.WriteString(w, `,"payload":`); err != nil {
			return err
		}
		if _, err := w.Write(payload); err != nil {
			return err
		}
		_, err := io.WriteString(w, "}")
		return err
	})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}
