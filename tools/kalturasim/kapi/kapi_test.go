package kapi

import "testing"

func TestParams(t *testing.T) {
	p := Params{"filter:idEqual": "5", "filter:objectType": "X", "ks": "k", "resume": "true", "bad": "x1", "name__null": "1"}
	sub := p.Sub("filter")
	if len(sub) != 2 || sub.String("idEqual") != "5" || sub.String("objectType") != "X" {
		t.Fatalf("Sub: %v", sub)
	}
	if v, ok, err := sub.Int("idEqual"); v != 5 || !ok || err != nil {
		t.Fatalf("Int: %d %v %v", v, ok, err)
	}
	if _, ok, err := p.Int("bad"); !ok || err == nil {
		t.Fatal("Int accepted a non-integer")
	}
	if _, ok, _ := p.Int("missing"); ok {
		t.Fatal("Int of a missing key")
	}
	if !p.Bool("resume", false) || p.Bool("missing", false) || !p.Bool("missing", true) {
		t.Fatal("Bool")
	}
	if !p.IsNull("name") || p.Has("name") || p.IsNull("ks") {
		t.Fatal("IsNull")
	}
	e := Errorf("CODE", "msg", "A", "1", "B", "2")
	if e.Error() != "CODE: msg" || len(e.Args) != 2 || e.Args[1] != (Arg{"B", "2"}) {
		t.Fatalf("Errorf: %+v", e)
	}
	if !(Caller{Privileges: []string{"disableentitlement"}}).HasPrivilege("disableentitlement") {
		t.Fatal("HasPrivilege")
	}
}
