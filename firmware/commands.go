package firmware

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/firmware/console"
)

// commands is the console's table (design.md §2 "Field service"): each
// entry names its handler, a method of the box. Every handler answers from
// memory or from a bounded look at the disk, well within the console's
// one-second budget, and speaks in words and the box's local time.
func (b *box) commands() []console.Command {
	return []console.Command{
		{Name: "status", Help: "what the box is doing: clock, LED, display, recording, faults, subsystems", Run: b.cmdStatus},
		{Name: "schedule", Help: "the schedule the box records from, and the last sync", Run: b.cmdSchedule},
		{Name: "sync now", Alias: []string{"sync"}, Help: "sync the schedule from Kaltura now", Run: b.cmdSyncNow, Changes: true},
		{Name: "start", Help: "start an ad-hoc recording (as a short press of the button)", Run: b.cmdStart, Changes: true},
		{Name: "stop", Help: "stop the running recording (as the button: a scheduled one stays stopped for this event)", Run: b.cmdStop, Changes: true},
		{Name: "recordings", Help: "recordings on the box, with their length and upload state", Run: b.cmdRecordings},
		{Name: "uploads", Help: "the upload queue", Run: b.cmdUploads},
		{Name: "retry", Args: "ID", Help: "retry an upload stopped by a fault", Run: b.cmdRetry, Changes: true},
		{Name: "upload", Args: "ID", Alias: []string{"release"}, Help: "upload a recording kept on the box (held, or missing from the queue)", Run: b.cmdUpload, Changes: true},
		{Name: "config", Alias: []string{"config show"}, Help: "the configuration, secrets masked", Run: b.cmdConfigShow},
		{Name: "config check", Help: "check the configuration file on disk", Run: b.cmdConfigCheck},
		{Name: "config set", Args: "KEY VALUE", Help: "change one setting in the configuration file (checked, saved atomically)", Run: b.cmdConfigSet, Changes: true, LogArgs: maskSetArgs},
		{Name: "network", Help: "interfaces, addresses, default route, whether Kaltura's name resolves", Run: b.cmdNetwork},
		{Name: "time", Help: "the clock, whether it is trusted, NTP", Run: b.cmdTime},
		{Name: "log", Args: "[N]", Help: "the last N log lines (default 20)", Run: b.cmdLog},
		{Name: "test", Args: "led|button|display|capture", Help: "hardware self-tests", Run: b.cmdTest, Changes: true},
		b.whyCommand(),
		{Name: "version", Help: "firmware version", Run: b.cmdVersion},
		{Name: "reboot", Help: "restart the box (running recordings are closed and queued first)", Run: b.cmdReboot, Changes: true},
	}
}

// registerCommands puts the table, and the entry point's own commands, on
// the console.
func (b *box) registerCommands() {
	for _, c := range b.commands() {
		b.console.Register(c)
	}
	for _, c := range b.opts.Commands {
		b.console.Register(c)
	}
}

// now is the wall clock in the box's time zone.
func (b *box) now() time.Time { return time.Now().In(b.cfg.Box.Location()) }

// when says a time in words: the local date and time and how long ago or
// how far ahead, or "never".
func (b *box) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	now := b.now()
	t = t.In(now.Location())
	layout := "Mon 2 Jan 15:04:05"
	if t.Year() != now.Year() {
		layout = "Mon 2 Jan 2006 15:04:05"
	}
	d := now.Sub(t)
	switch {
	case d >= 0:
		return t.Format(layout) + " (" + words(d) + " ago)"
	default:
		return t.Format(layout) + " (in " + words(-d) + ")"
	}
}

// words says a duration the way a person would: "3 hours 5 minutes",
// "42 seconds".
func words(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		return "less than a second"
	}
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	days, h, m, s := int64(d/(24*time.Hour)), int64(d/time.Hour)%24, int64(d/time.Minute)%60, int64(d/time.Second)%60
	var parts []string
	switch {
	case days > 0:
		parts = append(parts, unit(days, "day"))
		if h > 0 {
			parts = append(parts, unit(h, "hour"))
		}
	case h > 0:
		parts = append(parts, unit(h, "hour"))
		if m > 0 {
			parts = append(parts, unit(m, "minute"))
		}
	case m > 0:
		parts = append(parts, unit(m, "minute"))
		if s > 0 {
			parts = append(parts, unit(s, "second"))
		}
	default:
		parts = append(parts, unit(s, "second"))
	}
	return strings.Join(parts, " ")
}

// clock says a length as h:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60)
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func (b *box) cmdVersion(_ context.Context, w io.Writer, _ []string) error {
	_, err := fmt.Fprintln(w, "capturebox", Version)
	return err
}

func (b *box) cmdLog(_ context.Context, w io.Writer, args []string) error {
	if b.opts.Ring == nil {
		return fmt.Errorf("this box keeps no log buffer")
	}
	n := 20
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v <= 0 {
			return fmt.Errorf("usage: log [N], N a number of lines")
		}
		n = v
	} else if len(args) > 1 {
		return fmt.Errorf("usage: log [N]")
	}
	for _, l := range b.opts.Ring.Lines(n) {
		fmt.Fprintln(w, l)
	}
	return nil
}
