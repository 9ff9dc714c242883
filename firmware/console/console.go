// Package console is the field-service console: a line-oriented command
// interpreter on a hal.ConsolePort (the Pi's serial port, or stdin in
// development). Commands are registered by the composition root as a table
// of named handlers; a wrong command gets the help text, never silence.
// Lines are edited with backspace, bounded in length, and may be guarded
// by a service PIN; commands that change the box are written to the log.
package console

import (
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
	// Changes marks a command that changes the box (start, stop, retry,
	// config set, reboot): each use is written to the log.
	Changes bool
	// LogArgs, when set, gives the arguments as they may appear in the log
	// (a secret value masked); nil logs them as typed.
	LogArgs func(args []string) []string
}

// MaxLine is the longest command line; the rest of a longer line is
// dropped and the line refused.
const MaxLine = 1024

// Console reads commands from a port and answers on it.
type Console struct {
	log     *slog.Logger
	mu      sync.Mutex
	cmds    map[string]*Command
	names   []string
	prompt  string
	timeout time.Duration
	pin     string
	echo    bool
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

// SetPIN makes Serve ask for pin before it takes any command; "" (the
// default) asks for none.
func (c *Console) SetPIN(pin string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pin = pin
}

// SetEcho makes Serve echo what is typed (a serial terminal shows only what
// the box sends back); a development terminal echoes by itself.
func (c *Console) SetEcho(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.echo = on
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

// Commands returns the registered commands' names, sorted.
func (c *Console) Commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

func (c *Console) help(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(w, "commands:")
	for _, n := range c.names {
		cmd := c.cmds[n]
		fmt.Fprintf(w, "  %-24s %s\n", strings.TrimSpace(cmd.Name+" "+cmd.Args), cmd.Help)
	}
}

// Exec runs one command line and writes its answer to w. Each command has a
// one-second budget (its context ends then); an unknown command prints help.
// A command may be two words ("sync now", "config set"): the longest
// registered name that the line starts with wins.
func (c *Console) Exec(ctx context.Context, w io.Writer, line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	c.mu.Lock()
	var cmd *Command
	n := 0
	for i := min(len(fields), 2); i >= 1 && cmd == nil; i-- {
		if found, ok := c.cmds[strings.ToLower(strings.Join(fields[:i], " "))]; ok {
			cmd, n = found, i
		}
	}
	c.mu.Unlock()
	if cmd == nil {
		fmt.Fprintf(w, "unknown command %q\n", fields[0])
		c.help(w)
		return
	}
	args := fields[n:]
	if cmd.Changes {
		logged := args
		if cmd.LogArgs != nil {
			logged = cmd.LogArgs(args)
		}
		c.log.Info("console command", "command", cmd.Name, "args", strings.Join(logged, " "))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := cmd.Run(ctx, w, args); err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
	}
}

// Serve reads lines from port until ctx ends or the port closes.
func (c *Console) Serve(ctx context.Context, port io.ReadWriter) error {
	c.mu.Lock()
	pin, echo := c.pin, c.echo
	c.mu.Unlock()
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		errc <- readLines(ctx, port, echo, lines)
	}()
	unlocked := pin == ""
	prompt := func() {
		if unlocked {
			fmt.Fprint(port, c.prompt)
		} else {
			fmt.Fprint(port, "service PIN: ")
		}
	}
	prompt()
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
			switch {
			case line == tooLong:
				fmt.Fprintf(port, "line longer than %d characters: ignored\n", MaxLine)
			case !unlocked:
				if strings.TrimSpace(line) == pin {
					unlocked = true
					c.log.Info("console unlocked with the service PIN")
				} else if strings.TrimSpace(line) != "" {
					fmt.Fprintln(port, "wrong PIN")
					c.log.Warn("console: wrong service PIN")
				}
			default:
				c.Exec(ctx, port, line)
			}
			prompt()
		}
	}
}

// tooLong stands for a line over MaxLine; a real line never holds a NUL.
const tooLong = "\x00"

// readLines turns the port's bytes into lines: backspace and delete remove
// the last character, CR, LF and CRLF end a line, other control bytes are
// dropped, and a line over MaxLine is sent as tooLong.
func readLines(ctx context.Context, port io.ReadWriter, echo bool, lines chan<- string) error {
	buf := make([]byte, 256)
	var line []byte
	overflow, lastCR := false, false
	send := func(s string) bool {
		select {
		case lines <- s:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		n, err := port.Read(buf)
		var out []byte
		for _, b := range buf[:n] {
			switch {
			case b == '\r' || b == '\n':
				if b == '\n' && lastCR {
					lastCR = false
					continue
				}
				lastCR = b == '\r'
				if echo {
					out = append(out, '\r', '\n')
					_, _ = port.Write(out)
					out = out[:0]
				}
				s := string(line)
				if overflow {
					s = tooLong
				}
				line, overflow = line[:0], false
				if !send(s) {
					return ctx.Err()
				}
				continue
			case b == 0x08 || b == 0x7f:
				if len(line) > 0 {
					// Remove a whole UTF-8 character.
					i := len(line) - 1
					for i > 0 && line[i]&0xc0 == 0x80 {
						i--
					}
					line = line[:i]
					if echo {
						out = append(out, '\b', ' ', '\b')
					}
				}
			case b < 0x20:
				// Other control bytes (noise, escape sequences' lead-in) are dropped.
			default:
				if len(line) >= MaxLine {
					overflow = true
					continue
				}
				line = append(line, b)
				if echo {
					out = append(out, b)
				}
			}
			lastCR = false
		}
		if echo && len(out) > 0 {
			_, _ = port.Write(out)
		}
		if err != nil {
			return err
		}
	}
}
