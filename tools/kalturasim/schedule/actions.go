package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Service ids this package serves.
const (
	ServiceEvent         = "schedule_scheduleevent"
	ServiceResource      = "schedule_scheduleresource"
	ServiceEventResource = "schedule_scheduleeventresource"
)

// Register registers the schedule actions: schedule_scheduleevent
// add/get/update/cancel/delete/list, schedule_scheduleresource
// add/get/update/delete/list and schedule_scheduleeventresource add/list.
// The core has checked the session and role; the Caller carries the
// partner, the user, the time of the call and the legacy-iCal switch.
func (s *Store) Register(reg func(service, action string, a kapi.Action)) {
	reg(ServiceEvent, "add", s.actionAdd)
	reg(ServiceEvent, "get", s.actionGet)
	reg(ServiceEvent, "update", s.actionUpdate)
	reg(ServiceEvent, "cancel", s.actionCancel)
	reg(ServiceEvent, "delete", s.actionDelete)
	reg(ServiceEvent, "list", func(c kapi.Caller, p kapi.Params) (any, error) { return s.list(c, p) })
	reg(ServiceResource, "add", s.actionResourceAdd)
	reg(ServiceResource, "get", s.actionResourceGet)
	reg(ServiceResource, "update", s.actionResourceUpdate)
	reg(ServiceResource, "delete", s.actionResourceDelete)
	reg(ServiceResource, "list", s.actionResourceList)
	reg(ServiceEventResource, "add", s.actionEventResourceAdd)
	reg(ServiceEventResource, "list", s.actionEventResourceList)
}

func missing(name string) error {
	return kapi.Errorf("MISSING_MANDATORY_PARAMETER", fmt.Sprintf("Missing parameter \"%s\"", name), "PARAM_NAME", name)
}

func idParam(p kapi.Params, name string) (int64, error) {
	v, ok, err := p.Int(name)
	if err != nil {
		return 0, badParam(name, p.String(name))
	}
	if !ok {
		return 0, missing(name)
	}
	return v, nil
}

func abstractClass(name string) error {
	return kapi.Errorf("OBJECT_TYPE_ABSTRACT",
		fmt.Sprintf("The object type \"%s\" is abstract, use one of the object implementations", name), "TYPE", name)
}

