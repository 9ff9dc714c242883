//go:build !(linux || darwin || freebsd)

package capture

import "errors"

// freeSpace is not implemented here; pass GuardConfig.FreeSpace.
func freeSpace(string) (int64, error) {
	return 0, errors.New("capture: free space is not known on this system")
}
