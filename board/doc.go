// Package board drives the capture box's Raspberry Pi hardware through the
// hal contracts: the recording LED and the status button on GPIO lines
// (periph.io, the Linux GPIO character device), the optional serial
// character display (SparkFun SerLCD / HD44780 command set or plain lines)
// and the field-service console on a serial port (tarm/serial).
//
// The logic that does not need hardware is kept apart from it and tested
// on any machine: the button's debounce and long-press detection is a pure
// state machine over level changes and times (Debouncer); the LED blinks,
// the display renders, scrolls and paces its writes over periph's pin
// interfaces and an io.Writer. Open, which finds the GPIO chip and the
// serial ports, works on Linux only; elsewhere it returns an error that
// says so.
package board
