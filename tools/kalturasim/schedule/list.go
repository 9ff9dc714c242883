package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// EventView is an event as the API writes it out: for an occurrence every
// null field has been filled from its parent. It also carries what the
// iCal writer looks up elsewhere (resource names, category full ids, the
// parent's referenceId).
type EventView struct {
	Event
	// ParentReferenceID is the parent's referenceId (X-KALTURA-PARENT-UID).
	ParentReferenceID string
	// ResourceNames are the names of the event's resources (its own, or
	// its parent's), in ResourceIDs order.
	ResourceNames []string
	// CategoryFullIDs are the full ids of the event's known categories.
	CategoryFullIDs []string
}

// calOptions decide the calendar dialect of one response.
type calOptions struct {
	legacy      bool
	prodID      string
	noVTimezone bool
}

func (p *partner) calOptions(c kapi.Caller) calOptions {
	return calOptions{
		legacy:      c.LegacyICal || p.opts.LegacyICal,
		prodID:      p.opts.ProdID,
		noVTimezone: p.opts.NoVTimezone,
	}
}

// viewLocked resolves an event for output (KalturaScheduleEvent::doFromObject).
func (p *partner) viewLocked(e *Event) EventView {
	v := EventView{Event: *e.clone()}
	if e.ParentID != 0 {
		if par := p.getLocked(e.ParentID); par != nil {
			fillFromParent(&v.Event, par.clone())
			v.ParentReferenceID = par.ReferenceID
		}
	}
	for _, id := range v.ResourceIDs {
		if r := p.resources[id]; r != nil {
			v.ResourceNames = append(v.ResourceNames, r.Name)
		}
	}
	if ids, err := parseInts(v.CategoryIDs); err == nil {
		for _, id := range ids {
			if full, ok := p.categories[id]; ok {
				v.CategoryFullIDs = append(v.CategoryFullIDs, full)
			}
		}
	}
	return v
}

// fillFromParent sets every null (zero) field of an occurrence from its parent.
func fillFromParent(e, par *Event) {
	str := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	str(&e.Summary, par.Summary)
	str(&e.Description, par.Description)
	str(&e.ReferenceID, par.ReferenceID)
	str(&e.Location, par.Location)
	str(&e.Organizer, par.Organizer)
	str(&e.OwnerID, par.OwnerID)
	str(&e.Contact, par.Contact)
	str(&e.Comment, par.Comment)
	str(&e.Tags, par.Tags)
	str(&e.TemplateEntryID, par.TemplateEntryID)
	str(&e.EntryIDs, par.EntryIDs)
	str(&e.CategoryIDs, par.CategoryIDs)
	if e.ClassificationType == 0 {
		e.ClassificationType = par.ClassificationType
	}
	if e.GeoLatitude == 0 {
		e.GeoLatitude = par.GeoLatitude
	}
	if e.GeoLongitude == 0 {
		e.GeoLongitude = par.GeoLongitude
	}
	if e.Priority == 0 {
		e.Priority = par.Priority
	}
	if e.Recurrence == nil {
		e.Recurrence = par.Recurrence
	}
	if len(e.ResourceIDs) == 0 {
		e.ResourceIDs = par.ResourceIDs
	}
	if e.LinkedTo == nil {
		e.LinkedTo = par.LinkedTo
	}
}

// ---- filters

// filterClass describes one filter objectType.
type filterClass struct {
	types     map[int]bool // nil: every type
	resources bool         // has resourceIds…/parentResourceIds…/resourceIdEqual
	entry     bool         // has templateEntryIdEqual, entryIds…, categoryIds…
}

var filterClasses = map[string]filterClass{
	"":                                       {resources: true},
	"KalturaScheduleEventFilter":             {resources: true},
	"KalturaScheduleEventBaseFilter":         {},
	"KalturaEntryScheduleEventFilter":        {types: map[int]bool{TypeRecord: true, TypeLiveStream: true}, resources: true, entry: true},
	"KalturaRecordScheduleEventFilter":       {types: map[int]bool{TypeRecord: true}, resources: true, entry: true},
	"KalturaLiveStreamScheduleEventFilter":   {types: map[int]bool{TypeLiveStream: true}, resources: true, entry: true},
	"KalturaBlackoutScheduleEventFilter":     {types: map[int]bool{TypeBlackout: true}, resources: true},
	"KalturaMeetingScheduleEventFilter":      {types: map[int]bool{TypeMeeting: true}, resources: true},
	"KalturaLiveRedirectScheduleEventFilter": {types: map[int]bool{TypeLiveRedirect: true}, resources: true, entry: true},
	"KalturaVodScheduleEventFilter":          {types: map[int]bool{TypeVOD: true}, resources: true, entry: true},
}

type matcher func(p *partner, e *Event) bool

