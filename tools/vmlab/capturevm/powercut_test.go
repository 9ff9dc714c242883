package capturevm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/vmlab"
)

// killsEnv raises the number of power cuts of TestPowerCut (default 20)
// for a soak; seedEnv replays the cut instants of an earlier run.
const (
	killsEnv     = "CAPTUREBOX_POWERCUT_KILLS"
	seedEnv      = "CAPTUREBOX_POWERCUT_SEED"
	defaultKills = 20
	// consoleEnv=1 logs the guests' consoles (without the clock lines)
	// with the seconds since each qemu start.
	consoleEnv = "CAPTUREBOX_POWERCUT_CONSOLE"
)

// powerCutConfig is the box's configuration in the power-cut guest: the
// data disk on /data, a Kaltura that refuses connections (the queue keeps
// its items), the LED and the button on lines 5 and 6 of the virt
// machine's PL061 GPIO chip, no sound, no display, no console port.
const powerCutConfig = `[box]
name = "VM lab"
data_dir = "/data/box"

[kaltura]
service_url = "http://127.0.0.1:9"
allow_insecure_http = true
partner_id = 1
app_token_id = "0_powercut"
app_token = "0123456789abcdef0123456789abcdef"
app_token_hash_type = "SHA256"
resource_id = 1
default_template_entry_id = "0_template"

[recording]
dir = "/data/recordings"
min_length = "1s"

[hardware]
led_pin = "GPIO5"
button_pin = "GPIO6"
console_port = ""
audio_device = "none"
capture_device = "/dev/video0"
`

// powerCutScript is the guest's program, the same at every boot; its
// state is on the data disk. It mounts the disk and, when recordings
// are there, runs the box (capturebox run) until its start-up recovery
// has closed the recording the last cut interrupted and queued it, then
// stops it. Unless that was the last cut, it starts recording the next
// one (rec-N, from vivid's HDMI input into the box's recordings folder)
// with the guest's clock on the console, and waits for the power cut.
const powerCutScript = `set -e
mkdir -p /data
mount -t ext4 /dev/vda /data
n=$(cat /data/next 2>/dev/null || echo 0)
echo "BOOT $n"
if [ "$n" -gt 0 ]; then
	/data/bin/capturebox run -config /etc/capturebox.toml 2>/tmp/box.log &
	box=$!
	i=0
	while :; do
		parts=$(ls /data/recordings | grep -c '\.part\.mp4$' || true)
		items=$(ls /data/box/queue 2>/dev/null | grep -c '^item-.*\.json$' || true)
		[ "$parts" -eq 0 ] && [ "$items" -ge "$n" ] && break
		i=$((i+1))
		if [ $i -gt 300 ] || ! kill -0 $box 2>/dev/null; then
			echo "RECOVERY TIMEOUT parts=$parts items=$items"; cat /tmp/box.log; exit 1
		fi
		usleep 100000
	done
	kill -TERM $box; wait $box || true
	grep -i 'recover' /tmp/box.log || true
	echo "RECOVERED $((n-1)) items=$items"
fi
kills=$(cat /etc/powercut/kills)
if [ "$n" -ge "$kills" ]; then
	umount /data
	echo "DONE"
	exit 0
fi
mkdir -p /data/recordings
echo $((n+1)) > /data/next
sync
/data/bin/guestclock 100ms &
/data/bin/capturebox capture test -dir /data/recordings -id rec-$n -seconds 86400 -size 320x180 -fps 15 /tmp/unused.mp4 2>&1
`

// cut is what the host knows of one power cut. The instant of the cut on
// the guest's clock is at least at+latency: the host kills qemu as soon
// as it has read the clock line at. Clock lines the guest had printed but
// the host had not read yet (found in the console after the kill) move
// the instant later: then the guest was that far at least.
type cut struct {
	n        int
	delay    time.Duration // asked, from the recording's start; then as cut
	at       time.Time     // the guest's clock at the cut, as above
	latency  time.Duration // host: from reading the clock line to SIGKILL
	unread   int           // clock lines printed before the cut, read after it
	boot     time.Duration // host: qemu start to the recording's start
	recovery string        // the next boot's RECOVERED line
}

