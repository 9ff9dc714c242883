// Package conformance runs the official Kaltura Node client
// (kaltura-client 21.20.0, installed by install.sh into node_modules/)
// against the simulator: conformance.js does the device flow with the
// client's own encoding, and conformance_test.go starts the simulator on a
// loopback port and runs it.
package conformance