// decodeEvent applies the scheduleEvent:… parameters onto e. It reports
// whether a time-changing field was sent with a truthy value
// (ScheduleEventService::recurrencesChanged) and the sequence sent.
func decodeEvent(sub kapi.Params, e *Event, now int64, noRelative bool) (timeSent bool, seq int, err error) {
	str := func(key string, dst *string) {
		if sub.Has(key) {
			*dst = sub.String(key)
		}
		if sub.Has(key + "__null") {
			*dst = ""
		}
	}
	str("summary", &e.Summary)
	str("description", &e.Description)
	str("referenceId", &e.ReferenceID)
	str("location", &e.Location)
	str("organizer", &e.Organizer)
	str("contact", &e.Contact)
	str("comment", &e.Comment)
	str("tags", &e.Tags)
	str("templateEntryId", &e.TemplateEntryID)
	str("entryIds", &e.EntryIDs)
	str("categoryIds", &e.CategoryIDs)
	str("ownerId", &e.OwnerID)
	num := func(key string, relative bool) (int64, bool) {
		if err != nil {
			return 0, false
		}
		v, ok, e2 := sub.Int(key)
		if e2 != nil {
			err = badParam("scheduleEvent:"+key, sub.String(key))
			return 0, false
		}
		if ok && relative {
			v = toAbsolute(v, now, noRelative)
		}
		return v, ok
	}
	if v, ok := num("startDate", true); ok {
		e.StartDate = v
		timeSent = timeSent || v != 0
	}
	if v, ok := num("endDate", true); ok {
		e.EndDate = v
		timeSent = timeSent || v != 0
	}
	if v, ok := num("duration", false); ok {
		e.Duration = v
		timeSent = timeSent || v != 0
	}
	if v, ok := num("recurrenceType", false); ok {
		if v < 0 || v > 2 {
			return false, 0, invalidEnum("recurrenceType", strconv.FormatInt(v, 10), "KalturaScheduleEventRecurrenceType")
		}
		e.RecurrenceType = int(v)
		timeSent = timeSent || v != 0
	}
	if v, ok := num("classificationType", false); ok {
		if v < 1 || v > 3 {
			return false, 0, invalidEnum("classificationType", strconv.FormatInt(v, 10), "KalturaScheduleEventClassificationType")
		}
		e.ClassificationType = int(v)
	}
	if v, ok := num("priority", false); ok {
		if v < 0 || v > 9 {
			return false, 0, kapi.Errorf("PROPERTY_VALIDATION_MAX_VALUE",
				"The property \"priority\" must have a max value of 9", "PROP_NAME", "priority", "MAX_VALUE", "9")
		}
		e.Priority = int(v)
	}
	if v, ok := num("sequence", false); ok {
		seq = int(v)
	}
	if err != nil {
		return false, 0, err
	}
	for _, g := range []struct {
		key string
		dst *float64
	}{{"geoLatitude", &e.GeoLatitude}, {"geoLongitude", &e.GeoLongitude}} {
		if sub.Has(g.key) {
			f, e2 := strconv.ParseFloat(strings.TrimSpace(sub.String(g.key)), 64)
			if e2 != nil {
				return false, 0, badParam("scheduleEvent:"+g.key, sub.String(g.key))
			}
			*g.dst = f
		}
	}
	if sub.Has("resourceIds") {
		ids, e2 := parseInts(sub.String("resourceIds"))
		if e2 != nil {
			return false, 0, badParam("scheduleEvent:resourceIds", sub.String("resourceIds"))
		}
		e.ResourceIDs = ids
	}
	if sub.Has("linkedTo:eventId") {
		id, _, e2 := sub.Int("linkedTo:eventId")
		off, _, e3 := sub.Int("linkedTo:offset")
		if e2 != nil || e3 != nil {
			return false, 0, badParam("scheduleEvent:linkedTo", sub.String("linkedTo:eventId"))
		}
		e.LinkedTo = &LinkedTo{EventID: id, Offset: off}
	}
	rp := sub.Sub("recurrence")
	if sub.Has("recurrence__null") {
		e.Recurrence = nil
	}
	if len(rp) > 0 {
		r := &Recurrence{}
		if e.Recurrence != nil {
			*r = *e.Recurrence
		}
		had := *r
		rs := func(key string, dst *string) {
			if rp.Has(key) {
				*dst = rp.String(key)
			}
		}
		rs("name", &r.Name)
		rs("frequency", &r.Frequency)
		rs("timeZone", &r.TimeZone)
		rs("bySecond", &r.BySecond)
		rs("byMinute", &r.ByMinute)
		rs("byHour", &r.ByHour)
		rs("byDay", &r.ByDay)
		rs("byMonthDay", &r.ByMonthDay)
		rs("byYearDay", &r.ByYearDay)
		rs("byWeekNumber", &r.ByWeekNumber)
		rs("byMonth", &r.ByMonth)
		rs("byOffset", &r.ByOffset)
		rs("weekStartDay", &r.WeekStartDay)
		for _, k := range []string{"until", "count", "interval"} {
			v, ok, e2 := rp.Int(k)
			if e2 != nil {
				return false, 0, badParam("scheduleEvent:recurrence:"+k, rp.String(k))
			}
			if !ok {
				continue
			}
			switch k {
			case "until":
				r.Until = toAbsolute(v, now, noRelative)
				if had.Count != 0 {
					r.Count = 0 // until and count cannot both be set
				}
			case "count":
				r.Count = int(v)
				if had.Until != 0 {
					r.Until = 0
				}
			case "interval":
				r.Interval = int(v)
			}
		}
		e.Recurrence = r
		timeSent = true
	}
	return timeSent, seq, nil
}

