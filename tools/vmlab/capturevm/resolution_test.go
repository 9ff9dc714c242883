package capturevm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/vmlab"
)

// TestResolutionChange switches vivid's HDMI input to other timings 3 s
// after the first frame ("DV Timings" 0, the first of the kernel's presets, 640x480p,
// then "DV Timings Signal Mode" 4, Selected DV Timings; vivid starts at
// 1280x720p): the change is a fault within 2 s, the recording resumes with
// the receiver set to the new timings, and the file decodes across the
// change with frames after it. The picture recorded keeps its configured
// size (vivid scales), so the file is one H.264 stream throughout.
func TestResolutionChange(t *testing.T) {
	const seconds, fps = 9, 15
	l := vmlab.Require(t, "arm64")
	bin := binary(t, "arm64")
	ctl := guestTool(t, "arm64", "tools/vmlab/v4l2ctl")
	out := outDisk(t, 64<<20)
	script := fmt.Sprintf(`set -e
/capturebox capture test -seconds %d -size 320x180 -fps %d /tmp/rec.mp4 >/tmp/rec.out 2>/tmp/rec.log &
pid=$!
i=0; until grep -q '^capture: signal at' /tmp/rec.log; do i=$((i+1)); [ $i -lt 600 ] || { cat /tmp/rec.log; exit 1; }; usleep 100000; done
sleep 3
/v4l2ctl /dev/video0 "DV Timings" 0 >/dev/null
/v4l2ctl /dev/video0 "DV Timings Signal Mode" 4 | sed 's/.* at /CHANGED /'
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
	t.Logf("guest: boot, record %d s, power off: %v", seconds, res.Elapsed.Round(time.Millisecond))
	changed := guestTime(t, res.Output, "CHANGED")
	fault := logTime(t, res.Output, "capture: FAULT no signal at ")
	if !strings.Contains(res.Output, "input format changed from ") {
		t.Errorf("the fault does not say the input changed format:\n%s", res.Output)
	}
	// The signal lines: the first before the change, the next after the
	// fault, each naming the input's timings.
	var before, after string
	var resumed time.Time
	for _, line := range strings.Split(res.Output, "\n") {
		v, ok := strings.CutPrefix(line, "capture: signal at ")
		if !ok {
			continue
		}
		ts, input, _ := strings.Cut(v, " input ")
		at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(ts))
		if err != nil {
			t.Fatalf("signal line %q: %v", line, err)
		}
		switch {
		case before == "" && at.Before(changed):
			before = input
		case at.After(fault) && after == "":
			after, resumed = input, at
		}
	}
	faultAfter, resumeAfter := fault.Sub(changed), resumed.Sub(changed)
	t.Logf("input %q before, %q after; fault %v after the change, recording again %v after it",
		before, after, faultAfter.Round(time.Millisecond), resumeAfter.Round(time.Millisecond))
	if faultAfter < 0 || faultAfter > 2*time.Second {
		t.Errorf("fault %v after the change, want within 2 s", faultAfter)
	}
	if resumed.IsZero() {
		t.Fatalf("the recording did not resume after the fault:\n%s", res.Output)
	}
	if before == "" || after == "" || before == after {
		t.Errorf("input timings %q before and %q after the change: want two different formats", before, after)
	}
	if !strings.HasPrefix(after, "640x480") {
		t.Errorf("after the change the input is %q, want 640x480 (the timings selected)", after)
	}

	files := untar(t, out, t.TempDir())
	if files["rec.mp4"] == "" {
		t.Fatalf("no recording came back; console:\n%s", res.Output)
	}
	var sc struct {
		MediaStart time.Time
		Parts      []struct{ Start, End time.Time }
	}
	if b, err := os.ReadFile(files["rec.mp4.json"]); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	p := probe(t, files["rec.mp4"])
	at := changed.Sub(sc.MediaStart).Seconds() // the change, in media time
	var after0 int
	for _, pts := range p.PTS {
		if pts-p.PTS[0] > at {
			after0++
		}
	}
	t.Logf("ffprobe: %s, %d frames over %.2f s, %d after the change at %.2f s; %d parts in the sidecar",
		p.Codec, p.Frames, p.Duration, after0, at, len(sc.Parts))
	if after0 < fps {
		t.Errorf("%d frames after the change: want at least a second's worth (%d)", after0, fps)
	}
	if len(sc.Parts) < 2 {
		t.Errorf("the sidecar lists %d parts, want the spans before and after the change", len(sc.Parts))
	}
	decodes(t, files["rec.mp4"])
}
