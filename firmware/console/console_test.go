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
