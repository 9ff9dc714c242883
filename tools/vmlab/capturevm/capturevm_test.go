// Package capturevm runs the static ARM capturebox binary inside Debian's
// kernel under qemu (tools/vmlab) against vivid's HDMI input, and checks
// the recordings on the host with ffprobe.
package capturevm

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/vmlab"
)

// binary returns the static capturebox binary for arch, from make build-arm.
func binary(t *testing.T, arch string) string {
	t.Helper()
	root, err := vmlab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{"arm64": "capturebox-linux-arm64", "armhf": "capturebox-linux-armv7"}[arch]
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		if vmlab.Required() {
			t.Fatalf("%s missing (make build-arm): %v", p, err)
		}
		t.Skipf("%s missing (make build-arm), test skipped: %v", p, err)
	}
	return p
}

func ffprobe(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffprobe")
	if err != nil {
		if vmlab.Required() || os.Getenv("CAPTUREBOX_REQUIRE_FFPROBE") == "1" {
			t.Fatalf("ffprobe missing (scripts/ensure-tools.sh ffmpeg): %v", err)
		}
		t.Skip("ffprobe missing, test skipped")
	}
	return p
}

// Modules loaded in every capture guest: vivid with only its video
// capture node, snd-aloop for the sound side, and the virtio disk.
var modules = []string{"virtio_pci", "virtio_blk", "vivid n_devs=1", "snd-aloop"}

// outDisk makes an empty disk the guest writes a tar archive to.
func outDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// untar reads the archive the guest wrote to a disk image.
func untar(t *testing.T, disk, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the guest's archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.Base(h.Name))
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(h.Name)] = p
	}
	return got
}

type probed struct {
	Codec    string
	Frames   int
	Duration float64
	PTS      []float64
}

// probe reads the video stream of a file with ffprobe: codec, every
// frame's presentation time, and the duration.
func probe(t *testing.T, file string) probed {
	t.Helper()
	out, err := exec.Command(ffprobe(t), "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name:frame=pts_time,pkt_duration_time",
		"-of", "json", file).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v: %s", file, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var j struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		}
		Frames []struct {
			PTS string `json:"pts_time"`
			Dur string `json:"pkt_duration_time"`
		}
	}
	if err := json.Unmarshal(out, &j); err != nil {
		t.Fatal(err)
	}
	var p probed
	if len(j.Streams) > 0 {
		p.Codec = j.Streams[0].CodecName
	}
	end := 0.0
	for _, f := range j.Frames {
		pts, _ := strconv.ParseFloat(f.PTS, 64)
		d, _ := strconv.ParseFloat(f.Dur, 64)
		p.PTS = append(p.PTS, pts)
		end = math.Max(end, pts+d)
	}
	p.Frames = len(p.PTS)
	if p.Frames > 0 {
		p.Duration = end - p.PTS[0]
	}
	return p
}

// summary parses the line "capture test" prints.
func summary(t *testing.T, console string) (frames int, duration float64) {
	t.Helper()
	for _, line := range strings.Split(console, "\n") {
		if !strings.HasPrefix(line, "capture: ") || !strings.Contains(line, " frames=") {
			continue
		}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "frames":
				frames, _ = strconv.Atoi(v)
			case "duration":
				duration, _ = strconv.ParseFloat(v, 64)
			}
		}
		return frames, duration
	}
	t.Fatalf("no summary line from capture test; console:\n%s", console)
	return 0, 0
}

