package vmboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/vmlab"
)

// initrd writes the lab's initramfs for cfg into dir.
func initrd(t *testing.T, lab *vmlab.Lab, dir string, cfg vmlab.Config) string {
	t.Helper()
	path := filepath.Join(dir, "initrd.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	err = lab.Initramfs(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
	armBin    string
	simBin    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmboard-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds the static arm64 capturebox (with the development box,
// for the console test) and the host's Kaltura simulator, once.
func binaries(t *testing.T) (arm, sim string) {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			buildErr = err
			return
		}
		armBin = filepath.Join(buildDir, "capturebox-arm64")
		cmd := exec.Command("go", "build", "-tags", "netgo,dev", "-trimpath", "-ldflags", "-s -w", "-o", armBin, "./firmware/cmd/capturebox")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build arm64 capturebox: %v\n%s", err, out)
			return
		}
		simBin = filepath.Join(buildDir, "kalturasim")
		cmd = exec.Command("go", "build", "-o", simBin, "./tools/cmd/kalturasim")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build kalturasim: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return armBin, simBin
}

// boxConfig is a complete configuration; hardware is its [hardware] body.
func boxConfig(serviceURL string, pid int64, tokID, tok string, resource int64, template, hardware string) []byte {
	return fmt.Appendf(nil, `[box]
name = "Room 101"
data_dir = "/data/box"

[kaltura]
service_url = %q
allow_insecure_http = true
partner_id = %d
app_token_id = %q
app_token = %q
app_token_hash_type = "SHA256"
resource_id = %d
default_template_entry_id = %q

[sync]
interval = "1m"

[recording]
dir = "/data/recordings"
min_length = "2s"

[hardware]
%s
`, serviceURL, pid, tokID, tok, resource, template, hardware)
}

// TestRaspberryPi3Board boots qemu's raspi3b with Debian's arm64 kernel
// and its Raspberry Pi 3 device tree: the board names the model, finds the
// bcm2835 GPIO driver's chip, and drives the LED's line and reads it back
// through the GPIO character device, active high and active low; the hal
// LED check runs on that line through board.Open.
func TestRaspberryPi3Board(t *testing.T) {
	lab := vmlab.Require(t, "arm64")
	arm, _ := binaries(t)
	dir := t.TempDir()
	cfg := func(hw string) []byte {
		return boxConfig("https://www.kaltura.com", 1, "0_ab12cd34", "0123456789abcdef0123456789abcdef", 1, "", hw)
	}
	script := `
echo "model: $(tr -d '\000' </proc/device-tree/model)"
echo "== probe high"
/bin/capturebox board probe -config /etc/high.toml; echo "probe exit $?"
echo "== probe low"
/bin/capturebox board probe -config /etc/low.toml; echo "probe exit $?"
echo "== selftest"
/bin/capturebox board selftest -config /etc/high.toml -only led,button,display,console; echo "selftest exit $?"
`
	rd := initrd(t, lab, dir, vmlab.Config{Script: script, Files: []vmlab.File{
		{Path: "bin/capturebox", Mode: 0o755, Source: arm},
		{Path: "etc/high.toml", Data: cfg("led_pin = \"GPIO17\"\nbutton_pin = \"GPIO27\"\nconsole_port = \"\"")},
		{Path: "etc/low.toml", Data: cfg("led_pin = \"GPIO22\"\nled_active = \"low\"\nbutton_pin = \"GPIO27\"\nconsole_port = \"\"")},
	}})
	dtb := filepath.Join(lab.Dir, "kernel", "usr", "lib", "linux-image-"+lab.KernelVersion, "broadcom", "bcm2837-rpi-3-b.dtb")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The emulated Pi cannot power off (nor reset: no watchdog): the test
	// stops qemu once the lab's init has run the script.
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64", "-M", "raspi3b", "-m", "1024",
		"-kernel", lab.Kernel, "-dtb", dtb,
		"-initrd", rd, "-append", "console=ttyAMA0 quiet panic=-1",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot")
	stdout, err := qemu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var qerr bytes.Buffer
	qemu.Stderr = &qerr
	start := time.Now()
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	var console strings.Builder
	sc := bufio.NewScanner(stdout)
	done := false
	for sc.Scan() {
		console.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "vmlab: exit") {
			done = true
			break
		}
	}
	qemu.Process.Kill()
	qemu.Wait()
	t.Logf("raspi3b boot to the end of the script: %v", time.Since(start).Round(time.Second))
	log := console.String()
	if !done {
		t.Fatalf("the guest never finished its script (qemu: %s):\n%s", qerr.String(), log)
	}
	got := log
	t.Logf("guest console:\n%s", got)
	for _, want := range []string{
		"model: Raspberry Pi 3 Model B",
		"Model:    Raspberry Pi 3 Model B\n",
		`GPIO:     gpiochip0 "pinctrl-bcm2835", 54 lines (/dev/gpiochip0)`,
		`LED:      GPIO17 (gpiochip0 line 17 "GPIO17", active high) works (flashed once): drove high, read back high; drove low, read back low`,
		`LED:      GPIO22 (gpiochip0 line 22 "GPIO22", active low) works (flashed once): drove low, read back low; drove high, read back high`,
		`Button:   GPIO27 (gpiochip0 line 27 "GPIO27", to ground, pull-up) is `,
		"probe exit 0",
		"led      ok",
		"button   skipped: no -jig pin to press it",
		"display  skipped: no display",
		"console  skipped: no console port",
		"selftest exit 0",
		"vmlab: exit 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the guest did not print %q", want)
		}
	}
}

