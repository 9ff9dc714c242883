package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/capturebox/capturebox/board"
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

// boardCapture opens the board's video capture: the V4L2 device of
// hardware.capture_device through mediadevices, encoded by the encoder of
// hardware.video_encoder (the Pi's hardware encoder or openh264;
// board/video*, board/m2m*). A build without cgo has no capture: its
// source says so when opened, and the box shows the fault.
func boardCapture(cfg *config.Config, log *slog.Logger) (hal.CaptureSource, error) {
	vc := videoConfig(cfg.Hardware)
	vc.Logger = log
	return board.NewVideoSource(vc)
}

// videoConfig is the video capture's wiring from the [hardware] keys; the
// rest (size, rate, format, bitrate) are the driver's defaults.
func videoConfig(hw config.Hardware) board.VideoConfig {
	return board.VideoConfig{Device: hw.CaptureDevice, Input: -1, Encoder: hw.VideoEncoder}
}

// boardAudio returns the board's sound input (ALSA, hardware.audio_device)
// and its codec (opus); both nil when the device is "none". The ALSA
// chunks are stamped with time.Now, the clock that stamps the video
// (boardCapture's driver and the recorder use it). A build whose opus
// encoder cannot work (no cgo) is refused here, at start-up, with the fix,
// rather than leaving every recording silent.
func boardAudio(hw config.Hardware) (hal.AudioSource, hal.AudioCodec, error) {
	if hw.AudioDevice == "none" {
		return nil, nil, nil
	}
	codec := board.Opus{}
	enc, err := codec.NewEncoder(hal.AudioFormat{Rate: 48000, Channels: 2})
	if err != nil {
		return nil, nil, fmt.Errorf("sound: %w (or set hardware.audio_device = \"none\" to record without sound)", err)
	}
	if err := enc.Close(); err != nil {
		return nil, nil, fmt.Errorf("sound: %w", err)
	}
	return board.NewALSA(hw.AudioDevice, time.Now), codec, nil
}

// boardConfig is the board's wiring from the [hardware] keys.
func boardConfig(hw config.Hardware, log *slog.Logger) (board.Config, error) {
	mode, err := board.ParseDisplayMode(hw.DisplayType)
	if err != nil {
		return board.Config{}, fmt.Errorf("hardware.display_type: %w", err)
	}
	cols, rows := hw.DisplayDims()
	return board.Config{
		LEDPin:       hw.LEDPin,
		LEDActiveLow: hw.LEDActive == "low",
		ButtonPin:    hw.ButtonPin,
		LongPress:    hw.LongPress,
		DisplayPort:  hw.DisplayPort,
		DisplayMode:  mode,
		DisplayCols:  cols,
		DisplayRows:  rows,
		DisplayBaud:  hw.DisplayBaud,
		ConsolePort:  hw.ConsolePort,
		ConsoleBaud:  hw.ConsoleBaud,
		Logger:       log,
	}, nil
}

// openBox opens the box's devices: the Raspberry Pi's, or with dev the
// development box (the terminal's). consolePath, when set, puts the
// console on that serial device instead.
func openBox(e env, cfg *config.Config, log *slog.Logger, dev bool, consolePath string) (firmware.Devices, []console.Command, func(), error) {
	if dev {
		if devBox == nil {
			return firmware.Devices{}, nil, nil, errors.New("-dev: this binary was built without the development box (build it with 'go build -tags dev', as make run does)")
		}
		devices, commands, closeAll := devBox(e, cfg)
		if consolePath == "" {
			return devices, commands, closeAll, nil
		}
		c, err := board.OpenConsole(consolePath, cfg.Hardware.ConsoleBaud)
		if err != nil {
			closeAll()
			return firmware.Devices{}, nil, nil, err
		}
		devices.Console = c
		return devices, commands, func() { c.Close(); closeAll() }, nil
	}

	bc, err := boardConfig(cfg.Hardware, log)
	if err != nil {
		return firmware.Devices{}, nil, nil, err
	}
	if consolePath != "" {
		bc.ConsolePort = consolePath
	}
	audio, codec, err := boardAudio(cfg.Hardware)
	if err != nil {
		return firmware.Devices{}, nil, nil, fmt.Errorf("%w (on a developer machine, run with -dev)", err)
	}
	b, err := board.Open(bc)
	if err != nil {
		return firmware.Devices{}, nil, nil, fmt.Errorf("%w (on a developer machine, run with -dev)", err)
	}
	src, err := boardCapture(cfg, log)
	if err != nil {
		b.Close()
		return firmware.Devices{}, nil, nil, fmt.Errorf("capture: %w", err)
	}
	d := firmware.Devices{LED: b.LED, Button: b.Button, Capture: src, TimeSync: board.KernelClock{}}
	d.Audio, d.AudioCodec = audio, codec
	// Optional devices stay nil interfaces when absent.
	if b.Display != nil {
		d.Display = b.Display
	}
	if b.Console != nil {
		d.Console = b.Console
	}
	return d, nil, func() {
		if err := b.Close(); err != nil {
			log.Error("closing the board", "err", err)
		}
	}, nil
}

