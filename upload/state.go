package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Recording is a closed recording handed to the queue.
type Recording struct {
	// ID is the unique local id of the recording (idempotency key).
	ID string
	// Path is the closed, synced file. Its base name (with its real
	// extension) is sent to Kaltura as the upload's file name.
	Path        string
	Title       string
	Description string
	Tags        string
	CategoryIDs []int64
	// TemplateEntryID is the event's template entry; "" uses the queue's
	// default template (ad-hoc recordings).
	TemplateEntryID string
	// EventID is the Kaltura schedule event id (X-KALTURA-ID), carried in
	// the entry's adminTags (see AdminTag); 0 for ad-hoc recordings.
	EventID  int64
	Start    time.Time
	Duration time.Duration
}

// State is the step an item has reached. Each step's result is on disk
// before the next step starts.
type State string

// Item states, in order.
const (
	StateQueued       State = "queued"        // nothing sent yet (or a new token is needed)
	StateTokenCreated State = "token_created" // upload token id known
	StateUploading    State = "uploading"     // Offset bytes confirmed by the server
	StateUploaded     State = "uploaded"      // token is FULL_UPLOAD
	StateAddingEntry  State = "adding_entry"  // intent: media.add+addContent sent (maybe)
	StateEntryCreated State = "entry_created" // entry exists, content not yet attached
	StateContentAdded State = "content_added" // token attached; following the entry to READY
	StateReady        State = "ready"         // entry READY: the local file may be deleted
	StateFailed       State = "failed"        // stopped with a fault; Retry resumes
	StateKeptLocal    State = "kept_local"    // too short, kept on the box by policy
	// StateUnverified: the upload token was attached to an entry (the
	// recording is in Kaltura exactly once) but the reply naming the entry
	// was lost and the role cannot read the link back. Terminal, not a
	// fault: the console lists it until a technician acknowledges it or
	// the retention for unverified items runs out.
	StateUnverified State = "delivered_unverified"
)

// Terminal reports whether the queue does no more work on an item in s.
func (s State) Terminal() bool {
	return s == StateReady || s == StateFailed || s == StateKeptLocal || s == StateUnverified
}

// Severity of a Fault.
const (
	SeverityError   = "error"   // needs a person; the item (or queue) is stopped
	SeverityWarning = "warning" // the recording went on, but something is off
	// SeverityNotice is for the console and the log only, never the LED:
	// nothing is wrong with the box (a template without categories, a
	// recording delivered but not verified).
	SeverityNotice = "notice"
)

// Unverified describes an item delivered but not verified: what an
// administrator needs to find its entry in the KMC.
type Unverified struct {
	At       time.Time `json:"at"`
	TokenID  string    `json:"token_id"`
	AdminTag string    `json:"admin_tag"`
	EventID  int64     `json:"event_id,omitempty"`
	// AckAt is when a technician acknowledged it (zero: not yet).
	AckAt time.Time `json:"ack_at,omitzero"`
}

// Fault is a problem a person must see (LED, console).
type Fault struct {
	// ItemID is the recording, or "" for a fault of the whole queue (e.g.
	// credentials refused).
	ItemID   string    `json:"item_id,omitempty"`
	EntryID  string    `json:"entry_id,omitempty"`
	Severity string    `json:"severity"`
	Code     string    `json:"code,omitempty"`
	Setting  string    `json:"setting,omitempty"` // configuration key or object to fix
	Message  string    `json:"message"`
	Time     time.Time `json:"time"`
}

// ItemStatus is the console's view of an item.
type ItemStatus struct {
	ID         string
	Title      string
	Path       string
	State      State
	Size       int64
	Offset     int64 // bytes confirmed by Kaltura
	TokenID    string
	EntryID    string
	Fault      *Fault
	Warnings   []Fault
	LastError  string
	Attempts   int
	NewTokens  int // times the upload was restarted with a new token
	Short      bool
	EnqueuedAt time.Time
	UpdatedAt  time.Time
	// EventID and AdminTag identify the recording in Kaltura (search the
	// KMC for AdminTag); Unverified is set for StateUnverified.
	EventID    int64
	AdminTag   string
	Unverified *Unverified

	seq int64
}

// itemState is what is persisted, one JSON file per item.
type itemState struct {
	Version    int       `json:"v"`
	Seq        int64     `json:"seq"`
	Rec        Recording `json:"recording"`
	State      State     `json:"state"`
	Size       int64     `json:"size"`
	FileName   string    `json:"file_name"`
	TokenID    string    `json:"token_id,omitempty"`
	UploadURL  string    `json:"upload_url,omitempty"`
	Offset     int64     `json:"offset"`
	EntryID    string    `json:"entry_id,omitempty"`
	OldTokens  []string  `json:"old_tokens,omitempty"`
	OrphanEnts []string  `json:"orphan_entries,omitempty"`
	// IntentAt is when media.add was (about to be) sent; AddAttempts counts
	// the intents.
	IntentAt        time.Time `json:"intent_at"`
	AddAttempts     int       `json:"add_attempts,omitempty"`
	TemplateChecked bool      `json:"template_checked,omitempty"`
	// CategoriesChecked: the template's categories were looked at (the
	// NO_CATEGORIES notice is given once).
	CategoriesChecked bool        `json:"categories_checked,omitempty"`
	Unverified        *Unverified `json:"unverified,omitempty"`
	// ReadyNotified: OnReady was told this item is READY.
	ReadyNotified bool      `json:"ready_notified,omitempty"`
	Short         bool      `json:"short,omitempty"`
	FailedIn      State     `json:"failed_in,omitempty"`
	Fault         *Fault    `json:"fault,omitempty"`
	Warnings      []Fault   `json:"warnings,omitempty"`
	EnqueuedAt    time.Time `json:"enqueued_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func (s *itemState) clone() itemState {
	c := *s
	c.OldTokens = append([]string(nil), s.OldTokens...)
	c.OrphanEnts = append([]string(nil), s.OrphanEnts...)
	c.Warnings = append([]Fault(nil), s.Warnings...)
	c.Rec.CategoryIDs = append([]int64(nil), s.Rec.CategoryIDs...)
	if s.Fault != nil {
		f := *s.Fault
		c.Fault = &f
	}
	if s.Unverified != nil {
		u := *s.Unverified
		c.Unverified = &u
	}
	return c
}

// fileNameFor returns the state file name for a recording id (ids may hold
// any characters, so they are hashed).
func fileNameFor(id string) string {
	h := sha256.Sum256([]byte(id))
	return "item-" + hex.EncodeToString(h[:12]) + ".json"
}
