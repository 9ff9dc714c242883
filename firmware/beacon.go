package firmware

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// The beacon: the box reports its state to Kaltura with
// beacon_beacon.add, as a scheduled-resource beacon on its camera resource
// (kaltura.resource_id), every beaconEvery and on a change of state, never
// more than once per beaconMinGap. Kaltura's beacon plugin indexes it in
// Elasticsearch, one "state" document per resource that each beacon
// replaces; beacon.list and the scheduling UI's resource search read it
// (private_data.RecordingData.recordingPhase,
// private_data.Errors.APP_STATUS, private_data.ResourceDetails.resourceName)
// to show the device's status. A role that may not call it
// (SERVICE_FORBIDDEN: capture-device-permissions.tsv grants it to
// CAPTURE_DEVICE) ends the beacon, said once in the log. Each reply's Date
// also keeps the clock's cross-check going (clockgate.go).

const (
	beaconEvery  = 5 * time.Minute
	beaconMinGap = 30 * time.Second
	// beaconScheduleResource is KalturaBeaconObjectTypes
	// SCHEDULE_RESOURCE_BEACON.
	beaconScheduleResource = "1"
	beaconEventType        = "status"
)

// beaconState is what a beacon says: the recording phase and the faults.
type beaconState struct {
	phase  string // "recording" or "idle"
	status string // "OK", or the faults' texts
}

func (b *box) beaconState() beaconState {
	st := beaconState{phase: "idle", status: "OK"}
	if len(b.recorder.Recordings()) > 0 {
		st.phase = "recording"
	}
	var texts []string
	for _, f := range b.faults.list() {
		texts = append(texts, f.Text)
	}
	if len(texts) > 0 {
		st.status = strings.Join(texts, "; ")
	}
	return st
}

// runBeacon is the beacon subsystem; without a resource id it has nothing
// to report on and ends.
func (b *box) runBeacon(ctx context.Context) error {
	log := b.log.With("subsystem", "beacon")
	if b.cfg.Kaltura.ResourceID == 0 {
		log.Info("no kaltura.resource_id: no beacon")
		return nil
	}
	t := time.NewTicker(beaconMinGap)
	defer t.Stop()
	var last beaconState
	var sent time.Time
	for {
		st := b.beaconState()
		if sent.IsZero() || st != last || time.Since(sent) >= beaconEvery {
			err := b.sendBeacon(ctx, st)
			switch {
			case kaltura.Code(err) == kaltura.CodeServiceForbidden:
				log.Info("the device role may not send beacons (beacon_beacon.add); the box's state is not reported to Kaltura")
				return nil
			case err != nil && ctx.Err() == nil:
				// Tried again at the next change or after beaconEvery,
				// never in a loop (the network is down, the credentials
				// refused: the uploads say so).
				log.Warn("beacon not sent", "err", err)
				last, sent = st, time.Now()
			case err == nil:
				last, sent = st, time.Now()
				log.Debug("beacon sent", "phase", st.phase, "status", st.status)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sendBeacon sends one beacon of st.
func (b *box) sendBeacon(ctx context.Context, st beaconState) error {
	ctx, cancel := context.WithTimeout(ctx, beaconMinGap)
	defer cancel()
	p := url.Values{
		"beacon:objectType":                               {"KalturaBeacon"},
		"beacon:relatedObjectType":                        {beaconScheduleResource},
		"beacon:eventType":                                {beaconEventType},
		"beacon:objectId":                                 {strconv.FormatInt(b.cfg.Kaltura.ResourceID, 10)},
		"beacon:privateData:ResourceDetails:resourceName": {b.cfg.Box.Name},
		"beacon:privateData:RecordingData:recordingPhase": {st.phase},
		"beacon:privateData:Errors:APP_STATUS":            {st.status},
		"beacon:privateData:Device:version":               {Version},
		"shouldLog":                                       {"0"},
	}
	var ok bool
	if err := b.session.Call(ctx, "beacon_beacon", "add", p, &ok); err != nil {
		return fmt.Errorf("beacon: %w", err)
	}
	return nil
}
