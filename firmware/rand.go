package firmware

import "math/rand/v2"

// newRand is the box's one source of jitter, seeded so tests can repeat it.
func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed>>32)^0x9e3779b97f4a7c15))
}
