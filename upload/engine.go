package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// engine runs the steps of one item. It holds no item state of its own: the
// caller passes the persisted state and a commit function that makes a new
// state durable before the next step may start.
type engine struct {
	api     API
	o       *QueueOptions
	log     *slog.Logger
	clock   Clock
	limiter *Limiter
	// onReady is called after an item reached READY and that was persisted.
	onReady func(st itemState)
}

// runtime is the in-memory, per-process part of an item's progress.
type runtime struct {
	// synced: the token's offset was confirmed with uploadToken.get (or by
	// the last reply) since the last failure or restart.
	synced        bool
	tmpl          *kaltura.MediaEntry
	notBefore     time.Time
	pollDelay     time.Duration
	failures      int
	stuckReported bool
	firstSeen     time.Time
	lastErr       string
	attempts      int
	// oneAtATime: a window of chunks in flight failed; send one at a
	// time from now on (window.go).
	oneAtATime bool
}

// waitError asks the loop to come back to this item after d (not a failure).
type waitError struct {
	d   time.Duration
	why string
}

func (w *waitError) Error() string { return "waiting " + w.d.String() + ": " + w.why }

// itemFault stops an item: a person must act (Retry resumes it).
type itemFault struct{ f Fault }

func (e *itemFault) Error() string {
	s := e.f.Message
	if e.f.Setting != "" {
		s += " (check " + e.f.Setting + ")"
	}
	return s
}

type commitFunc func(itemState) error

// step performs one step of st.
func (e *engine) step(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	switch st.State {
	case StateQueued:
		return e.createToken(ctx, st, rt, commit)
	case StateTokenCreated, StateUploading:
		return e.uploadChunk(ctx, st, rt, commit)
	case StateUploaded:
		if st.EntryID != "" {
			st.State = StateEntryCreated
			return commit(st)
		}
		return e.addEntry(ctx, st, rt, commit)
	case StateAddingEntry:
		return e.recoverAdd(ctx, st, rt, commit)
	case StateEntryCreated:
		return e.addContent(ctx, st, rt, commit)
	case StateContentAdded:
		return e.follow(ctx, st, rt, commit)
	}
	return nil
}

func (e *engine) checkFile(st itemState) error {
	fi, err := os.Stat(st.Rec.Path)
	if err != nil {
		return &itemFault{Fault{Code: "FILE_MISSING", Severity: SeverityError, Message: fmt.Sprintf("recording file cannot be read: %v", err)}}
	}
	if fi.Size() != st.Size {
		return &itemFault{Fault{Code: "FILE_CHANGED", Severity: SeverityError,
			Message: fmt.Sprintf("recording file changed size since it was queued (%d → %d bytes)", st.Size, fi.Size())}}
	}
	return nil
}

func (e *engine) createToken(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	if err := e.checkFile(st); err != nil {
		return err
	}
	// A crash (or a lost reply) after the server created a token but before
	// its id was saved would leave that token orphaned and the upload would
	// start over on a new one. So first look for a token this box already
	// made for this file, still open, and carry on with it.
	if found, err := e.findToken(ctx, st); err != nil {
		return err
	} else if found != nil {
		st.TokenID, st.UploadURL, st.Offset, st.State = found.ID, found.UploadURL, int64(found.UploadedFileSize), StateTokenCreated
		rt.synced = true
		e.log.Info("upload token found again after an interruption", "item", st.Rec.ID, "token", found.ID, "offset", st.Offset)
		return commit(st)
	}
	var tok kaltura.UploadToken
	err := e.api.Call(ctx, "uploadtoken", "add", url.Values{
		"uploadToken:objectType": {"KalturaUploadToken"},
		"uploadToken:fileName":   {st.FileName},
		"uploadToken:fileSize":   {strconv.FormatInt(st.Size, 10)},
	}, &tok)
	if err != nil {
		return fmt.Errorf("creating upload token: %w", err)
	}
	if tok.ID == "" {
		return errors.New("creating upload token: reply has no id")
	}
	st.TokenID, st.UploadURL, st.Offset, st.State = tok.ID, tok.UploadURL, 0, StateTokenCreated
	rt.synced = true
	e.log.Info("upload token created", "item", st.Rec.ID, "token", tok.ID)
	return commit(st)
}