// TestPowerCut cuts the power of the VM (SIGKILL of qemu) at random
// instants while the static arm64 capturebox records vivid's HDMI input
// to an ext4 data disk (a virtio-blk image file), CAPTUREBOX_POWERCUT_KILLS
// times (default 20). Each next boot runs the box, whose start-up
// recovery (firmware: capture.Recover, then the upload queue) must close
// the interrupted recording and queue it; then the guest records the next
// one. At the end the host reads the disk with debugfs: each recording is
// recovered, plays (ffprobe, ffmpeg) up to at most 1 s before the cut
// (the guest's clock, read on the console at the cut, against the file's
// media end), and is in the upload queue exactly once.
func TestPowerCut(t *testing.T) {
	started := time.Now()
	l := vmlab.Require(t, "arm64")
	bin := binary(t, "arm64")
	ffprobe(t)
	mkfs := hostTool(t, "mkfs.ext4")
	debugfs := hostTool(t, "debugfs")
	clock := guestTool(t, "arm64", "tools/vmlab/guestclock")
	kills := defaultKills
	var err error
	if v := os.Getenv(killsEnv); v != "" {
		if kills, err = strconv.Atoi(v); err != nil || kills < 1 {
			t.Fatalf("%s=%q: want a positive number", killsEnv, v)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(seedEnv); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, v, err)
		}
	}
	t.Logf("%d power cuts, %s=%d", kills, seedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// The programs go on the data disk, not into the initramfs: the guest
	// reads only the pages it runs instead of unpacking 17 MiB at every
	// boot, which halves the boot under TCG.
	dir := t.TempDir()
	seedDir := filepath.Join(dir, "seed")
	if err := os.MkdirAll(filepath.Join(seedDir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"capturebox": bin, "guestclock": clock} {
		if err := copyFile(src, filepath.Join(seedDir, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(dir, "data.img")
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "data", "-d", seedDir, disk, "256M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	cfg := vmlab.Config{
		Modules: []string{"virtio_pci", "virtio_blk", "vivid n_devs=1", "crc32c_generic", "ext4"},
		Files: []vmlab.File{
			{Path: "/etc/capturebox.toml", Mode: 0o600, Data: []byte(powerCutConfig)},
			{Path: "/etc/powercut/kills", Data: []byte(strconv.Itoa(kills))},
		},
		Script:   powerCutScript,
		Disks:    []string{disk},
		MemoryMB: 1024,
	}

	var cuts []cut
	for n := 0; n <= kills; n++ {
		var c *cut
		if n < kills {
			// A random instant 1.5-5.5 s into the recording.
			c = &cut{n: n, delay: 1500*time.Millisecond + time.Duration(rng.Int64N(int64(4*time.Second)))}
		}
		line := boot(t, l, cfg, n, c)
		if n > 0 {
			cuts[n-1].recovery = line
		}
		if c != nil {
			cuts = append(cuts, *c)
		}
	}

	// The disk as the last boot left it, read on the host.
	out := filepath.Join(dir, "data")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(debugfs, "-R", "rdump /recordings /box "+out, disk).CombinedOutput(); err != nil {
		t.Fatalf("debugfs rdump: %v\n%s", err, b)
	}
	queued := queueItems(t, filepath.Join(out, "box", "queue"))
	var before []float64
	for _, c := range cuts {
		id := fmt.Sprintf("rec-%d", c.n)
		var sc struct {
			State      string
			File       string
			MediaStart time.Time
			MediaEnd   time.Time
		}
		b, err := os.ReadFile(filepath.Join(out, "recordings", id+".json"))
		if err == nil {
			err = json.Unmarshal(b, &sc)
		}
		if err != nil {
			t.Errorf("cut %d: sidecar of %s: %v", c.n, id, err)
			continue
		}
		file := filepath.Join(out, "recordings", id+".mp4")
		if sc.State != "recovered" || sc.File != id+".mp4" {
			t.Errorf("cut %d: %s is %q (file %q), want recovered into %s.mp4", c.n, id, sc.State, sc.File, id)
			continue
		}
		p := probe(t, file)
		decodes(t, file)
		end := sc.MediaStart.Add(time.Duration(p.Duration * float64(time.Second)))
		gap := c.at.Sub(end)
		before = append(before, gap.Seconds())
		t.Logf("cut %2d at %.2f s of recording (boot to record %.1f s, kill latency %v, %d clock lines unread): %d frames, %.3f s playable, ends %.3f s before the cut (sidecar end %.3f s before); queued %d; %s",
			c.n, c.delay.Seconds(), c.boot.Seconds(), c.latency.Round(time.Microsecond), c.unread, p.Frames, p.Duration, gap.Seconds(), c.at.Sub(sc.MediaEnd).Seconds(), queued[id], c.recovery)
		if gap > time.Second || gap < -100*time.Millisecond {
			t.Errorf("cut %d: the file ends %.3f s before the cut, want within 0..1 s", c.n, gap.Seconds())
		}
		if p.Codec != "h264" || p.Frames == 0 {
			t.Errorf("cut %d: %s holds %d %q frames", c.n, id, p.Frames, p.Codec)
		}
		if queued[id] != 1 {
			t.Errorf("cut %d: %s is in the upload queue %d times, want exactly once", c.n, id, queued[id])
		}
		// The boot after the cut: the queue held one item per recording.
		if want := fmt.Sprintf("RECOVERED %d items=%d", c.n, c.n+1); c.recovery != want {
			t.Errorf("cut %d: the next boot said %q, want %q", c.n, c.recovery, want)
		}
		delete(queued, id)
	}
	for id, k := range queued {
		t.Errorf("upload queue holds %q %d times, which no cut made", id, k)
	}
	if len(before) > 0 {
		slices.Sort(before)
		t.Logf("end before the cut over %d cuts: min %.3f s, median %.3f s, max %.3f s; whole test %v",
			len(before), before[0], before[len(before)/2], before[len(before)-1], time.Since(started).Round(time.Second))
	}
}

// copyFile copies an executable.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// hostTool finds one of e2fsprogs' programs on the host
// (scripts/ensure-tools.sh image installs them).
func hostTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if vmlab.Required() {
			t.Fatalf("%s missing (scripts/ensure-tools.sh image): %v", name, err)
		}
		t.Skipf("%s missing, test skipped: %v", name, err)
	}
	return p
}

// queueItems counts the upload queue's items per recording id.
func queueItems(t *testing.T, dir string) map[string]int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("upload queue on the data disk: %v", err)
	}
	got := map[string]int{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "item-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var it struct {
			Recording struct{ ID string } `json:"recording"`
			State     string              `json:"state"`
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			err = json.Unmarshal(b, &it)
		}
		if err != nil {
			t.Errorf("queue item %s: %v", e.Name(), err)
			continue
		}
		got[it.Recording.ID]++
	}
	return got
}

