// Package vmboard proves the board's drivers on real kernel drivers, in
// the VM lab (tools/vmlab: Debian's own arm64 kernel under qemu): the
// field-service console on the PL011 UART of qemu's "virt" machine, and
// the GPIO character device of qemu's emulated Raspberry Pi 3 (raspi3b).
//
// It has no code of its own beyond its tests; they skip when the lab is
// missing, and fail instead with CAPTUREBOX_REQUIRE_VM=1 (make
// test-vm-board).
package vmboard