// findToken returns the newest open token (PENDING or PARTIAL_UPLOAD) of
// this recording's file name and size that is not one the item already
// abandoned, or nil. A session sees only its own user's tokens.
func (e *engine) findToken(ctx context.Context, st itemState) (*kaltura.UploadToken, error) {
	var list struct {
		Objects []kaltura.UploadToken `json:"objects"`
	}
	err := e.api.Call(ctx, "uploadtoken", "list", url.Values{
		"filter:objectType":    {"KalturaUploadTokenFilter"},
		"filter:fileNameEqual": {st.FileName},
		"pager:pageSize":       {"100"},
	}, &list)
	if err != nil {
		return nil, fmt.Errorf("looking for an earlier upload token: %w", err)
	}
	var best *kaltura.UploadToken
	for i, t := range list.Objects {
		open := t.Status == kaltura.TokenPending || t.Status == kaltura.TokenPartial
		if !open || t.FileName != st.FileName || int64(t.FileSize) != st.Size || slices.Contains(st.OldTokens, t.ID) {
			continue
		}
		if best == nil || t.CreatedAt > best.CreatedAt {
			best = &list.Objects[i]
		}
	}
	return best, nil
}

func (e *engine) getToken(ctx context.Context, id string) (*kaltura.UploadToken, error) {
	var tok kaltura.UploadToken
	if err := e.api.Call(ctx, "uploadtoken", "get", url.Values{"uploadTokenId": {id}}, &tok); err != nil {
		return nil, fmt.Errorf("reading upload token: %w", err)
	}
	return &tok, nil
}

// restartToken abandons the current token (it can no longer be resumed) and
// records that; the next step creates a new one. An entry already created
// for this recording is kept.
func (e *engine) restartToken(st itemState, commit commitFunc, cause error) error {
	e.log.Warn("upload token cannot be resumed; starting a new one", "item", st.Rec.ID, "token", st.TokenID, "err", cause)
	st.Warnings = append(st.Warnings, Fault{ItemID: st.Rec.ID, Severity: SeverityWarning, Code: kaltura.Code(cause),
		Message: "upload restarted with a new token (old token " + st.TokenID + " could not be resumed)", Time: e.clock.Now()})
	if st.TokenID != "" {
		st.OldTokens = append(st.OldTokens, st.TokenID)
	}
	st.TokenID, st.UploadURL, st.Offset, st.State = "", "", 0, StateQueued
	return commit(st)
}

