// Package imagevm holds the VM lab test of the SD card image that the
// Buildroot tree (buildroot/) describes: the card's layout, boot partition
// and overlay built by genimage, booted by Debian's arm64 kernel under qemu
// with Debian's static busybox standing in for Buildroot's userland. It has
// no code of its own; see imagevm_test.go.
package imagevm
