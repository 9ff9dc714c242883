package kalturasim

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Upload token statuses (kaltura.md §4).
const (
	UploadPending   = 0
	UploadPartial   = 1
	UploadFull      = 2
	UploadClosed    = 3
	UploadTimedOut  = 4
	UploadDeleted   = 5
	nullableUnset   = -1
	nullableFalse   = 0
	nullableTrue    = 1
	defaultPageSize = 30
	maxPageSize     = 500
)

// uploadToken is one upload token. Its fields are guarded by mu; the data
// file and parked chunks live in dir.
type uploadToken struct {
	mu           sync.Mutex
	id           string
	partnerID    int64
	userID       string
	status       int
	fileName     string
	fileSize     int64
	hasFileSize  bool
	autoFinalize int
	uploaded     int64
	createdAt    int64
	updatedAt    int64
	uploadURL    string
	dir          string
	hasData      bool
	size         int64           // bytes in the data file (contiguous)
	parked       map[int64]int64 // offset → length of `.chunk.<offset>` files
	entryID      string          // entry waiting for this upload (addContent before FULL_UPLOAD)
	seq          int64
}

// UploadTokenInfo is the admin view of an upload token.
type UploadTokenInfo struct {
	ID               string          `json:"id"`
	PartnerID        int64           `json:"partnerId"`
	UserID           string          `json:"userId"`
	Status           int             `json:"status"`
	FileName         string          `json:"fileName,omitempty"`
	FileSize         *int64          `json:"fileSize,omitempty"`
	UploadedFileSize int64           `json:"uploadedFileSize"`
	CreatedAt        int64           `json:"createdAt"`
	UpdatedAt        int64           `json:"updatedAt"`
	ParkedChunks     map[int64]int64 `json:"parkedChunks,omitempty"`
	EntryID          string          `json:"entryId,omitempty"`
}

func (t *uploadToken) dataPath() string { return filepath.Join(t.dir, "data") }

func (t *uploadToken) chunkPath(off int64) string {
	return t.dataPath() + ".chunk." + strconv.FormatInt(off, 10)
}

// object is the KalturaUploadToken; the caller holds t.mu.
func (t *uploadToken) object() map[string]any {
	o := object("KalturaUploadToken", "id", t.id, "partnerId", t.partnerID, "userId", t.userID,
		"status", t.status, "uploadedFileSize", t.uploaded, "createdAt", t.createdAt, "updatedAt", t.updatedAt)
	if t.fileName != "" {
		o["fileName"] = t.fileName
	}
	if t.hasFileSize {
		o["fileSize"] = t.fileSize
	}
	if t.autoFinalize != nullableUnset {
		o["autoFinalize"] = t.autoFinalize
	}
	if t.uploadURL != "" {
		o["uploadUrl"] = t.uploadURL
	}
	return o
}

func (t *uploadToken) info() UploadTokenInfo {
	i := UploadTokenInfo{ID: t.id, PartnerID: t.partnerID, UserID: t.userID, Status: t.status, FileName: t.fileName,
		UploadedFileSize: t.uploaded, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt, EntryID: t.entryID}
	if t.hasFileSize {
		v := t.fileSize
		i.FileSize = &v
	}
	if len(t.parked) > 0 {
		i.ParkedChunks = map[int64]int64{}
		for k, v := range t.parked {
			i.ParkedChunks[k] = v
		}
	}
	return i
}

func (s *Server) registerUploadServices() {
	s.register("uploadtoken", "add", &handler{fn: s.uploadTokenAdd})
	s.register("uploadtoken", "get", &handler{fn: s.uploadTokenGet})
	s.register("uploadtoken", "list", &handler{fn: s.uploadTokenList})
	s.register("uploadtoken", "upload", &handler{fn: s.uploadTokenUpload})
	s.register("uploadtoken", "delete", &handler{fn: s.uploadTokenDelete})
}

// UploadTokens returns the admin view of every upload token.
func (s *Server) UploadTokens() []UploadTokenInfo {
	s.mu.Lock()
	toks := make([]*uploadToken, 0, len(s.uploadTokens))
	for _, t := range s.uploadTokens {
		toks = append(toks, t)
	}
	s.mu.Unlock()
	out := make([]UploadTokenInfo, 0, len(toks))
	for _, t := range toks {
		t.mu.Lock()
		out = append(out, t.info())
		t.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt < out[j].CreatedAt || (out[i].CreatedAt == out[j].CreatedAt && out[i].ID < out[j].ID)
	})
	return out
}

// findUploadToken applies the partner filter and, for a non-admin KS, the
// per-user restriction (restrictPeerToCurrentUser).
func (s *Server) findUploadToken(c kapi.Caller, id string) *uploadToken {
	s.mu.Lock()
	t := s.uploadTokens[id]
	s.mu.Unlock()
	if t == nil || t.partnerID != c.PartnerID {
		return nil
	}
	if c.SessionType != kapi.SessionAdmin {
		t.mu.Lock()
		owner := t.userID
		t.mu.Unlock()
		if owner != c.UserID {
			return nil
		}
	}
	return t
}