// closedToken handles a token that is CLOSED: it was attached to an entry.
// The entry is the one the box knows (st.EntryID), or the token's
// attachedObjectId — accepted only after baseEntry.get shows an entry that
// carries this recording's admin tag (the real server fills attachedObject*
// only in some flows, and then may name a flavor asset, not the entry).
// When neither names the entry, the recording reached Kaltura but its entry
// cannot be found by this role: the item ends "delivered, not verified".
func (e *engine) closedToken(ctx context.Context, st itemState, tok *kaltura.UploadToken, commit commitFunc) error {
	id := st.EntryID
	tag := AdminTag(st.Rec)
	if id == "" && tok.AttachedObjectID != "" {
		var ent kaltura.MediaEntry
		err := e.api.Call(ctx, "baseentry", "get", url.Values{"entryId": {tok.AttachedObjectID}}, &ent)
		switch {
		case err == nil && hasTag(ent.AdminTags, tag):
			id = tok.AttachedObjectID
		case err != nil && kaltura.Classify(err) != kaltura.ClassNotFound:
			return fmt.Errorf("checking the entry of a closed upload token: %w", err)
		}
	}
	if id == "" {
		now := e.clock.Now()
		st.State = StateUnverified
		st.Unverified = &Unverified{At: now, TokenID: st.TokenID, AdminTag: tag, EventID: st.Rec.EventID}
		st.Warnings = append(st.Warnings, Fault{ItemID: st.Rec.ID, Severity: SeverityNotice, Code: "DELIVERED_NOT_VERIFIED",
			Message: fmt.Sprintf("%s delivered to Kaltura exactly once (upload token %s is attached) but the reply naming its entry was lost and this role cannot read it back; find the entry in the KMC by searching for %q; the local file is kept until acknowledged (console: ack %s)", describe(st.Rec), st.TokenID, tag, st.Rec.ID),
			Time:    now})
		e.log.Warn("recording delivered, not verified", "item", st.Rec.ID, "event", st.Rec.EventID, "token", st.TokenID, "admin_tag", tag)
		return commit(st)
	}
	if st.EntryID != "" && tok.AttachedObjectID != "" && tok.AttachedObjectID != st.EntryID {
		// Only possible if a stale media.add raced a new one: report the
		// entry the box knows as holding nothing only when the server says so.
		var ent kaltura.MediaEntry
		if err := e.api.Call(ctx, "baseentry", "get", url.Values{"entryId": {tok.AttachedObjectID}}, &ent); err == nil && hasTag(ent.AdminTags, tag) {
			st.OrphanEnts = append(st.OrphanEnts, st.EntryID)
			st.Warnings = append(st.Warnings, Fault{ItemID: st.Rec.ID, EntryID: st.EntryID, Severity: SeverityWarning, Code: "EMPTY_ENTRY",
				Message: "an empty duplicate entry " + st.EntryID + " was left in Kaltura; the recording is in " + tok.AttachedObjectID, Time: e.clock.Now()})
			id = tok.AttachedObjectID
		}
	}
	st.EntryID, st.State = id, StateContentAdded
	return commit(st)
}

func (e *engine) uploadChunk(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	if err := e.checkFile(st); err != nil {
		return err
	}
	if !rt.synced {
		tok, err := e.getToken(ctx, st.TokenID)
		if err != nil {
			if kaltura.Classify(err) == kaltura.ClassTokenRestart {
				return e.restartToken(st, commit, err)
			}
			return err
		}
		switch int(tok.Status) {
		case kaltura.TokenPending:
			st.Offset = 0
		case kaltura.TokenPartial:
			st.Offset = int64(tok.UploadedFileSize)
			if st.Offset > st.Size || st.Offset < 0 {
				return e.restartToken(st, commit, fmt.Errorf("server holds %d bytes of a %d-byte file", st.Offset, st.Size))
			}
		case kaltura.TokenFullUpload:
			rt.synced = true
			st.State = StateUploaded
			return commit(st)
		case kaltura.TokenClosed:
			return e.closedToken(ctx, st, tok, commit)
		default:
			return e.restartToken(st, commit, fmt.Errorf("upload token status %d", tok.Status))
		}
		rt.synced = true
		if st.Offset > 0 {
			st.State = StateUploading
		}
		if err := commit(st); err != nil {
			return err
		}
	}

	if e.windowed(st, rt) {
		return e.uploadWindow(ctx, st, rt, commit)
	}
	off := st.Offset
	n := e.o.ChunkSize
	if rest := st.Size - off; rest < n {
		n = rest
	}
	final := off+n == st.Size
	f, err := os.Open(st.Rec.Path)
	if err != nil {
		return &itemFault{Fault{Code: "FILE_MISSING", Severity: SeverityError, Message: fmt.Sprintf("recording file cannot be read: %v", err)}}
	}
	defer f.Close()
	ch := kaltura.Chunk{
		TokenID:   st.TokenID,
		FileName:  st.FileName,
		Data:      e.limiter.Reader(ctx, io.NewSectionReader(f, off, n)),
		Length:    n,
		Resume:    off > 0,
		Final:     final,
		ResumeAt:  off,
		UploadURL: st.UploadURL,
	}
	tok, err := e.api.Upload(ctx, ch)
	if err != nil {
		rt.synced = false
		switch kaltura.Classify(err) {
		case kaltura.ClassTokenState:
			// A final chunk that already succeeded (reply lost) is refused:
			// the token's status says whether it is complete.
			t2, err2 := e.getToken(ctx, st.TokenID)
			if err2 != nil {
				return err2
			}
			switch int(t2.Status) {
			case kaltura.TokenFullUpload:
				rt.synced = true
				st.State = StateUploaded
				return commit(st)
			case kaltura.TokenClosed:
				return e.closedToken(ctx, st, t2, commit)
			case kaltura.TokenTimedOut, kaltura.TokenDeleted:
				return e.restartToken(st, commit, err)
			}
		case kaltura.ClassTokenRestart:
			return e.restartToken(st, commit, err)
		}
		return fmt.Errorf("uploading bytes %d–%d: %w", off, off+n, err)
	}
	if final {
		if int(tok.Status) != kaltura.TokenFullUpload {
			rt.synced = false
			return fmt.Errorf("final chunk accepted but token status is %d", tok.Status)
		}
		st.Offset, st.State = st.Size, StateUploaded
		e.log.Info("upload complete", "item", st.Rec.ID, "token", st.TokenID, "bytes", st.Size)
		return commit(st)
	}
	got := int64(tok.UploadedFileSize)
	if got != off+n {
		e.log.Warn("server holds a different byte count than sent", "item", st.Rec.ID, "want", off+n, "got", got)
	}
	if got < 0 || got > st.Size {
		rt.synced = false
		return fmt.Errorf("server reports %d bytes uploaded of %d", got, st.Size)
	}
	st.Offset, st.State = got, StateUploading
	e.log.Debug("chunk uploaded", "item", st.Rec.ID, "offset", got, "size", st.Size)
	return commit(st)
}

