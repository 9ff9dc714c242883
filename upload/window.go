package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// Chunks in flight.
//
// One uploadToken.upload is a request and a wait: the server spools the
// chunk, appends it to the token's file, and only then replies. Sent one at
// a time, the link is idle while the server appends and the server is idle
// while the next chunk is read from disk: on loopback against the
// simulator that costs about a quarter of the throughput of one single
// request, and over a real network each chunk adds a round trip on top.
//
// So the middle chunks of a file are sent QueueOptions.ChunksInFlight at a
// time (default 2), as a sliding window. The first chunk goes alone
// (resume=0 restarts the file, so it must be complete before any other
// arrives), and so does the final one (with resumeAt > 0 the server
// verifies the size and would otherwise poll for missing chunks once a
// second). A middle chunk that overtakes its predecessor is parked by the
// server and appended as soon as the gap is filled (kaltura.md §4); every
// reply carries the contiguous size, and the largest one seen so far is the
// item's persisted offset, committed as it grows. Nothing else changes for
// exactly-once: the offset is still only what the server confirmed, and
// after a crash uploadToken.get decides where to go on.
//
// Any failure inside a window cancels the chunks still in flight and
// switches the item to one chunk at a time for the rest of this process's
// life, after a resynchronisation with uploadToken.get: a server that
// handles concurrent chunks badly (a lock timeout reported as
// UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD) costs one retry, not the upload.

// DefaultChunksInFlight is the default of QueueOptions.ChunksInFlight.
const DefaultChunksInFlight = 2

// windowChunks bounds the chunks of one step, so that one step stays a
// bounded piece of work between the queue's checks.
const windowChunks = 64

// windowed reports whether the next step sends a window of middle chunks:
// the token is in sync with the server, the first chunk is done, and at
// least two whole chunks remain before the final one.
func (e *engine) windowed(st itemState, rt *runtime) bool {
	n := e.o.ChunkSize
	return e.o.ChunksInFlight > 1 && !rt.oneAtATime && rt.synced && st.Offset > 0 && n > 0 && st.Size-st.Offset > 2*n
}

// chunkReply is the outcome of one chunk of a window.
type chunkReply struct {
	off int64
	tok *kaltura.UploadToken
	err error
}

// uploadWindow sends the middle chunks from st.Offset on, up to
// ChunksInFlight at a time, and commits each confirmed advance of the
// server's contiguous size. It returns only when no chunk is in flight.
func (e *engine) uploadWindow(ctx context.Context, st itemState, rt *runtime, commit commitFunc) error {
	n := e.o.ChunkSize
	var offs []int64
	for off := st.Offset; off+n < st.Size && len(offs) < windowChunks; off += n {
		offs = append(offs, off)
	}
	end := offs[len(offs)-1] + n
	f, err := os.Open(st.Rec.Path)
	if err != nil {
		return &itemFault{Fault{Code: "FILE_MISSING", Severity: SeverityError, Message: fmt.Sprintf("recording file cannot be read: %v", err)}}
	}
	defer f.Close()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replies := make(chan chunkReply, len(offs))
	send := func(off int64) {
		ch := kaltura.Chunk{
			TokenID:   st.TokenID,
			FileName:  st.FileName,
			Data:      e.limiter.Reader(wctx, io.NewSectionReader(f, off, n)),
			Length:    n,
			Resume:    true,
			ResumeAt:  off,
			UploadURL: st.UploadURL,
		}
		go func() {
			tok, err := e.api.Upload(wctx, ch)
			replies <- chunkReply{off: off, tok: tok, err: err}
		}()
	}

	next, inFlight := 0, 0
	for ; next < len(offs) && inFlight < e.o.ChunksInFlight; next++ {
		send(offs[next])
		inFlight++
	}
	var failed error
	fail := func(err error) {
		// A simulated crash wins over whatever else went wrong meanwhile.
		if failed == nil || errors.Is(err, errCrash) {
			failed = err
		}
		cancel()
	}
	for inFlight > 0 {
		r := <-replies
		inFlight--
		switch {
		case r.err != nil:
			fail(fmt.Errorf("uploading bytes %d–%d: %w", r.off, r.off+n, r.err))
			continue
		case failed != nil:
			continue
		case r.tok == nil:
			fail(fmt.Errorf("uploading bytes %d–%d: empty reply", r.off, r.off+n))
			continue
		}
		got := int64(r.tok.UploadedFileSize)
		if got < 0 || got > st.Size {
			fail(fmt.Errorf("server reports %d bytes uploaded of %d", got, st.Size))
			continue
		}
		if got > st.Offset {
			st.Offset, st.State = got, StateUploading
			if err := commit(st); err != nil {
				fail(err)
				continue
			}
			e.log.Debug("chunk uploaded", "item", st.Rec.ID, "offset", got, "size", st.Size)
		}
		if next < len(offs) {
			send(offs[next])
			next++
			inFlight++
		}
	}
	if failed != nil {
		rt.synced, rt.oneAtATime = false, true
		if ctx.Err() == nil && !errors.Is(failed, errCrash) {
			e.log.Warn("chunks in flight failed; going on one chunk at a time", "item", st.Rec.ID, "err", failed)
		}
		if kaltura.Classify(failed) == kaltura.ClassTokenRestart {
			return e.restartToken(st, commit, failed)
		}
		return failed
	}
	if st.Offset < end {
		// A chunk stayed parked: let uploadToken.get say where the file
		// ends, and go on one chunk at a time from there.
		e.log.Warn("server holds fewer bytes than sent", "item", st.Rec.ID, "want", end, "got", st.Offset)
		rt.synced, rt.oneAtATime = false, true
	}
	return nil
}