func (s *Store) actionAdd(c kapi.Caller, p kapi.Params) (any, error) {
	sub := p.Sub("scheduleEvent")
	ot := sub.String("objectType")
	if len(sub) == 0 {
		return nil, missing("scheduleEvent")
	}
	typ := EventTypeOf(ot)
	if typ == 0 {
		if ot == "" {
			ot = "KalturaScheduleEvent"
		}
		return nil, abstractClass(ot)
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	e := &Event{Type: typ, RecurrenceType: -1}
	if _, _, err := decodeEvent(sub, e, relativeNow(c, now), pt.opts.DisableRelativeTime); err != nil {
		return nil, err
	}
	if e.RecurrenceType == -1 {
		return nil, cannotBeNull(ot, "recurrenceType")
	}
	e.OwnerID = c.UserID
	if err := s.addLocked(pt, e, now.Unix()); err != nil {
		return nil, err
	}
	return &EventResponse{EventView: pt.viewLocked(e), cal: pt.calOptions(c)}, nil
}

func (s *Store) actionGet(c kapi.Caller, p kapi.Params) (any, error) {
	id, err := idParam(p, "scheduleEventId")
	if err != nil {
		return nil, err
	}
	return s.Get(c, id)
}

func (s *Store) actionUpdate(c kapi.Caller, p kapi.Params) (any, error) {
	id, err := idParam(p, "scheduleEventId")
	if err != nil {
		return nil, err
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	cur := pt.getLocked(id)
	if cur == nil {
		return nil, invalidObjectID(id)
	}
	next := cur.clone()
	timeSent, seq, err := decodeEvent(p.Sub("scheduleEvent"), next, relativeNow(c, now), pt.opts.DisableRelativeTime)
	if err != nil {
		return nil, err
	}
	if err := s.updateLocked(pt, cur, next, timeSent, seq, now.Unix()); err != nil {
		return nil, err
	}
	return &EventResponse{EventView: pt.viewLocked(cur), cal: pt.calOptions(c)}, nil
}

func (s *Store) actionCancel(c kapi.Caller, p kapi.Params) (any, error) {
	return s.actOnEvent(c, p, func(pt *partner, e *Event, now int64) error {
		s.cancelLocked(pt, e, now)
		return nil
	})
}

func (s *Store) actionDelete(c kapi.Caller, p kapi.Params) (any, error) {
	return s.actOnEvent(c, p, func(pt *partner, e *Event, now int64) error {
		return s.deleteLocked(pt, e, now)
	})
}

// actOnEvent runs fn on the visible event named by scheduleEventId, under
// the store's lock, and answers with the event as it is afterwards.
func (s *Store) actOnEvent(c kapi.Caller, p kapi.Params, fn func(pt *partner, e *Event, now int64) error) (any, error) {
	id, err := idParam(p, "scheduleEventId")
	if err != nil {
		return nil, err
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	e, err := pt.visibleLocked(id)
	if err != nil {
		return nil, err
	}
	if err := fn(pt, e, now.Unix()); err != nil {
		return nil, err
	}
	return &EventResponse{EventView: pt.viewLocked(e), cal: pt.calOptions(c)}, nil
}

// ---- resources

func decodeResource(sub kapi.Params, r *Resource) error {
	str := func(key string, dst *string) {
		if sub.Has(key) {
			*dst = sub.String(key)
		}
	}
	str("name", &r.Name)
	str("systemName", &r.SystemName)
	str("description", &r.Description)
	str("tags", &r.Tags)
	if v, ok, err := sub.Int("parentId"); err != nil {
		return badParam("scheduleResource:parentId", sub.String("parentId"))
	} else if ok {
		r.ParentID = v
	}
	if v, ok, err := sub.Int("status"); err != nil {
		return badParam("scheduleResource:status", sub.String("status"))
	} else if ok {
		if v < 1 || v > 3 {
			return invalidEnum("status", strconv.FormatInt(v, 10), "KalturaScheduleResourceStatus")
		}
		r.Status = int(v)
	}
	return nil
}

func (p *partner) systemNameTaken(name string, except int64) bool {
	if name == "" {
		return false
	}
	for _, r := range p.resources {
		if r.ID != except && r.Status != ResourceDeleted && r.SystemName == name {
			return true
		}
	}
	return false
}

func (s *Store) addResourceLocked(p *partner, r *Resource, now int64) error {
	if r.Name == "" {
		n, ok := resourceTypeNames[r.Type]
		if !ok {
			n = "KalturaScheduleResource"
		}
		return cannotBeNull(n, "name")
	}
	if p.systemNameTaken(r.SystemName, 0) {
		return kapi.Errorf("SYSTEM_NAME_ALREADY_EXISTS",
			fmt.Sprintf("System name [%s] already exists", r.SystemName), "SYSTEM_NAME", r.SystemName)
	}
	r.ID = s.nextRes
	s.nextRes++
	r.PartnerID = p.id
	if r.Status == 0 {
		r.Status = ResourceActive
	}
	r.CreatedAt, r.UpdatedAt = now, now
	p.resources[r.ID] = r
	s.changed(p)
	return nil
}

func (s *Store) actionResourceAdd(c kapi.Caller, p kapi.Params) (any, error) {
	sub := p.Sub("scheduleResource")
	if len(sub) == 0 {
		return nil, missing("scheduleResource")
	}
	typ := 0
	for t, n := range resourceTypeNames {
		if n == sub.String("objectType") {
			typ = t
		}
	}
	if typ == 0 {
		ot := sub.String("objectType")
		if ot == "" {
			ot = "KalturaScheduleResource"
		}
		return nil, abstractClass(ot)
	}
	r := &Resource{Type: typ}
	if err := decodeResource(sub, r); err != nil {
		return nil, err
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	if err := s.addResourceLocked(pt, r, now.Unix()); err != nil {
		return nil, err
	}
	return *r, nil
}

func (p *partner) resourceLocked(id int64) *Resource {
	r := p.resources[id]
	if r == nil || r.Status == ResourceDeleted {
		return nil
	}
	return r
}

func (s *Store) actionResourceGet(c kapi.Caller, p kapi.Params) (any, error) {
	id, err := idParam(p, "scheduleResourceId")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.partnerLocked(c.PartnerID).resourceLocked(id)
	if r == nil {
		return nil, invalidObjectID(id)
	}
	return *r, nil
}

func (s *Store) actionResourceUpdate(c kapi.Caller, p kapi.Params) (any, error) {
	id, err := idParam(p, "scheduleResourceId")
	if err != nil {
		return nil, err
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	r := pt.resourceLocked(id)
	if r == nil {
		return nil, invalidObjectID(id)
	}
	next := *r
	if err := decodeResource(p.Sub("scheduleResource"), &next); err != nil {
		return nil, err
	}
	if next.SystemName != r.SystemName && pt.systemNameTaken(next.SystemName, id) {
		return nil, kapi.Errorf("SYSTEM_NAME_ALREADY_EXISTS",
			fmt.Sprintf("System name [%s] already exists", next.SystemName), "SYSTEM_NAME", next.SystemName)
	}
	next.UpdatedAt = now.Unix()
	*r = next
	s.changed(pt)
	return *r, nil
}

func (s *Store) actionResourceDelete(c kapi.Caller, p kapi.Params) (any, error) {
	id, err := idParam(p, "scheduleResourceId")
	if err != nil {
		return nil, err
	}
	now := s.callerNow(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	r := pt.resourceLocked(id)
	if r == nil {
		return nil, invalidObjectID(id)
	}
	r.Status = ResourceDeleted
	r.UpdatedAt = now.Unix()
	s.changed(pt)
	return *r, nil
}

func (s *Store) actionResourceList(c kapi.Caller, p kapi.Params) (any, error) {
	f := p.Sub("filter")
	var match []func(*Resource) bool
	for _, fld := range []struct {
		name string
		get  func(*Resource) int64
	}{
		{"id", func(r *Resource) int64 { return r.ID }},
		{"parentId", func(r *Resource) int64 { return r.ParentID }},
		{"status", func(r *Resource) int64 { return int64(r.Status) }},
	} {
		get := fld.get
		if v, ok, err := f.Int(fld.name + "Equal"); err != nil {
			return nil, badParam("filter:"+fld.name+"Equal", f.String(fld.name+"Equal"))
		} else if ok {
			match = append(match, func(r *Resource) bool { return get(r) == v })
		}
		if s := f.String(fld.name + "In"); s != "" {
			set, err := intList(s)
			if err != nil {
				return nil, badParam("filter:"+fld.name+"In", s)
			}
			match = append(match, func(r *Resource) bool { return set[get(r)] })
		}
	}
	if f.Has("systemNameEqual") {
		v := f.String("systemNameEqual")
		match = append(match, func(r *Resource) bool { return r.SystemName == v })
	}
	if v := f.String("systemNameIn"); v != "" {
		set := strList(v)
		match = append(match, func(r *Resource) bool { return set[r.SystemName] })
	}
	for _, mode := range []string{"Like", "MultiLikeOr", "MultiLikeAnd"} {
		if v := f.String("tags" + mode); v != "" {
			mode := mode
			match = append(match, func(r *Resource) bool { return likeMatch(tokenSet(r.Tags), v, mode, "") })
		}
	}
	q, err := parseEventQuery(kapi.Params{"pager:pageSize": p.String("pager:pageSize"), "pager:pageIndex": p.String("pager:pageIndex")}, 0, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	ids := make([]int64, 0, len(pt.resources))
	for id, r := range pt.resources {
		if r.Status != ResourceDeleted {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	res := &ResourceListResponse{Objects: []Resource{}}
	offset := (q.pageIndex - 1) * q.pageSize
	for _, id := range ids {
		r := pt.resources[id]
		ok := true
		for _, m := range match {
			if !m(r) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if res.TotalCount >= offset && res.TotalCount < offset+q.pageSize {
			res.Objects = append(res.Objects, *r)
		}
		res.TotalCount++
	}
	return res, nil
}

// ---- schedule_scheduleeventresource: the server's way of booking a resource

// EventResource is KalturaScheduleEventResource.
type EventResource struct {
	EventID, ResourceID, PartnerID int64
	CreatedAt, UpdatedAt           int64
}

// MarshalJSON writes KalturaScheduleEventResource.
func (er EventResource) MarshalJSON() ([]byte, error) {
	var o jsonObj
	o.num("eventId", er.EventID, true)
	o.num("resourceId", er.ResourceID, true)
	o.num("partnerId", er.PartnerID, true)
	o.num("createdAt", er.CreatedAt, true)
	o.num("updatedAt", er.UpdatedAt, true)
	o.str("objectType", "KalturaScheduleEventResource")
	return o.done(), nil
}

func (s *Store) actionEventResourceAdd(c kapi.Caller, p kapi.Params) (any, error) {
	sub := p.Sub("scheduleEventResource")
	eid, err := idParam(sub, "eventId")
	if err != nil {
		return nil, err
	}
	rid, err := idParam(sub, "resourceId")
	if err != nil {
		return nil, err
	}
	now := s.callerNow(c).Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	if err := s.bookLocked(pt, eid, rid, now); err != nil {
		return nil, err
	}
	return EventResource{EventID: eid, ResourceID: rid, PartnerID: pt.id, CreatedAt: now, UpdatedAt: now}, nil
}

func (s *Store) bookLocked(pt *partner, eid, rid, now int64) error {
	e := pt.getLocked(eid)
	if e == nil {
		return invalidObjectID(eid)
	}
	if pt.resourceLocked(rid) == nil {
		return invalidObjectID(rid)
	}
	for _, id := range e.ResourceIDs {
		if id == rid {
			return nil
		}
	}
	e.ResourceIDs = append(e.ResourceIDs, rid)
	e.UpdatedAt = now
	s.changed(pt)
	return nil
}

func (s *Store) actionEventResourceList(c kapi.Caller, p kapi.Params) (any, error) {
	f := p.Sub("filter")
	evID, hasEv, err := f.Int("eventIdEqual")
	if err != nil {
		return nil, badParam("filter:eventIdEqual", f.String("eventIdEqual"))
	}
	resID, hasRes, err := f.Int("resourceIdEqual")
	if err != nil {
		return nil, badParam("filter:resourceIdEqual", f.String("resourceIdEqual"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.partnerLocked(c.PartnerID)
	var out []EventResource
	for _, e := range pt.sortedLocked("") {
		if hasEv && e.ID != evID {
			continue
		}
		for _, r := range e.ResourceIDs {
			if hasRes && r != resID {
				continue
			}
			out = append(out, EventResource{EventID: e.ID, ResourceID: r, PartnerID: pt.id, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt})
		}
	}
	return eventResourceList(out), nil
}

type eventResourceList []EventResource

// MarshalJSON writes KalturaScheduleEventResourceListResponse.
func (l eventResourceList) MarshalJSON() ([]byte, error) {
	var o jsonObj
	objs := []byte("[")
	for i, er := range l {
		if i > 0 {
			objs = append(objs, ',')
		}
		b, _ := er.MarshalJSON()
		objs = append(objs, b...)
	}
	objs = append(objs, ']')
	o.raw("objects", objs)
	o.num("totalCount", int64(len(l)), true)
	o.str("objectType", "KalturaScheduleEventResourceListResponse")
	return o.done(), nil
}