// templateID returns the template entry to use and the setting that names
// it in a fault.
func (e *engine) templateID(r Recording) (id, setting string) {
	if r.TemplateEntryID != "" {
		return r.TemplateEntryID, fmt.Sprintf("template entry %s of event %d (X-KALTURA-TEMPLATE-ENTRY-ID)", r.TemplateEntryID, r.EventID)
	}
	return e.o.DefaultTemplateEntryID, "kaltura.default_template_entry_id"
}

// template reads the template entry with baseEntry.get (kaltura.md §5): a
// missing template must not silently produce an uncopied entry.
func (e *engine) template(ctx context.Context, st itemState, rt *runtime) (*kaltura.MediaEntry, error) {
	id, setting := e.templateID(st.Rec)
	if id == "" {
		return nil, nil
	}
	if rt.tmpl != nil && rt.tmpl.ID == id {
		return rt.tmpl, nil
	}
	var t kaltura.MediaEntry
	err := e.api.Call(ctx, "baseentry", "get", url.Values{"entryId": {id}}, &t)
	if err != nil {
		if kaltura.Classify(err) == kaltura.ClassNotFound {
			return nil, &itemFault{Fault{Code: kaltura.CodeEntryIDNotFound, Severity: SeverityError, Setting: setting,
				Message: "template entry " + id + " does not exist or is not visible to the box's session"}}
		}
		return nil, fmt.Errorf("reading template entry: %w", err)
	}
	if t.ID == "" {
		t.ID = id
	}
	rt.tmpl = &t
	return &t, nil
}

// AdminTag is the tag the box puts in an entry's adminTags so that an
// administrator finds every recording of an event from the KMC search box
// (kaltura.md §5, §8: referenceId is dropped for CAPTURE_DEVICE):
// "capturebox-event-<event id>", or "capturebox-recording-<id>" for an
// ad-hoc recording (characters other than letters, digits, '-' and '_'
// become '-', since adminTags is a comma list).
func AdminTag(r Recording) string {
	if r.EventID > 0 {
		return "capturebox-event-" + strconv.FormatInt(r.EventID, 10)
	}
	b := []byte(r.ID)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return "capturebox-recording-" + string(b)
}

// describe names a recording for an operator: its event, or the ad-hoc
// recording's id.
func describe(r Recording) string {
	if r.EventID > 0 {
		return "event " + strconv.FormatInt(r.EventID, 10)
	}
	return "ad-hoc recording " + r.ID
}

// hasTag reports whether the comma list tags holds tag.
func hasTag(tags, tag string) bool {
	for _, t := range strings.Split(tags, ",") {
		if strings.TrimSpace(t) == tag {
			return true
		}
	}
	return false
}

