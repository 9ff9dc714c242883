package kalturasim

import (
	"encoding/json"
	"testing"
	"time"
)

// beacon_beacon.add as the real server validates it, from a capture
// device's session; the state document of a device is replaced by each
// add, a log document kept only with shouldLog; beacon.list filters them.
func TestBeaconAddAndList(t *testing.T) {
	e := newEnv(t, Options{})
	ks := e.deviceSession(e.deviceToken("box1"))
	add := func(p map[string]string) any {
		q := map[string]string{"ks": ks}
		for k, v := range p {
			q[k] = v
		}
		return e.call("beacon_beacon", "add", q)
	}
	good := map[string]string{"beacon:objectType": "KalturaBeacon", "beacon:relatedObjectType": "1", "beacon:eventType": "status",
		"beacon:objectId": "42", "beacon:privateData:RecordingData:recordingPhase": "idle", "beacon:privateData:Errors:APP_STATUS": "OK"}
	for name, tc := range map[string]struct {
		drop, set, want, prop string
	}{
		"no event type":      {drop: "beacon:eventType", want: CodePropertyCannotBeNull, prop: "KalturaBeacon::eventType"},
		"no object id":       {drop: "beacon:objectId", want: CodePropertyCannotBeNull, prop: "KalturaBeacon::objectId"},
		"no related type":    {drop: "beacon:relatedObjectType", want: CodePropertyCannotBeNull, prop: "KalturaBeacon::relatedObjectType"},
		"unknown type":       {set: "beacon:relatedObjectType=9", want: CodeInvalidEnumValue},
		"read-only id":       {set: "beacon:id=x", want: CodePropertyNotUpdatable, prop: "KalturaBeacon::id"},
		"read-only updateAt": {set: "beacon:updatedAt=5", want: CodePropertyNotUpdatable, prop: "KalturaBeacon::updatedAt"},
		"bad shouldLog":      {set: "shouldLog=yes", want: CodeInvalidEnumValue},
	} {
		p := map[string]string{}
		for k, v := range good {
			if k != tc.drop {
				p[k] = v
			}
		}
		if tc.set != "" {
			k, v, _ := cut(tc.set)
			p[k] = v
		}
		got := add(p)
		if code(got) != tc.want || (tc.prop != "" && argOf(got, "PROP_NAME") != tc.prop) {
			t.Errorf("%s: %v, want %s %s", name, got, tc.want, tc.prop)
		}
	}
	if r := e.call("beacon_beacon", "add", map[string]string{"ks": ks}); code(r) != CodeMissingMandatoryParameter {
		t.Errorf("no beacon: %v", r)
	}
	if len(e.srv.Beacons(e.srv.PartnerID())) != 0 {
		t.Fatal("a refused beacon was stored")
	}

	if r := add(good); r != true {
		t.Fatalf("add: %v, want true", r)
	}
	e.srv.AdvanceClock(5 * time.Minute)
	good["beacon:privateData:RecordingData:recordingPhase"] = "recording"
	good["shouldLog"] = "1"
	if r := add(good); r != true {
		t.Fatalf("add: %v, want true", r)
	}
	docs := e.srv.Beacons(e.srv.PartnerID())
	if len(docs) != 2 || docs[0].IsLog || !docs[1].IsLog || docs[0].IndexType != "scheduled_resource_beacon" {
		t.Fatalf("stored %+v, want the state document and one log document", docs)
	}
	var pd map[string]map[string]string
	if err := json.Unmarshal([]byte(docs[0].PrivateData), &pd); err != nil || pd["RecordingData"]["recordingPhase"] != "recording" || pd["Errors"]["APP_STATUS"] != "OK" {
		t.Errorf("private data %s (%v), want the last add's nested fields", docs[0].PrivateData, err)
	}
	if docs[0].UpdatedAt != e.srv.Now().Unix() {
		t.Errorf("updatedAt %d, want the server's time of the last add %d", docs[0].UpdatedAt, e.srv.Now().Unix())
	}

	l := e.ok("beacon_beacon", "list", map[string]string{"ks": ks, "filter:objectType": "KalturaBeaconFilter",
		"filter:relatedObjectTypeIn": "1", "filter:objectIdIn": "42", "filter:eventTypeIn": "STATUS"})
	objs, _ := l["objects"].([]any)
	if l["objectType"] != "KalturaBeaconListResponse" || num(l["totalCount"]) != 1 || len(objs) != 1 {
		t.Fatalf("list: %v, want the device's state", l)
	}
	b := objs[0].(map[string]any)
	if b["objectType"] != "KalturaBeacon" || str(b["objectId"]) != "42" || str(b["relatedObjectType"]) != "1" || str(b["id"]) != docs[0].ID {
		t.Errorf("listed %v", b)
	}
	if l := e.ok("beacon_beacon", "list", map[string]string{"ks": ks, "filter:objectIdIn": "43"}); num(l["totalCount"]) != 0 {
		t.Errorf("list of another object: %v", l)
	}
}

func cut(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
