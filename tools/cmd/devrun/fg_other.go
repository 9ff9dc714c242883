//go:build !linux

package main

// foreground does nothing where devrun cannot manage the terminal.
func foreground() (restore func()) { return func() {} }
