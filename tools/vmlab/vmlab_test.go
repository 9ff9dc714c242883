package vmlab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke boots each architecture's Debian kernel, loads a module with
// its dependencies, writes to a virtio disk and runs a command.
func TestSmoke(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			l := Require(t, arch)
			disk := filepath.Join(t.TempDir(), "data.img")
			if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := l.Run(context.Background(), Config{
				Modules: []string{"virtio_pci", "virtio_blk", "vivid n_devs=1"},
				Files:   []File{{Path: "/etc/greeting", Data: []byte("hello from the host\n")}},
				Script: `uname -m
cat /etc/greeting
ls /dev/video0
test -b /dev/vda && printf "written by the guest" | dd of=/dev/vda bs=512 conv=sync
`,
				Disks: []string{disk},
			}, 2*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s): booted, ran and powered off in %v", arch, l.KernelVersion, res.Elapsed)
			want := map[string]string{"arm64": "aarch64", "armhf": "armv7l"}[arch]
			for _, s := range []string{"vmlab: ready", want, "hello from the host", "/dev/video0"} {
				if !strings.Contains(res.Output, s) {
					t.Errorf("console lacks %q:\n%s", s, res.Output)
				}
			}
			b, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("written by the guest")) {
				t.Errorf("data disk starts %q, want the guest's write; console:\n%s", b[:32], res.Output)
			}
		})
	}
}

// TestConsoleAndKill drives the interactive console and cuts the power.
func TestConsoleAndKill(t *testing.T) {
	l := Require(t, "arm64")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vm, err := l.Start(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Wait()
	defer vm.Kill()
	var seen bytes.Buffer
	expect := func(s string) {
		t.Helper()
		buf := make([]byte, 4096)
		for !strings.Contains(seen.String(), s) {
			n, err := vm.Console.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				t.Fatalf("console closed before %q: %v\n%s", s, err, seen.String())
			}
		}
	}
	expect("vmlab: ready")
	if _, err := vm.Console.Write([]byte("echo $((6*7))x\n")); err != nil {
		t.Fatal(err)
	}
	expect("42x")
	if err := vm.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err == nil {
		t.Fatal("Wait after Kill returned no error; want qemu's death by signal")
	}
}

// TestInitramfsReadByCpio checks the archive writer against GNU cpio.
func TestInitramfsReadByCpio(t *testing.T) {
	l := Require(t, "arm64")
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	var gz bytes.Buffer
	if err := l.Initramfs(&gz, Config{Modules: []string{"snd-aloop"}, Files: []File{{Path: "/a/b/c", Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "gzip -dc | cpio -it --quiet")
	cmd.Stdin = &gz
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	for _, want := range []string{"init", "bin/busybox", "dev/console", "a/b/c", "snd-aloop.ko", "snd-pcm.ko", "soundcore.ko"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("archive lacks %s:\n%s", want, out)
		}
	}
}
