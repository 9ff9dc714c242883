// Package vmlab boots Debian's own ARM kernels under qemu (TCG) with a
// busybox initramfs, so that tests can exercise real kernel drivers
// (vivid, snd-aloop, the PL011 UART, virtio disks) on a machine that has
// none of the hardware.
//
// The kernels and busybox come from Debian's packages, fetched into
// .cache/vmlab/ by scripts/vmlab/fetch.sh (scripts/ensure-tools.sh vmlab).
// A test calls Require to get a Lab, then Run (boot, run a script, power
// off, return the console output) or Start (a running VM whose console the
// test drives, and which it can power-cut with Kill).
//
// Inside the guest, /init mounts proc, sys, devtmpfs and a tmpfs on /tmp,
// inserts the requested modules in dependency order, prints "vmlab: ready",
// runs /etc/vmlab/run when a script was given (then prints
// "vmlab: exit N" and powers off), or else starts a shell on the console.
package vmlab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Arches are the architectures the lab boots.
var Arches = []string{"arm64", "armhf"}

// Lab is one architecture's kernel, modules and busybox, as fetched.
type Lab struct {
	Arch          string // "arm64" or "armhf"
	Dir           string // the architecture's cache folder
	KernelVersion string // e.g. 6.1.0-57-arm64
	KernelPackage string // e.g. linux-image-6.1.0-57-arm64
	Kernel        string // vmlinuz path
	Modules       string // lib/modules/<version> folder
	Busybox       string // static busybox for the guest
}

// CacheDir is where scripts/vmlab/fetch.sh puts the lab:
// $CAPTUREBOX_VMLAB_CACHE, or .cache/vmlab at the repository root.
func CacheDir() (string, error) {
	if d := os.Getenv("CAPTUREBOX_VMLAB_CACHE"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "vmlab"), nil
}

// RepoRoot finds the repository's root: the nearest folder upwards from
// the working directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("vmlab: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("vmlab: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Qemu returns the qemu-system binary that boots arch.
func Qemu(arch string) string {
	if arch == "arm64" {
		return "qemu-system-aarch64"
	}
	return "qemu-system-arm"
}

// Find loads the lab of one architecture from the cache.
func Find(arch string) (*Lab, error) {
	if arch != "arm64" && arch != "armhf" {
		return nil, fmt.Errorf("vmlab: unknown architecture %q (want arm64 or armhf)", arch)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, arch)
	env, err := os.ReadFile(filepath.Join(dir, "lab.env"))
	if err != nil {
		return nil, fmt.Errorf("vmlab: %s lab not fetched (run scripts/ensure-tools.sh vmlab): %w", arch, err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	l := &Lab{
		Arch:          arch,
		Dir:           dir,
		KernelVersion: kv["KERNEL_VERSION"],
		KernelPackage: kv["KERNEL_PACKAGE"],
		Kernel:        filepath.Join(dir, kv["KERNEL"]),
		Modules:       filepath.Join(dir, kv["MODULES"]),
		Busybox:       filepath.Join(dir, kv["BUSYBOX"]),
	}
	for _, p := range []string{l.Kernel, l.Modules, l.Busybox} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("vmlab: %s lab incomplete (run scripts/vmlab/fetch.sh --refresh): %w", arch, err)
		}
	}
	if _, err := exec.LookPath(Qemu(arch)); err != nil {
		return nil, fmt.Errorf("vmlab: %s not installed (run scripts/ensure-tools.sh vmlab): %w", Qemu(arch), err)
	}
	return l, nil
}

// Required reports whether a missing lab fails tests instead of skipping
// them: CAPTUREBOX_REQUIRE_VM=1, as make test sets.
func Required() bool { return os.Getenv("CAPTUREBOX_REQUIRE_VM") == "1" }

// Require returns the lab of arch, or skips the test with the reason when
// the lab is missing, or fails it when CAPTUREBOX_REQUIRE_VM=1.
func Require(t testing.TB, arch string) *Lab {
	t.Helper()
	l, err := Find(arch)
	if err != nil {
		if Required() {
			t.Fatalf("VM lab required (CAPTUREBOX_REQUIRE_VM=1): %v", err)
		}
		t.Skipf("VM lab missing, test skipped (set CAPTUREBOX_REQUIRE_VM=1 to fail instead): %v", err)
	}
	return l
}

// File is one file put into the guest's initramfs.
type File struct {
	Path   string      // guest path
	Mode   os.FileMode // permission bits; 0 means 0644
	Data   []byte      // contents, or
	Source string      // a host file to copy
}

// Config describes one boot.
type Config struct {
	// Modules to insert, each "name" or "name param=value ...";
	// their dependencies are inserted first.
	Modules []string
	// Files added to the initramfs.
	Files []File
	// Script is run by /init (busybox sh) after the modules are in; the
	// VM powers off when it ends. Empty: a shell on the console.
	Script string
	// Disks are raw images attached as virtio disks /dev/vda, /dev/vdb...
	Disks []string
	// MemoryMB (default 512) and CPUs (default 2) of the guest.
	MemoryMB int
	CPUs     int
	// Append is added to the kernel command line.
	Append string
	// PTY connects the console to a host pseudo-terminal (VM.PTY) instead
	// of a socket (VM.Console), for code that opens a serial device path.
	PTY bool
	// Log, when set, receives a copy of everything the console prints
	// (socket mode only).
	Log io.Writer
}

