package firmware

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/capturebox/capturebox/firmware/console"
)

// whyCommand is the console's "why": what the event ledger knows of an
// event or a day, in plain words and local times.
func (b *box) whyCommand() console.Command {
	return console.Command{Name: "why", Args: "[EVENT-ID | DATE]",
		Help: "what happened to an event (Kaltura id) or to the events of a day (YYYY-MM-DD, today, yesterday), and why a step did not happen",
		Run:  b.cmdWhy}
}

func (b *box) cmdWhy(_ context.Context, w io.Writer, args []string) error {
	if b.ledger == nil {
		return fmt.Errorf("this box has no event ledger (it could not be opened; see the log)")
	}
	return b.ledger.l.Why(w, strings.Join(args, " "), b.now())
}