// simulator runs the Kaltura simulator on the host's loopback; the guest
// reaches it at 10.0.2.2 (qemu user networking).
type seeded struct {
	ServiceURL      string `json:"serviceUrl"`
	PartnerID       int64  `json:"partnerId"`
	AppTokenID      string `json:"appTokenId"`
	AppToken        string `json:"appToken"`
	ResourceID      int64  `json:"resourceId"`
	TemplateEntryID string `json:"templateEntryId"`
}

func startSimulator(t *testing.T, bin string) seeded {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-seed", "demo", "-data", t.TempDir(), "-processing-delay", "1s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("simulator: %v\n%s", err, stderr.String())
	}
	var s seeded
	if err := json.Unmarshal(line, &s); err != nil {
		t.Fatalf("simulator seed line %q: %v", line, err)
	}
	return s
}

// line is the host's end of the guest's serial port: what the console
// printed, and what the technician types.
type line struct {
	t    *testing.T
	mu   sync.Mutex
	buf  []byte
	more chan struct{}
	conn net.Conn
	all  bytes.Buffer // transcript
}

func newLine(t *testing.T) *line { return &line{t: t, more: make(chan struct{}, 1)} }

func (l *line) attach(c net.Conn) {
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			l.mu.Lock()
			l.buf = append(l.buf, b[:n]...)
			l.all.Write(b[:n])
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
}

func (l *line) send(s string) {
	l.t.Helper()
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if _, err := c.Write([]byte(s)); err != nil {
		l.t.Fatalf("typing %q: %v", s, err)
	}
}

// expect waits until the console has printed a match of re since the last
// expect, and returns what it printed up to the match.
func (l *line) expect(re string, within time.Duration) string {
	l.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if loc := rx.FindIndex(l.buf); loc != nil {
			got := string(l.buf[:loc[1]])
			l.buf = l.buf[loc[1]:]
			l.mu.Unlock()
			return got
		}
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-deadline.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			l.t.Fatalf("no %q from the console within %v; it printed since the last answer:\n%q", re, within, l.buf)
			return ""
		}
	}
}

// command types a command and returns its answer, up to the next prompt.
func (l *line) command(cmd string, within time.Duration) string {
	l.t.Helper()
	l.send(cmd + "\r")
	return l.expect(`capturebox> `, within)
}