// mergeTags returns the comma list a followed by those of b not in it.
func mergeTags(a, b string) string {
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.Split(a+","+b, ",") {
		if t = strings.TrimSpace(t); t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return strings.Join(out, ",")
}

// EntryName returns the entry name for r: the title and the local date
// (scheduled) or local date and time (ad-hoc) in loc.
func EntryName(r Recording, loc *time.Location, fallback time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	t := r.Start
	if t.IsZero() {
		t = fallback
	}
	title := strings.TrimSpace(r.Title)
	if title == "" {
		title = "Recording"
	}
	if r.EventID == 0 {
		return title + " " + t.In(loc).Format("2006-01-02 15:04")
	}
	return title + " " + t.In(loc).Format("2006-01-02")
}

func (e *engine) entryParams(st itemState, tmpl *kaltura.MediaEntry) url.Values {
	r := st.Rec
	p := url.Values{}
	p.Set("entry:objectType", "KalturaMediaEntry")
	p.Set("entry:mediaType", "1")
	if id, _ := e.templateID(r); id != "" {
		p.Set("entry:templateEntryId", id)
	}
	p.Set("entry:name", EntryName(r, e.o.Location, st.EnqueuedAt))
	if d := strings.TrimSpace(r.Description); d != "" {
		p.Set("entry:description", d)
	}
	tags := strings.TrimSpace(r.Tags)
	if st.Short {
		tags = joinTags(tags, e.o.ShortTag)
	}
	if tags != "" {
		p.Set("entry:tags", tags)
	}
	// referenceId and categoriesIds would be dropped by the server for
	// this role (kaltura.md §5): the event id travels in adminTags, merged
	// with the template's (fields passed to media.add override the copy),
	// and categories reach the entry only through the template copy.
	tmplTags := ""
	if tmpl != nil {
		tmplTags = tmpl.AdminTags
	}
	p.Set("entry:adminTags", mergeTags(tmplTags, AdminTag(r)))
	return p
}

func joinTags(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "," + b
}

// addEntry persists the intent, then creates the entry and attaches the
// token in one multirequest (media.add + media.addContent with
// {1:result:id}). See the package documentation for why this is
// exactly-once.
func (e *engine) addEntry(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	tmpl, err := e.template(ctx, st, rt)
	if err != nil {
		return err
	}
	params := e.entryParams(st, tmpl)
	if !st.CategoriesChecked {
		st.CategoriesChecked = true
		if tmpl == nil || (strings.TrimSpace(tmpl.CategoriesIDs) == "" && strings.TrimSpace(tmpl.Categories) == "") {
			id, setting := e.templateID(st.Rec)
			why := "template entry " + id + " has no categories"
			if id == "" {
				why = "there is no template entry"
			}
			st.Warnings = append(st.Warnings, Fault{ItemID: st.Rec.ID, Severity: SeverityNotice, Code: "NO_CATEGORIES", Setting: setting,
				Message: fmt.Sprintf("%s: the entry of %s will reach no course (categories come only from the template); uploading anyway — publish it in the KMC (search %q) or give the template categories", why, describe(st.Rec), AdminTag(st.Rec)),
				Time:    e.clock.Now()})
			e.log.Warn("entry will reach no course: template has no categories", "item", st.Rec.ID, "event", st.Rec.EventID, "template", id, "admin_tag", AdminTag(st.Rec))
		}
	}
	st.State, st.IntentAt = StateAddingEntry, e.clock.Now()
	st.AddAttempts++
	if err := commit(st); err != nil {
		return err
	}
	res, err := e.api.Multi(ctx, []kaltura.Request{
		{Service: "media", Action: "add", Params: params},
		{Service: "media", Action: "addContent", Params: url.Values{
			"entryId":             {"{1:result:id}"},
			"resource:objectType": {"KalturaUploadedFileTokenResource"},
			"resource:token":      {st.TokenID},
		}},
	})
	if err != nil {
		// Outcome unknown: the next step probes the token before any resend.
		return fmt.Errorf("creating entry: %w", err)
	}
	var ent kaltura.MediaEntry
	if derr := res[0].Decode(&ent); derr != nil || ent.ID == "" {
		// media.add failed: no entry holds the token.
		st.State = StateUploaded
		if cerr := commit(st); cerr != nil {
			return cerr
		}
		if derr == nil {
			derr = errors.New("media.add reply has no id")
		}
		return fmt.Errorf("creating entry: %w", derr)
	}
	e.log.Info("entry created", "item", st.Rec.ID, "entry", ent.ID)
	cerr := res[1].Decode(nil)
	st.EntryID = ent.ID
	if cerr == nil || kaltura.Classify(cerr) == kaltura.ClassAlreadyDone {
		st.State = StateContentAdded
		return commit(st)
	}
	st.State = StateEntryCreated
	if err := commit(st); err != nil {
		return err
	}
	return fmt.Errorf("attaching upload to entry %s: %w", ent.ID, cerr)
}

// recoverAdd runs when the outcome of the media.add multirequest is unknown
// (crash or lost reply). The token tells: CLOSED means an entry holds the
// content (its id is the token's attachedObjectId); FULL_UPLOAD means no
// entry got it, so the add may be sent again — but only after AddSettle has
// passed since the intent, so that a request still running on the server
// cannot race a second one.
func (e *engine) recoverAdd(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	tok, err := e.getToken(ctx, st.TokenID)
	if err != nil {
		if kaltura.Classify(err) == kaltura.ClassTokenRestart {
			return e.restartToken(st, commit, err)
		}
		return err
	}
	switch int(tok.Status) {
	case kaltura.TokenClosed:
		return e.closedToken(ctx, st, tok, commit)
	case kaltura.TokenFullUpload:
		now := e.clock.Now()
		from := st.IntentAt
		if from.After(now) { // the clock went back (no RTC): count from now on
			from = rt.firstSeen
		}
		if wait := from.Add(e.o.AddSettle).Sub(now); wait > 0 {
			return &waitError{d: wait, why: "letting an earlier media.add settle before retrying"}
		}
		st.State = StateUploaded
		return commit(st)
	case kaltura.TokenPending, kaltura.TokenPartial:
		rt.synced = false
		st.State = StateUploading
		return commit(st)
	}
	return e.restartToken(st, commit, fmt.Errorf("upload token status %d", tok.Status))
}

func (e *engine) addContent(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	err := e.api.Call(ctx, "media", "addContent", url.Values{
		"entryId":             {st.EntryID},
		"resource:objectType": {"KalturaUploadedFileTokenResource"},
		"resource:token":      {st.TokenID},
	}, nil)
	if err == nil || kaltura.Classify(err) == kaltura.ClassAlreadyDone {
		st.State = StateContentAdded
		return commit(st)
	}
	switch kaltura.Classify(err) {
	case kaltura.ClassTokenState:
		tok, gerr := e.getToken(ctx, st.TokenID)
		if gerr != nil {
			return gerr
		}
		switch int(tok.Status) {
		case kaltura.TokenClosed:
			return e.closedToken(ctx, st, tok, commit)
		case kaltura.TokenPending, kaltura.TokenPartial:
			rt.synced = false
			st.State = StateUploading
			return commit(st)
		case kaltura.TokenTimedOut, kaltura.TokenDeleted:
			return e.restartToken(st, commit, err)
		}
	case kaltura.ClassNotFound:
		// The entry was deleted in Kaltura before it got content: make a new one.
		st.Warnings = append(st.Warnings, Fault{ItemID: st.Rec.ID, EntryID: st.EntryID, Severity: SeverityWarning, Code: kaltura.CodeEntryIDNotFound,
			Message: "entry " + st.EntryID + " vanished before content was attached; creating a new one", Time: e.clock.Now()})
		st.EntryID, st.State = "", StateUploaded
		return commit(st)
	case kaltura.ClassTokenRestart:
		return e.restartToken(st, commit, err)
	}
	return fmt.Errorf("attaching upload to entry %s: %w", st.EntryID, err)
}

// templateCopied compares a field that only the template copy sets
// (kaltura.md §5 "Silent failures"). ok is false when the copy did not
// happen; checked is false when the template has no field to tell by.
func templateCopied(tmpl, ent *kaltura.MediaEntry, sent url.Values) (ok, checked bool, field string) {
	switch {
	case tmpl.EntitledUsersEdit != "":
		return ent.EntitledUsersEdit == tmpl.EntitledUsersEdit, true, "entitledUsersEdit"
	case tmpl.EntitledUsersPublish != "":
		return ent.EntitledUsersPublish == tmpl.EntitledUsersPublish, true, "entitledUsersPublish"
	case tmpl.Tags != "" && !sent.Has("entry:tags"):
		return ent.Tags == tmpl.Tags, true, "tags"
	case tmpl.Description != "" && !sent.Has("entry:description"):
		return ent.Description == tmpl.Description, true, "description"
	case tmpl.CategoriesIDs != "":
		return ent.CategoriesIDs != "", true, "categoriesIds"
	}
	return true, false, ""
}

func (e *engine) follow(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	var ent kaltura.MediaEntry
	// baseEntry.get, never media.get: CAPTURE_DEVICE may not call
	// media.get (kaltura.md §5).
	err := e.api.Call(ctx, "baseentry", "get", url.Values{"entryId": {st.EntryID}}, &ent)
	if err != nil {
		if kaltura.Classify(err) == kaltura.ClassNotFound {
			return &itemFault{Fault{Code: kaltura.CodeEntryIDNotFound, Severity: SeverityError, EntryID: st.EntryID,
				Message: "entry " + st.EntryID + " was deleted in Kaltura before it was ready; the local file is kept"}}
		}
		return fmt.Errorf("reading entry %s: %w", st.EntryID, err)
	}
	if !st.TemplateChecked {
		tmpl, terr := e.template(ctx, st, rt)
		if terr != nil {
			var itf *itemFault
			if !errors.As(terr, &itf) {
				return terr
			}
			tmpl = nil // the template vanished meanwhile: nothing to compare
		}
		if tmpl != nil {
			if ok, checked, field := templateCopied(tmpl, &ent, e.entryParams(st, tmpl)); !ok {
				_, setting := e.templateID(st.Rec)
				f := Fault{ItemID: st.Rec.ID, EntryID: st.EntryID, Severity: SeverityWarning, Code: "TEMPLATE_NOT_COPIED", Setting: setting,
					Message: "entry " + st.EntryID + " was created without the template copy (" + field + " differs): owner, co-editors and categories may be missing; check the template and the app token's disableentitlement privilege", Time: e.clock.Now()}
				st.Warnings = append(st.Warnings, f)
				e.log.Warn("template not copied", "item", st.Rec.ID, "entry", st.EntryID, "template", tmpl.ID, "field", field)
			} else if !checked {
				e.log.Info("template copy cannot be verified: template has no distinguishing field", "item", st.Rec.ID, "template", tmpl.ID)
			}
		}
		st.TemplateChecked = true
		if err := commit(st); err != nil {
			return err
		}
	}
	switch int(ent.Status) {
	case kaltura.EntryReady:
		st.State = StateReady
		if err := commit(st); err != nil {
			return err
		}
		e.log.Info("entry ready", "item", st.Rec.ID, "entry", st.EntryID)
		if e.onReady != nil {
			e.onReady(st)
		}
		return nil
	case kaltura.EntryConvertError, kaltura.EntryImportError:
		return &itemFault{Fault{Code: "ENTRY_CONVERSION_FAILED", Severity: SeverityError, EntryID: st.EntryID,
			Message: fmt.Sprintf("Kaltura could not process entry %s (status %d); the local file is kept", st.EntryID, ent.Status)}}
	case kaltura.EntryDeleted:
		return &itemFault{Fault{Code: "ENTRY_DELETED", Severity: SeverityError, EntryID: st.EntryID,
			Message: "entry " + st.EntryID + " was deleted in Kaltura before it was ready; the local file is kept"}}
	}
	d := rt.pollDelay
	if d <= 0 {
		d = e.o.PollInterval
	}
	rt.pollDelay = min(d*2, e.o.MaxPollInterval)
	return &waitError{d: d, why: fmt.Sprintf("entry %s status %d", st.EntryID, ent.Status)}
}
