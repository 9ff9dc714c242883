package board

import "testing"

func TestClockSynced(t *testing.T) {
	cases := []struct {
		state  int
		status int32
		want   bool
	}{
		{0, 0, true},                  // TIME_OK, disciplined
		{0, staUnsync, false},         // never set by NTP
		{timeError, 0, false},         // TIME_ERROR
		{timeError, staUnsync, false}, // both
		{1, 0x2001, true},             // TIME_INS with PLL and nano bits
	}
	for _, c := range cases {
		if got := clockSynced(c.state, c.status); got != c.want {
			t.Errorf("state %d status %#x: %v, want %v", c.state, c.status, got, c.want)
		}
	}
}
