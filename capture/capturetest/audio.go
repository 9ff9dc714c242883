package capturetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// AudioInfo is what ffprobe says about the first audio stream of a file.
type AudioInfo struct {
	Codec      string  // e.g. "opus", "pcm_s16le"
	SampleRate int     // of the decoded sound
	Channels   int     // decoded channels
	Frames     int     // frames decoded (-count_frames)
	Packets    int     // packets read
	Start      float64 // start_time in seconds
	Duration   float64 // stream duration in seconds
	// PTS are the presentation times of the packets in seconds.
	PTS []float64
}

// ProbeAudio runs ffprobe on path, decoding every audio frame, and fails
// tb when ffprobe fails, reports an error while decoding, or finds no
// audio stream. It skips tb like FFprobe.
func ProbeAudio(tb testing.TB, path string) AudioInfo {
	tb.Helper()
	ffprobe := FFprobe(tb)
	var out, stderr bytes.Buffer
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "a:0",
		"-show_streams", "-show_packets", "-of", "json", path)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ffprobe %s: %v: %s", path, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		tb.Fatalf("ffprobe %s: errors while decoding the sound: %s", path, stderr.Bytes())
	}
	var raw struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			CodecType    string `json:"codec_type"`
			SampleRate   string `json:"sample_rate"`
			Channels     int    `json:"channels"`
			NbReadFrames string `json:"nb_read_frames"`
			StartTime    string `json:"start_time"`
			Duration     string `json:"duration"`
		} `json:"streams"`
		Packets []struct {
			PTSTime string `json:"pts_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		tb.Fatalf("ffprobe %s: decode output: %v", path, err)
	}
	if len(raw.Streams) == 0 || raw.Streams[0].CodecType != "audio" {
		tb.Fatalf("ffprobe %s: no audio stream", path)
	}
	s := raw.Streams[0]
	info := AudioInfo{Codec: s.CodecName, Channels: s.Channels, Packets: len(raw.Packets)}
	info.SampleRate, _ = strconv.Atoi(s.SampleRate)
	info.Frames, _ = strconv.Atoi(s.NbReadFrames)
	info.Start, _ = strconv.ParseFloat(s.StartTime, 64)
	info.Duration, _ = strconv.ParseFloat(s.Duration, 64)
	for _, p := range raw.Packets {
		pts, err := strconv.ParseFloat(p.PTSTime, 64)
		if err != nil {
			tb.Fatalf("ffprobe %s: packet pts %q: %v", path, p.PTSTime, err)
		}
		info.PTS = append(info.PTS, pts)
	}
	return info
}

// DecodeAudio decodes the first audio stream of path with ffmpeg to mono
// 16-bit PCM at 48 kHz, failing tb on any decoding error. It skips tb
// like FFprobe when ffmpeg is missing.
func DecodeAudio(tb testing.TB, path string) []int16 {
	tb.Helper()
	FFprobe(tb) // the same package brings both
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Fatalf("ffprobe is installed but ffmpeg is not: %v", err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0",
		"-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", "48000", "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ffmpeg decode %s: %v: %s", path, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		tb.Fatalf("ffmpeg decode %s: errors: %s", path, stderr.Bytes())
	}
	pcm := make([]int16, out.Len()/2)
	if err := binary.Read(&out, binary.LittleEndian, pcm); err != nil {
		tb.Fatal(err)
	}
	return pcm
}

// RMS is the root mean square of pcm[from:to] (indices clipped).
func RMS(pcm []int16, from, to int) float64 {
	from, to = max(0, min(from, len(pcm))), max(0, min(to, len(pcm)))
	if to <= from {
		return 0
	}
	var sum float64
	for _, v := range pcm[from:to] {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(to-from))
}

// ReadTrack returns the samples of track id of the fragmented MP4 at
// path, and the track's timescale.
func ReadTrack(path string, id uint32) ([]Sample, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	mf, err := mp4.DecodeFile(f)
	if err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", path, err)
	}
	if mf.Init == nil {
		return nil, 0, fmt.Errorf("decode %s: no init segment", path)
	}
	var timescale uint32
	for _, trak := range mf.Init.Moov.Traks {
		if trak.Tkhd.TrackID == id {
			timescale = trak.Mdia.Mdhd.Timescale
		}
	}
	var trex *mp4.TrexBox
	for _, t := range mf.Init.Moov.Mvex.Trexs {
		if t.TrackID == id {
			trex = t
		}
	}
	if timescale == 0 || trex == nil {
		return nil, 0, fmt.Errorf("decode %s: no track %d", path, id)
	}
	var out []Sample
	for _, seg := range mf.Segments {
		for _, frag := range seg.Fragments {
			fs, err := frag.GetFullSamples(trex)
			if err != nil {
				return nil, 0, fmt.Errorf("decode %s: %w", path, err)
			}
			for _, s := range fs {
				out = append(out, Sample{DecodeTime: s.DecodeTime, Dur: s.Dur, Key: mp4.IsSyncSampleFlags(s.Flags), Data: s.Data})
			}
		}
	}
	return out, timescale, nil
}

// LevelQuantile splits pcm into windows of n samples, measures the RMS of
// each, and returns the q-quantile (0..1) of those levels. Under an
// emulated machine a tone's player can starve and leave stretches of
// silence that are not the recorder's doing; a high quantile still
// measures the tone's level where it played, and a silent track gives 0.
func LevelQuantile(pcm []int16, n int, q float64) float64 {
	var levels []float64
	for i := 0; i+n <= len(pcm); i += n {
		levels = append(levels, RMS(pcm, i, i+n))
	}
	if len(levels) == 0 {
		return 0
	}
	slices.Sort(levels)
	return levels[min(len(levels)-1, int(q*float64(len(levels))))]
}

// AudioStream reads path's first audio stream's codec and duration from
// the container, without decoding: cheap on hours of sound.
func AudioStream(tb testing.TB, path string) (codec string, seconds float64) {
	tb.Helper()
	ffprobe := FFprobe(tb)
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "a:0",
		"-show_entries", "stream=codec_name,duration", "-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "codec_name":
			codec = v
		case "duration":
			seconds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return codec, seconds
}

// AudioLevel decodes length of path's sound from at (ffmpeg -ss/-t) and
// returns its RMS, failing tb on any decoding error.
func AudioLevel(tb testing.TB, path string, at, length time.Duration) float64 {
	tb.Helper()
	FFprobe(tb)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Fatalf("ffprobe is installed but ffmpeg is not: %v", err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-ss", fmt.Sprintf("%.3f", at.Seconds()), "-t", fmt.Sprintf("%.3f", length.Seconds()),
		"-i", path, "-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		tb.Fatalf("ffmpeg decode %s: %v: %s", path, err, stderr.Bytes())
	}
	pcm := make([]int16, out.Len()/2)
	if err := binary.Read(&out, binary.LittleEndian, pcm); err != nil {
		tb.Fatal(err)
	}
	return RMS(pcm, 0, len(pcm))
}
