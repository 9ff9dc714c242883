package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/supervisor"
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
	if r, err := config.CheckMode(cfgPath, cfg, true); err == nil && r.Warning() != "" {
		log.Warn(r.Warning()) // the app token was readable by others
	}

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

// scheduleFlags prints the occurrences the box would record: from iCal
// files (-ical), or by running the box's sync once against the configured
// Kaltura. The flags and the work are schedulecli's.
func scheduleFlags(fs *flag.FlagSet, e env) func(context.Context) error {
	runIt := schedulecli.Flags(fs, schedulecli.Env{
		Now: time.Now(), Local: time.Local, DefaultConfig: defaultConfig,
		Remote: func(path string, resource int64, window time.Duration) (schedulecli.Remote, error) {
			cfg, err := config.Load(path)
			if err != nil {
				return schedulecli.Remote{}, err
			}
			if resource != 0 {
				cfg.Kaltura.ResourceID, cfg.Kaltura.ParentResourceID = resource, 0
			}
			if window != 0 {
				cfg.Sync.Window = window
			}
			client, session, err := firmware.NewSession(cfg, nil, nil)
			if err != nil {
				return schedulecli.Remote{}, err
			}
			f, err := firmware.NewFetcher(cfg, client, session, nil)
			if err != nil {
				return schedulecli.Remote{}, err
			}
			camera, room := firmware.PlanResource(cfg)
			return schedulecli.Remote{Fetcher: f, ResourceID: camera, RoomID: room, Local: cfg.Box.Location()}, nil
		},
	})
	return func(ctx context.Context) error {
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(schedulecli.MemoryLimit)
		}
		err := runIt(ctx, e.stdout, e.stderr)
		if errors.Is(err, schedulecli.ErrUsage) {
			return usageError{err.Error()}
		}
		return err
	}
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
