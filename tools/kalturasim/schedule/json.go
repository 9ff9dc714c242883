package schedule

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The JSON form follows KalturaJsonSerializer: properties in class order,
// null fields dropped, objectType added.

type jsonObj struct {
	b bytes.Buffer
	n int
}

func (o *jsonObj) raw(k string, v []byte) {
	if o.n == 0 {
		o.b.WriteByte('{')
	} else {
		o.b.WriteByte(',')
	}
	o.n++
	kb, _ := json.Marshal(k)
	o.b.Write(kb)
	o.b.WriteByte(':')
	o.b.Write(v)
}

func (o *jsonObj) str(k, v string) {
	if v != "" {
		vb, _ := json.Marshal(v)
		o.raw(k, vb)
	}
}

// num writes an integer; with always it is written even when zero.
func (o *jsonObj) num(k string, v int64, always bool) {
	if v != 0 || always {
		o.raw(k, []byte(strconv.FormatInt(v, 10)))
	}
}

func (o *jsonObj) float(k string, v float64) {
	if v != 0 {
		o.raw(k, []byte(strconv.FormatFloat(v, 'f', -1, 64)))
	}
}

func (o *jsonObj) done() []byte {
	if o.n == 0 {
		o.b.WriteByte('{')
	}
	o.b.WriteByte('}')
	return o.b.Bytes()
}

func recurrenceJSON(r *Recurrence) []byte {
	var o jsonObj
	o.str("name", r.Name)
	o.str("frequency", r.Frequency)
	o.num("until", r.Until, false)
	o.str("timeZone", r.TimeZone)
	o.num("count", int64(r.Count), false)
	o.num("interval", int64(r.Interval), false)
	o.str("bySecond", r.BySecond)
	o.str("byMinute", r.ByMinute)
	o.str("byHour", r.ByHour)
	o.str("byDay", r.ByDay)
	o.str("byMonthDay", r.ByMonthDay)
	o.str("byYearDay", r.ByYearDay)
	o.str("byWeekNumber", r.ByWeekNumber)
	o.str("byMonth", r.ByMonth)
	o.str("byOffset", r.ByOffset)
	o.str("weekStartDay", r.WeekStartDay)
	o.str("objectType", "KalturaScheduleEventRecurrence")
	return o.done()
}

func eventJSON(e *Event) []byte {
	var o jsonObj
	o.num("id", e.ID, true)
	o.num("partnerId", e.PartnerID, true)
	o.num("parentId", e.ParentID, false)
	o.str("summary", e.Summary)
	o.str("description", e.Description)
	o.num("status", int64(e.Status), true)
	o.num("startDate", e.StartDate, false)
	o.num("endDate", e.EndDate, false)
	o.str("referenceId", e.ReferenceID)
	o.num("classificationType", int64(e.ClassificationType), false)
	o.float("geoLatitude", e.GeoLatitude)
	o.float("geoLongitude", e.GeoLongitude)
	o.str("location", e.Location)
	o.str("organizer", e.Organizer)
	o.str("ownerId", e.OwnerID)
	o.num("priority", int64(e.Priority), false)
	o.num("sequence", int64(e.Sequence), true)
	o.num("recurrenceType", int64(e.RecurrenceType), true)
	o.num("duration", e.Duration, false)
	o.str("contact", e.Contact)
	o.str("comment", e.Comment)
	o.str("tags", e.Tags)
	o.num("createdAt", e.CreatedAt, true)
	o.num("updatedAt", e.UpdatedAt, true)
	if e.Recurrence != nil {
		o.raw("recurrence", recurrenceJSON(e.Recurrence))
	}
	if e.LinkedTo != nil {
		var l jsonObj
		l.num("eventId", e.LinkedTo.EventID, true)
		l.num("offset", e.LinkedTo.Offset, true)
		l.str("objectType", "KalturaLinkedScheduleEvent")
		o.raw("linkedTo", l.done())
	}
	if isEntryEvent(e.Type) {
		o.str("templateEntryId", e.TemplateEntryID)
		o.str("entryIds", e.EntryIDs)
		o.str("categoryIds", e.CategoryIDs)
	}
	o.str("resourceIds", joinInts(e.ResourceIDs))
	o.str("objectType", ObjectTypeOf(e.Type))
	return o.done()
}

// MarshalJSON writes the event as the API's KalturaScheduleEvent subclass.
func (v EventView) MarshalJSON() ([]byte, error) { return eventJSON(&v.Event), nil }

// MarshalJSON writes KalturaScheduleEventListResponse.
func (r *ListResponse) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"objects":[`)
	for i := range r.Objects {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(eventJSON(&r.Objects[i].Event))
	}
	b.WriteString(`],"totalCount":`)
	b.WriteString(strconv.Itoa(r.TotalCount))
	b.WriteString(`,"objectType":"KalturaScheduleEventListResponse"}`)
	return b.Bytes(), nil
}

// MarshalJSON writes the single event.
func (r *EventResponse) MarshalJSON() ([]byte, error) { return eventJSON(&r.Event), nil }

func resourceJSON(r *Resource) []byte {
	var o jsonObj
	o.num("id", r.ID, true)
	o.num("parentId", r.ParentID, false)
	o.num("partnerId", r.PartnerID, true)
	o.str("name", r.Name)
	o.str("systemName", r.SystemName)
	o.str("description", r.Description)
	o.num("status", int64(r.Status), true)
	o.str("tags", r.Tags)
	o.num("createdAt", r.CreatedAt, true)
	o.num("updatedAt", r.UpdatedAt, true)
	name, ok := resourceTypeNames[r.Type]
	if !ok {
		name = "KalturaScheduleResource"
	}
	o.str("objectType", name)
	return o.done()
}

// MarshalJSON writes the resource as the API's KalturaScheduleResource subclass.
func (r Resource) MarshalJSON() ([]byte, error) { return resourceJSON(&r), nil }

// ResourceListResponse is KalturaScheduleResourceListResponse.
type ResourceListResponse struct {
	Objects    []Resource
	TotalCount int
}

// MarshalJSON writes KalturaScheduleResourceListResponse.
func (r *ResourceListResponse) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"objects":[`)
	for i := range r.Objects {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(resourceJSON(&r.Objects[i]))
	}
	b.WriteString(`],"totalCount":`)
	b.WriteString(strconv.Itoa(r.TotalCount))
	b.WriteString(`,"objectType":"KalturaScheduleResourceListResponse"}`)
	return b.Bytes(), nil
}