// boot boots the power-cut guest once. With c, it waits for the
// recording to start, then for the guest's clock to pass c.delay after
// that, and cuts the power at once, filling in c. Without c (the last
// boot) it waits for the guest to finish. It returns the guest's
// RECOVERED line (empty at the first boot).
func boot(t *testing.T, l *vmlab.Lab, cfg vmlab.Config, n int, c *cut) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := l.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("boot %d: %v", n, err)
	}
	defer vm.Wait()
	defer vm.Kill()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(vm.Console)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	var console strings.Builder
	var recovered string
	// recording: the recorder said it started; recStart: the guest's
	// clock on the first clock line after that.
	var recording bool
	var recStart time.Time
	fail := func(format string, a ...any) {
		t.Helper()
		vm.Kill()
		for line := range lines {
			console.WriteString(line + "\n")
		}
		t.Fatalf("boot %d: %s; console:\n%s", n, fmt.Sprintf(format, a...), console.String())
	}
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			fail("no power cut within %v", 2*time.Minute)
		}
		if !ok {
			if c == nil && strings.Contains(console.String(), "DONE") {
				return recovered
			}
			fail("the guest stopped by itself")
		}
		if !strings.HasPrefix(line, "CLOCK ") {
			console.WriteString(line + "\n")
			if os.Getenv(consoleEnv) == "1" {
				t.Logf("%6.2f %s", time.Since(start).Seconds(), line)
			}
		}
		switch {
		case strings.HasPrefix(line, "RECOVERED "):
			recovered = line
		case strings.HasPrefix(line, "vmlab: exit ") && (c != nil || line != "vmlab: exit 0"):
			fail("the guest script ended")
		case c != nil && strings.HasPrefix(line, "capture: recording "):
			recording, c.boot = true, time.Since(start)
		case c != nil && recording && strings.HasPrefix(line, "CLOCK "):
			f, err := strconv.ParseFloat(strings.TrimPrefix(line, "CLOCK "), 64)
			if err != nil {
				continue
			}
			at := time.Unix(0, int64(f*1e9))
			if recStart.IsZero() {
				recStart = at
				continue
			}
			if at.Sub(recStart) < c.delay {
				continue
			}
			read := time.Now()
			if err := vm.Kill(); err != nil {
				fail("%v", err)
			}
			c.latency = time.Since(read)
			c.at = at.Add(c.latency)
			<-vm.Done()
			for line := range lines {
				if v, ok := strings.CutPrefix(line, "CLOCK "); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						c.unread++
						if late := time.Unix(0, int64(f*1e9)); late.After(c.at) {
							c.at = late
						}
					}
				}
			}
			c.delay = c.at.Sub(recStart)
			return recovered
		}
	}
}