// recordIn boots arch, records seconds of vivid's HDMI input and returns
// the file on the host with the console.
func recordIn(t *testing.T, arch string, seconds float64, size string, fps int, extra string) (string, string) {
	l := vmlab.Require(t, arch)
	bin := binary(t, arch)
	out := outDisk(t, 256<<20)
	script := fmt.Sprintf(`set -e
/capturebox capture probe
%s
timeout -s QUIT 100 /capturebox capture test -seconds %g -size %s -fps %d /tmp/rec.mp4 2>/tmp/rec.log || { cat /tmp/rec.log; exit 1; }
cat /tmp/rec.log
cd /tmp && tar cf /dev/vda rec.mp4 rec.mp4.json rec.log
`, extra, seconds, size, fps)
	res, err := l.Run(context.Background(), vmlab.Config{
		Modules:  modules,
		Files:    []vmlab.File{{Path: "/capturebox", Mode: 0o755, Source: bin}},
		Script:   script,
		Disks:    []string{out},
		MemoryMB: 1024,
	}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s guest: boot, record %gs, power off: %v", arch, seconds, res.Elapsed)
	files := untar(t, out, t.TempDir())
	if files["rec.mp4"] == "" {
		t.Fatalf("the guest returned no recording; console:\n%s", res.Output)
	}
	return files["rec.mp4"], res.Output
}

func checkRecording(t *testing.T, file, console string, seconds float64, fps int) {
	t.Helper()
	frames, dur := summary(t, console)
	p := probe(t, file)
	// One frame is the nominal period, or the longest interval between
	// frames when the emulated CPU could not keep up and the driver
	// dropped some (its queue holds two buffers).
	frame := 1 / float64(fps)
	for i := 1; i < len(p.PTS); i++ {
		frame = math.Max(frame, p.PTS[i]-p.PTS[i-1])
	}
	t.Logf("ffprobe: %s, %d frames, %.3f s (%.1f fps delivered of %d asked, longest interval %.0f ms); capturebox said %d frames, %.3f s",
		p.Codec, p.Frames, p.Duration, float64(p.Frames)/p.Duration, fps, frame*1000, frames, dur)
	if p.Frames < int(seconds*float64(fps))/4 {
		t.Errorf("%d frames in %g s: fewer than a quarter of %d fps", p.Frames, seconds, fps)
	}
	if p.Codec != "h264" {
		t.Errorf("codec %q, want h264", p.Codec)
	}
	if p.Frames != frames {
		t.Errorf("ffprobe counts %d frames, capturebox wrote %d", p.Frames, frames)
	}
	if math.Abs(p.Duration-seconds) > frame+1e-6 {
		t.Errorf("duration %.4f s, want %g s within one frame (%.4f s)", p.Duration, seconds, frame)
	}
	if math.Abs(p.Duration-dur) > frame+1e-6 {
		t.Errorf("ffprobe duration %.4f s, capturebox said %.4f s", p.Duration, dur)
	}
	for i := 1; i < len(p.PTS); i++ {
		if p.PTS[i] <= p.PTS[i-1] {
			t.Errorf("timestamps not increasing at frame %d: %.4f after %.4f", i, p.PTS[i], p.PTS[i-1])
			break
		}
	}
}

// decodes decodes every frame of file with ffmpeg and fails on any error.
func decodes(t *testing.T, file string) {
	t.Helper()
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-fps_mode", "passthrough", "-f", "null", "-").CombinedOutput()
	// The null muxer's complaints about two frames on one tick of its
	// output time base concern the muxer, not the decoding.
	var dec []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if !bytes.Contains(line, []byte("non monotonically increasing dts to muxer")) && !bytes.Contains(line, []byte("Last message repeated")) {
			dec = append(dec, line...)
		}
	}
	if err != nil || len(bytes.TrimSpace(dec)) > 0 {
		out := string(dec)
		if len(out) > 1500 {
			out = out[:1500] + "..."
		}
		t.Errorf("%s does not decode cleanly: %v\n%s", filepath.Base(file), err, out)
	}
}

// TestRecordHDMI records from vivid's HDMI input in the arm64 guest
// (Debian's arm64 kernel) and the armhf guest (the armmp kernel, the
// armv7 binary).
func TestRecordHDMI(t *testing.T) {
	const seconds, fps = 3, 15
	for _, arch := range []string{"arm64", "armhf"} {
		t.Run(arch, func(t *testing.T) {
			file, console := recordIn(t, arch, seconds, "320x180", fps, "")
			if !bytes.Contains([]byte(console), []byte("HDMI")) {
				t.Errorf("probe did not report vivid's HDMI input:\n%s", console)
			}
			checkRecording(t, file, console, seconds, fps)
			decodes(t, file)
		})
	}
}

// guestTool builds a pure-Go helper of tools/vmlab for the guest.
func guestTool(t *testing.T, arch, pkg string) string {
	t.Helper()
	root, err := vmlab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+map[string]string{"arm64": "arm64", "armhf": "arm"}[arch], "GOARM=7")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// guestTime finds "KEY <unix seconds>" in the console.
