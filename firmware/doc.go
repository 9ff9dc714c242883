// Package firmware is the capture box's composition root: Run wires the
// devices (package hal), the schedule sync (sync/...), the capture pipeline
// (capture) and the upload queue (upload) under a supervisor, and drives them
// with the controller state machine (firmware/controller). The main package,
// firmware/cmd/capturebox, parses flags, opens the board and calls Run; the
// full-flow tests call Run with HAL fakes.
package firmware
