package firmware_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// The ledger's disk reasons made real (no injected fault): the recordings
// folder is a full tmpfs, or a read-only bind mount, at a lecture's start,
// inside the private mount namespace of a child test process
// (inMountNamespace: skipped where mounts are not permitted, unless
// CAPTUREBOX_REQUIRE_MOUNT=1). The ledger stays writable in the data
// folder above, so why can tell.

const (
	whyDiskFull     = "why-full"
	whyDiskReadOnly = "why-readonly"
)

// A full disk at the start: the recording cannot start, and why says the
// disk was full.
func TestWhyDiskFull(t *testing.T) { inMountNamespace(t, whyDiskFull) }

// A disk that cannot be written (read-only) at the start: why says the
// disk could not be written.
func TestWhyDiskError(t *testing.T) { inMountNamespace(t, whyDiskReadOnly) }

func whyDiskScenario(t *testing.T, mode, dir string) {
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		recs := w.cfg.Recording.Dir
		if err := os.MkdirAll(recs, 0o755); err != nil {
			t.Fatal(err)
		}
		want := "recording not started: the disk could not be written"
		switch mode {
		case whyDiskFull:
			want = "recording not started: the disk was full"
			if err := syscall.Mount("tmpfs", recs, "tmpfs", 0, "size=1m"); err != nil {
				t.Skipf("mount tmpfs: %v", err)
			}
			defer syscall.Unmount(recs, syscall.MNT_DETACH)
			fillDisk(t, filepath.Join(recs, "filler"), 64<<10)
		case whyDiskReadOnly:
			if err := syscall.Mount(recs, recs, "", syscall.MS_BIND, ""); err != nil {
				t.Skipf("bind mount: %v", err)
			}
			defer syscall.Unmount(recs, syscall.MNT_DETACH)
			if err := syscall.Mount("", recs, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
				t.Skipf("remount read-only: %v", err)
			}
		}
		ev := w.lecture("STAT 230", 30*time.Minute, 90*time.Minute, nil)
		w.start()
		w.until(2 * time.Hour)
		w.stop()
		w.wantWhy(id(ev), "seen in the schedule", want)
	})
}