func (s *Server) uploadTokenAdd(r *call) (any, error) {
	ut := r.p.Sub("uploadToken")
	now := r.caller.Now.Unix()
	t := &uploadToken{
		id: "0_" + s.randHex(32), partnerID: r.caller.PartnerID, userID: r.caller.UserID, status: UploadPending,
		fileName: ut.String("fileName"), autoFinalize: nullableUnset, createdAt: now, updatedAt: now,
		uploadURL: r.baseURL, parked: map[int64]int64{},
	}
	if v, ok, err := ut.Int("fileSize"); err != nil {
		if f, ferr := strconv.ParseFloat(ut.String("fileSize"), 64); ferr == nil {
			t.fileSize, t.hasFileSize = int64(f), true
		}
	} else if ok {
		t.fileSize, t.hasFileSize = v, true
	}
	if ut.Has("autoFinalize") {
		if ut.Bool("autoFinalize", false) {
			t.autoFinalize = nullableTrue
		} else if v := ut.String("autoFinalize"); v != "-1" {
			t.autoFinalize = nullableFalse
		}
	}
	if t.autoFinalize == nullableTrue && !t.hasFileSize {
		return nil, errMissingFileSize()
	}
	t.dir = filepath.Join(s.dataDir, "uploads", t.id)
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload token dir: %w", err)
	}
	s.mu.Lock()
	s.uploadTokens[t.id] = t
	t.seq = int64(len(s.uploadTokens))
	s.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.object(), nil
}

