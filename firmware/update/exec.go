package update

import (
	"context"
	"os/exec"
)

// ExecRunner runs programs as processes.
type ExecRunner struct{}

// Run runs name with args and returns its combined output.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return out, err
}
