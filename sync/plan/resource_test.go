package plan

import "testing"

func TestBoxResourcesOwns(t *testing.T) {
	const cam, sibling, room, other = 58, 59, 12, 70
	tests := []struct {
		box  BoxResources
		ids  []int64
		want bool
	}{
		{BoxResources{cam, room}, []int64{cam}, true},
		{BoxResources{cam, room}, []int64{room}, true},
		{BoxResources{cam, room}, []int64{sibling, room}, true},
		{BoxResources{cam, room}, []int64{sibling}, false},
		{BoxResources{cam, room}, []int64{other}, false},
		{BoxResources{cam, room}, nil, false},
		{BoxResources{cam, 0}, []int64{room}, false},
		{BoxResources{cam, 0}, []int64{cam, sibling}, true},
		{BoxResources{0, 0}, []int64{other}, true}, // tools: every event
	}
	for _, tc := range tests {
		if got := tc.box.Owns(tc.ids); got != tc.want {
			t.Errorf("%+v.Owns(%v) = %v, want %v", tc.box, tc.ids, got, tc.want)
		}
	}
}