func (s *Server) uploadTokenGet(r *call) (any, error) {
	t := s.findUploadToken(r.caller, r.p.String("uploadTokenId"))
	if t == nil {
		return nil, errUploadTokenNotFound()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.object(), nil
}

func (s *Server) uploadTokenDelete(r *call) (any, error) {
	t := s.findUploadToken(r.caller, r.p.String("uploadTokenId"))
	if t == nil {
		return nil, errUploadTokenNotFound()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = UploadDeleted
	t.updatedAt = r.caller.Now.Unix()
	return nil, nil
}

// pager reads KalturaFilterPager: pageSize defaults to 30, clamped to 500;
// pageIndex starts at 1.
func pager(p kapi.Params) (size, index int) {
	pg := p.Sub("pager")
	sz, ok, _ := pg.Int("pageSize")
	if !ok || sz <= 0 {
		sz = defaultPageSize
	}
	if sz > maxPageSize {
		sz = maxPageSize
	}
	idx, ok, _ := pg.Int("pageIndex")
	if !ok || idx < 1 {
		idx = 1
	}
	return int(sz), int(idx)
}

func page[T any](all []T, size, index int) []T {
	start := (index - 1) * size
	if start >= len(all) {
		return nil
	}
	return all[start:min(start+size, len(all))]
}

func inList(list, v string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

func (s *Server) uploadTokenList(r *call) (any, error) {
	f := r.p.Sub("filter")
	s.mu.Lock()
	toks := make([]*uploadToken, 0, len(s.uploadTokens))
	for _, t := range s.uploadTokens {
		if t.partnerID == r.caller.PartnerID {
			toks = append(toks, t)
		}
	}
	s.mu.Unlock()
	sort.Slice(toks, func(i, j int) bool { return toks[i].seq < toks[j].seq })
	var objs []any
	for _, t := range toks {
		t.mu.Lock()
		ok := r.caller.SessionType == kapi.SessionAdmin || t.userID == r.caller.UserID
		st := strconv.Itoa(t.status)
		if v := f.String("idEqual"); v != "" && t.id != v {
			ok = false
		}
		if v := f.String("idIn"); v != "" && !inList(v, t.id) {
			ok = false
		}
		if v := f.String("userIdEqual"); v != "" && t.userID != v {
			ok = false
		}
		if v := f.String("statusEqual"); v != "" && st != v {
			ok = false
		}
		if v := f.String("statusIn"); v != "" && !inList(v, st) {
			ok = false
		}
		if v := f.String("fileNameEqual"); v != "" && t.fileName != v {
			ok = false
		}
		if ok {
			objs = append(objs, t.object())
		}
		t.mu.Unlock()
	}
	size, idx := pager(r.p)
	return listResponse("KalturaUploadTokenListResponse", page(objs, size, idx), len(objs)), nil
}

// parseResumeAt reads resumeAt (a float in the API), default -1.
func parseResumeAt(p kapi.Params) int64 {
	v := strings.TrimSpace(p.String("resumeAt"))
	if v == "" {
		return -1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return -1
	}
	return int64(f)
}

// uploadToken.upload(uploadTokenId, fileData, resume=false, finalChunk=true,
// resumeAt=-1) with the chunk rules of S kUploadTokenMgr (kaltura.md §4).
func (s *Server) uploadTokenUpload(r *call) (any, error) {
	t := s.findUploadToken(r.caller, r.p.String("uploadTokenId"))
	if t == nil {
		return nil, errUploadTokenNotFound()
	}
	resume := r.p.Bool("resume", false)
	final := r.p.Bool("finalChunk", true)
	resumeAt := parseResumeAt(r.p)
	f := r.files["fileData"]
	now := r.caller.Now

	t.mu.Lock()
	locked := true
	defer func() {
		if locked {
			t.mu.Unlock()
		}
	}()
	if t.status != UploadPending && t.status != UploadPartial {
		return nil, errUploadInvalidStatus()
	}
	maxResume := int64(s.opts.UploadMaxResumeTime / time.Second)
	if t.status == UploadPartial && now.Unix()-t.updatedAt > maxResume {
		return nil, errPassedMaxResume(maxResume)
	}
	if t.fileName == "" && f != nil {
		t.fileName = f.name
	}
	// checkIfFileIsValid: a file part with a non-empty file name.
	if f == nil || !f.hasName || f.name == "" {
		return nil, errUpload()
	}
	if f.size == 0 && !final && resumeAt > 0 {
		// An empty non-final chunk is dismissed; nothing is saved.
		return t.object(), nil
	}
	if final && s.faults.takeAction(r, FaultSizeMismatch) != nil {
		return nil, errCannotMatch()
	}

	if !resume {
		// handleMoveFile: the chunk becomes the whole file (a restart).
		if err := os.Rename(f.path, t.dataPath()); err != nil {
			return nil, fmt.Errorf("upload: move chunk: %w", err)
		}
		f.path = ""
		t.hasData, t.size = true, f.size
	} else {
		if !t.hasData {
			return nil, errCannotResume()
		}
		if resumeAt != -1 {
			verify := final && resumeAt > 0
			expected := resumeAt + f.size
			if !verify && resumeAt <= t.size && t.size < resumeAt+f.size {
				if err := t.writeAt(resumeAt, f.path); err != nil {
					return nil, err
				}
				t.size = max(t.size, resumeAt+f.size)
				// trySyncedAppend: up to three parked chunks that start at the end.
				for range 3 {
					n, ok := t.parked[t.size]
					if !ok {
						break
					}
					if err := t.appendParked(t.size, n); err != nil {
						return nil, err
					}
				}
			} else {
				if err := os.Rename(f.path, t.chunkPath(resumeAt)); err != nil {
					return nil, fmt.Errorf("upload: park chunk: %w", err)
				}
				f.path = ""
				t.parked[resumeAt] = f.size
				polls := int(s.opts.FinalChunkMaxAppendTime / time.Second)
				for count := 0; ; {
					if count > 0 {
						t.mu.Unlock()
						locked = false
						err := s.sleep(r.ctx, time.Second)
						t.mu.Lock()
						locked = true
						if err != nil {
							return nil, fmt.Errorf("upload: wait for chunks: %w", err)
						}
					}
					count++
					if err := t.appendAvailable(); err != nil {
						return nil, err
					}
					if !verify || t.size == expected || count >= polls {
						break
					}
				}
				if verify && t.size != expected {
					return nil, errCannotMatch()
				}
			}
		} else {
			if err := t.writeAt(t.size, f.path); err != nil {
				return nil, err
			}
			t.size += f.size
		}
	}
	if t.autoFinalize == nullableTrue && t.hasFileSize && t.size >= t.fileSize {
		final = true
	}
	if final {
		t.status = UploadFull
	} else {
		t.status = UploadPartial
	}
	t.uploaded = t.size
	t.updatedAt = s.Now().Unix()
	obj := t.object()
	if t.status == UploadFull && t.entryID != "" {
		// The entry was waiting (IMPORT): the token closes now.
		if err := s.attachContent(t, t.entryID, r); err != nil {
			return nil, err
		}
		obj = t.object()
	}
	return obj, nil
}

// writeAt copies the file at src into the data file at off.
func (t *uploadToken) writeAt(off int64, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("upload: open chunk: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(t.dataPath(), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("upload: open data: %w", err)
	}
	if _, err := out.Seek(off, io.SeekStart); err != nil {
		out.Close()
		return fmt.Errorf("upload: seek: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("upload: write: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("upload: write: %w", err)
	}
	return nil
}

// appendParked writes the parked chunk at off into the data file and drops it.
func (t *uploadToken) appendParked(off, n int64) error {
	p := t.chunkPath(off)
	if err := t.writeAt(off, p); err != nil {
		return err
	}
	_ = os.Remove(p)
	delete(t.parked, off)
	t.size = max(t.size, off+n)
	return nil
}

// appendAvailable appends every parked chunk that starts within or at the
// end of the file and enlarges it, plus (a server quirk) any chunk at
// offset 0. Chunks that would not enlarge the file stay parked.
func (t *uploadToken) appendAvailable() error {
	for {
		offs := make([]int64, 0, len(t.parked))
		for off := range t.parked {
			offs = append(offs, off)
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		found := false
		for _, off := range offs {
			n := t.parked[off]
			if off == 0 || (off <= t.size && off+n > t.size) {
				if err := t.appendParked(off, n); err != nil {
					return err
				}
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
}
