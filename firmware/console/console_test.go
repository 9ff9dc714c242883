package console

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestExec(t *testing.T) {
	c := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "> ")
	var got []string
	c.Register(Command{Name: "echo", Args: "WORDS", Help: "say it back", Alias: []string{"say"}, Run: func(_ context.Context, w io.Writer, args []string) error {
		got = args
		_, err := io.WriteString(w, strings.Join(args, " ")+"\n")
		return err
	}})
	var out bytes.Buffer
	c.Exec(t.Context(), &out, "ECHO hello  world")
	if out.String() != "hello world\n" || len(got) != 2 {
		t.Fatalf("echo: %q", out.String())
	}
	out.Reset()
	c.Exec(t.Context(), &out, "say x")
	if out.String() != "x\n" {
		t.Fatalf("alias: %q", out.String())
	}
	out.Reset()
	c.Exec(t.Context(), &out, "frobnicate")
	if !strings.Contains(out.String(), `unknown command "frobnicate"`) || !strings.Contains(out.String(), "echo WORDS") {
		t.Fatalf("unknown command answer: %q", out.String())
	}
}

func TestServe(t *testing.T) {
	c := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "> ")
	port := struct {
		io.Reader
		io.Writer
	}{strings.NewReader("help\r\n\nnope\n"), &bytes.Buffer{}}
	if err := c.Serve(t.Context(), port); err != nil {
		t.Fatal(err)
	}
	out := port.Writer.(*bytes.Buffer).String()
	if strings.Count(out, "> ") != 4 || strings.Count(out, "commands:") != 2 {
		t.Fatalf("output:\n%s", out)
	}
}

func newLogged() (*Console, *bytes.Buffer) {
	var buf bytes.Buffer
	return New(slog.New(slog.NewTextHandler(&buf, nil)), "> "), &buf
}

func serve(t *testing.T, c *Console, input string) string {
	t.Helper()
	var out bytes.Buffer
	port := struct {
		io.Reader
		io.Writer
	}{strings.NewReader(input), &out}
	if err := c.Serve(t.Context(), port); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestLineEditing: backspace and delete edit the line (a whole UTF-8
// character at a time), other control bytes are dropped, CR, LF and CRLF
// each end one line, and with echo on the terminal sees the edits.
func TestLineEditing(t *testing.T) {
	c, _ := newLogged()
	var got []string
	c.Register(Command{Name: "say", Run: func(_ context.Context, w io.Writer, args []string) error {
		got = append(got, strings.Join(args, " "))
		return nil
	}})
	c.SetEcho(true)
	out := serve(t, c, "sax\by hé\x7fello\r\nsay \x1bb\x07\rsay c\n")
	if strings.Join(got, "|") != "hello|b|c" {
		t.Fatalf("lines %q", got)
	}
	if !strings.Contains(out, "sax\b \by") {
		t.Errorf("echo does not show the backspace: %q", out)
	}
}

// TestLongLineAndNoise: a line over MaxLine is refused, not run, and the
// console goes on; binary noise is not a command.
func TestLongLineAndNoise(t *testing.T) {
	c, _ := newLogged()
	ran := 0
	c.Register(Command{Name: "ok", Run: func(context.Context, io.Writer, []string) error { ran++; return nil }})
	noise := string([]byte{0, 1, 2, 0xff, 0xfe, 3, '\n'})
	out := serve(t, c, "ok "+strings.Repeat("x", 10*1024)+"\n"+noise+"ok\n")
	if ran != 1 {
		t.Fatalf("ran %d times, want once (the long line is refused)", ran)
	}
	if !strings.Contains(out, "line longer than") {
		t.Errorf("no word about the long line: %q", out[:min(len(out), 200)])
	}
}

// TestPIN: with a service PIN nothing runs until it is typed; wrong PINs
// are answered and logged.
func TestPIN(t *testing.T) {
	c, log := newLogged()
	ran := 0
	c.Register(Command{Name: "ok", Run: func(context.Context, io.Writer, []string) error { ran++; return nil }})
	c.SetPIN("4711")
	out := serve(t, c, "ok\n1234\n4711\nok\n")
	if ran != 1 {
		t.Fatalf("ran %d times before and after the PIN, want 1", ran)
	}
	if strings.Count(out, "wrong PIN") != 2 || !strings.HasPrefix(out, "service PIN: ") {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(log.String(), "wrong service PIN") || strings.Contains(log.String(), "1234") {
		t.Errorf("log %q", log.String())
	}
}

// TestChangesLogged: a command that changes the box is logged, with its
// secret arguments masked; one that only reads is not.
func TestChangesLogged(t *testing.T) {
	c, log := newLogged()
	nop := func(context.Context, io.Writer, []string) error { return nil }
	c.Register(Command{Name: "config set", Run: nop, Changes: true, LogArgs: func(a []string) []string { return []string{a[0], "***"} }})
	c.Register(Command{Name: "status", Run: nop})
	var out bytes.Buffer
	c.Exec(t.Context(), &out, "config set kaltura.app_token s3cret")
	c.Exec(t.Context(), &out, "status")
	if !strings.Contains(log.String(), `command="config set" args="kaltura.app_token ***"`) || strings.Contains(log.String(), "s3cret") {
		t.Errorf("log %q", log.String())
	}
	if strings.Contains(log.String(), "status") {
		t.Errorf("a read-only command was logged: %q", log.String())
	}
}
