package kalturasim

import (
	"net/http"
	"testing"
	"time"
)

// Every reply, over a real HTTP server, carries a Date header of the
// simulator's clock (not the host's), moved by AdvanceClock: the box
// cross-checks its clock against it.
func TestDateHeaderIsTheSimulatorsTime(t *testing.T) {
	e := newEnv(t, Options{})
	for _, advance := range []time.Duration{0, 7 * time.Minute} {
		e.srv.AdvanceClock(advance)
		for _, path := range []string{"/api_v3/service/system/action/ping?format=1", "/nowhere"} {
			resp, err := http.Get(e.hs.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				t.Fatalf("%s: Date %q: %v", path, resp.Header.Get("Date"), err)
			}
			if want := e.srv.Now().Truncate(time.Second); !got.Equal(want) {
				t.Errorf("%s: Date %v, want the simulator's time %v", path, got, want)
			}
		}
	}
}
