// Package scanner reads parcel barcode scanners at a warehouse's sorting
// stations and delivers each code read as a Scan on a channel.
//
// Three kinds of scanner are read, each by a Reader whose Run reopens its
// device or connection with backoff until its context ends:
//
//   - Serial: a line scanner on an RS-232 port or a USB-CDC device
//     (/dev/ttyUSB0, /dev/ttyACM0), set to raw mode.
//   - TCP: a fixed-mount scanner that serves its codes over TCP; the reader
//     is the client and reconnects.
//   - HID: a USB keyboard-wedge scanner read through Linux evdev
//     (/dev/input/eventN), grabbed exclusively; key events are decoded with
//     the US layout by EvdevDecoder, which works over any io.Reader of raw
//     events and so is tested without a device.
//
// All three share one line protocol (ReadLines): a code per line, ended by
// CR, LF or CRLF (Enter for HID). A line longer than Options.MaxLen (128)
// characters or holding a control character is noise: counted, never
// delivered, and the reader resynchronises at the next line end. A leading
// AIM symbology identifier ("]C1") is removed when Options.StripAIM is set.
//
// Dedup turns the same code read again by a source within a window
// (2 s by default) into one scan, counted as a repeat. Counters, shared by
// the readers and the de-duplicator of a station, keep scans, repeats,
// noise and errors per source for the agent's metrics.
//
// Platform code (termios, EVIOCGRAB) is Linux-only; elsewhere OpenSerial
// and OpenEvdev return errors.ErrUnsupported and everything else works.
package scanner
