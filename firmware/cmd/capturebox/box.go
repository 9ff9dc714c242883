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
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/firmware/termdev"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/sync/schedulecli"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

func runBox(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	dev := fs.Bool("dev", false, "run on HAL fakes: LED and display in the terminal, the console on stdin, the button as the 'press' and 'hold' commands")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ring := supervisor.NewRing(500)
	logOut := io.MultiWriter(stderr, ring)
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: cfg.Box.SlogLevel()}))
	log.Info("capturebox starting", "version", firmware.Version, "config", *cfgPath, "dev", *dev)

	if !*dev {
		return errors.New("this build has no Raspberry Pi board drivers yet: run with -dev to use the HAL fakes")
	}
	devices, closeAll := devDevices(stdin, stdout, cfg)
	defer closeAll()
	return ignoreCancel(firmware.Run(ctx, cfg, devices, firmware.Options{
		Logger: log,
		Ring:   ring,
		OnUploaded: func(id, entryID string) {
			fmt.Fprintf(stdout, "UPLOADED recording %s -> Kaltura entry %s\n", id, entryID)
		},
	}))
}

// devDevices are the development box: HAL fakes, drawn in the terminal.
func devDevices(stdin io.Reader, stdout io.Writer, cfg *config.Config) (firmware.Devices, func()) {
	button := haltest.NewFakeButton(time.Now)
	cols, rows := cfg.Hardware.DisplayDims()
	d := firmware.Devices{
		LED:      termdev.NewLED(stdout),
		Display:  termdev.NewDisplay(stdout, cols, rows),
		Button:   button,
		Console:  &stdioPort{r: stdin, w: stdout},
		Capture:  haltest.NewFakeCamera(haltest.CameraConfig{Width: 320, Height: 180, FPS: 25}),
		TimeSync: haltest.NewFakeTimeSync(true),
		Press: func(k hal.ButtonKind) {
			if k == hal.LongPress {
				button.LongPress()
			} else {
				button.Press()
			}
		},
	}
	return d, func() {
		d.LED.Close()
		d.Display.Close()
		button.Close()
	}
}

// stdioPort is the development console: standard input and output.
type stdioPort struct {
	r io.Reader
	w io.Writer
}

func (p *stdioPort) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *stdioPort) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *stdioPort) Close() error                { return nil }

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// scheduleCmd prints the occurrences the box would record: from iCal files
// (-ical), or by running the box's sync once against the configured Kaltura.
func scheduleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(schedulecli.MemoryLimit)
	}
	return schedulecli.Run(ctx, args, stdout, stderr, schedulecli.Env{
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
			return schedulecli.Remote{Fetcher: f, ResourceID: firmware.PlanResource(cfg), Local: cfg.Box.Location()}, nil
		},
	})
}

func newSession(cfg *config.Config) (*kaltura.Session, *kaltura.Client, error) {
	client, session, err := firmware.NewSession(cfg, nil, nil)
	return session, client, err
}

// uploadCmd uploads one file by hand, for field service.
func uploadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	title := fs.String("title", "", "entry title (required)")
	template := fs.String("template", "", "template entry id (default: kaltura.default_template_entry_id)")
	desc := fs.String("description", "", "entry description")
	wait := fs.Bool("wait", false, "wait until Kaltura has processed the entry")
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || *title == "" {
		return usageError{"upload: want FILE and -title"}
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	session, _, err := newSession(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Box.SlogLevel()}))
	entry, err := upload.UploadFile(ctx, upload.Recording{
		ID:              fmt.Sprintf("manual-%d", time.Now().UnixNano()),
		Path:            file,
		Title:           *title,
		Description:     *desc,
		TemplateEntryID: *template,
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
		WaitReady: *wait,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, entry)
	return nil
}
