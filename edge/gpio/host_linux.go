//go:build linux

package gpio

import (
	"fmt"
	"sync"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

var initOnce = sync.OnceValue(func() error {
	_, err := host.Init()
	return err
})

// OpenPin returns the host's pin called name ("GPIO17", "17" or a board
// name such as "P1_11"), loading the host drivers (on a Raspberry Pi the
// GPIO character device) on first use; "sim:NAME" is Sim(NAME).
func OpenPin(name string) (pgpio.PinIO, error) {
	if IsSimName(name) {
		return openSim(name)
	}
	if err := initOnce(); err != nil {
		return nil, fmt.Errorf("gpio: host drivers: %w", err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("gpio: no pin %q on this host", name)
	}
	return p, nil
}
