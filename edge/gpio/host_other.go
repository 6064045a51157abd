//go:build !linux

package gpio

import (
	"errors"

	pgpio "periph.io/x/conn/v3/gpio"
)

// OpenPin is only available on Linux, where the edge boxes run; here it
// opens simulated pins ("sim:NAME" is Sim(NAME)) only.
func OpenPin(name string) (pgpio.PinIO, error) {
	if IsSimName(name) {
		return openSim(name)
	}
	return nil, errors.New("gpio: pins are available on Linux only")
}
