package kalturasim

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Beacons: the beacon plugin's beacon_beacon service (add, list) as the
// server's plugins/beacon has it. beacon.add validates the KalturaBeacon
// (eventType, objectId and relatedObjectType not null, relatedObjectType
// one of KalturaBeaconObjectTypes, no read-only field set) and answers
// true; the real server then queues the document to Elasticsearch, where
// the "state" document of a (relatedObjectType, eventType, objectId) is
// replaced by each add (its id is the md5 of the three) and, with
// shouldLog, a "log" document is added too. beacon.list searches them
// (KalturaBeaconFilter). The simulator stores the documents at once: the
// real index lags by the queue, so a client must not count on reading its
// own add back at once.

// Beacon object types (KalturaBeaconObjectTypes, a dynamic enum).
const (
	BeaconScheduleResource = 1 // SCHEDULE_RESOURCE_BEACON: a capture device's resource
	BeaconEntryServerNode  = 2
	BeaconServerNode       = 3
)

// beaconIndexTypes maps a related object type to its indexType.
var beaconIndexTypes = map[int]string{
	BeaconScheduleResource: "scheduled_resource_beacon",
	BeaconEntryServerNode:  "entry_server_node_beacon",
	BeaconServerNode:       "server_node_beacon",
}

// BeaconInfo is one stored beacon document, for tests.
type BeaconInfo struct {
	ID                string
	IndexType         string
	PartnerID         int64
	RelatedObjectType int
	EventType         string
	ObjectID          string
	// PrivateData is the JSON object of the beacon's privateData ("{}"
	// when none).
	PrivateData string
	RawData     string
	UpdatedAt   int64
	IsLog       bool
}

type beaconStore struct {
	mu   sync.Mutex
	docs []*BeaconInfo // state documents replaced in place; log documents appended
	seq  int
}

func (s *Server) registerBeaconServices() {
	s.register("beacon_beacon", "add", &handler{fn: s.beaconAdd})
	s.register("beacon_beacon", "list", &handler{fn: s.beaconList})
}

// Beacons returns the stored beacon documents of a partner, oldest first.
func (s *Server) Beacons(partnerID int64) []BeaconInfo {
	s.beacons.mu.Lock()
	defer s.beacons.mu.Unlock()
	var out []BeaconInfo
	for _, d := range s.beacons.docs {
		if d.PartnerID == partnerID {
			out = append(out, *d)
		}
	}
	return out
}

func (s *Server) beaconAdd(r *call) (any, error) {
	in := r.p.Sub("beacon")
	if len(in) == 0 {
		return nil, errMissingParam("beacon")
	}
	for _, ro := range []string{"id", "indexType", "createdAt", "updatedAt"} {
		if in.Has(ro) && !in.IsNull(ro) {
			return nil, errNotUpdatable("KalturaBeacon::" + ro)
		}
	}
	for _, req := range []string{"eventType", "objectId", "relatedObjectType"} {
		if strings.TrimSpace(in.String(req)) == "" || in.IsNull(req) {
			return nil, errCannotBeNull("KalturaBeacon::" + req)
		}
	}
	rt, err := strconv.Atoi(in.String("relatedObjectType"))
	if _, ok := beaconIndexTypes[rt]; err != nil || !ok {
		return nil, errInvalidEnum(in.String("relatedObjectType"), "relatedObjectType", "KalturaBeaconObjectTypes")
	}
	shouldLog := false
	if v := r.p.String("shouldLog"); v != "" {
		switch v {
		case "-1", "0":
		case "1":
			shouldLog = true
		default:
			return nil, errInvalidEnum(v, "shouldLog", "KalturaNullableBoolean")
		}
	}
	doc := &BeaconInfo{IndexType: beaconIndexTypes[rt], PartnerID: r.caller.PartnerID, RelatedObjectType: rt,
		EventType: in.String("eventType"), ObjectID: in.String("objectId"), RawData: in.String("rawData"),
		PrivateData: privateDataJSON(in.Sub("privateData"), in.String("privateData")), UpdatedAt: r.caller.Now.Unix()}
	sum := md5.Sum([]byte(strconv.Itoa(rt) + "_" + doc.EventType + "_" + doc.ObjectID))
	doc.ID = hex.EncodeToString(sum[:])
	b := &s.beacons
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.IndexFunc(b.docs, func(d *BeaconInfo) bool { return !d.IsLog && d.ID == doc.ID && d.PartnerID == doc.PartnerID }); i >= 0 {
		b.docs[i] = doc
	} else {
		b.docs = append(b.docs, doc)
	}
	if shouldLog {
		b.seq++
		l := *doc
		l.ID, l.IsLog = "log-"+strconv.Itoa(b.seq), true
		b.docs = append(b.docs, &l)
	}
	return true, nil
}

// privateDataJSON is the privateData the server indexes: the JSON of the
// nested parameters (beacon[privateData][a][b]=v), or of a plain value.
func privateDataJSON(nested kapi.Params, plain string) string {
	if len(nested) == 0 {
		if plain == "" {
			return "{}"
		}
		b, _ := json.Marshal(plain)
		return string(b)
	}
	root := map[string]any{}
	for k, v := range nested {
		m := root
		parts := strings.Split(k, ":")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	b, _ := json.Marshal(root)
	return string(b)
}

func (s *Server) beaconList(r *call) (any, error) {
	f := r.p.Sub("filter")
	in := func(list, v string) bool { return list == "" || inList(list, v) }
	bound := func(key string, v int64, gte bool) bool {
		b, ok, _ := f.Int(key)
		return !ok || (gte && v >= b) || (!gte && v <= b)
	}
	var docs []*BeaconInfo
	s.beacons.mu.Lock()
	for _, d := range s.beacons.docs {
		if d.PartnerID != r.caller.PartnerID || d.IsLog && f.String("indexTypeEqual") == "" {
			continue
		}
		if !in(f.String("relatedObjectTypeIn"), strconv.Itoa(d.RelatedObjectType)) || !in(f.String("objectIdIn"), d.ObjectID) ||
			!in(strings.ToLower(strings.TrimSpace(f.String("eventTypeIn"))), strings.ToLower(d.EventType)) ||
			(f.String("indexTypeEqual") != "" && f.String("indexTypeEqual") != d.IndexType) ||
			!bound("updatedAtGreaterThanOrEqual", d.UpdatedAt, true) || !bound("updatedAtLessThanOrEqual", d.UpdatedAt, false) {
			continue
		}
		c := *d
		docs = append(docs, &c)
	}
	s.beacons.mu.Unlock()
	switch f.String("orderBy") {
	case "+updatedAt":
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].UpdatedAt < docs[j].UpdatedAt })
	case "-updatedAt", "":
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].UpdatedAt > docs[j].UpdatedAt })
	case "+objectId":
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].ObjectID < docs[j].ObjectID })
	case "-objectId":
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].ObjectID > docs[j].ObjectID })
	default:
		return nil, errInvalidEnum(f.String("orderBy"), "orderBy", "KalturaBeaconOrderBy")
	}
	objs := make([]any, 0, len(docs))
	for _, d := range docs {
		objs = append(objs, object("KalturaBeacon", "id", d.ID, "indexType", d.IndexType, "updatedAt", d.UpdatedAt,
			"relatedObjectType", strconv.Itoa(d.RelatedObjectType), "eventType", d.EventType, "objectId", d.ObjectID,
			"privateData", d.PrivateData, "rawData", nilIfEmpty(d.RawData)))
	}
	size, idx := pager(r.p)
	return listResponse("KalturaBeaconListResponse", page(objs, size, idx), len(objs)), nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
