package scanner

import (
	"context"
	"io"
)

// DefaultBaud is the line speed of most RS-232 barcode scanners out of the
// box. USB-CDC scanners ignore it.
const DefaultBaud = 9600

// Serial reads a line scanner on a serial port or a USB-CDC device
// (/dev/ttyUSB0, /dev/ttyACM0). It opens the device in raw mode, and
// reopens it with backoff after a failure, so a scanner unplugged and
// plugged in again resumes by itself.
type Serial struct {
	path string
	baud int
	opt  Options
}

var _ Reader = (*Serial)(nil)

// NewSerial returns a reader for the device at path; baud 0 means
// DefaultBaud.
func NewSerial(path string, baud int, opt Options) *Serial {
	if baud == 0 {
		baud = DefaultBaud
	}
	return &Serial{path: path, baud: baud, opt: opt.withDefaults(path)}
}

// Run opens the device and delivers scans until ctx is done; it returns
// ctx.Err().
func (s *Serial) Run(ctx context.Context, out chan<- Scan) error {
	return runReopening(ctx, s.opt, func(context.Context) (io.ReadCloser, error) {
		return OpenSerial(s.path, s.baud)
	}, nil, out)
}

// Stats returns this reader's counters.
func (s *Serial) Stats() Stats { return s.opt.Counters.Source(s.opt.Source) }
