package upload_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/simtest"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// gateAPI watches the chunk uploads going through it: how many are in
// flight at once, and the order they start in. With hold set, the chunk at
// that offset (A) and the one after it (B) are made to overlap and to reach
// the server out of order: A, once started, waits (up to a fake minute)
// for B's upload to return; B waits (likewise) for A to have started. B
// records whether A was then in flight: only a window that sends both
// before A's reply can make that true.
type gateAPI struct {
	upload.API
	chunk int64
	hold  int64

	mu       sync.Mutex
	inFlight int
	max      int
	starts   []chunkStart
	errAt    int // len(starts) when the first failed upload returned, or -1
	aStarted chan struct{}
	bDone    chan struct{}
	aOnce    sync.Once
	bOnce    sync.Once
	aDone    bool
	overlap  bool // B found A started and not done
}

type chunkStart struct {
	at       int64
	inFlight int // including this one
}

func newGate(api upload.API, chunk, hold int64) *gateAPI {
	return &gateAPI{API: api, chunk: chunk, hold: hold, errAt: -1, aStarted: make(chan struct{}), bDone: make(chan struct{})}
}

func (g *gateAPI) Upload(ctx context.Context, ch kaltura.Chunk) (*kaltura.UploadToken, error) {
	g.mu.Lock()
	g.inFlight++
	g.max = max(g.max, g.inFlight)
	g.starts = append(g.starts, chunkStart{at: ch.ResumeAt, inFlight: g.inFlight})
	g.mu.Unlock()
	switch {
	case g.hold > 0 && ch.ResumeAt == g.hold:
		g.aOnce.Do(func() { close(g.aStarted) })
		select {
		case <-g.bDone:
		case <-time.After(time.Minute):
		}
		defer func() {
			g.mu.Lock()
			g.aDone = true
			g.mu.Unlock()
		}()
	case g.hold > 0 && ch.ResumeAt == g.hold+g.chunk:
		select {
		case <-g.aStarted:
		case <-time.After(time.Minute):
		}
		g.mu.Lock()
		if !g.aDone && isClosed(g.aStarted) {
			g.overlap = true
		}
		g.mu.Unlock()
		defer g.bOnce.Do(func() { close(g.bDone) })
	}
	tok, err := g.API.Upload(ctx, ch)
	g.mu.Lock()
	g.inFlight--
	if err != nil && g.errAt < 0 {
		g.errAt = len(g.starts)
	}
	g.mu.Unlock()
	return tok, err
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestChunksInFlight: the middle chunks go two at a time by default, the
// second may overtake the first (the server parks it), the first and the
// final chunk go alone, and the entry holds the file byte for byte.
func TestChunksInFlight(t *testing.T) {
	const chunk = 64 << 10
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		g := newGate(h.session(), chunk, chunk)
		q := h.open(h.opts(g))
		path, data := h.file("r.mp4", 10*chunk+77)
		q.Enqueue(scheduled("r", path, h.template))
		if err := h.run(q, h.isReady("r")); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if !g.overlap {
			t.Fatal("the chunks at 64 and 128 KiB were never in flight together")
		}
		if g.max != upload.DefaultChunksInFlight {
			t.Errorf("at most %d chunks in flight, want %d", g.max, upload.DefaultChunksInFlight)
		}
		first, last := g.starts[0], g.starts[len(g.starts)-1]
		if first.at != 0 || first.inFlight != 1 {
			t.Errorf("first chunk %+v: want offset 0, alone", first)
		}
		if last.at != 10*chunk || last.inFlight != 1 {
			t.Errorf("final chunk %+v: want offset %d, alone", last, 10*chunk)
		}
		// Eleven chunks, each sent at least once; a chunk the server
		// answered with an error is sent again (on a busy machine the
		// parked one may time out), which is no fault.
		sent := map[int64]bool{}
		for _, s := range g.starts {
			sent[s.at] = true
		}
		if len(sent) != 11 || len(g.starts) > 11 && g.errAt < 0 {
			t.Errorf("%d chunk uploads of %d offsets (first error at %d), want the 11 chunks: %+v", len(g.starts), len(sent), g.errAt, g.starts)
		}
		for _, c := range h.fake.Calls() {
			if c.Action == "upload" && c.Params["finalChunk"] == "1" && c.Params["resumeAt"] != strconv.Itoa(10*chunk) {
				t.Errorf("final chunk at %s", c.Params["resumeAt"])
			}
		}
		if it := q.Items()[0]; it.Offset != int64(len(data)) {
			t.Errorf("offset %d, want %d", it.Offset, len(data))
		}
	})
}

