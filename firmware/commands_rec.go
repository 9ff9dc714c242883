package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/upload"
)

// consoleButton is the box's button as the controller sees it: the device's
// gestures, and the console's "start" and "stop", which press it, so that
// the controller's one decision (controller.Policy.Button) decides both.
type consoleButton struct {
	dev  hal.Button
	ch   chan hal.ButtonEvent
	mu   sync.Mutex
	last hal.ButtonEvent // the device's last gesture (the button self-test)
}

func newConsoleButton(dev hal.Button) *consoleButton {
	return &consoleButton{dev: dev, ch: make(chan hal.ButtonEvent, 4)}
}

// Events implements hal.Button.
func (c *consoleButton) Events() <-chan hal.ButtonEvent { return c.ch }

// forward hands the device's gestures on until ctx ends or the device
// closes its channel.
func (c *consoleButton) forward(ctx context.Context) {
	if c.dev == nil {
		return
	}
	events := c.dev.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			c.mu.Lock()
			c.last = ev
			c.mu.Unlock()
			select {
			case c.ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Close implements hal.Button.
func (c *consoleButton) Close() error {
	if c.dev == nil {
		return nil
	}
	return c.dev.Close()
}

// press hands the controller a gesture; it never blocks the console.
func (c *consoleButton) press(k hal.ButtonKind) error {
	select {
	case c.ch <- hal.ButtonEvent{Kind: k, At: time.Now()}:
		return nil
	default:
		return errors.New("the controller is busy: try again")
	}
}

func (c *consoleButton) lastGesture() hal.ButtonEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (b *box) running(ctx context.Context) ([]controller.Rec, time.Time, error) {
	snap, err := b.loop.Snapshot(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("the controller did not answer: %w", err)
	}
	recs := make([]controller.Rec, 0, len(snap.State.Running))
	for _, r := range snap.State.Running {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Started.Before(recs[j].Started) })
	return recs, snap.Inputs.Now, nil
}

func (b *box) cmdStart(ctx context.Context, w io.Writer, _ []string) error {
	recs, _, err := b.running(ctx)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		return fmt.Errorf("already recording %q: 'stop' ends it", recs[0].Occ.Title)
	}
	if err := b.button.press(hal.Press); err != nil {
		return err
	}
	now := time.Now()
	if o, ok := b.Schedule().Primary(now); ok {
		_, err = fmt.Fprintf(w, "resuming %q, stopped early, as a new part ('status' shows it)\n", o.Title)
		return err
	}
	_, err = fmt.Fprintf(w, "starting an ad-hoc recording; it stops by itself after %s ('status' shows it)\n", words(b.cfg.Recording.AdhocMax))
	return err
}

func (b *box) cmdStop(ctx context.Context, w io.Writer, _ []string) error {
	recs, _, err := b.running(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return errors.New("nothing is recording")
	}
	r := recs[0]
	kind := hal.LongPress // a scheduled recording stops on a long press
	if r.AdHoc() {
		kind = hal.Press
	}
	if err := b.button.press(kind); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "stopping %q; it is closed and queued for upload\n", r.Occ.Title)
	return err
}

func (b *box) cmdRecordings(ctx context.Context, w io.Writer, _ []string) error {
	recs, now, err := b.running(ctx)
	if err != nil {
		return err
	}
	started := map[string]time.Time{}
	for _, r := range recs {
		started[r.ID] = r.Started
	}
	queued := map[string]string{}
	for _, it := range b.queue.Items() {
		queued[it.ID] = stateWords(it.State)
	}
	files, err := filepath.Glob(filepath.Join(b.recDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(w, "no recordings on the box")
	}
	loc := b.cfg.Box.Location()
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		if !capture.ValidID(id) {
			continue
		}
		s, err := capture.ReadSidecar(b.recDir, id)
		if err != nil {
			fmt.Fprintf(w, "%s  DAMAGED: %v\n", id, err)
			continue
		}
		length, state := s.Duration, "closed"
		if t, ok := started[id]; ok {
			length, state = now.Sub(t), "recording now"
		}
		switch {
		case b.held(id):
			state = "kept on the box, not uploaded ('upload " + id + "' sends it)"
		case s.State == capture.StateJoined:
			state = "joined into " + s.JoinedInto
		case b.isWaiting(id) && state == "closed":
			state = "part of a lecture, joined when the event ends"
		case queued[id] != "":
			state = "upload: " + queued[id]
		case state == "closed" && s.File != "":
			state = "closed, not in the upload queue ('upload " + id + "' sends it)"
		case s.File == "":
			state = "no media (no capture signal)"
		}
		start := s.MediaStart
		if start.IsZero() {
			start = started[id]
		}
		when := "-"
		if !start.IsZero() {
			when = start.In(loc).Format("Mon 2 Jan 15:04")
		}
		fmt.Fprintf(w, "%s  %s  %s  %q  %s\n", id, when, clock(length), s.Meta.Title, state)
	}
	return nil
}

