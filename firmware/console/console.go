// Package console is the field-service console: a line-oriented command
// interpreter on a hal.ConsolePort (the Pi's serial port, or stdin in
// development). Commands are registered by the composition root; a wrong
// command gets the help text, never silence.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Command is one console command.
type Command struct {
	Name  string
	Args  string // argument synopsis for help, e.g. "[N]"
	Help  string // one line
	Run   func(ctx context.Context, w io.Writer, args []string) error
	Alias []string
}

// Console reads commands from a port and answers on it.
type Console struct {
	log     *slog.Logger
	mu      sync.Mutex
	cmds    map[string]*Command
	names   []string
	prompt  string
	timeout time.Duration
}

// New returns a console with the built-in "help" command.
func New(log *slog.Logger, prompt string) *Console {
	c := &Console{log: log, cmds: map[string]*Command{}, prompt: prompt, timeout: time.Second}
	c.Register(Command{Name: "help", Help: "list the commands", Run: func(_ context.Context, w io.Writer, _ []string) error {
		c.help(w)
		return nil
	}})
	return c
}

// Register adds a command; a later registration of the same name replaces it.
func (c *Console) Register(cmd Command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cmds[cmd.Name]; !ok {
		c.names = append(c.names, cmd.Name)
		sort.Strings(c.names)
	}
	cp := cmd
	c.cmds[cmd.Name] = &cp
	for _, a := range cmd.Alias {
		c.cmds[a] = &cp
	}
}

// Lookup returns the command registered under name, so that a later
// registration can wrap it.
func (c *Console) Lookup(name string) (Command, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd, ok := c.cmds[name]
	if !ok {
		return Command{}, false
	}
	return *cmd, true
}

func (c *Console) help(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(w, "commands:")
	for _, n := range c.names {
		cmd := c.cmds[n]
		fmt.Fprintf(w, "  %-22s %s\n", strings.TrimSpace(cmd.Name+" "+cmd.Args), cmd.Help)
	}
}

// Exec runs one command line and writes its answer to w. Each command has a
// one-second budget (its context ends then); an unknown command prints help.
func (c *Console) Exec(ctx context.Context, w io.Writer, line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	c.mu.Lock()
	cmd, ok := c.cmds[strings.ToLower(fields[0])]
	c.mu.Unlock()
	if !ok {
		fmt.Fprintf(w, "unknown command %q\n", fields[0])
		c.help(w)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := cmd.Run(ctx, w, fields[1:]); err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
	}
}

// Serve reads lines from port until ctx ends or the port closes.
func (c *Console) Serve(ctx context.Context, port io.ReadWriter) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(port)
		sc.Buffer(make([]byte, 4096), 4096)
		for sc.Scan() {
			select {
			case lines <- strings.TrimRight(sc.Text(), "\r"):
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			errc <- err
			return
		}
		errc <- io.EOF
	}()
	fmt.Fprint(port, c.prompt)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("console: read: %w", err)
		case line := <-lines:
			c.Exec(ctx, port, line)
			fmt.Fprint(port, c.prompt)
		}
	}
}
