package firmware

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/hal"
)

// registerCommands puts the box's commands on the console. Each answers from
// in-memory state, well within the console's one-second budget.
func (b *box) registerCommands() {
	c := b.console
	loc := b.cfg.Box.Location()
	c.Register(console.Command{Name: "version", Help: "firmware version", Run: func(_ context.Context, w io.Writer, _ []string) error {
		fmt.Fprintln(w, "capturebox", Version)
		return nil
	}})
	c.Register(console.Command{Name: "status", Help: "state, LED, faults, subsystems", Run: func(ctx context.Context, w io.Writer, _ []string) error {
		snap, err := b.loop.Snapshot(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "time     %s (clock trusted: %v)\n", snap.Inputs.Now.In(loc).Format("2006-01-02 15:04:05 MST"), snap.Inputs.Trusted)
		fmt.Fprintf(w, "LED      %s\n", snap.LED)
		for _, l := range snap.Screen {
			fmt.Fprintf(w, "display  |%s|\n", l)
		}
		if len(snap.State.Running) == 0 {
			fmt.Fprintln(w, "recording: none")
		}
		for _, r := range snap.State.Running {
			fmt.Fprintf(w, "recording %s %q since %s\n", r.ID, r.Occ.Title, r.Started.In(loc).Format("15:04:05"))
		}
		for _, f := range snap.Inputs.Faults {
			fmt.Fprintf(w, "FAULT    %s: %s\n", f.Source, f.Text)
		}
		for _, s := range b.sup.Statuses() {
			state := "running"
			if !s.Running {
				state = "stopped"
			}
			fmt.Fprintf(w, "subsystem %-10s %s restarts=%d %s\n", s.Name, state, s.Restarts, s.LastError)
		}
		return nil
	}})
	c.Register(console.Command{Name: "schedule", Help: "the schedule the box records from", Run: func(_ context.Context, w io.Writer, _ []string) error {
		st := b.syncer.Status()
		fmt.Fprintf(w, "last sync: %+v\n", st)
		for _, e := range b.Schedule().Entries {
			o, mark := e.Occurrence, " "
			if !e.Record {
				mark = "x"
			}
			fmt.Fprintf(w, "%s %s-%s %-10s %s\n", mark, o.Start.In(loc).Format("Mon 01-02 15:04"), o.End.In(loc).Format("15:04"), o.Key, o.Title)
		}
		return nil
	}})
	c.Register(console.Command{Name: "sync", Help: "sync the schedule now", Run: func(_ context.Context, w io.Writer, _ []string) error {
		b.syncer.SyncNow()
		fmt.Fprintln(w, "sync requested")
		return nil
	}})
	c.Register(console.Command{Name: "uploads", Help: "the upload queue", Run: func(_ context.Context, w io.Writer, _ []string) error {
		items := b.queue.Items()
		if len(items) == 0 {
			fmt.Fprintln(w, "upload queue empty")
		}
		for _, it := range items {
			line := fmt.Sprintf("%-40s %-14s %d/%d entry=%s %q", it.ID, it.State, it.Offset, it.Size, it.EntryID, it.Title)
			if it.Fault != nil {
				line += " FAULT: " + it.Fault.Message
			} else if it.LastError != "" {
				line += " last error: " + it.LastError
			}
			fmt.Fprintln(w, line)
		}
		return nil
	}})
	c.Register(console.Command{Name: "retry", Args: "ID", Help: "retry a stopped upload", Run: func(_ context.Context, w io.Writer, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("usage: retry ID")
		}
		if err := b.queue.Retry(args[0]); err != nil {
			return err
		}
		b.refreshUploadFault()
		fmt.Fprintln(w, "retrying", args[0])
		return nil
	}})
	c.Register(console.Command{Name: "recordings", Help: "recordings on the box (held ones are not uploaded)", Run: func(_ context.Context, w io.Writer, _ []string) error {
		files, err := filepath.Glob(filepath.Join(b.recDir, "*.json"))
		if err != nil {
			return err
		}
		for _, f := range files {
			id := strings.TrimSuffix(filepath.Base(f), ".json")
			s, err := capture.ReadSidecar(b.recDir, id)
			if err != nil {
				continue
			}
			note := ""
			if b.held(id) {
				note = " HELD (not uploaded; 'release " + id + "' uploads it)"
			}
			fmt.Fprintf(w, "%-40s %-9s %8s %q%s\n", id, s.State, s.Duration.Truncate(time.Second), s.Meta.Title, note)
		}
		return nil
	}})
	c.Register(console.Command{Name: "release", Args: "ID", Help: "upload a held recording", Run: func(_ context.Context, w io.Writer, args []string) error {
		if len(args) != 1 || !capture.ValidID(args[0]) {
			return fmt.Errorf("usage: release ID")
		}
		id := args[0]
		s, err := capture.ReadSidecar(b.recDir, id)
		if err != nil {
			return err
		}
		if s.File == "" {
			return fmt.Errorf("%s has no media", id)
		}
		if err := b.queue.Enqueue(uploadRecording(closedResult(b.recDir, s))); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(b.recDir, id+".held"))
		fmt.Fprintln(w, "queued", id)
		return nil
	}})
	c.Register(console.Command{Name: "log", Args: "[N]", Help: "the last N log lines (default 20)", Run: func(_ context.Context, w io.Writer, args []string) error {
		if b.opts.Ring == nil {
			return fmt.Errorf("no log buffer")
		}
		n := 20
		if len(args) == 1 {
			v, err := strconv.Atoi(args[0])
			if err != nil || v <= 0 {
				return fmt.Errorf("usage: log [N]")
			}
			n = v
		}
		for _, l := range b.opts.Ring.Lines(n) {
			fmt.Fprintln(w, l)
		}
		return nil
	}})
	c.Register(console.Command{Name: "config", Help: "the configuration, secrets masked", Run: func(_ context.Context, w io.Writer, _ []string) error {
		return b.cfg.Show(w)
	}})
	if b.dev.Press != nil {
		c.Register(console.Command{Name: "press", Help: "press the button (short)", Alias: []string{"p"}, Run: func(_ context.Context, w io.Writer, _ []string) error {
			b.dev.Press(hal.Press)
			return nil
		}})
		c.Register(console.Command{Name: "hold", Help: "hold the button (long press)", Alias: []string{"h"}, Run: func(_ context.Context, w io.Writer, _ []string) error {
			b.dev.Press(hal.LongPress)
			return nil
		}})
	}
}
