package firmware

import (
	"context"
	"errors"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/syncer"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// faultingFetcher raises the "sync" fault when the schedule cannot be
// fetched for a reason a person must fix (credentials refused, a forbidden
// service, a wrong setting) and clears it when a fetch succeeds. Passing
// failures (network, Kaltura outage) are not faults: the box keeps its last
// good schedule and retries.
type faultingFetcher struct {
	inner  syncer.Fetcher
	faults *faults
}

func (f faultingFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
	l, err := f.inner.Fetch(ctx, req)
	if err == nil {
		f.faults.clear("sync")
		return l, nil
	}
	if kaltura.Classify(err) == kaltura.ClassConfig {
		text := "SYNC REFUSED"
		var ce *kaltura.ConfigError
		if errors.As(err, &ce) && ce.Setting != "" {
			text = "CHECK " + ce.Setting
		}
		f.faults.set("sync", text)
	}
	return l, err
}
