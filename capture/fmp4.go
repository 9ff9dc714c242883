package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/atomicfile"
)

// Timescale is the media timescale of the video track: 90 kHz, so that
// common frame rates have whole-tick durations.
const Timescale = 90000

const videoTrackID = 1

// ticks converts an offset from the media origin to Timescale units,
// rounded to the nearest tick.
func ticks(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	ns := uint64(d)
	return (ns*9 + 50000) / 100000
}

// ticksDuration converts Timescale units back to a duration.
func ticksDuration(t uint64) time.Duration {
	return time.Duration(t * 100000 / 9)
}

// pendingSample is a sample waiting for its fragment to be written.
type pendingSample struct {
	at   time.Time
	dur  time.Duration // nominal, used when the next sample's time is unknown
	key  bool
	data []byte // length-prefixed NAL units
}

// fmp4Writer writes one fragmented MP4 file: an init segment (ftyp and
// moov with mvex), then a moof+mdat fragment per FragmentDuration. Each
// write is followed by fsync, so the file on disk always ends at a fragment
// boundary or inside the fragment being written (which Recover cuts off).
//
// Sample timing: the media origin (decode time 0) is the capture time of
// the first sample; every sample's decode time is its capture time minus
// the origin, in Timescale ticks, and its duration is the difference to the
// next sample's decode time. The last sample of a fragment written before
// the next sample is known (at a signal loss, or when closing) gets its
// nominal duration; after a signal gap the next fragment's tfdt jumps to
// the capture time of its first sample, so media time stays wall-clock
// time since the origin and the gap shows as a hole in the timeline.
type fmp4Writer struct {
	f        MediaFile
	path     string
	fragDur  time.Duration
	origin   time.Time
	seq      uint32
	pending  []pendingSample
	bytes    int64
	end      time.Time // capture time at which the written media ends
	sps, pps []byte
	samples  int
	audio    *audioTrack // the sound track; nil when the file has none
	// mdat and enc are the buffers of the last fragment, kept for the
	// next one (a fragment is about the same size as the one before);
	// see keepBuffers.
	mdat []byte
	enc  bytes.Buffer
}

// keptBufferMax bounds the fragment buffers a writer keeps between
// fragments: a larger one (an unusual burst) is left to the collector.
const keptBufferMax = 8 << 20

// createFMP4 creates path (which must not exist), writes the init segment
// built from the parameter sets of the key sample first, and fsyncs the
// file and its directory.
func createFMP4(fsys MediaFS, path string, first hal.Sample, fragDur time.Duration) (*fmp4Writer, error) {
	return createFMP4AV(fsys, path, first, fragDur, nil)
}

