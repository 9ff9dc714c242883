package kalturasim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Entry statuses (S entryStatus; kaltura.md §5).
const (
	EntryImportError  = -2
	EntryConvertError = -1
	EntryImport       = 0
	EntryPreconvert   = 1
	EntryReady        = 2
	EntryDeleted      = 3
	EntryPending      = 4
	EntryModerate     = 5
	EntryBlocked      = 6
	EntryNoContent    = 7
)

// entryStringFields are the string properties an entry stores.
var entryStringFields = []string{
	"name", "description", "tags", "adminTags", "userId", "categories", "categoriesIds", "partnerData",
	"referenceId", "templateEntryId", "entitledUsersEdit", "entitledUsersPublish", "entitledUsersView",
	"credit", "searchText", "displayInSearch",
}

// entryIntFields are the integer properties an entry stores.
var entryIntFields = []string{
	"mediaType", "accessControlId", "licenseType", "startDate", "endDate", "conversionProfileId", "sourceType",
}

// templateCopied is what entry::copyTemplate copies (kaltura.md §5);
// categories are handled apart (entitlement).
var templateCopied = []string{
	"name", "tags", "description", "adminTags", "userId", "accessControlId", "entitledUsersEdit",
	"entitledUsersPublish", "entitledUsersView", "partnerData", "licenseType", "credit", "startDate", "endDate",
}

// insertOnlyFields are the KalturaBaseEntry properties CAPTURE_DEVICE_ROLE
// lacks the insert permission for (S deployment/permissions/
// object.KalturaBaseEntry.ini): on media.add/baseEntry.add they are
// silently nulled, with only a response header to say so (kaltura.md §5).
var insertOnlyFields = []string{
	"referenceId", "categories", "categoriesIds", "entitledUsersEdit", "entitledUsersPublish", "entitledUsersView",
	"accessControlId", "startDate", "endDate",
}

// insertDeniedHeader is the response header KalturaObject::validateForInsert
// adds for a property it nulled.
func insertDeniedHeader(property string) (string, string) {
	return "KalturaBaseEntry-" + property + "-error", "Current user has no insert permission for property " + property
}

// entry is one base/media entry; guarded by Server.mu.
type entry struct {
	id             string
	partnerID      int64
	objectType     string
	str            map[string]string
	ints           map[string]int64
	status         int
	createdAt      int64
	updatedAt      int64
	creatorID      string
	template       bool
	uploadTokenID  string
	contentPath    string
	contentSize    int64
	readyAt        int64
	failConversion bool
}

// EntrySpec describes a template (or any) entry created through the admin
// API. Fields holds further API properties by name (e.g. "licenseType").
type EntrySpec struct {
	// ID is the entry id; "" draws one. An id already in use is an error.
	ID                   string            `json:"id,omitempty"`
	PartnerID            int64             `json:"partnerId,omitempty"`
	Name                 string            `json:"name,omitempty"`
	Description          string            `json:"description,omitempty"`
	Tags                 string            `json:"tags,omitempty"`
	AdminTags            string            `json:"adminTags,omitempty"`
	UserID               string            `json:"userId,omitempty"`
	Categories           string            `json:"categories,omitempty"`
	CategoriesIDs        string            `json:"categoriesIds,omitempty"`
	EntitledUsersEdit    string            `json:"entitledUsersEdit,omitempty"`
	EntitledUsersPublish string            `json:"entitledUsersPublish,omitempty"`
	EntitledUsersView    string            `json:"entitledUsersView,omitempty"`
	PartnerData          string            `json:"partnerData,omitempty"`
	ReferenceID          string            `json:"referenceId,omitempty"`
	Fields               map[string]string `json:"fields,omitempty"`
}

