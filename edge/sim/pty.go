package sim

import (
	"os"
	"syscall"

	"github.com/creack/pty"
)

// OpenPTY returns the two sides of a new pseudo-terminal: a real serial
// line without baud timing. The simulator takes the master (an RTUServer,
// a scale's stream), the code under test opens the slave by its name, as
// it would /dev/ttyUSB0.
//
// pty.Open leaves the master in blocking mode (it asked for the
// descriptor), where Close cannot end a pending Read; the master returned
// is a non-blocking duplicate, which goes through the runtime's poller,
// where it can.
func OpenPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := syscall.Dup(int(m.Fd()))
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), m.Name()), s, nil
}