// TestConsoleOverPL011 runs the box (the development box's camera, LED and
// button, with the board's serial console) in Debian's arm64 kernel under
// qemu's virt machine, its console on /dev/ttyAMA0 (the PL011 driver of
// the Pi's primary UART) and the host at the other end of the line, with
// the Kaltura simulator on the host. A scripted technician session reads
// status, the schedule, syncs, starts and stops a recording, retries its
// upload, shows the configuration masked and sets a value; then binary
// noise, a 10 KB line and a disconnect mid-command leave the console and
// the box running.
func TestConsoleOverPL011(t *testing.T) {
	lab := vmlab.Require(t, "arm64")
	arm, simPath := binaries(t)
	sim := startSimulator(t, simPath)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(sim.ServiceURL, "http://"))
	if err != nil {
		t.Fatalf("simulator URL %q: %v", sim.ServiceURL, err)
	}
	guestURL := "http://10.0.2.2:" + port
	dir := t.TempDir()
	// The kernel's console is the virtio console (hvc0, a log file on the
	// host), so that ttyAMA0 is the box's alone.
	script := `
exec </dev/null >/dev/hvc0 2>&1
mkdir -p /data
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "guest: network up; clock $(date -u)"
ls -l /dev/ttyAMA0
/bin/capturebox run -dev -console /dev/ttyAMA0 -config /etc/capturebox.toml >/dev/null &
box=$!
echo "guest: box started (pid $box)"
wait $box
echo "guest: box exited $?"
`
	rd := initrd(t, lab, dir, vmlab.Config{Script: script, Modules: []string{"virtio_mmio", "virtio_console", "virtio_net"}, Files: []vmlab.File{
		{Path: "bin/capturebox", Mode: 0o755, Source: arm},
		{Path: "etc/capturebox.toml", Mode: 0o600, Data: boxConfig(guestURL, sim.PartnerID, sim.AppTokenID, sim.AppToken, sim.ResourceID, sim.TemplateEntryID,
			"console_port = \"/dev/ttyAMA0\"\nconsole_baud = 115200")},
	}})

	// The host listens; qemu connects the PL011 to it, and connects again
	// after the technician's cable is pulled.
	sock := filepath.Join(dir, "ttyAMA0.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	guestLog := filepath.Join(dir, "guest.log")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "1024", "-smp", "2",
		"-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
		"-kernel", lab.Kernel, "-initrd", rd, "-append", "console=hvc0 quiet panic=-1",
		"-chardev", "socket,id=uart,path="+sock+",reconnect=1", "-serial", "chardev:uart",
		"-chardev", "file,id=log,path="+guestLog, "-device", "virtio-serial-device", "-device", "virtconsole,chardev=log",
		"-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0")
	var qerr bytes.Buffer
	qemu.Stderr = &qerr
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- qemu.Wait() }()
	defer func() {
		qemu.Process.Kill()
		<-exited
		if t.Failed() {
			gl, _ := os.ReadFile(guestLog)
			t.Logf("qemu: %s\nguest log:\n%s", qerr.String(), gl)
		}
	}()
	accept := func() net.Conn {
		t.Helper()
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() { c, err := ln.Accept(); ch <- res{c, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.c
		case err := <-exited:
			t.Fatalf("qemu exited: %v: %s", err, qerr.String())
		case <-ctx.Done():
			t.Fatal("qemu never connected the UART")
		}
		return nil
	}
	tty := newLine(t)
	tty.attach(accept())
	started := time.Now()

	// The box's console prints its prompt on the UART once it runs.
	tty.expect(`capturebox> `, 5*time.Minute)
	t.Logf("boot to the console's first prompt: %v", time.Since(started).Round(time.Second))
	const answer = 60 * time.Second // TCG on a shared machine; the box's own budget is 1 s

	check := func(what, got string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in:\n%s", what, w, got)
			}
		}
	}
	timed := func(cmd string) string {
		t0 := time.Now()
		out := tty.command(cmd, answer)
		t.Logf("%-28q answered in %v", cmd, time.Since(t0).Round(time.Millisecond))
		return out
	}
	// resync types 'version' and waits for its answer and the prompt after
	// it, returning all the console printed until then.
	version := regexp.MustCompile(`capturebox [^>\s]\S*\r?\n`)
	resync := func() string {
		t.Helper()
		tty.send("version\r")
		var b strings.Builder
		for {
			out := tty.expect(`capturebox> `, answer)
			b.WriteString(out)
			if version.MatchString(out) {
				return b.String()
			}
		}
	}
	check("status", timed("status"), "room      Room 101", "LED       ")
	check("sync", timed("sync now"), "sync")
	// The sync runs in the background: ask again until it has succeeded.
	for deadline := time.Now().Add(3 * time.Minute); ; {
		sched := timed("schedule")
		if !strings.Contains(sched, "last good sync      never") {
			check("schedule", sched, "last good sync")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful sync from the guest within 3 minutes:\n%s", sched)
		}
	}
	check("start", timed("start"), "starting an ad-hoc recording")
	// Let it record a few seconds of the camera, as the box's clock sees it.
	tty.send("status\r")
	tty.expect(`(?i)recording`, answer)
	tty.expect(`capturebox> `, answer)
	check("stop", timed("stop"), "stopping", "queued for upload")
	recs := timed("recordings")
	id := regexp.MustCompile(`(?m)^(\S+)\s`).FindStringSubmatch(strings.TrimPrefix(recs, "recordings\r\n"))
	if id == nil {
		t.Fatalf("no recording id in:\n%s", recs)
	}
	retry := timed("retry " + id[1])
	check("retry", retry, id[1])
	t.Logf("retry answered: %q", retry)
	cfg := timed("config")
	check("config", cfg, "app_token")
	if strings.Contains(cfg, sim.AppToken) {
		t.Errorf("config shows the app token in clear:\n%s", cfg)
	}
	check("config set", timed("config set sync.interval 5m"), "sync.interval = 5m saved in /etc/capturebox.toml", "takes effect when the box restarts")
	check("config check after set", timed("config check"), "/etc/capturebox.toml: ok")

	// Garbage: binary noise, then a 10 KB line, then a command.
	noise := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.IntN(256))
	}
	tty.send(string(noise))
	tty.send(strings.Repeat("x", 10*1024) + "\r")
	tty.send("\r")
	// Whatever the console said to that (help, errors), 'version' marks
	// where its answers end.
	after := resync()
	t.Logf("the console's answer to the noise and the 10 KB line (%d bytes), ends: %q", len(after), after[max(0, len(after)-400):])
	check("status after noise", timed("status"), "room      Room 101", "LED       ")

	// The cable pulled in the middle of a command, then plugged back.
	tty.send("sta")
	tty.conn.Close()
	tty.attach(accept())
	// What survived of the half-typed line is ended with Enter: the
	// console answers it (an unknown command gets the help).
	tty.send("\r")
	if got := resync(); !strings.Contains(got, "unknown command") {
		t.Errorf("the half-typed command after the reconnect got no help:\n%s", got)
	}
	check("status after reconnect", timed("status"), "room      Room 101", "LED       ")

	// The box kept running: the recording reached the simulator.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := entriesFrom(sim.ServiceURL)
		if err == nil && n > 0 {
			t.Logf("Kaltura entries from the box: %d", n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry reached the simulator (last error %v); uploads:\n%s", err, timed("uploads"))
		}
		tty.command("uploads", answer) // also proves the console still answers
	}
	select {
	case err := <-exited:
		t.Fatalf("qemu exited during the session: %v", err)
	default:
	}
	t.Logf("session transcript: %d bytes", tty.all.Len())
}

// entriesFrom counts the simulator's non-template entries.
func entriesFrom(base string) (int, error) {
	resp, err := http.Get(base + "/admin/entries")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var entries []struct {
		Template bool `json:"template"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !e.Template {
			n++
		}
	}
	return n, nil
}