// EntryInfo is the admin view of an entry, with its content.
type EntryInfo struct {
	ID            string            `json:"id"`
	PartnerID     int64             `json:"partnerId"`
	ObjectType    string            `json:"objectType"`
	Status        int               `json:"status"`
	Template      bool              `json:"template,omitempty"`
	Fields        map[string]string `json:"fields"`
	CreatorID     string            `json:"creatorId,omitempty"`
	CreatedAt     int64             `json:"createdAt"`
	UpdatedAt     int64             `json:"updatedAt"`
	UploadTokenID string            `json:"uploadTokenId,omitempty"`
	ContentPath   string            `json:"contentPath,omitempty"`
	ContentSize   int64             `json:"contentSize"`
	ContentSHA256 string            `json:"contentSha256,omitempty"`
}

func (s *Server) registerMediaServices() {
	for _, svc := range []string{"media", "baseentry"} {
		svc := svc
		s.register(svc, "add", &handler{fn: func(r *call) (any, error) { return s.entryAdd(r, svc) }})
		s.register(svc, "get", &handler{widget: true, fn: s.entryGet})
		s.register(svc, "list", &handler{widget: true, fn: s.entryList})
		s.register(svc, "update", &handler{fn: func(r *call) (any, error) { return s.entryUpdate(r, svc) }})
		s.register(svc, "delete", &handler{fn: s.entryDelete})
	}
	s.register("media", "addContent", &handler{fn: s.mediaAddContent})
}

// refresh moves a processing entry on by the clock: PRECONVERT becomes
// READY (or ERROR_CONVERTING) once the processing delay has passed. The
// caller holds s.mu.
func (e *entry) refresh(now int64) {
	if e.status == EntryPreconvert && now >= e.readyAt {
		if e.failConversion {
			e.status = EntryConvertError
		} else {
			e.status = EntryReady
		}
		e.updatedAt = e.readyAt
	}
}

// object is the API form of e; the caller holds s.mu.
func (e *entry) object() map[string]any {
	o := object(e.objectType, "id", e.id, "partnerId", e.partnerID, "status", e.status, "type", 1,
		"createdAt", e.createdAt, "updatedAt", e.updatedAt)
	for _, k := range entryStringFields {
		if v, ok := e.str[k]; ok && v != "" {
			o[k] = v
		}
	}
	for _, k := range entryIntFields {
		if v, ok := e.ints[k]; ok {
			o[k] = v
		}
	}
	if e.creatorID != "" {
		o["creatorId"] = e.creatorID
	}
	if e.status == EntryReady {
		o["duration"] = 0
	}
	return o
}

func (e *entry) info() EntryInfo {
	fields := map[string]string{}
	for k, v := range e.str {
		fields[k] = v
	}
	for k, v := range e.ints {
		fields[k] = strconv.FormatInt(v, 10)
	}
	return EntryInfo{ID: e.id, PartnerID: e.partnerID, ObjectType: e.objectType, Status: e.status, Template: e.template,
		Fields: fields, CreatorID: e.creatorID, CreatedAt: e.createdAt, UpdatedAt: e.updatedAt,
		UploadTokenID: e.uploadTokenID, ContentPath: e.contentPath, ContentSize: e.contentSize}
}

// newEntryID returns `0_` + 8 characters of 0-9a-z; the caller holds s.mu.
func (s *Server) newEntryID() string {
	for {
		id := "0_" + s.randID(8)
		if _, dup := s.entries[id]; !dup {
			return id
		}
	}
}