func guestTime(t *testing.T, console, key string) time.Time {
	t.Helper()
	for _, line := range strings.Split(console, "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return time.Unix(0, int64(f*1e9))
			}
		}
	}
	t.Fatalf("no %q line on the console:\n%s", key, console)
	return time.Time{}
}

// logTime finds the time of the first capture log line with the prefix.
func logTime(t *testing.T, console, prefix string) time.Time {
	t.Helper()
	for _, line := range strings.Split(console, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			ts, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			ts = strings.TrimSuffix(ts, ":")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err == nil {
				return at
			}
		}
	}
	t.Fatalf("no %q line on the console:\n%s", prefix, console)
	return time.Time{}
}

// TestSignalLoss switches vivid's HDMI input to "no signal" 3 s after the
// first frame (the guest waits for it: a loaded host starts the recording
// late) and back 2 s later: the fault is reported within 2 s, the
// recording resumes, and the file decodes across the gap.
func TestSignalLoss(t *testing.T) {
	const seconds, fps = 8, 15
	l := vmlab.Require(t, "arm64")
	bin := binary(t, "arm64")
	ctl := guestTool(t, "arm64", "tools/vmlab/v4l2ctl")
	out := outDisk(t, 64<<20)
	script := fmt.Sprintf(`set -e
/capturebox capture test -seconds %d -size 320x180 -fps %d /tmp/rec.mp4 >/tmp/rec.out 2>/tmp/rec.log &
pid=$!
i=0; until grep -q '^capture: signal at' /tmp/rec.log; do i=$((i+1)); [ $i -lt 600 ] || { cat /tmp/rec.log; exit 1; }; usleep 100000; done
sleep 3
/v4l2ctl /dev/video0 "DV Timings Signal Mode" 1 | sed 's/.* at /LOST /' 
sleep 2
/v4l2ctl /dev/video0 "DV Timings Signal Mode" 0 | sed 's/.* at /BACK /' 
wait $pid || { cat /tmp/rec.log; exit 1; }
cat /tmp/rec.out /tmp/rec.log
cd /tmp && tar cf /dev/vda rec.mp4 rec.mp4.json
`, seconds, fps)
	res, err := l.Run(context.Background(), vmlab.Config{
		Modules: modules,
		Files: []vmlab.File{
			{Path: "/capturebox", Mode: 0o755, Source: bin},
			{Path: "/v4l2ctl", Mode: 0o755, Source: ctl},
		},
		Script: script, Disks: []string{out}, MemoryMB: 1024,
	}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lost := guestTime(t, res.Output, "LOST")
	back := guestTime(t, res.Output, "BACK")
	fault := logTime(t, res.Output, "capture: FAULT no signal at ")
	if d := fault.Sub(lost); d < 0 || d > 2*time.Second {
		t.Errorf("fault %v after the signal was cut, want within 2 s", d)
	} else {
		t.Logf("fault reported %v after the signal was cut", d.Round(time.Millisecond))
	}
	files := untar(t, out, t.TempDir())
	if files["rec.mp4"] == "" {
		t.Fatalf("no recording came back; console:\n%s", res.Output)
	}
	p := probe(t, files["rec.mp4"])
	// The file's media time 0 is its first frame; the gap must be a hole
	// of about the outage's length, with frames after it.
	var gap, at float64
	for i := 1; i < len(p.PTS); i++ {
		if d := p.PTS[i] - p.PTS[i-1]; d > gap {
			gap, at = d, p.PTS[i-1]
		}
	}
	t.Logf("ffprobe: %d frames over %.2f s, largest gap %.2f s at %.2f s (signal cut for %v)", p.Frames, p.Duration, gap, at, back.Sub(lost).Round(time.Millisecond))
	if gap < 1 {
		t.Errorf("no gap of the outage's length in the timeline (largest %.2f s)", gap)
	}
	if at+gap >= p.PTS[len(p.PTS)-1] {
		t.Errorf("no frames after the gap: recording did not resume")
	}
	decodes(t, files["rec.mp4"])
	side, _ := os.ReadFile(files["rec.mp4.json"])
	if !bytes.Contains(side, []byte(`"parts"`)) {
		t.Errorf("sidecar lists no parts:\n%s", side)
	}
}