// TestChunksInFlightOne: ChunksInFlight 1 sends one chunk at a time, in
// order; so does UploadFile with it.
func TestChunksInFlightOne(t *testing.T) {
	const chunk = 64 << 10
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		g := newGate(h.session(), chunk, 0)
		o := h.opts(g)
		o.ChunksInFlight = 1
		path, data := h.file("r.mp4", 6*chunk+1)
		rec := scheduled("r", path, h.template)
		if _, err := upload.UploadFile(context.Background(), rec, upload.UploadFileOptions{QueueOptions: o}); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if g.max != 1 {
			t.Errorf("%d chunks in flight", g.max)
		}
		for i, s := range g.starts {
			if s.at != int64(i)*chunk {
				t.Fatalf("chunk %d at %d: %+v", i, s.at, g.starts)
			}
		}
	})
}

// TestUploadFileChunksInFlight: the field-service upload (UploadFile) uses
// the same window.
func TestUploadFileChunksInFlight(t *testing.T) {
	const chunk = 64 << 10
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		g := newGate(h.session(), chunk, 3*chunk)
		path, data := h.file("r.mp4", 8*chunk)
		rec := scheduled("r", path, h.template)
		if _, err := upload.UploadFile(context.Background(), rec, upload.UploadFileOptions{QueueOptions: h.opts(g)}); err != nil {
			t.Fatal(err)
		}
		h.checkOneEntry(data)
		if !g.overlap || g.max != 2 {
			t.Errorf("overlap %v, max in flight %d: want the chunks at 3 and 4 × 64 KiB in flight together", g.overlap, g.max)
		}
	})
}

// TestChunksInFlightFailure: a middle chunk fails (HTTP 500, reply lost,
// or UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD as a lock timeout on the real
// server gives it): the item resumes from what the server confirms, one
// chunk at a time, and completes with the file byte for byte.
func TestChunksInFlightFailure(t *testing.T) {
	const chunk = 64 << 10
	for _, tc := range []struct {
		name  string
		fault simtest.Fault
	}{
		{"http500", simtest.Fault{HTTPStatus: 500}},
		{"lost-reply", simtest.Fault{LoseReply: true}},
		{"lock-timeout", simtest.Fault{Code: kaltura.CodeUploadTokenInvalidStatus}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				f := tc.fault
				f.Service, f.Action, f.Skip = "uploadtoken", "upload", 3
				h.fake.AddFault(f)
				// The first window is held open, so that its two chunks
				// are surely in flight together; the fourth upload fails.
				g := newGate(h.session(), chunk, chunk)
				q := h.open(h.opts(g))
				path, data := h.file("r.mp4", 9*chunk+5)
				q.Enqueue(scheduled("r", path, h.template))
				if err := h.run(q, h.isReady("r")); err != nil {
					t.Fatal(err)
				}
				h.checkOneEntry(data)
				if !g.overlap {
					t.Errorf("chunks never in flight together: %+v", g.starts)
				}
				if g.errAt < 0 {
					t.Fatal("no upload failed")
				}
				// Uploads started after the failure came back go one at a
				// time (the window drains before the step ends).
				for _, s := range g.starts[g.errAt:] {
					if s.inFlight != 1 {
						t.Errorf("after the failure, chunk at %d started with %d in flight: %+v", s.at, s.inFlight, g.starts)
					}
				}
				for _, ft := range h.faultList() {
					if ft.Severity == upload.SeverityError {
						t.Errorf("fault %+v", ft)
					}
				}
				if len(h.fake.Tokens()) != 1 {
					t.Errorf("%d tokens, want the one token resumed", len(h.fake.Tokens()))
				}
			})
		})
	}
}

// TestCrashAtEveryPointInFlight is TestCrashAtEveryPoint with a file whose
// four middle chunks go in flight two at a time: a crash at any hook point
// up to the final chunk, with chunks on the way, still ends in exactly one
// entry holding the file. (How many offsets a window commits depends on
// the order the replies come back in, so the points are counted only up to
// where every interleaving is sure to reach; the later, sequential points
// are TestCrashAtEveryPoint's.)
func TestCrashAtEveryPointInFlight(t *testing.T) {
	const size = 5*65536 + 77
	const middle = 4
	points := crashPoints(t, size)
	uploads, final := 0, -1
	for i, p := range points {
		if p == "before:uploadtoken.upload" {
			uploads++
			if uploads == middle+2 {
				final = i
			}
		}
	}
	if uploads != middle+2 {
		t.Fatalf("%d chunk uploads in a clean run, want %d: %v", uploads, middle+2, points)
	}
	for _, attached := range []bool{true, false} {
		for k := range final - middle {
			second := k%4 + 1
			name := fmt.Sprintf("attached=%v/%02d_then_%d", attached, k, second)
			t.Run(name, func(t *testing.T) { crashTwice(t, size, attached, k+1, second) })
		}
	}
}