// AddTemplateEntry creates an entry (status NO_CONTENT) to be used as a
// template by media.add.
func (s *Server) AddTemplateEntry(spec EntrySpec) (EntryInfo, error) {
	if spec.PartnerID == 0 {
		spec.PartnerID = s.opts.PartnerID
	}
	now := s.Now().Unix()
	e := &entry{partnerID: spec.PartnerID, objectType: "KalturaMediaEntry", str: map[string]string{},
		ints: map[string]int64{"mediaType": 1}, status: EntryNoContent, createdAt: now, updatedAt: now, template: true}
	set := func(k, v string) {
		if v != "" {
			e.str[k] = v
		}
	}
	set("name", spec.Name)
	set("description", spec.Description)
	set("tags", spec.Tags)
	set("adminTags", spec.AdminTags)
	set("userId", spec.UserID)
	set("categories", spec.Categories)
	set("categoriesIds", spec.CategoriesIDs)
	set("entitledUsersEdit", spec.EntitledUsersEdit)
	set("entitledUsersPublish", spec.EntitledUsersPublish)
	set("entitledUsersView", spec.EntitledUsersView)
	set("partnerData", spec.PartnerData)
	set("referenceId", spec.ReferenceID)
	for k, v := range spec.Fields {
		if slices.Contains(entryIntFields, k) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return EntryInfo{}, fmt.Errorf("kalturasim: template field %s: %w", k, err)
			}
			e.ints[k] = n
		} else {
			e.str[k] = v
		}
	}
	e.creatorID = spec.UserID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.partners[spec.PartnerID] == nil {
		return EntryInfo{}, fmt.Errorf("kalturasim: add template: unknown partner %d", spec.PartnerID)
	}
	e.id = spec.ID
	if e.id == "" {
		e.id = s.newEntryID()
	} else if _, dup := s.entries[e.id]; dup {
		return EntryInfo{}, fmt.Errorf("kalturasim: add template: entry %s exists", e.id)
	}
	s.entries[e.id] = e
	s.entryOrder = append(s.entryOrder, e.id)
	return e.info(), nil
}

// Entries returns every entry with its content's size, path and sha256.
func (s *Server) Entries() []EntryInfo {
	now := s.Now().Unix()
	s.mu.Lock()
	var out []EntryInfo
	for _, id := range s.entryOrder {
		e := s.entries[id]
		e.refresh(now)
		out = append(out, e.info())
	}
	s.mu.Unlock()
	for i := range out {
		if out[i].ContentPath != "" {
			if sum, err := fileSHA256(out[i].ContentPath); err == nil {
				out[i].ContentSHA256 = sum
			}
		}
	}
	return out
}

// Entry returns one entry's admin view.
func (s *Server) Entry(id string) (EntryInfo, bool) {
	for _, e := range s.Entries() {
		if e.ID == id {
			return e, true
		}
	}
	return EntryInfo{}, false
}

