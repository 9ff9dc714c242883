// Package upload gets every closed recording into Kaltura exactly once
// (design.md §2 "Upload", kaltura.md §3–§5). It imports only the standard
// library and its own sub-package upload/kaltura (the API client and the
// app-token session).
//
// A Queue keeps one JSON state file per recording in a directory. Each step
// — create an upload token, upload a chunk, create the entry, attach the
// content, follow the entry to READY — is one call of the loop's upload1,
// and its result is written atomically (temp file, fsync, rename, fsync dir)
// before the next step starts:
//
//	queued → token_created(id) → uploading(offset) → uploaded
//	  → adding_entry (intent) → [entry_created(id)] → content_added(id) → ready
//	any step → failed(fault)          short recordings → kept_local (by policy)
//	token CLOSED, entry id lost → delivered_unverified (terminal, listed, acknowledged)
//
// The middle chunks of a file go QueueOptions.ChunksInFlight at a time
// (default 2; the first and the final chunk go alone): one uploading step
// then sends a window of chunks and persists each advance of the offset the
// server confirms (window.go).
//
// # Exactly once
//
// The upload itself is idempotent: after any interruption the queue asks
// uploadToken.get for the server's uploadedFileSize and goes on from there
// with the same token; a final chunk that already succeeded is recognised by
// the token's FULL_UPLOAD status. A token that can no longer be resumed
// (UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED, UPLOAD_TOKEN_CANNOT_RESUME, timed
// out) is replaced by a new one, and the replacement is recorded.
//
// The hard part is the entry: media.add is not idempotent and the
// CAPTURE_DEVICE role may not list entries, so an entry whose id was lost
// cannot be searched for. The queue therefore:
//
//  1. persists an intent (state adding_entry) before sending anything;
//  2. creates the entry and attaches the token in ONE multirequest,
//     media.add + media.addContent(entryId={1:result:id}). An upload token
//     can be attached to one entry only, and it becomes CLOSED at that
//     moment, so the token itself records whether an entry got the content;
//  3. after a crash or a lost reply, reads the token before sending again:
//     CLOSED → the content is in an entry: never add again; FULL_UPLOAD →
//     no entry holds the content, so the add is sent again, but only after
//     AddSettle has passed since the intent, so that a request still running
//     on the server cannot race the new one.
//
// Hence no second entry with the recording is ever created. The gap: when
// the token is CLOSED but the reply naming the entry was lost, the entry id
// must come from the server. The token's attachedObjectId is used when it
// names an entry whose adminTags carry this recording's AdminTag (checked
// with baseEntry.get); the real server fills it only in some flows (S
// kUploadedFileTokenResource::attachCreatedObject, called when the token
// was not yet complete, and then with the flavor asset), so usually it
// cannot help. The item then ends "delivered, not verified"
// (delivered_unverified): the recording is in Kaltura exactly once, the
// console lists the event id, the upload token id and the adminTags value
// to search for in the KMC, and the local file is kept until a technician
// acknowledges it (Acknowledge) or QueueOptions.UnverifiedRetention runs
// out. It is not a fault. Rarer still: if
// the server died between the two halves of the multirequest, an EMPTY
// entry can be left behind (the box may not delete entries).
//
// Errors: transient ones (network, 5xx, rate limit, lock timeouts) back the
// whole queue off with jittered exponential delays; configuration faults
// stop the item (template missing, bad metadata) or, when they concern every
// item (credentials, permissions), pause the queue; each raises a Fault
// naming the setting to fix. Items are never dropped: only a READY item, or
// an unverified one acknowledged or past its retention, is Deletable and
// can be forgotten.
//
// The entry carries no referenceId and no categoriesIds: the server drops
// both for CAPTURE_DEVICE (kaltura.md §5). The event id travels in
// adminTags (AdminTag, merged with the template's); an entry whose template
// has no categories reaches no course, which the item's record, the log and
// the console say (NO_CATEGORIES notice) without holding the upload. The
// entry is followed to READY with baseEntry.get (media.get is forbidden to
// the role).
package upload
