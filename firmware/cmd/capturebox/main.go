// Command capturebox is the lecture-capture box's firmware: one binary that
// runs the box (the default) and offers the field-service subcommands.
//
//	capturebox [run] [-config FILE] [-dev]   run the box
//	capturebox version                       print the version
//	capturebox config check FILE             check a configuration file
//	capturebox config show FILE              print it with secrets masked
//	capturebox schedule ...                  print the schedule the box would record
//	capturebox upload FILE -title ...        upload one recording by hand
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runBox(ctx, args, stdin, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "capturebox", firmware.Version)
	case "config":
		err = configCmd(args, stdout, stderr)
	case "schedule":
		err = scheduleCmd(ctx, args, stdout, stderr)
	case "upload":
		err = uploadCmd(ctx, args, stdout, stderr)
	case "capture":
		err = captureCmd(ctx, args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "capturebox:", err)
		usage(stderr)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "capturebox:", err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  capturebox [run] [-config FILE] [-dev]     run the box (default config `+defaultConfig+`)
  capturebox version
  capturebox config check FILE               exit 1 and list the problems of a bad file
  capturebox config show FILE                print the effective configuration, secrets masked
  capturebox schedule [-config FILE] [-ical FILE ...] [-resource ID] [-from RFC3339] [-to RFC3339] [-json]
  capturebox upload FILE -title TITLE [-template ENTRYID] [-config FILE]
  capturebox capture probe                   the capture devices, inputs, formats, encoders and sound cards found
  capturebox capture test [-seconds N] [-size WxH] [-fps F] ... FILE   record N seconds (no config needed)
  capturebox capture recover DIR             close the recordings a crash left open
`)
}

func configCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return usageError{"config: want 'config check FILE' or 'config show FILE'"}
	}
	path := args[1]
	switch args[0] {
	case "check":
		problems := config.Check(path)
		for _, p := range problems {
			fmt.Fprintln(stderr, p.In(path))
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %d problem(s)", path, len(problems))
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		return nil
	case "show":
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		return cfg.Show(stdout)
	}
	return usageError{fmt.Sprintf("config: unknown subcommand %q", args[0])}
}