// initScript is /init. Module lines are "file params...".
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
while read -r ko params; do
	[ -n "$ko" ] || continue
	insmod "/lib/modules/$ko" $params || echo "vmlab: insmod $ko failed"
done < /etc/vmlab/modules
echo "vmlab: ready"
if [ -f /etc/vmlab/run ]; then
	sh /etc/vmlab/run
	echo "vmlab: exit $?"
	sync
	poweroff -f
fi
exec setsid cttyhack sh
`

// Initramfs writes the gzip-compressed newc initramfs for cfg.
func (l *Lab) Initramfs(w io.Writer, cfg Config) error {
	t := newTree()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc/vmlab", "mnt", "root"} {
		t.dir(d)
	}
	t.add("dev/console", treeFile{mode: sIFCHR | 0o600, major: 5, minor: 1})
	t.add("bin/busybox", treeFile{mode: sIFREG | 0o755, source: l.Busybox})
	t.add("bin/sh", treeFile{mode: sIFLNK | 0o777, data: []byte("busybox")})
	t.add("init", treeFile{mode: sIFREG | 0o755, data: []byte(initScript)})

	var names []string
	params := map[string]string{}
	for _, m := range cfg.Modules {
		name, p, _ := strings.Cut(strings.TrimSpace(m), " ")
		names = append(names, name)
		params[modName(name)] = strings.TrimSpace(p)
	}
	kos, err := resolveModules(l.Modules, names)
	if err != nil {
		return err
	}
	var list strings.Builder
	for _, ko := range kos {
		t.add("lib/modules/"+ko, treeFile{mode: sIFREG | 0o644, source: filepath.Join(l.Modules, ko)})
		fmt.Fprintf(&list, "%s %s\n", ko, params[modName(strings.TrimSuffix(filepath.Base(ko), ".ko"))])
	}
	t.add("etc/vmlab/modules", treeFile{mode: sIFREG | 0o644, data: []byte(list.String())})
	if cfg.Script != "" {
		t.add("etc/vmlab/run", treeFile{mode: sIFREG | 0o755, data: []byte(cfg.Script)})
	}
	for _, f := range cfg.Files {
		mode := uint32(f.Mode.Perm())
		if mode == 0 {
			mode = 0o644
		}
		tf := treeFile{mode: sIFREG | mode, data: f.Data, source: f.Source}
		if tf.data == nil && tf.source == "" {
			tf.data = []byte{}
		}
		t.add(f.Path, tf)
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err := t.write(zw); err != nil {
		return err
	}
	return zw.Close()
}

// VM is a running guest.
type VM struct {
	// Console is the guest's PL011 serial port (ttyAMA0) in socket mode.
	Console io.ReadWriter
	// PTY is the host pseudo-terminal of the serial port in PTY mode.
	PTY string

	cmd    *exec.Cmd
	conn   net.Conn
	dir    string
	stderr bytes.Buffer
	done   chan struct{}
	err    error
	once   sync.Once
}

// Start boots a guest. The context bounds its life: when it ends the
// guest is killed. The caller must call Wait (or Kill then Wait).
func (l *Lab) Start(ctx context.Context, cfg Config) (*VM, error) {
	dir, err := os.MkdirTemp("", "vmlab-")
	if err != nil {
		return nil, fmt.Errorf("vmlab: %w", err)
	}
	vm := &VM{dir: dir, done: make(chan struct{})}
	fail := func(err error) (*VM, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	initrd := filepath.Join(dir, "initrd.gz")
	f, err := os.Create(initrd)
	if err != nil {
		return fail(fmt.Errorf("vmlab: %w", err))
	}
	err = l.Initramfs(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	mem, cpus := cfg.MemoryMB, cfg.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 2
	}
	args := []string{"-M", "virt", "-cpu", "cortex-a72"}
	if l.Arch == "armhf" {
		// The armmp kernel cannot reach the PCIe ECAM window above 4 GiB.
		args = []string{"-M", "virt,highmem=off", "-cpu", "cortex-a15"}
	}
	args = append(args, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
		"-kernel", l.Kernel, "-initrd", initrd,
		"-append", strings.TrimSpace("console=ttyAMA0 quiet panic=-1 "+cfg.Append))
	var ln net.Listener
	if cfg.PTY {
		args = append(args, "-chardev", "pty,id=con", "-serial", "chardev:con")
	} else {
		sock := filepath.Join(dir, "console.sock")
		ln, err = net.Listen("unix", sock)
		if err != nil {
			return fail(fmt.Errorf("vmlab: console socket: %w", err))
		}
		defer ln.Close()
		args = append(args, "-chardev", "socket,id=con,path="+sock, "-serial", "chardev:con")
	}
	for i, d := range cfg.Disks {
		id := fmt.Sprintf("disk%d", i)
		args = append(args, "-drive", "file="+d+",if=none,format=raw,cache=writeback,id="+id,
			"-device", "virtio-blk-pci,drive="+id)
	}
	vm.cmd = exec.Command(Qemu(l.Arch), args...)
	var stderr io.Reader
	if cfg.PTY {
		pr, err := vm.cmd.StderrPipe()
		if err != nil {
			return fail(fmt.Errorf("vmlab: %w", err))
		}
		stderr = pr
	} else {
		vm.cmd.Stderr = &vm.stderr
	}
	if err := vm.cmd.Start(); err != nil {
		return fail(fmt.Errorf("vmlab: start %s: %w", Qemu(l.Arch), err))
	}
	go func() {
		vm.err = vm.cmd.Wait()
		close(vm.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.Kill()
		case <-vm.done:
		}
	}()
	if cfg.PTY {
		path, rest, err := readPTY(stderr)
		if err != nil {
			vm.Kill()
			vm.Wait()
			return nil, err
		}
		vm.PTY = path
		go func() { io.Copy(&vm.stderr, rest) }()
		return vm, nil
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	select {
	case c, ok := <-accepted:
		if !ok {
			vm.Kill()
			vm.Wait()
			return nil, errors.New("vmlab: qemu did not connect its console")
		}
		vm.conn = c
	case <-vm.done:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vmlab: qemu exited at start: %v: %s", vm.err, strings.TrimSpace(vm.stderr.String()))
	}
	vm.Console = vm.conn
	if cfg.Log != nil {
		vm.Console = &teeConn{Conn: vm.conn, log: cfg.Log}
	}
	return vm, nil
}

var ptyLine = regexp.MustCompile(`char device redirected to (\S+) \(label con\)`)

func readPTY(r io.Reader) (string, io.Reader, error) {
	br := bufio.NewReader(r)
	var seen strings.Builder
	for {
		line, err := br.ReadString('\n')
		seen.WriteString(line)
		if m := ptyLine.FindStringSubmatch(line); m != nil {
			return m[1], br, nil
		}
		if err != nil {
			return "", nil, fmt.Errorf("vmlab: qemu gave no console pty: %s", strings.TrimSpace(seen.String()))
		}
	}
}

type teeConn struct {
	net.Conn
	log io.Writer
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.log.Write(p[:n])
	}
	return n, err
}

// Kill cuts the power: qemu gets SIGKILL, as a pulled plug; what the guest
// had not written to its disks is lost.
func (vm *VM) Kill() error {
	select {
	case <-vm.done:
		return nil
	default:
	}
	if err := vm.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("vmlab: kill qemu: %w", err)
	}
	return nil
}

// Done is closed when qemu has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Wait waits for qemu to exit (the guest powered off, or was killed) and
// removes the VM's temporary files. It returns qemu's error, with its
// standard error output.
func (vm *VM) Wait() error {
	<-vm.done
	vm.once.Do(func() {
		if vm.conn != nil {
			vm.conn.Close()
		}
		os.RemoveAll(vm.dir)
	})
	if vm.err != nil {
		return fmt.Errorf("vmlab: qemu: %w: %s", vm.err, strings.TrimSpace(vm.stderr.String()))
	}
	return nil
}

// Result is what a scripted boot printed.
type Result struct {
	Output   string // the console, carriage returns removed
	ExitCode int    // the script's exit status
	Elapsed  time.Duration
}

var exitLine = regexp.MustCompile(`(?m)^vmlab: exit (\d+)$`)

// Run boots a guest that runs cfg.Script and powers off, and returns the
// console output. The timeout bounds the whole run; a guest still running
// then is killed and Run returns an error with the output so far. A script
// that exits non-zero is an error too.
func (l *Lab) Run(ctx context.Context, cfg Config, timeout time.Duration) (Result, error) {
	if cfg.Script == "" {
		return Result{}, errors.New("vmlab: Run needs a script")
	}
	cfg.PTY = false
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vm, err := l.Start(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	var out bytes.Buffer
	io.Copy(&out, vm.Console)
	werr := vm.Wait()
	res := Result{Output: strings.ReplaceAll(out.String(), "\r", ""), ExitCode: -1, Elapsed: time.Since(start)}
	if m := exitLine.FindAllStringSubmatch(res.Output, -1); m != nil {
		res.ExitCode, _ = strconv.Atoi(m[len(m)-1][1])
	}
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("vmlab: %s guest still running after %v, killed; console:\n%s", l.Arch, timeout, res.Output)
	case werr != nil:
		return res, werr
	case res.ExitCode != 0:
		return res, fmt.Errorf("vmlab: %s guest script exited %d; console:\n%s", l.Arch, res.ExitCode, res.Output)
	}
	return res, nil
}
