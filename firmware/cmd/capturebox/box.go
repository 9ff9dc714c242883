package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/recur"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/sync/schedulecli"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// devBox is the development box (-dev): set by dev.go, which only the
// development build (go build -tags dev; make run) compiles, so that the
// firmware the Pi runs links none of the HAL fakes.
var devBox func(e env, cfg *config.Config) (firmware.Devices, []console.Command, func())

func runFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file`")
	dev := fs.Bool("dev", false, "run as the development box: LED and display in the terminal, the console on stdin, the button as the 'press' and 'hold' commands (needs a build with -tags dev, as make run does)")
	consolePath := fs.String("console", "", "serve the console on this serial `device` instead (default: hardware.console_port; with -dev: standard input)")
	return func(ctx context.Context) error {
		if fs.NArg() > 0 {
			return usageError{fmt.Sprintf("run: unexpected argument %q", fs.Arg(0))}
		}
		return runBox(ctx, *cfgPath, *dev, *consolePath, e)
	}
}

func runBox(ctx context.Context, cfgPath string, dev bool, consolePath string, e env) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	ring := supervisor.NewRing(500)
	logOut := io.MultiWriter(e.stderr, ring)
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: cfg.Box.SlogLevel()}))
	log.Info("capturebox starting", "version", firmware.Version, "config", cfgPath, "dev", dev)

	devices, commands, closeAll, err := openBox(e, cfg, log, dev, consolePath)
	if err != nil {
		return err
	}
	defer closeAll()
	return ignoreCancel(firmware.Run(ctx, cfg, devices, firmware.Options{
		Logger:     log,
		ConfigPath: cfgPath,
		Ring:       ring,
		Commands:   commands,
		OnUploaded: func(id, entryID string) {
			fmt.Fprintf(e.stdout, "UPLOADED recording %s -> Kaltura entry %s\n", id, entryID)
		},
	}))
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// scheduleFlags prints the occurrences the box would record: from iCal
// files (-ical), or synced from the configured Kaltura.
func scheduleFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file` (for Kaltura)")
	var icals multiFlag
	fs.Var(&icals, "ical", "read this Kaltura iCal `file` instead of Kaltura (repeatable; more files may follow the flags)")
	resource := fs.Int64("resource", 0, "the Kaltura resource `id` to plan for (default: kaltura.resource_id; with -ical, 0 is every resource)")
	fromS := fs.String("from", "", "window start, RFC 3339 `time` (default: now)")
	toS := fs.String("to", "", "window end, RFC 3339 `time` (default: from + sync.window, 14 days with -ical)")
	asJSON := fs.Bool("json", false, "one JSON object per occurrence")
	tz := fs.String("tz", "", "IANA `zone` of the table (default: box.timezone, or the local zone with -ical)")
	return func(ctx context.Context) error {
		if len(icals) > 0 || fs.NArg() > 0 {
			err := schedulecli.Run(e.args, e.stdout, e.stderr, schedulecli.Env{Now: time.Now(), Local: time.Local})
			if errors.Is(err, schedulecli.ErrUsage) {
				return usageError{err.Error()}
			}
			return err
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		if *resource != 0 {
			cfg.Kaltura.ResourceID, cfg.Kaltura.ParentResourceID = *resource, 0
		}
		now := time.Now()
		if *fromS != "" {
			if now, err = time.Parse(time.RFC3339, *fromS); err != nil {
				return usageError{"schedule: -from: " + err.Error()}
			}
		}
		if *toS != "" {
			to, err := time.Parse(time.RFC3339, *toS)
			if err != nil {
				return usageError{"schedule: -to: " + err.Error()}
			}
			if !to.After(now) {
				return usageError{"schedule: -to must be after -from"}
			}
			cfg.Sync.Window = to.Sub(now)
		}
		loc := cfg.Box.Location()
		if *tz != "" {
			if loc, err = icalparse.LoadZone(*tz); err != nil {
				return usageError{"schedule: -tz: " + err.Error()}
			}
		}
		return scheduleFromKaltura(ctx, cfg, now, loc, *asJSON, e.stdout)
	}
}

