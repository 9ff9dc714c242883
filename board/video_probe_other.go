//go:build !linux

package board

// ProbeVideo finds no V4L2 devices outside Linux.
func ProbeVideo() ([]VideoDevice, error) { return nil, nil }
