// Package capturetest helps tests check recordings: it runs ffprobe on a
// file (skipping the test when ffprobe is not installed, unless
// CAPTUREBOX_REQUIRE_FFPROBE=1) and reads the samples of a fragmented MP4
// with mp4ff.
package capturetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// RequireEnv is the environment variable that turns a missing ffprobe
// from a skip into a failure (CI sets it).
const RequireEnv = "CAPTUREBOX_REQUIRE_FFPROBE"

// FFprobe returns the path of ffprobe, or skips tb with a clear message
// when it is not on PATH (fails it when RequireEnv is "1").
func FFprobe(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("ffprobe not on PATH and %s=1: install the Debian package ffmpeg", RequireEnv)
		}
		tb.Skipf("ffprobe not on PATH: install the Debian package ffmpeg to run this test (%s=1 makes this a failure)", RequireEnv)
	}
	return p
}

// Info is what ffprobe says about the first video stream of a file.
type Info struct {
	FormatName string  // e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Codec      string  // e.g. "h264"
	Profile    string  // e.g. "Constrained Baseline"
	Width      int     // display width
	Height     int     // display height
	Frames     int     // frames decoded (-count_frames)
	Packets    int     // packets read
	Duration   float64 // stream duration in seconds
	// PTS are the presentation times of the packets in seconds, in file
	// order.
	PTS []float64
	// Keys marks which packets are key frames.
	Keys []bool
}

// Probe runs ffprobe on path, decoding every frame, and fails tb when
// ffprobe fails or finds no video stream. It skips tb like FFprobe.
func Probe(tb testing.TB, path string) Info {
	tb.Helper()
	info, err := ProbeWith(FFprobe(tb), path)
	if err != nil {
		tb.Fatal(err)
	}
	return info
}

// ProbeWith runs the ffprobe at ffprobe on path.
func ProbeWith(ffprobe, path string) (Info, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_format", "-show_streams", "-show_packets", "-of", "json", path)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return Info{}, fmt.Errorf("ffprobe %s: %w: %s", path, err, stderr.Bytes())
	}
	var raw struct {
		Format struct {
			FormatName string `json:"format_name"`
		} `json:"format"`
		Streams []struct {
			CodecName    string `json:"codec_name"`
			CodecType    string `json:"codec_type"`
			Profile      string `json:"profile"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
			Duration     string `json:"duration"`
		} `json:"streams"`
		Packets []struct {
			PTSTime string `json:"pts_time"`
			Flags   string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		return Info{}, fmt.Errorf("ffprobe %s: decode output: %w", path, err)
	}
	if len(raw.Streams) == 0 || raw.Streams[0].CodecType != "video" {
		return Info{}, fmt.Errorf("ffprobe %s: no video stream", path)
	}
	if stderr.Len() > 0 {
		return Info{}, fmt.Errorf("ffprobe %s: errors while decoding: %s", path, stderr.Bytes())
	}
	s := raw.Streams[0]
	info := Info{FormatName: raw.Format.FormatName, Codec: s.CodecName, Profile: s.Profile, Width: s.Width, Height: s.Height, Packets: len(raw.Packets)}
	info.Frames, _ = strconv.Atoi(s.NbReadFrames)
	info.Duration, _ = strconv.ParseFloat(s.Duration, 64)
	for _, p := range raw.Packets {
		pts, err := strconv.ParseFloat(p.PTSTime, 64)
		if err != nil {
			return Info{}, fmt.Errorf("ffprobe %s: packet pts %q: %w", path, p.PTSTime, err)
		}
		info.PTS = append(info.PTS, pts)
		info.Keys = append(info.Keys, len(p.Flags) > 0 && p.Flags[0] == 'K')
	}
	return info, nil
}

// Sample is one video sample of a fragmented MP4 file.
type Sample struct {
	DecodeTime uint64 // in the track's timescale
	Dur        uint32
	Key        bool
	Data       []byte // length-prefixed NAL units
}

// ReadSamples returns the samples of the first track of the fragmented
// MP4 at path, and the track's timescale.
func ReadSamples(path string) ([]Sample, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	mf, err := mp4.DecodeFile(f)
	if err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", path, err)
	}
	if mf.Init == nil || len(mf.Init.Moov.Traks) == 0 {
		return nil, 0, fmt.Errorf("decode %s: no init segment", path)
	}
	timescale := mf.Init.Moov.Trak.Mdia.Mdhd.Timescale
	trex := mf.Init.Moov.Mvex.Trex
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