// uploadWords says an upload's state as a technician reads it.
var uploadWords = map[upload.State]string{
	upload.StateQueued:       "waiting to upload",
	upload.StateTokenCreated: "starting to upload",
	upload.StateUploading:    "uploading",
	upload.StateUploaded:     "sent, creating the entry",
	upload.StateAddingEntry:  "creating the entry",
	upload.StateEntryCreated: "attaching the file to the entry",
	upload.StateContentAdded: "in Kaltura, processing",
	upload.StateReady:        "in Kaltura, ready",
	upload.StateFailed:       "STOPPED by a fault",
	upload.StateKeptLocal:    "kept on the box (too short)",
}

func stateWords(s upload.State) string {
	if w, ok := uploadWords[s]; ok {
		return w
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

func (b *box) cmdUploads(_ context.Context, w io.Writer, _ []string) error {
	if f := b.queue.Paused(); f != nil {
		fmt.Fprintf(w, "uploads PAUSED: %s\n", f.Message)
	}
	items := b.queue.Items()
	if len(items) == 0 {
		fmt.Fprintln(w, "upload queue empty")
	}
	for _, it := range items {
		progress := "-"
		if it.Size > 0 {
			progress = fmt.Sprintf("%d%% of %.1f MB", it.Offset*100/it.Size, float64(it.Size)/1e6)
		}
		line := fmt.Sprintf("%s  %s  %s  %q", it.ID, stateWords(it.State), progress, it.Title)
		if it.EntryID != "" {
			line += "  entry " + it.EntryID
		}
		if it.Fault != nil {
			line += "  FAULT: " + it.Fault.Message + " ('retry " + it.ID + "' once fixed)"
		} else if it.LastError != "" {
			line += fmt.Sprintf("  last error: %s (%d attempts)", it.LastError, it.Attempts)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func (b *box) cmdRetry(_ context.Context, w io.Writer, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: retry ID (the ID is in 'uploads')")
	}
	if err := b.retryUpload(args[0]); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "retrying the upload of", args[0])
	return err
}

// retryUpload retries the upload of the recording id, stopped by a fault
// (the console's "retry" and the status page's button): the queue resumes
// it and the upload fault clears once nothing else holds it.
func (b *box) retryUpload(id string) error {
	if err := b.queue.Retry(id); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	b.refreshUploadFault()
	return nil
}

// cmdUpload queues a closed recording that is not in the queue: one held
// on the box (cancelled event, early stop policy) or an orphan.
func (b *box) cmdUpload(_ context.Context, w io.Writer, args []string) error {
	if len(args) != 1 || !capture.ValidID(args[0]) {
		return errors.New("usage: upload ID (the ID is in 'recordings')")
	}
	id := args[0]
	s, err := capture.ReadSidecar(b.recDir, id)
	if err != nil {
		return err
	}
	if s.File == "" || strings.HasSuffix(s.File, ".part.mp4") {
		return fmt.Errorf("%s has no closed media to upload", id)
	}
	if err := b.queue.Enqueue(b.uploadRecording(closedResult(b.recDir, s))); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(b.recDir, id+".held"))
	_, err = fmt.Fprintln(w, "queued for upload:", id)
	return err
}
