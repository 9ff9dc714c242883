// Command capturebox is the lecture-capture box's firmware: one binary that
// runs the box (the default) and offers the field-service subcommands.
//
//	capturebox [run] [-config FILE] [-dev]   run the box
//	capturebox version                       print the version
//	capturebox config check [FILE]           check a configuration file
//	capturebox config show [FILE]            print it with secrets masked
//	capturebox schedule ...                  print the schedule the box would record
//	capturebox upload FILE -title ...        upload one recording by hand
//	capturebox board probe                   what the board finds, in words
//	capturebox board selftest                the hal checks on the real devices
//	capturebox why [EVENT-ID | DATE]         what happened to an event, and why
//	capturebox capture probe|test|recover    capture hardware, a test recording, recovery
//
// Every command answers -h and --help with its usage and flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // the box has no zoneinfo of its own

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
)

// defaultConfig is where the SD image puts the configuration: the FAT boot
// partition, editable from any laptop.
const defaultConfig = "/boot/capturebox.toml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError asks for the usage text and exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errHelp: the usage was asked for and printed; exit 0.
var errHelp = flag.ErrHelp

// command is one subcommand.
type command struct {
	name     string
	synopsis string // the arguments after the name
	help     string // one line
	// flags defines the command's flags on fs and returns the function
	// that runs it once they are parsed.
	flags func(fs *flag.FlagSet, e env) func(ctx context.Context) error
}

// env is what a command may use of the process.
type env struct {
	args           []string // the command's arguments, as given
	stdin          io.Reader
	stdout, stderr io.Writer
}

// commands is every subcommand (set in init: the usage of one refers to
// the table).
var commands []command

func init() {
	commands = []command{
		{"run", "[-config FILE] [-dev]", "run the box (the default command)", runFlags},
		{"version", "", "print the firmware version", versionFlags},
		{"config check", "[-config FILE | FILE]", "check a configuration file: exit 1 and list its problems by key and line", configCheckFlags},
		{"config show", "[-config FILE | FILE]", "print the effective configuration, secrets masked", configShowFlags},
		{"schedule", "[-config FILE] [-resource ID] [-ical FILE ...] [-from TIME] [-to TIME] [-json] [-tz ZONE]", "print the schedule the box would record, from Kaltura or from iCal files", scheduleFlags},
		{"why", "[-config FILE] [EVENT-ID | DATE]", "what happened to an event or to a day's events, and why (the event ledger)", whyFlags},
		{"upload", "FILE -title TITLE [-template ENTRYID] [-description TEXT] [-wait] [-config FILE]", "upload one recording by hand", uploadFlags},
		{"capture probe", "", "say what capture hardware is found: video devices, inputs, formats, encoders, sound cards", captureProbeFlags},
		{"capture test", "[-seconds N] [-size WxH] [-fps F] [-format F] [-bitrate B] [-device DEV] [-input N] [-dir DIR] [-id ID] FILE", "record N seconds from the found or named devices into FILE (no config needed)", captureTestFlags},
		{"capture recover", "DIR", "close the recordings a crash left open in DIR", captureRecoverFlags},
		{"board probe", "[-config FILE]", "say what the board finds: model, GPIO pins and their state (flashes the LED), display and console ports", boardProbeFlags},
		{"board selftest", "[-config FILE] [-jig PIN] [-loopback DEVICE] [-only CHECKS]", "run the hal conformance checks on the board's own devices (bench test)", boardSelftestFlags},
	}
}

func isHelp(a string) bool {
	switch a {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	var err error
	switch {
	case len(args) > 0 && isHelp(args[0]):
		usage(stdout)
	case len(args) > 0 && (args[0] == "-version" || args[0] == "--version"):
		fmt.Fprintln(stdout, "capturebox", firmware.Version)
	default:
		err = dispatch(ctx, args, e)
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "capturebox:", err)
		fmt.Fprintln(stderr, "run 'capturebox help' for the commands, 'capturebox COMMAND -h' for one command's flags")
		return 2
	default:
		fmt.Fprintln(stderr, "capturebox:", err)
		return 1
	}
}

// dispatch finds the command (one or two words) and runs it.
func dispatch(ctx context.Context, args []string, e env) error {
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "config" || name == "board" || name == "capture" {
		if len(args) == 0 || isHelp(args[0]) {
			if len(args) == 0 {
				return usageError{name + ": want " + subcommands(name)}
			}
			usageOf(e.stdout, name)
			return errHelp
		}
		name, args = name+" "+args[0], args[1:]
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		e.args = args
		runIt := c.flags(fs, e)
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(e.stdout, c, fs)
				return errHelp
			}
			printUsage(e.stderr, c, fs)
			return usageError{fmt.Sprintf("%s: %v", c.name, err)}
		}
		return runIt(ctx)
	}
	return usageError{fmt.Sprintf("unknown command %q", name)}
}

// printUsage prints one command's synopsis and its flags.
func printUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: capturebox %s %s\n  %s\n", c.name, c.synopsis, c.help)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintln(w, "no flags")
		return
	}
	fmt.Fprintln(w, "flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// usageOf prints the usage of every command whose name starts with prefix.
func usageOf(w io.Writer, prefix string) {
	for _, c := range commands {
		if prefix == "" || c.name == prefix || strings.HasPrefix(c.name, prefix+" ") {
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.flags(fs, env{})
			printUsage(w, c, fs)
			fmt.Fprintln(w)
		}
	}
}

// subcommands lists the commands under a group word: "'config check' or
// 'config show'".
func subcommands(group string) string {
	var names []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			names = append(names, "'"+c.name+"'")
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// usage is the whole command line: every command with its flags.
func usage(w io.Writer) {
	fmt.Fprintf(w, "capturebox %s: the lecture-capture box\n\n", firmware.Version)
	usageOf(w, "")
	fmt.Fprintf(w, "capturebox -h, --help, help    this text\ncapturebox --version           the firmware version\nThe default configuration file is %s.\n", defaultConfig)
}

func versionFlags(_ *flag.FlagSet, e env) func(context.Context) error {
	return func(context.Context) error {
		_, err := fmt.Fprintln(e.stdout, "capturebox", firmware.Version)
		return err
	}
}

// configFile takes the file from -config or the one argument.
func configFile(fs *flag.FlagSet, path string) (string, error) {
	switch {
	case fs.NArg() == 1:
		return fs.Arg(0), nil
	case fs.NArg() > 1:
		return "", usageError{fmt.Sprintf("%s: want one file, got %d", fs.Name(), fs.NArg())}
	}
	return path, nil
}

func configCheckFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file` to check (or give it as the argument)")
	return func(context.Context) error {
		path, err := configFile(fs, *cfgPath)
		if err != nil {
			return err
		}
		problems := config.Check(path)
		for _, p := range problems {
			fmt.Fprintln(e.stderr, p.In(path))
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %d problem(s)", path, len(problems))
		}
		fmt.Fprintf(e.stdout, "%s: ok\n", path)
		return nil
	}
}

func configShowFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file` to show (or give it as the argument)")
	return func(context.Context) error {
		path, err := configFile(fs, *cfgPath)
		if err != nil {
			return err
		}
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		return cfg.Show(e.stdout)
	}
}
