package imagevm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/tools/vmlab"
)

// bootInit is the initramfs's /init: the stand-in for the Pi's U-Boot and
// boot.scr. It inserts the lab's modules, runs the tree's own boot chooser
// (boot-choose, the rules of bootstate.sh) on the card's rauc.env, and hands
// over to the chosen slot's busybox init, read-only.
const bootInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko params; do
	[ -n "$ko" ] || continue
	insmod "/lib/modules/$ko" $params || echo "bootinit: insmod $ko failed"
done < /etc/vmlab/modules
mkdir -p /fat /newroot
mount -t vfat /dev/vda1 /fat || { echo "bootinit: no boot partition"; poweroff -f; }
slot=$(BOOT_ENV=/fat/rauc.env CAPTUREBOX_LIBEXEC=/lib/capturebox /boot-choose)
umount /fat
part=2
[ "$slot" = B ] && part=3
echo "bootinit: slot $slot (/dev/vda$part)"
mount -t ext4 -o ro /dev/vda$part /newroot || { echo "bootinit: cannot mount slot $slot"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`

type env struct {
	repo, dir string
	lab       *vmlab.Lab
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func need(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if vmlab.Required() {
				t.Fatalf("%s missing (scripts/ensure-tools.sh image vmlab)", tool)
			}
			t.Skipf("%s missing (scripts/ensure-tools.sh image vmlab)", tool)
		}
	}
}

// card builds the SD card image: the tree's overlay with Debian's static
// busybox, Debian's arm64 e2fsprogs/util-linux and a static arm64
// capturebox, as slot A and B; the tree's boot partition; an empty data
// partition. The card is then grown by extra bytes, as a bigger SD card.
func card(t *testing.T, e env, extra int64) (img, rootfs string) {
	t.Helper()
	need(t, "genimage", "mkfs.ext4", "sfdisk", "busybox", "mcopy")
	userland := filepath.Join(filepath.Dir(e.lab.Dir), "arm64-userland", "root")
	if out, err := exec.Command(filepath.Join(e.repo, "scripts/image/fetch-vm-userland.sh")).CombinedOutput(); err != nil {
		if vmlab.Required() {
			t.Fatalf("fetch-vm-userland: %v\n%s", err, out)
		}
		t.Skipf("Debian's arm64 userland not available: %v\n%s", err, out)
	}
	root := filepath.Join(e.dir, "root")
	run(t, e.repo, "cp", "-a", "buildroot/board/capturebox/rootfs-overlay/.", root)
	for _, d := range []string{"lib", "usr/lib", "sbin", "usr/bin"} {
		if _, err := os.Stat(filepath.Join(userland, d)); err == nil {
			run(t, e.repo, "cp", "-a", "--no-clobber", filepath.Join(userland, d), filepath.Dir(filepath.Join(root, d)))
		}
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "boot", "data", "etc/init.d"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	run(t, e.repo, "cp", e.lab.Busybox, filepath.Join(root, "bin/busybox"))
	// Debian's busybox applets, as links (Buildroot's busybox installs the same).
	list := run(t, e.repo, "busybox", "--list-full")
	for _, p := range strings.Fields(list) {
		dst := filepath.Join(root, p)
		if _, err := os.Lstat(dst); err == nil {
			continue // a real program from the userland
		}
		rel, _ := filepath.Rel(filepath.Dir(dst), filepath.Join(root, "bin/busybox"))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.Symlink(rel, dst); err != nil {
			t.Fatal(err)
		}
	}
	// The box: static arm64, no cgo (no camera: it runs on the HAL fakes,
	// -dev, with its console on the serial port as standard input/output);
	// the development box is its own build (-tags dev).
	build := exec.Command("go", "build", "-tags", "netgo,dev", "-trimpath", "-ldflags", "-s -w",
		"-o", filepath.Join(root, "usr/bin/capturebox"), "./firmware/cmd/capturebox")
	build.Dir = e.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// HEALTH_TIMEOUT is 900 s on a card; here 20 s, the box's start and
	// first sync under TCG (5-6 s to ready, then a session and a sync) with
	// room for a loaded machine: at 10 s a good update was rebooted twice.
	defaults := fmt.Sprintf("CAPTUREBOX_CONFIG=/boot/capturebox.toml\nCAPTUREBOX_ARGS=-dev\nCAPTUREBOX_CONSOLE_STDIO=1\nCONSOLE=/dev/ttyAMA0\nHEALTH_TIMEOUT=%d\n", healthTimeout)
	os.WriteFile(filepath.Join(root, "etc/default/capturebox"), []byte(defaults), 0o644)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("capturebox\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)

	bin := filepath.Join(e.dir, "images")
	os.MkdirAll(filepath.Join(bin, "boot-files"), 0o755)
	rootfs = filepath.Join(bin, "rootfs.ext4")
	run(t, e.repo, "mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", root, rootfs, "200M")
	run(t, e.repo, "buildroot/board/capturebox/mkimage.sh", bin, "buildroot/board/capturebox/rpi4")
	img = filepath.Join(bin, "sdcard.img")
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, st.Size()+extra); err != nil {
		t.Fatal(err)
	}
	return img, rootfs
}

type part struct{ Start, Size int64 }

func parts(t *testing.T, img string) []part {
	var pt struct {
		PartitionTable struct{ Partitions []part } `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(run(t, "", "sfdisk", "-J", img)), &pt); err != nil {
		t.Fatal(err)
	}
	return pt.PartitionTable.Partitions
}

