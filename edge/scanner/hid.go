package scanner

import (
	"context"
	"io"
)

// HID reads a USB HID keyboard-wedge scanner through Linux evdev. It grabs
// the device, so what the scanner types goes nowhere else, decodes key
// events with the US layout (EvdevDecoder) and reads lines ended by Enter
// with the same rules as a serial scanner. It reopens the device with
// backoff when it disappears.
type HID struct {
	path string
	opt  Options
}

var _ Reader = (*HID)(nil)

// NewHID returns a reader for the event device at path.
func NewHID(path string, opt Options) *HID {
	return &HID{path: path, opt: opt.withDefaults(path)}
}

// Run opens the device and delivers scans until ctx is done; it returns
// ctx.Err().
func (h *HID) Run(ctx context.Context, out chan<- Scan) error {
	return runReopening(ctx, h.opt, func(context.Context) (io.ReadCloser, error) {
		return OpenEvdev(h.path)
	}, func(r io.Reader) io.Reader { return NewEvdevDecoder(r, EventSize) }, out)
}

// Stats returns this reader's counters.
func (h *HID) Stats() Stats { return h.opt.Counters.Source(h.opt.Source) }
