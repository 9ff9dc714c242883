package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// Recover closes the recordings in dir that a crash or power loss left
// open, so they can be uploaded: nothing recorded is lost. Call it at boot,
// before a Recorder uses dir.
//
// For each <id>.part.mp4 it keeps the init segment and every complete
// fragment, cuts off a torn last fragment, fsyncs, renames the file to
// <id>.mp4, fsyncs the directory and updates the sidecar (StateRecovered,
// with the media span read from the fragments). A part file without a
// complete init segment or fragment holds no media: it is removed and its
// sidecar says StateEmpty. A sidecar left in StateRecording whose file was
// already renamed (a crash inside Stop) is completed too. Leftover
// temporary files of atomic writes are removed.
//
// Recover returns the recordings it closed with media; the error joins
// the problems with individual files, which it skips.
func Recover(dir string) ([]Result, error) { return recoverDir(dir, nil) }

// Recover is the package's Recover on the recorder's directory while it
// runs, for a box that could not recover everything at boot (a full or
// read-only disk): the recordings running now are left alone.
func (r *Recorder) Recover() ([]Result, error) {
	return recoverDir(r.cfg.Dir, func() map[string]bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		ids := make(map[string]bool, len(r.recs))
		for id := range r.recs {
			ids[id] = true
		}
		return ids
	})
}

// recoverDir is Recover, skipping the ids running returns. It lists the
// directory first and asks for the running ids after, so that a recording
// whose file is in the listing was started before the question.
func recoverDir(dir string, running func() map[string]bool) ([]Result, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	skip := map[string]bool{}
	if running != nil {
		skip = running()
	}
	var results []Result
	var errs []error
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") {
			if running == nil { // while recording, a sidecar write may be under way
				os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		id, ok := strings.CutSuffix(name, ".part.mp4")
		if !ok || !ValidID(id) || skip[id] {
			continue
		}
		seen[id] = true
		res, err := recoverPart(dir, id)
		switch {
		case errors.Is(err, ErrNoMedia):
		case err != nil:
			errs = append(errs, err)
		default:
			results = append(results, res)
		}
	}
	// Sidecars still saying "recording" whose part file is gone.
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidID(id) || seen[id] || skip[id] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sc, err := decodeSidecar(SidecarPath(dir, id))
		if err == nil && sc.State == StateJoined && sc.ID == id {
			// Join crashed before the joined recording's sidecar: the part
			// is uploaded by itself (or joined again).
			if _, err := os.Stat(SidecarPath(dir, sc.JoinedInto)); errors.Is(err, os.ErrNotExist) {
				sc.State, sc.JoinedInto = StateClosed, ""
				if err := writeSidecar(dir, sc); err != nil {
					errs = append(errs, fmt.Errorf("recover %s: %w", id, err))
				}
			}
			continue
		}
		if err != nil || sc.State != StateRecording || sc.ID != id {
			continue // ReadSidecar reports it to whoever lists the recordings
		}
		res, err := recoverFinal(dir, sc)
		switch {
		case errors.Is(err, ErrNoMedia):
		case err != nil:
			errs = append(errs, err)
		default:
			results = append(results, res)
		}
	}
	return results, errors.Join(errs...)
}

