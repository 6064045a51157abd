//go:build linux

package scanner

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var baudRates = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200,
}

// OpenSerial opens a serial or USB-CDC device for reading in raw mode (no
// echo, no line editing, no CR/LF translation, 8N1, modem lines ignored)
// at the given speed. The file is in Go's poller, so Close or a read
// deadline interrupts a pending Read.
func OpenSerial(path string, baud int) (*os.File, error) {
	rate, ok := baudRates[baud]
	if !ok {
		return nil, fmt.Errorf("serial %s: unsupported speed %d baud", path, baud)
	}
	// O_NONBLOCK: opening a port without carrier must not block; Go's
	// poller does the waiting.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	if err := makeRaw(f, rate); err != nil {
		f.Close()
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	return f, nil
}

// makeRaw sets the terminal as cfmakeraw(3) does, at rate. It goes
// through SyscallConn because File.Fd would put the file in blocking mode.
func makeRaw(f *os.File, rate uint32) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = fmt.Errorf("not a terminal: %w", err)
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | rate
		t.Ispeed, t.Ospeed = rate, rate
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			ioErr = fmt.Errorf("set raw mode: %w", err)
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
