package vmlab

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/capture/capturetest"
)

// crossBuild builds pkg for the guest's arch as a static binary into dir.
// cgo selects the static cgo build of platform.md (Debian's cross
// compilers); without it the build is pure Go.
func crossBuild(t *testing.T, arch, pkg, out string, cgo, test bool) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOOS=linux")
	cc := map[string][2]string{"arm64": {"aarch64-linux-gnu-gcc", "aarch64-linux-gnu-g++"}, "armhf": {"arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf-g++"}}[arch]
	if arch == "arm64" {
		env = append(env, "GOARCH=arm64")
	} else {
		env = append(env, "GOARCH=arm", "GOARM=7")
	}
	args := []string{"build"}
	if test {
		args = []string{"test", "-c"}
	}
	if cgo {
		if _, err := exec.LookPath(cc[0]); err != nil {
			if Required() {
				t.Fatalf("%s not installed (scripts/ensure-tools.sh cross)", cc[0])
			}
			t.Skipf("%s not installed (scripts/ensure-tools.sh cross)", cc[0])
		}
		env = append(env, "CGO_ENABLED=1", "CC="+cc[0], "CXX="+cc[1])
		args = append(args, "-tags", "netgo", "-ldflags", `-extldflags "-static"`)
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = root, env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// TestSoundInVM records sound from a real ALSA driver inside Debian's ARM
// kernel: snd-aloop, with soundlab playing a 1 kHz tone at amplitude 8000
// into the loopback's device 0 while the box's sound input
// (board.NewALSA) captures from its device 1. First board's own
// TestALSAConformance runs the hal.AudioSource checks against the driver
// and measures the tone (RMS 8000/√2 = 5656.9); then soundlab records 5 s
// as the box does (fake camera for the picture, ALSA and opus for the
// sound) onto a virtio disk, and the host checks the file: both streams
// decode without an error, the sound lasts as long as the picture within
// a frame, and its level is the tone's.
func TestSoundInVM(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			l := Require(t, arch)
			capturetest.FFprobe(t)
			bin := t.TempDir()
			soundlab, boardTest := filepath.Join(bin, "soundlab"), filepath.Join(bin, "board.test")
			crossBuild(t, arch, "./tools/soundlab", soundlab, true, false)
			crossBuild(t, arch, "./board", boardTest, false, true)
			disk := filepath.Join(t.TempDir(), "data.img")
			if err := os.WriteFile(disk, make([]byte, 16<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			disk2 := filepath.Join(t.TempDir(), "pcm.img")
			if err := os.WriteFile(disk2, make([]byte, 16<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := l.Run(context.Background(), Config{
				Modules: []string{"virtio_pci", "virtio_blk", "snd-aloop"},
				Files: []File{
					{Path: "/bin/soundlab", Mode: 0o755, Source: soundlab},
					{Path: "/bin/board.test", Mode: 0o755, Source: boardTest},
				},
				Script: `set -e
cat /proc/asound/cards
soundlab tone -device hw:0,0 -seconds 120 >/tmp/tone.log 2>&1 &
i=0
while ! grep -q playing /tmp/tone.log; do
	i=$((i+1)); if [ $i -gt 300 ]; then cat /tmp/tone.log; exit 3; fi
	sleep 0.1
done
CAPTUREBOX_ALSA_DEVICE=hw:0,1 CAPTUREBOX_ALSA_TONE_RMS=5656.9 board.test -test.run 'TestALSA' -test.v
soundlab record -device hw:0,1 -seconds 3 -dir /tmp/rec -id pcm -codec pcm
dd if=/tmp/rec/pcm.mp4 of=/dev/vdb bs=4096 conv=sync 2>/dev/null
soundlab record -device hw:0,1 -seconds 5 -dir /tmp/rec -id lab
echo "soundlab: size $(wc -c </tmp/rec/lab.mp4)"
dd if=/tmp/rec/lab.mp4 of=/dev/vda bs=4096 conv=sync 2>/dev/null
sync
`,
				Disks: []string{disk, disk2},
			}, 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s): %v boot to power-off\n%s", arch, l.KernelVersion, res.Elapsed, res.Output)
			if !strings.Contains(res.Output, "--- PASS: TestALSAConformance") {
				t.Errorf("board's ALSA conformance check did not pass in the guest")
			}
			m := regexp.MustCompile(`soundlab: size (\d+)`).FindStringSubmatch(res.Output)
			if m == nil {
				t.Fatal("the guest did not report the recording's size")
			}
			size, _ := strconv.Atoi(m[1])
			img, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}
			if size <= 0 || size > len(img) {
				t.Fatalf("recording of %d bytes, disk of %d", size, len(img))
			}
			file := filepath.Join(t.TempDir(), "lab.mp4")
			if err := os.WriteFile(file, img[:size], 0o644); err != nil {
				t.Fatal(err)
			}
			var notes struct{ Audio struct{ Codec string } }
			for _, line := range strings.Split(res.Output, "\n") {
				if strings.HasPrefix(line, "{") {
					json.Unmarshal([]byte(line), &notes)
				}
			}
			video := capturetest.Probe(t, file)
			info := capturetest.ProbeAudio(t, file)
			frame := 1.0 / 30
			if video.Codec != "h264" || info.Codec != "opus" || notes.Audio.Codec != "opus" ||
				math.Abs(info.Duration-video.Duration) > frame || math.Abs(info.Start) > frame || math.Abs(video.Duration-5) > 0.2 {
				t.Errorf("ffprobe: video %s %.3f s (%d frames); sound %+v; want h264 for 5 s and opus as long within a frame", video.Codec, video.Duration, video.Frames, info)
			}
			pcm := capturetest.DecodeAudio(t, file)
			var profile []string
			for i := 0; i < len(pcm); i += 24000 {
				profile = append(profile, strconv.Itoa(int(capturetest.RMS(pcm, i, i+24000))))
			}
			t.Logf("decoded RMS per 0.5 s: %s", strings.Join(profile, " "))
			rms := capturetest.RMS(pcm, 4800, len(pcm))
			t.Logf("%s: sound %s %.3f s from %.3f, video %.3f s, decoded tone RMS %.1f (want 5656.9)", arch, info.Codec, info.Duration, info.Start, video.Duration, rms)
			if math.Abs(rms-5656.9) > 5656.9*0.05 {
				t.Errorf("decoded RMS %.1f, want the tone's 5656.9 within 5%% (a silent track fails)", rms)
			}
		})
	}
}
