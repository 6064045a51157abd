//go:build !linux

package gpio

import (
	"errors"

	pgpio "periph.io/x/conn/v3/gpio"
)

// OpenPin is only available on Linux, where the edge boxes run.
func OpenPin(name string) (pgpio.PinIO, error) {
	return nil, errors.New("gpio: pins are available on Linux only")
}
