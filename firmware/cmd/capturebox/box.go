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
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/firmware/termdev"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/recur"
	"github.com/capturebox/capturebox/sync/schedule"
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
	if r, err := config.CheckMode(*cfgPath, cfg, true); err == nil && r.Warning() != "" {
		log.Warn(r.Warning()) // the app token was readable by others
	}

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
// (-ical), or synced from the configured Kaltura.
func scheduleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	env := schedulecli.Env{Now: time.Now(), Local: time.Local}
	for _, a := range args {
		if a == "-ical" || a == "--ical" || hasPrefix(a, "-ical=") || hasPrefix(a, "--ical=") {
			return schedulecli.Run(args, stdout, stderr, env)
		}
	}
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	asJSON := fs.Bool("json", false, "one JSON object per occurrence")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
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
	now := time.Now()
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
	if *asJSON {
		return schedulecli.WriteJSON(stdout, pl)
	}
	return schedulecli.WriteTable(stdout, pl, cfg.Box.Location())
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

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
