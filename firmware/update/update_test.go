package update

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestCheckSource(t *testing.T) {
	for _, c := range []struct {
		src, shown string
		ok         bool
	}{
		{"https://updates.example.edu/capturebox-rpi4-1.2.raucb", "https://updates.example.edu/capturebox-rpi4-1.2.raucb", true},
		{"http://10.0.0.5:8080/b.raucb", "http://10.0.0.5:8080/b.raucb", true},
		{"https://av:s3cret@updates.example.edu/b.raucb", "https://av:xxxxx@updates.example.edu/b.raucb", true},
		{"/data/rauc/bundle.raucb", "/data/rauc/bundle.raucb", true},
		{"", "", false},
		{"ftp://example.edu/b.raucb", "", false},
		{"file:///data/b.raucb", "", false},
		{"https:///b.raucb", "", false},
		{"--help", "", false},
		{"-h", "", false},
		{"relative/b.raucb", "", false},
		{"/data/../etc/shadow.raucb", "", false},
		{"/data/rauc/notabundle", "", false},
		{"https://example.edu/a b.raucb", "", false},
		{"https://example.edu/a\nb.raucb", "", false},
		{"https://example.edu/" + strings.Repeat("a", 3000), "", false},
	} {
		shown, err := CheckSource(c.src)
		if (err == nil) != c.ok {
			t.Errorf("CheckSource(%q) err = %v, want ok %v", c.src, err, c.ok)
			continue
		}
		if c.ok && shown != c.shown {
			t.Errorf("CheckSource(%q) shows %q, want %q", c.src, shown, c.shown)
		}
	}
}

// gatedRunner is a fake rauc: each call is sent on calls and answers what
// the test sends back on answers.
type gatedRunner struct {
	calls   chan []string
	answers chan answer
}

type answer struct {
	out string
	err error
}

func newGated() *gatedRunner {
	return &gatedRunner{calls: make(chan []string), answers: make(chan answer)}
}

func (g *gatedRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	g.calls <- append([]string{name}, args...)
	select {
	case a := <-g.answers:
		return []byte(a.out), a.err
	case <-ctx.Done():
		return []byte("rauc: Installation error: interrupted"), ctx.Err()
	}
}

func TestInstallRunsRAUCOnceAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newGated()
		var logs bytes.Buffer
		in := New(Options{Runner: r, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		if got := in.Status().State; got != Idle {
			t.Fatalf("state before any install %s", got)
		}
		src := "https://av:s3cret@updates.example.edu/capturebox-rpi4-1.2.raucb"
		if err := in.Start(t.Context(), src); err != nil {
			t.Fatal(err)
		}
		call := <-r.calls
		if strings.Join(call, " ") != "rauc install "+src {
			t.Fatalf("ran %q", call)
		}
		st := in.Status()
		if st.State != Installing || strings.Contains(st.String(), "s3cret") {
			t.Fatalf("while installing: %+v / %s", st, st)
		}
		if err := in.Start(t.Context(), src); !errors.Is(err, ErrBusy) {
			t.Fatalf("second Start: %v, want ErrBusy", err)
		}
		r.answers <- answer{out: "installing\n100% Installing done.\nInstalling `" + src + "` succeeded\n"}
		if err := in.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		st = in.Status()
		if st.State != Installed || !strings.Contains(st.String(), "reboot") {
			t.Fatalf("after success: %+v", st)
		}
		if strings.Contains(logs.String(), "s3cret") {
			t.Fatalf("the password reached the log:\n%s", logs.String())
		}
		// A new install may start once the last one ended.
		if err := in.Start(t.Context(), "/data/rauc/b.raucb"); err != nil {
			t.Fatal(err)
		}
		<-r.calls
		r.answers <- answer{out: "rauc-Message: ...\nrauc: Installation error: Failed to check bundle: signature verification failed: certificate not trusted\n", err: errors.New("exit status 1")}
		_ = in.Wait(t.Context())
		st = in.Status()
		if st.State != Failed || !strings.Contains(st.Err, "signature verification failed") || !strings.Contains(st.String(), "FAILED") {
			t.Fatalf("after a refused bundle: %+v", st)
		}
	})
}

func TestInstallTimesOutAndOutlivesTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newGated()
		in := New(Options{Runner: r, Timeout: 20 * time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		if err := in.Start(ctx, "https://updates.example.edu/b.raucb"); err != nil {
			t.Fatal(err)
		}
		<-r.calls
		cancel() // the console's request ends; the install goes on
		synctest.Wait()
		if st := in.Status(); st.State != Installing {
			t.Fatalf("the install stopped with its caller: %+v", st)
		}
		start := time.Now()
		_ = in.Wait(t.Context())
		if took := time.Since(start); took != 20*time.Minute {
			t.Fatalf("the install ended after %v, want the 20m timeout", took)
		}
		if st := in.Status(); st.State != Failed || !strings.Contains(st.Err, "deadline") {
			t.Fatalf("after the timeout: %+v", st)
		}
	})
}

func TestStartRefusesABadSourceWithoutRunning(t *testing.T) {
	r := newGated()
	in := New(Options{Runner: r})
	if err := in.Start(t.Context(), "--ignore-compatible"); err == nil {
		t.Fatal("an option was accepted as a bundle")
	}
	if st := in.Status(); st.State != Idle {
		t.Fatalf("state %s after a refused source", st.State)
	}
}

// TestExecRunner runs a real process standing in for rauc: a script that
// records its arguments and fails for a bundle named bad.raucb.
func TestExecRunner(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + args + "\ncase \"$2\" in *bad.raucb) echo 'rauc: Installation error: Compatible mismatch' >&2; exit 1;; esac\necho 'Installing done.'\n"
	rauc := filepath.Join(dir, "rauc")
	if err := os.WriteFile(rauc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	in := New(Options{Runner: ExecRunner{}, RAUC: rauc})
	if err := in.Start(t.Context(), "/data/rauc/good.raucb"); err != nil {
		t.Fatal(err)
	}
	if err := in.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := in.Status(); st.State != Installed {
		t.Fatalf("good bundle: %+v", st)
	}
	got, _ := os.ReadFile(args)
	if string(got) != "install /data/rauc/good.raucb\n" {
		t.Fatalf("rauc got %q", got)
	}
	if err := in.Start(t.Context(), "/data/rauc/bad.raucb"); err != nil {
		t.Fatal(err)
	}
	_ = in.Wait(t.Context())
	if st := in.Status(); st.State != Failed || !strings.Contains(st.Err, "Compatible mismatch") {
		t.Fatalf("bad bundle: %+v", st)
	}
}
