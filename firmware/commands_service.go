package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
)

func (b *box) cmdConfigShow(_ context.Context, w io.Writer, _ []string) error {
	if b.opts.ConfigPath != "" {
		fmt.Fprintf(w, "# running with %s (secrets masked)\n", b.opts.ConfigPath)
	}
	return b.cfg.Show(w)
}

func (b *box) cmdConfigCheck(_ context.Context, w io.Writer, _ []string) error {
	if b.opts.ConfigPath == "" {
		return errors.New("this box was started without a configuration file")
	}
	problems := config.Check(b.opts.ConfigPath)
	for _, p := range problems {
		fmt.Fprintln(w, p.In(b.opts.ConfigPath))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s): the box keeps running on the configuration it started with", len(problems))
	}
	_, err := fmt.Fprintf(w, "%s: ok\n", b.opts.ConfigPath)
	return err
}

// maskSetArgs keeps a secret's value out of the log.
func maskSetArgs(args []string) []string {
	if len(args) >= 2 && config.IsSecret(args[0]) {
		return []string{args[0], config.Mask}
	}
	return args
}

// cmdConfigSet changes one key in the file, through config.Set (checked as
// a whole before anything is written, replaced atomically, mode 0600). The
// running box keeps the configuration it started with: the answer says
// that the change takes effect at the next start.
func (b *box) cmdConfigSet(_ context.Context, w io.Writer, args []string) error {
	if len(args) < 2 {
		return errors.New("usage: config set KEY VALUE (KEY as in 'config', e.g. sync.interval 5m)")
	}
	if b.opts.ConfigPath == "" {
		return errors.New("this box was started without a configuration file")
	}
	key, value := args[0], strings.Join(args[1:], " ")
	if err := config.Set(b.opts.ConfigPath, key, value); err != nil {
		return err
	}
	shown := value
	if config.IsSecret(key) {
		shown = config.Mask
	}
	_, err := fmt.Fprintf(w, "%s = %s saved in %s; it takes effect when the box restarts ('reboot')\n", key, shown, b.opts.ConfigPath)
	return err
}

// cmdTest runs one hardware self-test through the box's own devices.
func (b *box) cmdTest(ctx context.Context, w io.Writer, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: test led|button|display|capture")
	}
	switch args[0] {
	case "led":
		if b.dev.LED == nil {
			return errors.New("this box has no LED")
		}
		snap, err := b.loop.Snapshot(ctx)
		if err != nil {
			return err
		}
		for _, p := range []hal.Pattern{hal.On, hal.FastBlink, hal.Off} {
			if err := b.dev.LED.Show(p); err != nil {
				return fmt.Errorf("LED: %w", err)
			}
		}
		if err := b.dev.LED.Show(snap.LED); err != nil {
			return fmt.Errorf("LED: %w", err)
		}
		_, err = fmt.Fprintf(w, "LED: driven on, fast blink and off, then back to %s; the driver reported no error\n", ledWords[snap.LED])
		return err
	case "button":
		if b.dev.Button == nil {
			return errors.New("this box has no button")
		}
		last := b.button.lastGesture()
		if last.At.IsZero() {
			_, err := fmt.Fprintln(w, "button: no press seen since the box started; press it, then run 'test button' again")
			return err
		}
		kind := "short press"
		if last.Kind == hal.LongPress {
			kind = "long press"
		}
		_, err := fmt.Fprintf(w, "button: last %s at %s\n", kind, b.when(last.At))
		return err
	case "display":
		if b.dev.Display == nil {
			return errors.New("this box has no display")
		}
		cols, rows := b.dev.Display.Size()
		lines := make([]string, rows)
		for i := range lines {
			lines[i] = strings.Repeat(string(rune('0'+i%10)), cols)
		}
		lines[0] = fitTo("capturebox test", cols)
		if err := b.dev.Display.Show(lines...); err != nil {
			return fmt.Errorf("display: %w", err)
		}
		b.faults.poke() // the controller redraws its screen
		_, err := fmt.Fprintf(w, "display: %d x %d, test lines shown; the box's screen returns at once\n", cols, rows)
		return err
	case "capture":
		if b.dev.Capture == nil {
			return errors.New("this box has no capture source")
		}
		for _, f := range b.faults.list() {
			if f.Source == "capture" {
				_, err := fmt.Fprintf(w, "capture: %s (check the HDMI cable and the capture device)\n", f.Text)
				return err
			}
		}
		_, err := fmt.Fprintln(w, "capture: no capture fault; the last recording or warm-up had a signal")
		return err
	}
	return fmt.Errorf("no self-test %q: test led|button|display|capture", args[0])
}

func fitTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (b *box) cmdReboot(_ context.Context, w io.Writer, _ []string) error {
	if b.opts.Reboot == nil {
		return errors.New("this box cannot restart itself here (development box): stop it with Ctrl-C")
	}
	fmt.Fprintln(w, "rebooting: running recordings are closed and queued first")
	return b.opts.Reboot()
}
