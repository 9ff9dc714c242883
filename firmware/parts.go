package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"

	"github.com/google/renameio/v2"

	"github.com/capturebox/capturebox/firmware/controller"
)

// stateFile keeps the controller's state as JSON, written atomically.
type stateFile struct{ path string }

func (s *stateFile) Load() (controller.State, error) {
	st := controller.NewState()
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		// A torn or corrupt state must not stop the box: keep it aside.
		_ = os.Rename(s.path, s.path+".bad")
		return controller.NewState(), nil
	}
	if st.Running == nil {
		st.Running = map[string]controller.Rec{}
	}
	if st.Stopped == nil {
		st.Stopped = map[string]bool{}
	}
	if st.Parts == nil {
		st.Parts = map[string]int{}
	}
	return st, nil
}

func (s *stateFile) Save(st controller.State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return renameio.WriteFile(s.path, data, 0o644)
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed>>32)^0x9e3779b97f4a7c15))
}
