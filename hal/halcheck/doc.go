// Package halcheck holds the conformance checks of the hal contracts:
// CheckLED, CheckButton, CheckDisplay, CheckConsole, CheckCaptureSource,
// CheckAudioSource and CheckAudioCodec.
// The fakes of hal/haltest pass them in CI and the board's drivers pass
// them on a real Pi (capturebox board selftest), so the checks carry no
// fake and may be linked into the firmware binary; haltest may not.
package halcheck
