package firmware

import (
	"context"
	"fmt"
	"io"

	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/update"
)

// registerUpdateCommand puts "update [URL]" on the console: with a bundle
// URL (or path) it starts a RAUC install in the background and answers at
// once (the install outlives the console's request); without, it shows how
// the last install went.
func (b *box) registerUpdateCommand() {
	inst := update.New(update.Options{Runner: update.ExecRunner{}, Log: b.log})
	b.console.Register(console.Command{Name: "update", Args: "[URL]", Help: "install a signed update bundle (http(s) URL or /path.raucb); no URL: the last install's state",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			switch len(args) {
			case 0:
				fmt.Fprintln(w, inst.Status())
				return nil
			case 1:
				if err := inst.Start(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintln(w, inst.Status())
				fmt.Fprintln(w, "update: 'update' shows progress; the box keeps recording meanwhile")
				return nil
			default:
				return fmt.Errorf("usage: update [URL]")
			}
		}})
}