// createFMP4AV is createFMP4 with a sound track (see audiotrack.go) when
// audio is not nil.
func createFMP4AV(fsys MediaFS, path string, first hal.Sample, fragDur time.Duration, audio *hal.AudioEncoding) (*fmp4Writer, error) {
	spss, ppss := avc.GetParameterSetsFromByteStream(first.Data)
	if len(spss) == 0 || len(ppss) == 0 {
		return nil, errNoParameterSets
	}
	init := mp4.CreateEmptyInit()
	init.Moov.Mvhd.Timescale = Timescale
	init.Moov.Mvhd.CreationTime = mp4Time(first.At)
	init.Moov.Mvhd.ModificationTime = init.Moov.Mvhd.CreationTime
	trak := init.AddEmptyTrack(Timescale, "video", "und")
	if err := trak.SetAVCDescriptor("avc3", spss, ppss, true); err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	if audio != nil {
		if err := addAudioTrak(init, *audio); err != nil {
			return nil, fmt.Errorf("create recording: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		return nil, fmt.Errorf("create recording: encode init segment: %w", err)
	}
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	w := &fmp4Writer{f: f, path: path, fragDur: fragDur, origin: first.At, seq: 1, sps: spss[0], pps: ppss[0]}
	if audio != nil {
		w.audio = &audioTrack{enc: *audio}
	}
	if err := w.writeSync(buf.Bytes()); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("create recording: write init segment: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("create recording: %w", err)
	}
	return w, nil
}

// mp4Time converts t to seconds since 1904-01-01 UTC.
func mp4Time(t time.Time) uint64 {
	const epochDiff = 2082844800 // seconds from 1904 to 1970
	s := t.Unix() + epochDiff
	if s < 0 {
		return 0
	}
	return uint64(s)
}

// errNoParameterSets: the key frame that starts a file carries no SPS/PPS.
var errNoParameterSets = errors.New("create recording: first key frame has no SPS/PPS")

// MediaFile is an open recording file. The file is opened for appending,
// so that after Truncate the next Write continues at the new end.
type MediaFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// MediaFS creates and removes recording files; tests inject one whose
// writes fail (a full disk).
type MediaFS interface {
	// Create creates path, which must not exist, for appending.
	Create(path string) (MediaFile, error)
	Remove(path string) error
}

// OSMediaFS is the real file system.
type OSMediaFS struct{}

// Create implements MediaFS.
func (OSMediaFS) Create(path string) (MediaFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
}

// Remove implements MediaFS.
func (OSMediaFS) Remove(path string) error { return os.Remove(path) }

// writeSync appends b (a whole init segment or fragment) and fsyncs. When
// the write is short (a full disk) or the fsync fails, the file is
// truncated back to where it ended before, so that it always ends at a
// fragment boundary and the fragment is never on disk twice: a later
// attempt writes it whole or not at all.
func (w *fmp4Writer) writeSync(b []byte) error {
	n, err := w.f.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		if terr := w.f.Truncate(w.bytes); terr != nil {
			return fmt.Errorf("%w (and truncating back to %d bytes: %w)", err, w.bytes, terr)
		}
		return err
	}
	w.bytes += int64(n)
	return nil
}

// discard drops the samples, video and sound, waiting for a fragment
// (after a write error): they are never written.
func (w *fmp4Writer) discard() {
	w.pending = w.pending[:0]
	if w.audio != nil {
		w.audio.pending = w.audio.pending[:0]
	}
}

// add queues a video sample, writing the pending fragment first when the
// sample begins a new one.
func (w *fmp4Writer) add(s hal.Sample) error {
	if len(w.pending) > 0 && s.At.Sub(w.pending[0].at) >= w.fragDur {
		if err := w.flush(s.At); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, pendingSample{at: s.At, dur: s.Duration, key: s.Key, data: toAVCC(s.Data)})
	return nil
}

// toAVCC converts an Annex B access unit to length-prefixed NAL units,
// leaving out access unit delimiters. Parameter sets stay in band: an
// encoder may give each IDR new SPS/PPS ids (openh264 does), so the
// sample entry's copies (avc3) cannot serve the whole file. The result is
// one allocation of its exact size (it outlives annexB, which the encoder
// may reuse).
func toAVCC(annexB []byte) []byte {
	var nalus [8][]byte
	list := nalus[:0]
	size := 0
	for nalu := range annexBNALUs(annexB) {
		if len(nalu) == 0 || avc.GetNaluType(nalu[0]) == avc.NALU_AUD {
			continue
		}
		list = append(list, nalu)
		size += 4 + len(nalu)
	}
	out := make([]byte, 0, size)
	for _, nalu := range list {
		out = binary.BigEndian.AppendUint32(out, uint32(len(nalu)))
		out = append(out, nalu...)
	}
	return out
}

// annexBStartCode is the three bytes that begin each NAL unit of an
// Annex B byte stream (a four-byte start code is a zero byte before it).
var annexBStartCode = []byte{0, 0, 1}

// annexBNALUs yields the NAL units of an Annex B byte stream as
// sub-slices of it, without their start codes and, but for the last, the
// zero bytes before the next start code: what mp4ff's
// avc.ExtractNalusFromByteStream returns, without copying each unit.
func annexBNALUs(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		start := -1
		for i := 0; ; {
			j := bytes.Index(b[i:], annexBStartCode)
			if j < 0 || i+j >= len(b)-len(annexBStartCode) {
				break // none, or one that ends the stream (mp4ff ignores it too)
			}
			j += i
			if start >= 0 {
				end := j
				for end > start+1 && b[end-1] == 0 {
					end--
				}
				if !yield(b[start:end]) {
					return
				}
			}
			start = j + len(annexBStartCode)
			i = start
		}
		if start >= 0 {
			yield(b[start:])
		}
	}
}

