//go:build linux || darwin || freebsd

package capture

import "syscall"

// freeSpace is the space available to an unprivileged user in dir.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