// console reads the guest's console line by line into a channel.
func console(r io.Reader, log *bytes.Buffer) <-chan string {
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Split(scanLinesOrPrompt)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			log.WriteString(l + "\n")
			lines <- l
		}
	}()
	return lines
}

// scanLinesOrPrompt splits at newlines, and after a console prompt ("> ").
func scanLinesOrPrompt(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if bytes.HasSuffix(data, []byte("> ")) {
		return len(data), data, nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// waitFor reads console lines until one contains want, and returns it.
func waitFor(t *testing.T, lines <-chan string, want string, timeout <-chan time.Time, log *bytes.Buffer) string {
	t.Helper()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("console closed before %q:\n%s", want, log.String())
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q on the console in time:\n%s", want, log.String())
		}
	}
}

// boot boots the card until capturebox answers "status" on the serial
// console and the health check has spoken, then cuts the power. It returns
// the console and the time from qemu's start to the answer.
func boot(t *testing.T, e env, img string) (string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	vm, err := e.lab.Start(ctx, bootConfig(e, img))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { vm.Kill(); vm.Wait() }()
	var log bytes.Buffer
	lines := console(vm.Console, &log)
	deadline := time.After(150 * time.Second)
	waitFor(t, lines, "S90capturebox: started", deadline, &log)
	// The box is ready when its console answers.
	var ready time.Duration
	for ready == 0 {
		fmt.Fprint(vm.Console, "status\n")
		tick := time.After(2 * time.Second)
	read:
		for {
			select {
			case l := <-lines:
				if strings.HasPrefix(strings.TrimSpace(l), "LED ") {
					ready = time.Since(start)
					break read
				}
			case <-tick:
				break read
			case <-deadline:
				t.Fatalf("capturebox never answered status:\n%s", log.String())
			}
		}
	}
	waitFor(t, lines, "subsystem console", deadline, &log)
	for !strings.Contains(log.String(), "capturebox-health: slot") {
		waitFor(t, lines, "", deadline, &log)
	}
	vm.Kill()
	vm.Wait()
	return log.String(), ready
}

