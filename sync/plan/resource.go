package plan

import "slices"

// BoxResources names what a box records: events booked on its camera and,
// when the camera stands in a room (a LOCATION resource), events booked on
// the room (kaltura.md §8). An event booked on a sibling camera of the same
// room is not the box's.
type BoxResources struct {
	Camera int64
	Room   int64 // 0: the camera is in no room
}

// Owns reports whether an event whose X-KALTURA-RESOURCE-IDS are ids is
// the box's: it lists the camera or the room. A box without a camera
// resource (Camera ≤ 0, for tools) owns every event. This is the same rule
// as the server filter resourceIdsMultiLikeOr=<camera>,<room> (sync/fetch),
// checked on the box too because a CAPTURE_DEVICE session sees every event
// of the partner.
func (b BoxResources) Owns(ids []int64) bool {
	if b.Camera <= 0 {
		return true
	}
	return slices.Contains(ids, b.Camera) || (b.Room > 0 && slices.Contains(ids, b.Room))
}
