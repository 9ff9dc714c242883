package firmware

// Version is the firmware version, set at build time with
// -ldflags "-X github.com/capturebox/capturebox/firmware.Version=...".
var Version = "dev"