// copySlot writes the root filesystem image into a slot of the card.
func copySlot(t *testing.T, img, rootfs string, off int64) {
	t.Helper()
	data, err := os.ReadFile(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

// bootUntilReboot boots the card and waits for the guest to reboot itself
// (qemu runs with -no-reboot, so it exits), and returns the console.
func bootUntilReboot(t *testing.T, e env, img string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	vm, err := e.lab.Start(ctx, bootConfig(e, img))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	lines := console(vm.Console, &log)
	for range lines {
	}
	vm.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the guest did not reboot by itself:\n%s", log.String())
	}
	return log.String()
}

// bootUntil boots the card until the console shows want, then cuts the power.
func bootUntil(t *testing.T, e env, img, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	vm, err := e.lab.Start(ctx, bootConfig(e, img))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { vm.Kill(); vm.Wait() }()
	var log bytes.Buffer
	lines := console(vm.Console, &log)
	waitFor(t, lines, want, time.After(150*time.Second), &log)
	return log.String()
}

// simInit is S85kalturasim of the good update's root filesystem (a test
// addition, not part of the tree): a Kaltura simulator on the guest's
// loopback, and a capturebox.toml on the boot partition that points to it.
// healthTimeout is the image's HEALTH_TIMEOUT in this test, in seconds.
const healthTimeout = 20

const simInit = `#!/bin/sh
[ "$1" = start ] || exit 0
ifconfig lo 127.0.0.1 up
/usr/bin/kalturasim -listen 127.0.0.1:8088 -seed demo -data /tmp/sim -permissions /usr/share/kalturasim/capture-device-permissions.tsv > /tmp/seed 2>/tmp/sim.log &
while [ ! -s /tmp/seed ]; do sleep 0.2; done
seed=$(head -n1 /tmp/seed)
field() { echo "$seed" | sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
cat > /boot/capturebox.toml <<EOT
[box]
name = "Room 101"
[kaltura]
service_url = "$(field serviceUrl)"
allow_insecure_http = true
partner_id = $(field partnerId)
app_token_id = "$(field appTokenId)"
app_token = "$(field appToken)"
app_token_hash_type = "$(field hashType)"
resource_id = $(field resourceId)
EOT
echo "S85kalturasim: simulator on $(field serviceUrl)"
`

// goodRootfs is the root filesystem of a good update: the card's, plus a
// Kaltura simulator it can sync from.
func goodRootfs(t *testing.T, e env) string {
	t.Helper()
	root := filepath.Join(e.dir, "root")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w",
		"-o", filepath.Join(root, "usr/bin/kalturasim"), "./tools/cmd/kalturasim")
	build.Dir = e.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build kalturasim: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/init.d/S85kalturasim"), []byte(simInit), 0o755); err != nil {
		t.Fatal(err)
	}
	// The simulator enforces the device role from the spec's permission
	// table (found from the repository, as the host's tests find it).
	perms, err := kalturasim.FindPermissionsFile()
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/share/kalturasim"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/share/kalturasim", kalturasim.PermissionsFileName), table, 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(e.dir, "good.ext4")
	run(t, e.repo, "mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", root, good, "200M")
	return good
}

func bootConfig(e env, img string) vmlab.Config {
	return vmlab.Config{
		Modules: []string{"virtio_pci", "virtio_blk", "ext4", "crc32c_generic", "vfat", "nls_cp437", "nls_iso8859-1", "nls_utf8", "nls_ascii"},
		Files: []vmlab.File{
			{Path: "init", Mode: 0o755, Data: []byte(bootInit)},
			{Path: "boot-choose", Mode: 0o755, Source: filepath.Join(e.repo, "buildroot/board/capturebox/boot-choose")},
			{Path: "lib/capturebox/bootstate.sh", Source: filepath.Join(e.repo, "buildroot/board/capturebox/rootfs-overlay/usr/libexec/capturebox/bootstate.sh")},
		},
		Disks:    []string{img},
		MemoryMB: 512,
	}
}