// scheduleFromKaltura fetches the schedule once and prints its plan.
func scheduleFromKaltura(ctx context.Context, cfg *config.Config, now time.Time, loc *time.Location, asJSON bool, stdout io.Writer) error {
	session, client, err := newSession(cfg)
	if err != nil {
		return err
	}
	f, err := fetch.NewHTTPS(fetch.HTTPSOptions{
		Caller:  client,
		Session: session,
		Filter:  fetch.Filter{ResourceID: cfg.Kaltura.ResourceID, ParentResourceID: cfg.Kaltura.ParentResourceID, AllTypes: !cfg.Sync.RecordOnly},
		Window:  cfg.Sync.Window,
	})
	if err != nil {
		return err
	}
	listing, err := f.Fetch(ctx, fetch.Request{Now: now})
	if err != nil {
		return err
	}
	var events []schedule.Event
	for _, p := range listing.Pages {
		cal, err := icalparse.Parse(bytes.NewReader(p.Body), icalparse.Options{})
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		events = append(events, cal.Events...)
	}
	// The listing holds concrete occurrences (recurrenceTypeIn=0,2): never expand.
	pl := plan.BuildWith(events, cfg.Kaltura.ResourceID, listing.From, listing.To, plan.Options{Expand: recur.Options{NoExpansion: true}})
	if asJSON {
		return schedulecli.WriteJSON(stdout, pl)
	}
	return schedulecli.WriteTable(stdout, pl, loc)
}

func newSession(cfg *config.Config) (*kaltura.Session, *kaltura.Client, error) {
	client, session, err := firmware.NewSession(cfg, nil, nil)
	return session, client, err
}

// uploadFlags uploads one file by hand, for field service.
func uploadFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := fs.String("config", defaultConfig, "configuration `file`")
	title := fs.String("title", "", "entry `title` (required)")
	template := fs.String("template", "", "template `entry` id (default: kaltura.default_template_entry_id)")
	desc := fs.String("description", "", "entry description `text`")
	wait := fs.Bool("wait", false, "wait until Kaltura has processed the entry")
	return func(ctx context.Context) error {
		// The file may come first ("upload FILE -title ...").
		args := fs.Args()
		if len(args) > 1 {
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					usageOf(e.stdout, "upload")
					return errHelp
				}
				return usageError{"upload: " + err.Error()}
			}
			if fs.NArg() > 0 {
				return usageError{fmt.Sprintf("upload: one file only, not %q too", fs.Arg(0))}
			}
			args = args[:1]
		}
		if len(args) != 1 || *title == "" {
			return usageError{"upload: want FILE and -title"}
		}
		return uploadFile(ctx, args[0], *cfgPath, *title, *template, *desc, *wait, e)
	}
}

func uploadFile(ctx context.Context, file, cfgPath, title, template, desc string, wait bool, e env) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	session, _, err := newSession(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.Box.SlogLevel()}))
	entry, err := upload.UploadFile(ctx, upload.Recording{
		ID:              fmt.Sprintf("manual-%d", time.Now().UnixNano()),
		Path:            file,
		Title:           title,
		Description:     desc,
		TemplateEntryID: template,
		Start:           st.ModTime(),
	}, upload.UploadFileOptions{
		QueueOptions: upload.QueueOptions{
			API:                    session,
			Logger:                 log,
			ChunkSize:              int64(cfg.Upload.ChunkSize),
			BandwidthLimit:         int64(cfg.Upload.BandwidthLimit),
			Location:               cfg.Box.Location(),
			DefaultTemplateEntryID: cfg.Kaltura.DefaultTemplateEntryID,
		},
		WaitReady: wait,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, entry)
	return nil
}
