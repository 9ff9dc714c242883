package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// ErrCannotJoin: the recordings cannot be joined into one file (not of one
// event, not closed, overlapping, or with different codec settings).
var ErrCannotJoin = errors.New("capture: recordings cannot be joined")

// StateJoined marks a part that Join copied into another recording
// (Sidecar.JoinedInto): it is not uploaded by itself, and the disk guard
// deletes it once that recording has reached Kaltura.
const StateJoined State = "joined"

// Uploadable reports whether the sidecar describes a closed recording
// that goes to the upload queue on its own: closed or recovered, with a
// media file, not joined into another.
func (sc Sidecar) Uploadable() bool {
	return (sc.State == StateClosed || sc.State == StateRecovered) && sc.File != "" && sc.File == filepath.Base(finalPath("", sc.ID))
}

// joinSlack is how far a part may start before the previous part's end
// and still be joined (the end counts the last sample's estimated length).
const joinSlack = time.Second

// Join copies the closed recordings ids (the parts of one event: a button
// stop and resume, a crash, a power cut) from dir into one new recording
// outID, "one lecture, one entry": the parts' fragments are concatenated
// in the order they were recorded, each part's timeline following the
// previous part's end, so the file's duration is the recorded time; the
// stretches between the parts are kept in the new recording's Meta.Gaps
// (wall-clock) for the entry's description. The first part's Meta is
// kept, with Part 1.
//
// The new file is written under a temporary name, fsynced and renamed to
// <outID>.mp4; then the parts' sidecars say StateJoined (JoinedInto
// outID); then the new sidecar is written, StateClosed. The parts' files
// stay until the disk guard deletes them after the upload. A crash in
// between is undone by Recover (parts whose joined recording has no
// sidecar are closed again), so every part is uploaded once, alone or
// joined. Memory use does not grow with the files: fragments are copied
// one at a time.
func Join(dir string, ids []string, outID string) (Result, error) {
	if !ValidID(outID) {
		return Result{}, fmt.Errorf("join into %q: %w", outID, ErrInvalidID)
	}
	if len(ids) == 0 {
		return Result{}, fmt.Errorf("join into %s: no parts: %w", outID, ErrCannotJoin)
	}
	if _, err := os.Lstat(SidecarPath(dir, outID)); err == nil {
		return Result{}, fmt.Errorf("join into %s: %w", outID, ErrExists)
	}
	parts := make([]Sidecar, 0, len(ids))
	for _, id := range ids {
		sc, err := ReadSidecar(dir, id)
		if err != nil {
			return Result{}, fmt.Errorf("join into %s: %w", outID, err)
		}
		if !sc.Uploadable() || sc.MediaStart.IsZero() || !sc.MediaEnd.After(sc.MediaStart) {
			return Result{}, fmt.Errorf("join into %s: %s is %s without media: %w", outID, id, sc.State, ErrCannotJoin)
		}
		if len(parts) > 0 && sc.Meta.EventID != parts[0].Meta.EventID {
			return Result{}, fmt.Errorf("join into %s: %s is of event %d, %s of %d: %w", outID, id, sc.Meta.EventID, parts[0].ID, parts[0].Meta.EventID, ErrCannotJoin)
		}
		parts = append(parts, sc)
	}
	slices.SortStableFunc(parts, func(a, b Sidecar) int { return a.MediaStart.Compare(b.MediaStart) })
	var gaps []Span
	for i := 1; i < len(parts); i++ {
		prev, cur := parts[i-1], parts[i]
		// A part started at once after the previous one closed (a quick
		// restart) may overlap it by the last sample's estimated length:
		// that is no overlap, and no gap.
		if cur.MediaStart.Before(prev.MediaEnd.Add(-joinSlack)) {
			return Result{}, fmt.Errorf("join into %s: %s overlaps %s: %w", outID, cur.ID, prev.ID, ErrCannotJoin)
		}
		if cur.MediaStart.After(prev.MediaEnd) {
			gaps = append(gaps, Span{Start: prev.MediaEnd, End: cur.MediaStart})
		}
	}

	// The rename replaces a leftover of a join that crashed before its
	// sidecar was written.
	final := finalPath(dir, outID)
	var n int64
	var dur time.Duration
	err := atomicfile.Write(atomicfile.OS, final, 0o644, func(w io.Writer) error {
		var err error
		n, dur, err = concatParts(w, dir, parts)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("join into %s: %w", outID, err)
	}
	for _, p := range parts {
		p.State, p.JoinedInto = StateJoined, outID
		if err := writeSidecar(dir, p); err != nil {
			return Result{}, fmt.Errorf("join into %s: %w", outID, err)
		}
	}
	meta := parts[0].Meta
	meta.Part, meta.Gaps = 1, gaps
	sc := Sidecar{ID: outID, Meta: meta, State: StateClosed, File: filepath.Base(final),
		MediaStart: parts[0].MediaStart, MediaEnd: parts[len(parts)-1].MediaEnd, Bytes: n, Duration: dur}
	for _, p := range parts {
		sc.Parts = append(sc.Parts, p.Parts...)
		sc.JoinedFrom = append(sc.JoinedFrom, p.ID)
		sc.Black = append(sc.Black, p.Black...)
		if p.Audio != nil {
			if sc.Audio == nil {
				sc.Audio = &AudioNotes{Codec: p.Audio.Codec}
			}
			sc.Audio.Silences = append(sc.Audio.Silences, p.Audio.Silences...)
			sc.Audio.Gaps = append(sc.Audio.Gaps, p.Audio.Gaps...)
		}
	}
	if err := writeSidecar(dir, sc); err != nil {
		return Result{}, fmt.Errorf("join into %s: %w", outID, err)
	}
	return Result{ID: outID, Meta: meta, Path: final, Sidecar: SidecarPath(dir, outID), Start: sc.MediaStart, End: sc.MediaEnd,
		Bytes: n, Duration: dur, Parts: sc.Parts, Notes: sc.Notes()}, nil
}

// concatParts writes the first part's init segment and then every part's
// fragments to w, renumbered and moved on the timeline so that each part
// starts where the previous one ended. It returns the bytes written and
// the media duration.
func concatParts(w io.Writer, dir string, parts []Sidecar) (int64, time.Duration, error) {
	var written int64
	var offset time.Duration // where the current part starts on the joined timeline
	var seq uint32 = 1
	var firstStsd []byte
	for i, p := range parts {
		path := filepath.Join(dir, p.File)
		f, err := os.Open(path)
		if err != nil {
			return written, 0, err
		}
		scale, stsd, initEnd, err := readInit(f)
		if err != nil {
			f.Close()
			return written, 0, fmt.Errorf("%s: %w", p.ID, err)
		}
		if i == 0 {
			firstStsd = stsd
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return written, 0, err
			}
			n, err := io.CopyN(w, f, initEnd)
			written += n
			if err != nil {
				f.Close()
				return written, 0, err
			}
		} else if !bytes.Equal(stsd, firstStsd) {
			f.Close()
			return written, 0, fmt.Errorf("%s has other codec settings than %s: %w", p.ID, parts[0].ID, ErrCannotJoin)
		}
		n, err := copyFragments(w, f, initEnd, scale, offset, &seq)
		written += n
		f.Close()
		if err != nil {
			return written, 0, fmt.Errorf("%s: %w", p.ID, err)
		}
		offset += p.MediaEnd.Sub(p.MediaStart)
	}
	return written, offset, nil
}