// TestImageBootsInVMWithDebianBusyboxStandingInForBuildroot boots the card
// that genimage builds from the tree: the tree's boot chooser picks slot A,
// the tree's init mounts the root read-only, checks and mounts the FAT boot
// partition and the data partition (grown to the end of the bigger card on
// first boot), starts capturebox with the config from the FAT partition and
// the serial console; the host sends "status" on the serial port.
func TestImageBootsInVMWithDebianBusyboxStandingInForBuildroot(t *testing.T) {
	if os.Getenv("CAPTUREBOX_IMAGE_VM") != "1" {
		t.Skip("boots the card five times (about three minutes): run by make test-image, with CAPTUREBOX_IMAGE_VM=1")
	}
	lab := vmlab.Require(t, "arm64")
	repo, err := vmlab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := env{repo: repo, dir: t.TempDir(), lab: lab}
	const extra = 256 << 20
	img, rootfs := card(t, e, extra)
	before := parts(t, img)
	if len(before) != 4 {
		t.Fatalf("card has %d partitions", len(before))
	}
	imgSize, _ := os.Stat(img)
	rootSize, _ := os.Stat(rootfs)

	// First boot of a fresh card.
	log1, ready := boot(t, e, img)
	for _, want := range []string{"bootinit: slot A (/dev/vda2)", "S05boot: /dev/vda1 on /boot",
		"S06data: first boot: growing /dev/vda4", "S90capturebox: started", "capturebox-health: slot A is good"} {
		if !strings.Contains(log1, want) {
			t.Errorf("first boot: no %q on the console", want)
		}
	}
	grown := ""
	for _, l := range strings.Split(log1, "\n") {
		if strings.HasPrefix(l, "S06data: /dev/vda4 on /data") {
			grown = l
		}
	}
	after := parts(t, img)
	if got, want := (after[3].Start+after[3].Size)*512, imgSize.Size(); want-got > 1<<20 {
		t.Errorf("data partition ends at %d, card is %d bytes", got, want)
	}
	// The root filesystem was mounted read-only: slot A is byte for byte
	// the image it was made from.
	slotA := make([]byte, rootSize.Size())
	f, _ := os.Open(img)
	f.ReadAt(slotA, before[1].Start*512)
	f.Close()
	orig, _ := os.ReadFile(rootfs)
	if !bytes.Equal(slotA, orig) {
		t.Errorf("slot A changed while it ran: the root was not read-only")
	}

	// A power cut in the middle of an install into slot B: RAUC had
	// marked B bad through the tree's backend and written part of it when
	// the power went; it never reached set-primary. Slot A boots.
	env := filepath.Join(e.dir, "rauc.env")
	fat := fmt.Sprintf("%s@@%d", img, before[0].Start*512)
	run(t, "", "mcopy", "-n", "-i", fat, "::rauc.env", env)
	backend := exec.Command(filepath.Join(repo, "buildroot/board/capturebox/rootfs-overlay/usr/libexec/capturebox/rauc-boot-backend"), "set-state", "B", "bad")
	backend.Env = append(os.Environ(), "BOOT_ENV="+env, "CAPTUREBOX_LIBEXEC="+filepath.Join(repo, "buildroot/board/capturebox/rootfs-overlay/usr/libexec/capturebox"))
	if out, err := backend.CombinedOutput(); err != nil {
		t.Fatalf("backend: %v\n%s", err, out)
	}
	run(t, "", "mcopy", "-o", "-i", fat, env, "::rauc.env")
	w, _ := os.OpenFile(img, os.O_WRONLY, 0)
	w.WriteAt(bytes.Repeat([]byte{0xa5}, 32<<20), before[2].Start*512)
	w.Close()
	log2, ready2 := boot(t, e, img)
	if !strings.Contains(log2, "bootinit: slot A (/dev/vda2)") || strings.Contains(log2, "first boot") {
		t.Errorf("after a power cut mid-install: not slot A, or the data partition grown again:\n%s", log2)
	}
	t.Logf("power cut mid-install into B: slot A booted, ready in %v", ready2.Round(100*time.Millisecond))

	// A bad update: RAUC wrote slot B completely and made it primary (the
	// tree's backend, as RAUC calls it), but the new system never syncs a
	// schedule, so capturebox-health never marks it good and reboots it
	// after HEALTH_TIMEOUT. The chooser gives it three boots, then slot A.
	copySlot(t, img, rootfs, before[2].Start*512)
	run(t, "", "mcopy", "-n", "-i", fat, "::rauc.env", env)
	for _, args := range [][]string{{"set-state", "B", "bad"}, {"set-primary", "B"}} {
		c := exec.Command(backend.Path, args...)
		c.Env = backend.Env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("backend %v: %v\n%s", args, err, out)
		}
	}
	run(t, "", "mcopy", "-o", "-i", fat, env, "::rauc.env")
	for try := 1; try <= 3; try++ {
		out := bootUntilReboot(t, e, img)
		if !strings.Contains(out, "bootinit: slot B (/dev/vda3)") ||
			!strings.Contains(out, fmt.Sprintf("slot B is on trial (%d boots left)", 3-try)) ||
			!strings.Contains(out, fmt.Sprintf("capturebox-health: slot B synced no schedule within %ds: rebooting", healthTimeout)) {
			t.Fatalf("bad update, boot %d: not slot B on trial, rebooted by the health check:\n%s", try, out)
		}
	}
	log3, _ := boot(t, e, img)
	if !strings.Contains(log3, "bootinit: slot A (/dev/vda2)") || !strings.Contains(log3, "capturebox-health: slot A is good") {
		t.Fatalf("after three failed boots of B, not back on A:\n%s", log3)
	}
	run(t, "", "mcopy", "-o", "-n", "-i", fat, "::rauc.env", env)
	state, _ := os.ReadFile(env)
	if !strings.Contains(string(state), "BOOT_B_LEFT=0") {
		t.Errorf("slot B is not bad after the rollback:\n%s", state)
	}
	t.Logf("bad update into B: three trial boots rebooted by the health check, then slot A")

	// A good update: the new system (slot B) syncs a schedule, from a
	// Kaltura simulator inside the guest (the VM lab has no network), and
	// capturebox-health marks it good through the tree's backend.
	good := goodRootfs(t, e)
	copySlot(t, img, good, before[2].Start*512)
	run(t, "", "mcopy", "-o", "-n", "-i", fat, "::rauc.env", env)
	for _, args := range [][]string{{"set-state", "B", "bad"}, {"set-primary", "B"}} {
		c := exec.Command(backend.Path, args...)
		c.Env = backend.Env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("backend %v: %v\n%s", args, err, out)
		}
	}
	run(t, "", "mcopy", "-o", "-i", fat, env, "::rauc.env")
	log4 := bootUntil(t, e, img, "capturebox-health: slot B marked good")
	if !strings.Contains(log4, "bootinit: slot B (/dev/vda3)") {
		t.Fatalf("good update: not slot B:\n%s", log4)
	}
	run(t, "", "mcopy", "-o", "-n", "-i", fat, "::rauc.env", env)
	state, _ = os.ReadFile(env)
	if !strings.Contains(string(state), "BOOT_ORDER=B A") || !strings.Contains(string(state), "BOOT_B_LEFT=3") || !strings.Contains(string(state), "BOOT_B_TRIAL=0") {
		t.Errorf("slot B not good and primary after the good update:\n%s", state)
	}
	t.Logf("good update into B: a schedule synced, slot B marked good")
	t.Logf("card %d MiB (+%d MiB grown), rootfs %d MiB, %s; boot to ready (status answered) %v",
		(imgSize.Size()-extra)>>20, extra>>20, rootSize.Size()>>20, grown, ready.Round(100*time.Millisecond))
}
