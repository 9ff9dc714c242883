package board

// Kernel clock states (adjtimex(2)): TIME_ERROR is "not synchronised".
const timeError = 5

// staUnsync is adjtimex's STA_UNSYNC status bit.
const staUnsync = 0x0040

// clockSynced decides from adjtimex's return value and status bits whether
// the kernel's clock has been synchronised (by NTP or chrony), as
// timedatectl's "System clock synchronized" does.
func clockSynced(state int, status int32) bool {
	return state != timeError && status&staUnsync == 0
}
