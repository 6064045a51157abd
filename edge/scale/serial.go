package scale

import (
	"errors"
	"fmt"
	"os"
)

// Line is a serial line's settings. Chinese indicators leave the factory at
// 9600 8N1 (some at 1200 or 2400); Mettler-Toledo terminals often at 9600
// 7E1.
type Line struct {
	Baud     int    `yaml:"baud"`      // 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200
	DataBits int    `yaml:"data_bits"` // 7 or 8
	Parity   string `yaml:"parity"`    // "none", "even" or "odd"
}

// DefaultLine is 9600 baud, 8 data bits, no parity.
func DefaultLine() Line { return Line{Baud: 9600, DataBits: 8, Parity: "none"} }

// ErrUnsupported is returned by OpenSerial and SetRaw where this package
// cannot set up a tty.
var ErrUnsupported = errors.New("scale: serial setup not supported on this platform")

// Validate reports every bad field of the line settings.
func (l Line) Validate() error {
	var errs []error
	if _, ok := baudCodes[l.Baud]; !ok {
		errs = append(errs, fmt.Errorf("scale: baud %d must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200", l.Baud))
	}
	if l.DataBits != 7 && l.DataBits != 8 {
		errs = append(errs, fmt.Errorf("scale: data_bits %d must be 7 or 8", l.DataBits))
	}
	switch l.Parity {
	case "none", "even", "odd":
	default:
		errs = append(errs, fmt.Errorf("scale: parity %q must be none, even or odd", l.Parity))
	}
	return errors.Join(errs...)
}

// OpenSerial opens a serial port (/dev/ttyUSB0, /dev/ttyAMA0) for reading
// and sets it up with SetRaw. Closing the file stops a Reader's Run.
func OpenSerial(path string, l Line) (*os.File, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	f, err := openTTY(path)
	if err != nil {
		return nil, fmt.Errorf("scale: open %s: %w", path, err)
	}
	if err := SetRaw(f, l); err != nil {
		f.Close()
		return nil, fmt.Errorf("scale: %s: %w", path, err)
	}
	return f, nil
}