// eventQuery is a parsed list(filter, pager).
type eventQuery struct {
	match     []matcher
	orderBy   string
	pageSize  int
	pageIndex int
}

func intList(s string) (map[int64]bool, error) {
	ids, err := parseInts(s)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

func strList(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		m[strings.TrimSpace(f)] = true
	}
	return m
}

// words splits a text value the way a full-text "like" sees it.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r >= 0x80)
	})
}

// compileLike prepares a sphinx match of value against the tokens of an
// index string: Like needs every word of value, MultiLikeOr any comma item,
// MultiLikeAnd every comma item. prefix is put before each word ("r" for
// parent resources).
func compileLike(value, mode, prefix string) func(tokens map[string]bool) bool {
	var items [][]string
	if mode == "Like" {
		items = [][]string{words(value)}
	} else {
		for _, item := range strings.Split(value, ",") {
			if ws := words(item); len(ws) > 0 {
				items = append(items, ws)
			}
		}
	}
	for _, ws := range items {
		for i := range ws {
			ws[i] = prefix + ws[i]
		}
	}
	all := func(tokens map[string]bool, ws []string) bool {
		if len(ws) == 0 {
			return false
		}
		for _, w := range ws {
			if !tokens[w] {
				return false
			}
		}
		return true
	}
	switch mode {
	case "Like":
		return func(tokens map[string]bool) bool { return all(tokens, items[0]) }
	case "MultiLikeOr":
		return func(tokens map[string]bool) bool {
			for _, ws := range items {
				if all(tokens, ws) {
					return true
				}
			}
			return false
		}
	default: // MultiLikeAnd
		return func(tokens map[string]bool) bool {
			for _, ws := range items {
				if !all(tokens, ws) {
					return false
				}
			}
			return true
		}
	}
}

// likeMatch is compileLike applied once.
func likeMatch(tokens map[string]bool, value, mode, prefix string) bool {
	return compileLike(value, mode, prefix)(tokens)
}

func tokenSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words(s) {
		m[w] = true
	}
	return m
}

// resourceIndex is ScheduleEvent::getResourceIdsForIndex: the partner, the
// resources of the event and of its parent, each followed by its ancestors
// prefixed with "r".
func (p *partner) resourceIndex(e *Event) string {
	ids := append([]int64(nil), e.ResourceIDs...)
	if e.ParentID != 0 {
		if par := p.events[e.ParentID]; par != nil {
			ids = append(ids, par.ResourceIDs...)
		}
	}
	var idx []string
	seen := map[string]bool{}
	push := func(s string) {
		if !seen[s] {
			seen[s] = true
			idx = append(idx, s)
		}
	}
	for _, id := range ids {
		push(strconv.FormatInt(id, 10))
		for _, a := range p.ancestors(id) {
			push("r" + strconv.FormatInt(a, 10))
		}
	}
	return "pid" + strconv.FormatInt(p.id, 10) + " " + strings.Join(idx, " ")
}

// resourceTokens returns the words of resourceIndex, cached until the next change.
func (p *partner) resourceTokens(e *Event) map[string]bool {
	if t, ok := p.resTokens[e.ID]; ok {
		return t
	}
	if p.resTokens == nil {
		p.resTokens = map[int64]map[string]bool{}
	}
	t := tokenSet(p.resourceIndex(e))
	p.resTokens[e.ID] = t
	return t
}

// ancestors returns the parent chain of a resource, nearest first.
func (p *partner) ancestors(id int64) []int64 {
	var out []int64
	seen := map[int64]bool{id: true}
	for r := p.resources[id]; r != nil && r.ParentID != 0 && !seen[r.ParentID]; r = p.resources[r.ParentID] {
		seen[r.ParentID] = true
		out = append(out, r.ParentID)
	}
	return out
}

func badParam(key, value string) error {
	return kapi.Errorf("INVALID_PARAMETER_TYPE",
		fmt.Sprintf("Invalid parameter type [%s] for [%s]", value, key), "PARAM", key)
}

