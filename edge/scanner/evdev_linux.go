//go:build linux

package scanner

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// evIOCGRAB is _IOW('E', 0x90, int) from linux/input.h.
const evIOCGRAB = 0x40044590

// OpenEvdev opens an input event device (/dev/input/eventN, or better a
// stable /dev/input/by-id/...-event-kbd link) and grabs it exclusively, so
// the scanner's keystrokes reach this process and no console or other
// program. The grab ends when the file is closed.
func OpenEvdev(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("evdev: %w", err)
	}
	rc, err := f.SyscallConn() // not Fd: that would make reads blocking
	if err == nil {
		var ioErr error
		err = rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetInt(int(fd), evIOCGRAB, 1) })
		if err == nil {
			err = ioErr
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evdev %s: exclusive grab (EVIOCGRAB): %w", path, err)
	}
	return f, nil
}
