//go:build dev

package main

import (
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/console"
	"github.com/capturebox/capturebox/firmware/termdev"
)

// The development build (go build -tags dev) carries the development box.
func init() {
	devBox = func(e env, cfg *config.Config) (firmware.Devices, []console.Command, func()) {
		cols, rows := cfg.Hardware.DisplayDims()
		b := termdev.NewBox(e.stdin, e.stdout, cols, rows)
		return b.Devices, b.Commands, b.Close
	}
}