// flush writes the pending samples, video and sound, as one fragment and
// fsyncs. next is the capture time of the video sample that follows, or
// the zero time when it is not known (the last sample then gets its
// nominal duration).
func (w *fmp4Writer) flush(next time.Time) error {
	ids := w.trackIDs()
	if len(ids) == 0 {
		return nil
	}
	frag, err := mp4.CreateMultiTrackFragment(w.seq, ids)
	if err != nil {
		return fmt.Errorf("write fragment: %w", err)
	}
	frag.Mdat.SetData(w.mdat[:0])
	var fragEnd time.Time
	for i, p := range w.pending {
		start := ticks(p.at.Sub(w.origin))
		var end uint64
		switch {
		case i+1 < len(w.pending):
			end = ticks(w.pending[i+1].at.Sub(w.origin))
		case !next.IsZero():
			end = ticks(next.Sub(w.origin))
		default:
			end = ticks(p.at.Add(p.dur).Sub(w.origin))
		}
		if end <= start {
			end = start + 1
		}
		flags := mp4.NonSyncSampleFlags
		if p.key {
			flags = mp4.SyncSampleFlags
		}
		if err := frag.AddFullSampleToTrack(mp4.FullSample{
			Sample:     mp4.Sample{Flags: flags, Dur: uint32(end - start), Size: uint32(len(p.data))},
			DecodeTime: start,
			Data:       p.data,
		}, videoTrackID); err != nil {
			return fmt.Errorf("write fragment %d: %w", w.seq, err)
		}
		fragEnd = w.origin.Add(ticksDuration(end))
	}
	if err := w.addAudioSamples(frag); err != nil {
		return fmt.Errorf("write fragment %d: %w", w.seq, err)
	}
	w.enc.Reset()
	w.enc.Grow(int(frag.Size()))
	if err := frag.Encode(&w.enc); err != nil {
		return fmt.Errorf("encode fragment %d: %w", w.seq, err)
	}
	err = w.writeSync(w.enc.Bytes())
	w.keepBuffers(frag.Mdat.Data)
	if err != nil {
		return fmt.Errorf("write fragment %d: %w", w.seq, err)
	}
	if !fragEnd.IsZero() { // a fragment of sound only leaves the video's end
		w.end = fragEnd
	}
	w.samples += len(w.pending)
	w.seq++
	w.pending = w.pending[:0]
	w.audioWritten()
	return nil
}

// keepBuffers keeps a written fragment's buffers for the next one, unless
// they grew past keptBufferMax.
func (w *fmp4Writer) keepBuffers(mdat []byte) {
	w.mdat = nil
	if cap(mdat) <= keptBufferMax {
		w.mdat = mdat[:0]
	}
	if w.enc.Cap() > keptBufferMax {
		w.enc = bytes.Buffer{}
	}
}

// gap ends the current run of samples: the pending fragment is written
// with the nominal duration of its last sample.
func (w *fmp4Writer) gap() error { return w.flush(time.Time{}) }

// close writes what is pending, fsyncs and closes the file.
func (w *fmp4Writer) close() error {
	err := w.flush(time.Time{})
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close recording: %w", cerr)
	}
	return err
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error { return atomicfile.SyncDir(atomicfile.OS, dir) }