// parseEventQuery reads filter:… and pager:… keys. Properties the filter
// class does not have are ignored, as the server's deserializer does.
func parseEventQuery(p kapi.Params, now int64, noRelative bool) (*eventQuery, error) {
	f := p.Sub("filter")
	cls, ok := filterClasses[f.String("objectType")]
	if !ok {
		ot := f.String("objectType")
		return nil, kapi.Errorf("INVALID_OBJECT_TYPE", fmt.Sprintf("Invalid object type [%s]", ot), "TYPE", ot)
	}
	q := &eventQuery{orderBy: f.String("orderBy")}
	if cls.types != nil {
		types := cls.types
		q.match = append(q.match, func(_ *partner, e *Event) bool { return types[e.Type] })
	}
	var err error
	idField := func(name string, get func(*Event) int64) {
		if err != nil {
			return
		}
		if v, ok, e2 := f.Int(name + "Equal"); e2 != nil {
			err = badParam("filter:"+name+"Equal", f.String(name+"Equal"))
		} else if ok {
			q.match = append(q.match, func(_ *partner, e *Event) bool { return get(e) == v })
		}
		for _, mode := range []string{"In", "NotIn"} {
			s := f.String(name + mode)
			if s == "" {
				continue
			}
			set, e2 := intList(s)
			if e2 != nil {
				err = badParam("filter:"+name+mode, s)
				return
			}
			want := mode == "In"
			q.match = append(q.match, func(_ *partner, e *Event) bool { return set[get(e)] == want })
		}
	}
	idField("id", func(e *Event) int64 { return e.ID })
	idField("parentId", func(e *Event) int64 { return e.ParentID })
	idField("status", func(e *Event) int64 { return int64(e.Status) })
	idField("recurrenceType", func(e *Event) int64 { return int64(e.RecurrenceType) })
	idField("priority", func(e *Event) int64 { return int64(e.Priority) })
	if err != nil {
		return nil, err
	}
	strField := func(name string, get func(*Event) string) {
		if f.Has(name + "Equal") {
			v := f.String(name + "Equal")
			q.match = append(q.match, func(_ *partner, e *Event) bool { return get(e) == v })
		}
		if s := f.String(name + "In"); s != "" {
			set := strList(s)
			q.match = append(q.match, func(_ *partner, e *Event) bool { return set[get(e)] })
		}
	}
	strField("referenceId", func(e *Event) string { return e.ReferenceID })
	strField("ownerId", func(e *Event) string { return e.OwnerID })

	rangeField := func(name string, get func(*Event) int64, relative bool) {
		for _, mode := range []string{"GreaterThanOrEqual", "LessThanOrEqual"} {
			if err != nil {
				return
			}
			v, ok, e2 := f.Int(name + mode)
			if e2 != nil {
				err = badParam("filter:"+name+mode, f.String(name+mode))
				return
			}
			if !ok {
				continue
			}
			if relative {
				v = toAbsolute(v, now, noRelative)
			}
			if mode == "GreaterThanOrEqual" {
				q.match = append(q.match, func(_ *partner, e *Event) bool { return get(e) >= v })
			} else {
				q.match = append(q.match, func(_ *partner, e *Event) bool { return get(e) <= v })
			}
		}
	}
	rangeField("startDate", func(e *Event) int64 { return e.StartDate }, true)
	rangeField("endDate", func(e *Event) int64 { return e.EndDate }, true)
	rangeField("createdAt", func(e *Event) int64 { return e.CreatedAt }, true)
	rangeField("updatedAt", func(e *Event) int64 { return e.UpdatedAt }, true)
	rangeField("priority", func(e *Event) int64 { return int64(e.Priority) }, false)
	if err != nil {
		return nil, err
	}
	textField := func(name, prefix string, get func(*partner, *Event) string) {
		for _, mode := range []string{"Like", "MultiLikeOr", "MultiLikeAnd"} {
			v := f.String(name + mode)
			if v == "" {
				continue
			}
			like := compileLike(v, mode, prefix)
			q.match = append(q.match, func(p *partner, e *Event) bool {
				return like(tokenSet(get(p, e)))
			})
		}
	}
	textField("tags", "", func(_ *partner, e *Event) string { return e.Tags })
	if cls.resources {
		for _, name := range []string{"resourceIds", "parentResourceIds"} {
			prefix := ""
			if name == "parentResourceIds" {
				prefix = "r"
			}
			for _, mode := range []string{"Like", "MultiLikeOr", "MultiLikeAnd"} {
				v := f.String(name + mode)
				if v == "" {
					continue
				}
				like := compileLike(v, mode, prefix)
				q.match = append(q.match, func(p *partner, e *Event) bool {
					return like(p.resourceTokens(e))
				})
			}
		}
		if f.Has("resourceIdEqual") {
			// The whole index string is compared (kaltura.md §2): only an
			// event whose index is exactly "pid<partner> <value>" matches.
			v := f.String("resourceIdEqual")
			q.match = append(q.match, func(p *partner, e *Event) bool {
				return p.resourceIndex(e) == "pid"+strconv.FormatInt(p.id, 10)+" "+v
			})
		}
	}
	if cls.entry {
		if f.Has("templateEntryIdEqual") {
			v := f.String("templateEntryIdEqual")
			q.match = append(q.match, func(_ *partner, e *Event) bool { return e.TemplateEntryID == v })
		}
		textField("entryIds", "", func(_ *partner, e *Event) string { return e.EntryIDs })
		textField("categoryIds", "", func(_ *partner, e *Event) string { return e.CategoryIDs })
	}

	pg := p.Sub("pager")
	q.pageSize, q.pageIndex = DefaultPageSize, 1
	if v, ok, e2 := pg.Int("pageSize"); e2 != nil {
		return nil, badParam("pager:pageSize", pg.String("pageSize"))
	} else if ok && v > 0 {
		q.pageSize = int(min(v, MaxPageSize))
	}
	if v, ok, e2 := pg.Int("pageIndex"); e2 != nil {
		return nil, badParam("pager:pageIndex", pg.String("pageIndex"))
	} else if ok && v > 1 {
		q.pageIndex = int(min(v, 1<<30))
	}
	if (q.pageIndex-1)*q.pageSize >= MaxMatches {
		return nil, kapi.Errorf("QUERY_EXCEEDED_MAX_MATCHES_ALLOWED", "Unable to generate list. max matches value was reached")
	}
	return q, nil
}