func boardProbeFlags(flags *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := flags.String("config", defaultConfig, "configuration `file` (its [hardware] keys say where things are wired); a missing file means the defaults")
	return func(ctx context.Context) error {
		if flags.NArg() > 0 {
			return usageError{fmt.Sprintf("board probe: unexpected argument %q", flags.Arg(0))}
		}
		bc, err := hardwareOf(*cfgPath, e)
		if err != nil {
			return err
		}
		return board.Probe(bc, e.stdout)
	}
}

// hardwareOf reads the board's wiring from the configuration file, or
// takes the defaults when there is none (a new box).
func hardwareOf(path string, e env) (board.Config, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := config.Load(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return board.Config{}, err
		}
		fmt.Fprintf(e.stdout, "Config:   %s not found: the default wiring\n", path)
		cfg = config.Default()
	}
	return boardConfig(cfg.Hardware, log)
}

func boardSelftestFlags(flags *flag.FlagSet, e env) func(context.Context) error {
	cfgPath := flags.String("config", defaultConfig, "configuration `file` (its [hardware] keys); a missing file means the defaults")
	jig := flags.String("jig", "", "a bench jig's output `pin` (\"GPIO22\") wired to the button's line through 1 kΩ: it presses the button for the button check")
	loopback := flags.String("loopback", "", "the serial `device` cross-wired to the console port (TX to RX, RX to TX, ground) for the console check")
	only := flags.String("only", "", "run only these checks, comma-separated: led, button, display, console, capture")
	return func(ctx context.Context) error {
		if flags.NArg() > 0 {
			return usageError{fmt.Sprintf("board selftest: unexpected argument %q", flags.Arg(0))}
		}
		bc, err := hardwareOf(*cfgPath, e)
		if err != nil {
			return err
		}
		return selftest(e.stdout, bc, *jig, *loopback, *only)
	}
}

// selftest opens the board and runs the hal conformance checks on its
// devices, printing one line per check.
func selftest(w io.Writer, bc board.Config, jig, loopback, only string) error {
	want := func(name string) bool { return only == "" || containsWord(only, name) }
	b, err := board.Open(bc)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(w, "Model: %s\n", b.Model)
	for _, warn := range b.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	failed := 0
	report := func(name string, err error, skipped string) {
		switch {
		case skipped != "":
			fmt.Fprintf(w, "%-8s skipped: %s\n", name, skipped)
		case err != nil:
			failed++
			fmt.Fprintf(w, "%-8s FAIL: %v\n", name, err)
		default:
			fmt.Fprintf(w, "%-8s ok\n", name)
		}
	}
	if want("led") {
		report("led", halcheck.CheckLED(b.LED), "")
	}
	if want("button") {
		if jig == "" {
			report("button", nil, "no -jig pin to press it")
		} else {
			press, release, err := board.OpenJig(jig)
			if err == nil {
				err = halcheck.CheckButton(b.Button, press)
				release()
			}
			report("button", err, "")
		}
	}
	if want("display") {
		if b.Display == nil {
			report("display", nil, "no display (hardware.display_port)")
		} else {
			report("display", halcheck.CheckDisplay(b.Display), "")
		}
	}
	if want("console") {
		switch {
		case b.Console == nil:
			report("console", nil, "no console port (hardware.console_port)")
		case loopback == "":
			report("console", nil, "no -loopback device cross-wired to it")
		default:
			peer, err := board.OpenConsole(loopback, bc.ConsoleBaud)
			if err == nil {
				err = halcheck.CheckConsole(b.Console, peer)
				peer.Close()
			}
			report("console", err, "")
		}
	}
	if want("capture") {
		src, err := boardCapture(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			err = halcheck.CheckCaptureSource(src)
		}
		report("capture", err, "")
	}
	if failed > 0 {
		return fmt.Errorf("board selftest: %d check(s) failed", failed)
	}
	fmt.Fprintln(w, "board selftest: every check run passed")
	return nil
}

func containsWord(list, word string) bool {
	return slices.Contains(strings.Split(list, ","), word)
}