// readInit reads the ftyp and moov of an fMP4 file: the timescale of each
// track, the encoded sample descriptions (which must match to join), and
// where the init segment ends.
func readInit(f *os.File) (map[uint32]uint32, []byte, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, 0, err
	}
	var off int64
	for range 2 {
		typ, size, _, ok := boxHeader(f, off, fi.Size())
		if !ok {
			return nil, nil, 0, errors.New("no complete init segment")
		}
		if typ == "moov" {
			b, err := decodeBoxAt(f, off, size)
			if err != nil {
				return nil, nil, 0, err
			}
			moov, ok := b.(*mp4.MoovBox)
			if !ok || moov.Mvex == nil {
				return nil, nil, 0, errors.New("not a fragmented MP4")
			}
			scale := map[uint32]uint32{}
			var stsd bytes.Buffer
			for _, trak := range moov.Traks {
				scale[trak.Tkhd.TrackID] = trak.Mdia.Mdhd.Timescale
				if err := trak.Mdia.Minf.Stbl.Stsd.Encode(&stsd); err != nil {
					return nil, nil, 0, err
				}
			}
			return scale, stsd.Bytes(), off + size, nil
		}
		off += size
	}
	return nil, nil, 0, errors.New("no moov box")
}

// copyFragments copies the moof+mdat pairs of f from off to w, each moof
// with its sequence number renumbered from *seq and its decode times moved
// by shift.
func copyFragments(w io.Writer, f *os.File, off int64, scale map[uint32]uint32, shift time.Duration, seq *uint32) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var written int64
	for {
		typ, size, _, ok := boxHeader(f, off, fi.Size())
		if !ok {
			return written, nil // the end, or a torn tail Recover left out
		}
		switch typ {
		case "moof":
			b, err := decodeBoxAt(f, off, size)
			if err != nil {
				return written, err
			}
			moof, ok := b.(*mp4.MoofBox)
			if !ok {
				return written, errors.New("bad moof")
			}
			before := moof.Size()
			moof.Mfhd.SequenceNumber = *seq
			*seq++
			for _, traf := range moof.Trafs {
				ts := scale[traf.Tfhd.TrackID]
				if ts == 0 || traf.Tfdt == nil {
					return written, fmt.Errorf("fragment of unknown track %d", traf.Tfhd.TrackID)
				}
				traf.Tfdt.SetBaseMediaDecodeTime(traf.Tfdt.BaseMediaDecodeTime() + durationTicks(shift, ts))
			}
			// A tfdt that grew to 64 bits moves the media data: data
			// offsets count from the start of the moof.
			if delta := int32(moof.Size()) - int32(before); delta != 0 {
				for _, traf := range moof.Trafs {
					for _, trun := range traf.Truns {
						if trun.HasDataOffset() {
							trun.DataOffset += delta
						}
					}
				}
			}
			var buf bytes.Buffer
			if err := moof.Encode(&buf); err != nil {
				return written, err
			}
			n, err := w.Write(buf.Bytes())
			written += int64(n)
			if err != nil {
				return written, err
			}
		case "mdat":
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return written, err
			}
			n, err := io.CopyN(w, f, size)
			written += n
			if err != nil {
				return written, err
			}
		default:
			return written, nil
		}
		off += size
	}
}

// durationTicks converts d to ticks of timescale ts, rounded to the
// nearest tick.
func durationTicks(d time.Duration, ts uint32) uint64 {
	if d <= 0 {
		return 0
	}
	s := uint64(d / time.Second)
	rem := uint64(d % time.Second)
	return s*uint64(ts) + (rem*uint64(ts)+uint64(time.Second)/2)/uint64(time.Second)
}