// recoverPart closes <id>.part.mp4.
func recoverPart(dir, id string) (Result, error) {
	path := partPath(dir, id)
	sc, scErr := ReadSidecar(dir, id)
	if scErr != nil {
		// The file is closed as any other, but its metadata is lost: the
		// damaged sidecar is kept aside for the technician and the new one
		// says so, so the recording is kept and never uploaded without
		// its event. It is written before the file is touched.
		var err error
		if sc, err = damagedSidecar(dir, id, scErr); err != nil {
			return Result{}, fmt.Errorf("recover %s: %w", id, err)
		}
	}
	scan, err := scanFMP4(path)
	if err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	if scan.samples == 0 {
		if err := os.Remove(path); err != nil {
			return Result{}, fmt.Errorf("recover %s: %w", id, err)
		}
		sc.State, sc.File, sc.Error = StateEmpty, "", "crashed before the first frame was written"
		if err := writeSidecar(dir, sc); err != nil {
			return Result{}, fmt.Errorf("recover %s: %w", id, err)
		}
		return Result{}, ErrNoMedia
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	if scan.valid < scan.size {
		if err := f.Truncate(scan.valid); err != nil {
			f.Close()
			return Result{}, fmt.Errorf("recover %s: truncate torn fragment: %w", id, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	if err := os.Rename(path, finalPath(dir, id)); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	if err := syncDir(dir); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", id, err)
	}
	return finishRecovered(dir, sc, scan)
}

// damagedSidecar moves a sidecar that cannot be trusted (if there is one)
// to <id>.json.bad and writes in its place one that records why the
// metadata is gone (Sidecar.MetaError).
func damagedSidecar(dir, id string, why error) (Sidecar, error) {
	path := SidecarPath(dir, id)
	if _, err := os.Lstat(path); err == nil {
		if err := atomicfile.Rename(atomicfile.OS, path, path+".bad"); err != nil {
			return Sidecar{}, err
		}
	}
	var se *SidecarError
	if errors.As(why, &se) {
		why = se.Err
	}
	sc := Sidecar{ID: id, State: StateRecording, File: filepath.Base(partPath(dir, id)),
		MetaError: fmt.Sprintf("metadata lost before recovery (%v); the damaged sidecar is %s.bad", why, filepath.Base(path))}
	return sc, writeSidecar(dir, sc)
}

// recoverFinal completes the sidecar of a file that Stop had already
// renamed when the box went down.
func recoverFinal(dir string, sc Sidecar) (Result, error) {
	scan, err := scanFMP4(finalPath(dir, sc.ID))
	if errors.Is(err, os.ErrNotExist) {
		sc.State, sc.File = StateEmpty, ""
		if err := writeSidecar(dir, sc); err != nil {
			return Result{}, fmt.Errorf("recover %s: %w", sc.ID, err)
		}
		return Result{}, ErrNoMedia
	}
	if err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", sc.ID, err)
	}
	if scan.valid < scan.size {
		return Result{}, fmt.Errorf("recover %s: closed file has %d bytes of torn data", sc.ID, scan.size-scan.valid)
	}
	return finishRecovered(dir, sc, scan)
}

func finishRecovered(dir string, sc Sidecar, scan fmp4Scan) (Result, error) {
	start := sc.MediaStart
	if start.IsZero() {
		start = scan.created
	}
	at := func(t uint64) time.Time { return start.Add(scan.duration(t)) }
	end := at(scan.endTicks)
	sc.State, sc.File = StateRecovered, filepath.Base(finalPath(dir, sc.ID))
	sc.MediaStart, sc.MediaEnd = start, end
	sc.Duration, sc.Bytes = end.Sub(start), scan.valid
	sc.Parts = sc.Parts[:0]
	for _, sp := range scan.spans {
		sc.Parts = append(sc.Parts, Span{Start: at(sp[0]), End: at(sp[1])})
	}
	if err := writeSidecar(dir, sc); err != nil {
		return Result{}, fmt.Errorf("recover %s: %w", sc.ID, err)
	}
	return Result{
		ID: sc.ID, Meta: sc.Meta, Path: finalPath(dir, sc.ID), Sidecar: SidecarPath(dir, sc.ID),
		Start: start, End: end, Bytes: sc.Bytes, Duration: sc.Duration, Parts: sc.Parts,
	}, nil
}

// fmp4Scan is what scanFMP4 learnt about a file.
type fmp4Scan struct {
	size      int64     // bytes in the file
	valid     int64     // bytes up to the end of the last complete fragment
	samples   int       // samples in the complete fragments
	endTicks  uint64    // decode time at which the last complete fragment ends
	timescale uint32    // of the track
	created   time.Time // mvhd creation time (whole seconds)
	// spans are the runs of fragments without a hole in decode time,
	// as [start, end) in ticks.
	spans [][2]uint64
}

// duration converts ticks of the track's timescale to a duration.
func (s fmp4Scan) duration(t uint64) time.Duration {
	ts := uint64(s.timescale)
	if ts == 0 {
		return 0
	}
	return time.Duration(t/ts)*time.Second + time.Duration(t%ts*uint64(time.Second)/ts)
}

// scanFMP4 walks the top-level boxes of a fragmented MP4: ftyp, moov, then
// moof+mdat pairs, stopping at the first box that is incomplete or
// unexpected.
func scanFMP4(path string) (fmp4Scan, error) {
	f, err := os.Open(path)
	if err != nil {
		return fmp4Scan{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmp4Scan{}, err
	}
	scan := fmp4Scan{size: fi.Size()}
	var trex map[uint32]*mp4.TrexBox // by track ID; nil until the moov is read
	var videoID uint32               // the first track: the timeline's
	var moof *mp4.MoofBox
	for off := int64(0); ; {
		typ, size, hdr, ok := boxHeader(f, off, scan.size)
		if !ok {
			return scan, nil
		}
		switch {
		case typ == "ftyp" && off == 0:
		case typ == "moov" && trex == nil:
			b, err := decodeBoxAt(f, off, size)
			if err != nil {
				return scan, nil
			}
			moov, ok := b.(*mp4.MoovBox)
			if !ok || moov.Mvex == nil || len(moov.Mvex.Trexs) == 0 || moov.Trak == nil || moov.Trak.Tkhd == nil {
				return scan, nil
			}
			trex = make(map[uint32]*mp4.TrexBox)
			for _, t := range moov.Mvex.Trexs {
				trex[t.TrackID] = t
			}
			videoID = moov.Trak.Tkhd.TrackID
			scan.timescale = moov.Trak.Mdia.Mdhd.Timescale
			scan.created = time.Unix(int64(moov.Mvhd.CreationTime)-2082844800, 0).UTC()
		case typ == "moof" && trex != nil && moof == nil:
			b, err := decodeBoxAt(f, off, size)
			if err != nil {
				return scan, nil
			}
			if moof, ok = b.(*mp4.MoofBox); !ok || len(moof.Trafs) == 0 {
				return scan, nil
			}
		case typ == "mdat" && moof != nil:
			var n, vn int
			var bytes, vFirst, vEnd uint64
			hasVideo := false
			for _, traf := range moof.Trafs {
				tx := trex[traf.Tfhd.TrackID]
				if traf.Tfdt == nil || tx == nil {
					return scan, nil
				}
				def := tx.DefaultSampleDuration
				if traf.Tfhd.HasDefaultSampleDuration() {
					def = traf.Tfhd.DefaultSampleDuration
				}
				t := traf.Tfdt.BaseMediaDecodeTime()
				first := t
				var k int
				for _, trun := range traf.Truns {
					t += trun.Duration(def)
					k += int(trun.SampleCount())
					for i := range trun.Samples {
						bytes += uint64(trun.Samples[i].Size)
					}
				}
				n += k
				if traf.Tfhd.TrackID == videoID {
					hasVideo, vFirst, vEnd, vn = true, first, t, k
				}
			}
			if bytes > uint64(size-hdr) {
				return scan, nil // the mdat is shorter than the samples
			}
			if hasVideo {
				// Sound-only fragments (video stalled) leave the
				// timeline's spans alone.
				if j := len(scan.spans); j > 0 && scan.spans[j-1][1] == vFirst {
					scan.spans[j-1][1] = vEnd
				} else if vn > 0 {
					scan.spans = append(scan.spans, [2]uint64{vFirst, vEnd})
				}
				scan.endTicks = vEnd
			}
			scan.samples += n
			scan.valid = off + size
			moof = nil
		default:
			return scan, nil
		}
		if typ == "moov" {
			scan.valid = off + size
		}
		off += size
	}
}

// boxHeader reads the header of the box at off; ok is false when the box
// does not fit in the file.
func boxHeader(r io.ReaderAt, off, fileSize int64) (typ string, size, hdr int64, ok bool) {
	var b [16]byte
	if off+8 > fileSize {
		return "", 0, 0, false
	}
	if _, err := r.ReadAt(b[:8], off); err != nil {
		return "", 0, 0, false
	}
	size, hdr = int64(binary.BigEndian.Uint32(b[:4])), 8
	typ = string(b[4:8])
	if size == 1 {
		if off+16 > fileSize {
			return "", 0, 0, false
		}
		if _, err := r.ReadAt(b[8:16], off+8); err != nil {
			return "", 0, 0, false
		}
		size, hdr = int64(binary.BigEndian.Uint64(b[8:16])), 16
	}
	if size < hdr || off+size > fileSize {
		return "", 0, 0, false
	}
	return typ, size, hdr, true
}

func decodeBoxAt(r io.ReaderAt, off, size int64) (mp4.Box, error) {
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return mp4.DecodeBox(uint64(off), bytes.NewReader(buf))
}