// orderKey returns a comparison for one ±field of orderBy, or nil.
func orderKey(field string) func(a, b *Event) int {
	desc := strings.HasPrefix(field, "-")
	name := strings.TrimLeft(field, "+-")
	var get func(*Event) int64
	switch name {
	case "startDate":
		get = func(e *Event) int64 { return e.StartDate }
	case "endDate":
		get = func(e *Event) int64 { return e.EndDate }
	case "priority":
		get = func(e *Event) int64 { return int64(e.Priority) }
	case "createdAt":
		get = func(e *Event) int64 { return e.CreatedAt }
	case "updatedAt":
		get = func(e *Event) int64 { return e.UpdatedAt }
	case "summary":
		return func(a, b *Event) int {
			c := strings.Compare(a.Summary, b.Summary)
			if desc {
				return -c
			}
			return c
		}
	default:
		return nil
	}
	return func(a, b *Event) int {
		x, y := get(a), get(b)
		c := 0
		if x < y {
			c = -1
		} else if x > y {
			c = 1
		}
		if desc {
			return -c
		}
		return c
	}
}

// viewLocked returns the partner's visible rows sorted by orderBy (ties,
// and no orderBy, by id), cached until the next change.
func (p *partner) sortedLocked(orderBy string) []*Event {
	if v, ok := p.views[orderBy]; ok {
		return v
	}
	rows := make([]*Event, 0, len(p.events))
	for _, e := range p.events {
		if e.Status != StatusDeleted {
			rows = append(rows, e)
		}
	}
	var keys []func(a, b *Event) int
	for _, fld := range strings.Split(orderBy, ",") {
		if k := orderKey(strings.TrimSpace(fld)); k != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		for _, k := range keys {
			if c := k(rows[i], rows[j]); c != 0 {
				return c < 0
			}
		}
		return rows[i].ID < rows[j].ID
	})
	if p.views == nil {
		p.views = map[string][]*Event{}
	}
	p.views[orderBy] = rows
	return rows
}

// ListResponse is KalturaScheduleEventListResponse. It writes itself as
// JSON and, for format=ical, as a calendar (kapi.ICal).
type ListResponse struct {
	Objects    []EventView
	TotalCount int
	cal        calOptions
}

// EventResponse is a single KalturaScheduleEvent (add, get, update, cancel,
// delete). It writes itself as JSON and as a one-event calendar.
type EventResponse struct {
	EventView
	cal calOptions
}

// list runs a query for a caller.
func (s *Store) list(c kapi.Caller, params kapi.Params) (*ListResponse, error) {
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(c.PartnerID)
	q, err := parseEventQuery(params, relativeNow(c, now), p.opts.DisableRelativeTime)
	if err != nil {
		return nil, err
	}
	return s.runLocked(p, q, p.calOptions(c)), nil
}

func (s *Store) runLocked(p *partner, q *eventQuery, cal calOptions) *ListResponse {
	rows := p.sortedLocked(q.orderBy)
	offset := (q.pageIndex - 1) * q.pageSize
	res := &ListResponse{cal: cal}
	for _, e := range rows {
		ok := true
		for _, m := range q.match {
			if !m(p, e) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if res.TotalCount >= offset && res.TotalCount < offset+q.pageSize {
			res.Objects = append(res.Objects, p.viewLocked(e))
		}
		res.TotalCount++
	}
	return res
}

// List runs schedule_scheduleevent.list for a caller, with the parameters
// as the API takes them (filter:…, pager:…). The FTP front uses it.
func (s *Store) List(c kapi.Caller, p kapi.Params) (*ListResponse, error) {
	return s.list(c, p)
}

// Get returns one visible event as the API writes it, for a caller.
func (s *Store) Get(c kapi.Caller, id int64) (*EventResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(c.PartnerID)
	e := p.getLocked(id)
	if e == nil {
		return nil, invalidObjectID(id)
	}
	return &EventResponse{EventView: p.viewLocked(e), cal: p.calOptions(c)}, nil
}
