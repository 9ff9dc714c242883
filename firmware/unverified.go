package firmware

import (
	"context"
	"fmt"
	"io"

	"github.com/capturebox/capturebox/firmware/console"
)

// registerUnverified puts on the console what a technician needs for the
// recordings delivered to Kaltura but not verified (issue 13: the reply
// naming the entry was lost and the CAPTURE_DEVICE role cannot read the
// link back): the list with the event id, the upload token and the
// adminTags value to search for in the KMC, an acknowledgement, and their
// count on the status output. It also makes `sync` re-check a
// configuration fault of the upload queue at once (issue 16). It must run
// after registerCommands: it wraps the status and sync commands.
func (b *box) registerUnverified() {
	c := b.console
	loc := b.cfg.Box.Location()
	c.Register(console.Command{Name: "unverified", Help: "recordings delivered to Kaltura but not verified",
		Run: func(_ context.Context, w io.Writer, _ []string) error {
			items := b.queue.Unverified()
			if len(items) == 0 {
				fmt.Fprintln(w, "no unverified recordings")
				return nil
			}
			for _, it := range items {
				u := it.Unverified
				fmt.Fprintf(w, "%s event=%d token=%s search KMC for %q since %s %q\n", it.ID, u.EventID, u.TokenID, u.AdminTag,
					u.At.In(loc).Format("2006-01-02 15:04"), it.Title)
			}
			fmt.Fprintf(w, "the recording is in Kaltura once; find its entry, then: ack ID (the local file is kept until then, or for upload.unverified_retention)\n")
			return nil
		}})
	c.Register(console.Command{Name: "ack", Args: "ID", Help: "acknowledge an unverified recording (its entry was found)",
		Run: func(_ context.Context, w io.Writer, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("usage: ack ID")
			}
			if err := b.queue.Acknowledge(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(w, "acknowledged", args[0])
			return nil
		}})
	if status, ok := c.Lookup("status"); ok {
		inner := status.Run
		status.Run = func(ctx context.Context, w io.Writer, args []string) error {
			if err := inner(ctx, w, args); err != nil {
				return err
			}
			fmt.Fprintln(w, unverifiedLine(len(b.queue.Unverified())))
			return nil
		}
		c.Register(status)
	}
	if sync, ok := c.Lookup("sync"); ok {
		inner := sync.Run
		sync.Run = func(ctx context.Context, w io.Writer, args []string) error {
			b.queue.Recheck()
			return inner(ctx, w, args)
		}
		c.Register(sync)
	}
}

// unverifiedLine is the status line of the unverified recordings.
func unverifiedLine(n int) string {
	if n == 0 {
		return "unverified 0"
	}
	return fmt.Sprintf("unverified %d (delivered, entry not verified: see 'unverified', then 'ack ID')", n)
}