// EntryContent opens the content of an entry.
func (s *Server) EntryContent(id string) (io.ReadCloser, error) {
	s.mu.Lock()
	e := s.entries[id]
	var p string
	if e != nil {
		p = e.contentPath
	}
	s.mu.Unlock()
	if p == "" {
		return nil, fmt.Errorf("kalturasim: entry %s has no content", id)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("kalturasim: entry content: %w", err)
	}
	return f, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canEdit is KalturaDispatcher::validateUser: admin, owner, co-editor or
// an edit privilege.
func canEdit(c kapi.Caller, e *entry) bool {
	if c.SessionType == kapi.SessionAdmin || e.str["userId"] == c.UserID {
		return true
	}
	if c.UserID != "" && inList(e.str["entitledUsersEdit"], c.UserID) {
		return true
	}
	return c.HasPrivilege("edit:"+e.id) || c.HasPrivilege("edit:*")
}

// entryAdd is media.add / baseEntry.add with the template copy of
// kaltura.md §5.
func (s *Server) entryAdd(r *call, service string) (any, error) {
	in := r.p.Sub("entry")
	objType := in.String("objectType")
	if objType == "" {
		objType = "KalturaMediaEntry"
		if service == "baseentry" {
			objType = "KalturaBaseEntry"
		}
	}
	if service == "media" && !in.Has("mediaType") {
		return nil, errCannotBeNull("mediaType")
	}
	c := r.caller
	admin := c.SessionType == kapi.SessionAdmin
	if in.Has("userId") && !admin && in.String("userId") != c.UserID {
		return nil, errOwnership()
	}
	if c.Role == kapi.RoleCaptureDevice {
		in = maps.Clone(in)
		for _, k := range insertOnlyFields {
			if in.Has(k) || in.IsNull(k) {
				delete(in, k)
				delete(in, k+"__null")
				r.addHeader(insertDeniedHeader(k))
			}
		}
	}
	now := c.Now.Unix()
	e := &entry{partnerID: c.PartnerID, objectType: objType, str: map[string]string{}, ints: map[string]int64{},
		status: EntryNoContent, createdAt: now, updatedAt: now, creatorID: c.UserID}

	s.mu.Lock()
	defer s.mu.Unlock()
	tid := in.String("templateEntryId")
	if tid != "" {
		// A missing template is silent: no copy, templateEntryId echoed anyway.
		if tpl := s.entries[tid]; tpl != nil && tpl.partnerID == c.PartnerID && tpl.status != EntryDeleted {
			for _, k := range templateCopied {
				if v, ok := tpl.str[k]; ok {
					e.str[k] = v
				}
				if v, ok := tpl.ints[k]; ok {
					e.ints[k] = v
				}
			}
			// Categories are copied only where the session is entitled:
			// the simulator copies them for admin sessions and sessions
			// with disableentitlement, and drops them otherwise.
			if admin || c.HasPrivilege("disableentitlement") {
				for _, k := range []string{"categories", "categoriesIds"} {
					if v, ok := tpl.str[k]; ok {
						e.str[k] = v
					}
				}
			}
		}
	}
	for _, k := range entryStringFields {
		if in.Has(k) {
			e.str[k] = in.String(k)
		}
	}
	for _, k := range entryIntFields {
		if v, ok, err := in.Int(k); err != nil {
			return nil, errInvalidEnum(in.String(k), k, "int")
		} else if ok {
			e.ints[k] = v
		}
	}
	// checkAndSetValidUserInsert: a null userId is replaced by the KS user,
	// over whatever the template copied, for an admin KS as well.
	if !in.Has("userId") {
		e.str["userId"] = c.UserID
	}
	if e.str["name"] == "" {
		e.str["name"] = strconv.FormatInt(c.PartnerID, 10) + "_" + strconv.FormatInt(now, 10)
	}
	if tid != "" {
		e.str["templateEntryId"] = tid
	}
	e.id = s.newEntryID()
	s.entries[e.id] = e
	s.entryOrder = append(s.entryOrder, e.id)
	return e.object(), nil
}

// visibleEntry returns an entry of the caller's partner that is not deleted;
// the caller holds s.mu.
func (s *Server) visibleEntry(c kapi.Caller, id string) *entry {
	e := s.entries[id]
	if e == nil || e.partnerID != c.PartnerID || e.status == EntryDeleted {
		return nil
	}
	e.refresh(c.Now.Unix())
	return e
}

func (s *Server) entryGet(r *call) (any, error) {
	id := r.p.String("entryId")
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.visibleEntry(r.caller, id)
	if e == nil {
		return nil, errEntryNotFound(id)
	}
	return e.object(), nil
}

func (s *Server) entryList(r *call) (any, error) {
	f := r.p.Sub("filter")
	s.mu.Lock()
	var objs []any
	for _, id := range s.entryOrder {
		e := s.visibleEntry(r.caller, id)
		if e == nil {
			continue
		}
		st := strconv.Itoa(e.status)
		if v := f.String("idEqual"); v != "" && e.id != v {
			continue
		}
		if v := f.String("idIn"); v != "" && !inList(v, e.id) {
			continue
		}
		if v := f.String("referenceIdEqual"); v != "" && e.str["referenceId"] != v {
			continue
		}
		if v := f.String("statusEqual"); v != "" && st != v {
			continue
		}
		if v := f.String("statusIn"); v != "" && !inList(v, st) {
			continue
		}
		if v := f.String("userIdEqual"); v != "" && e.str["userId"] != v {
			continue
		}
		if v := f.String("nameLike"); v != "" && !strings.Contains(e.str["name"], v) {
			continue
		}
		objs = append(objs, e.object())
	}
	s.mu.Unlock()
	size, idx := pager(r.p)
	resp := "KalturaMediaListResponse"
	if r.service == "baseentry" {
		resp = "KalturaBaseEntryListResponse"
	}
	return listResponse(resp, page(objs, size, idx), len(objs)), nil
}

func (s *Server) entryUpdate(r *call, service string) (any, error) {
	id := r.p.String("entryId")
	in := r.p.Sub("mediaEntry")
	if service == "baseentry" {
		in = r.p.Sub("baseEntry")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.visibleEntry(r.caller, id)
	if e == nil {
		return nil, errEntryNotFound(id)
	}
	if !canEdit(r.caller, e) {
		return nil, errOwnership()
	}
	if in.Has("userId") && r.caller.SessionType != kapi.SessionAdmin && in.String("userId") != r.caller.UserID {
		return nil, errOwnership()
	}
	for _, k := range entryStringFields {
		if k == "templateEntryId" {
			continue
		}
		if in.Has(k) {
			e.str[k] = in.String(k)
		} else if in.IsNull(k) {
			delete(e.str, k)
		}
	}
	for _, k := range entryIntFields {
		if v, ok, err := in.Int(k); err == nil && ok {
			e.ints[k] = v
		}
	}
	e.updatedAt = r.caller.Now.Unix()
	return e.object(), nil
}

func (s *Server) entryDelete(r *call) (any, error) {
	id := r.p.String("entryId")
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.visibleEntry(r.caller, id)
	if e == nil {
		return nil, errEntryNotFound(id)
	}
	if !canEdit(r.caller, e) {
		return nil, errOwnership()
	}
	e.status = EntryDeleted
	e.updatedAt = r.caller.Now.Unix()
	return nil, nil
}

// media.addContent(entryId, resource) with a KalturaUploadedFileTokenResource
// (kaltura.md §5).
func (s *Server) mediaAddContent(r *call) (any, error) {
	id := r.p.String("entryId")
	c := r.caller
	s.mu.Lock()
	e := s.visibleEntry(c, id)
	if e == nil {
		s.mu.Unlock()
		return nil, errEntryNotFound(id)
	}
	if !canEdit(c, e) {
		s.mu.Unlock()
		return nil, errOwnership()
	}
	if e.status != EntryNoContent {
		s.mu.Unlock()
		return nil, errEntryAlreadyWithContent()
	}
	s.mu.Unlock()

	res := r.p.Sub("resource")
	if len(res) == 0 {
		return nil, errMissingParam("resource")
	}
	if ot := res.String("objectType"); ot != "KalturaUploadedFileTokenResource" {
		return nil, errResourceType(ot)
	}
	t := s.findUploadToken(c, res.String("token"))
	if t == nil {
		return nil, errUploadTokenNotFound()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != UploadPending && t.status != UploadPartial && t.status != UploadFull {
		return nil, errUploadInvalidForEntry()
	}
	fail := s.faults.takeAction(r, FaultConversionError) != nil
	s.mu.Lock()
	if e.status != EntryNoContent {
		s.mu.Unlock()
		return nil, errEntryAlreadyWithContent()
	}
	e.failConversion = fail
	e.uploadTokenID = t.id
	s.mu.Unlock()
	if t.status == UploadFull {
		if err := s.attachContent(t, id, r); err != nil {
			return nil, err
		}
	} else {
		// Not yet complete: the entry waits in IMPORT; the token closes
		// when the upload completes.
		t.entryID = id
		s.mu.Lock()
		e.status = EntryImport
		e.updatedAt = c.Now.Unix()
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.object(), nil
}

// attachContent moves a complete upload into the entry, closes the token
// and starts processing. The caller holds t.mu (not s.mu).
func (s *Server) attachContent(t *uploadToken, entryID string, r *call) error {
	dir := filepath.Join(s.dataDir, "entries", entryID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("entry content: %w", err)
	}
	dst := filepath.Join(dir, "content")
	if t.hasData {
		if err := os.Rename(t.dataPath(), dst); err != nil {
			return fmt.Errorf("entry content: %w", err)
		}
	} else if err := os.WriteFile(dst, nil, 0o600); err != nil {
		return fmt.Errorf("entry content: %w", err)
	}
	now := s.Now()
	t.status = UploadClosed
	t.entryID = entryID
	t.updatedAt = now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[entryID]; e != nil {
		e.contentPath = dst
		e.contentSize = t.size
		e.uploadTokenID = t.id
		e.status = EntryPreconvert
		e.readyAt = now.Add(s.opts.ProcessingDelay).Unix()
		e.updatedAt = now.Unix()
	}
	return nil
}
