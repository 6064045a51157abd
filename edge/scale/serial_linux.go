//go:build linux && (386 || amd64 || arm || arm64 || riscv64 || loong64)

package scale

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// Termios values from the kernel's asm-generic/termbits.h and ioctls.h,
// which the architectures in this file's build line share. The syscall
// package exports them on some architectures only.
const (
	tcgets = 0x5401
	tcsets = 0x5402

	// c_iflag
	ignbrk = 0x001
	brkint = 0x002
	parmrk = 0x008
	istrip = 0x020
	inlcr  = 0x040
	igncr  = 0x080
	icrnl  = 0x100
	ixon   = 0x400
	ixoff  = 0x1000
	// c_oflag
	opost = 0x1
	// c_lflag
	isig   = 0x1
	icanon = 0x2
	echo   = 0x8
	echonl = 0x40
	iexten = 0x8000
	// c_cflag
	cbaud   = 0x100f
	csize   = 0x30
	cs7     = 0x20
	cs8     = 0x30
	cstopb  = 0x40
	cread   = 0x80
	parenb  = 0x100
	parodd  = 0x200
	clocal  = 0x800
	crtscts = 0x80000000
	// c_cc indexes
	vtime = 5
	vmin  = 6
)

var baudCodes = map[int]uint32{
	1200: 0x9, 2400: 0xb, 4800: 0xc, 9600: 0xd, 19200: 0xe, 38400: 0xf,
	57600: 0x1001, 115200: 0x1002,
}

// openTTY opens without becoming the controlling terminal. os.OpenFile
// registers a tty with the runtime poller, so deadlines and Close wake a
// blocked Read.
func openTTY(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
}

// SetRaw puts a tty in raw mode with the line's speed and framing: no echo,
// no line editing, no CR/LF translation, no XON/XOFF, no signals, every
// byte delivered as it comes. A pseudo-terminal takes the settings and
// ignores the speed.
func SetRaw(f *os.File, l Line) error {
	if err := l.Validate(); err != nil {
		return err
	}
	// SyscallConn, not Fd: Fd would put the file in blocking mode and
	// lose the deadlines.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		var t syscall.Termios
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, tcgets, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = fmt.Errorf("get termios: %w", e)
			return
		}
		t.Iflag &^= ignbrk | brkint | parmrk | istrip | inlcr | igncr | icrnl | ixon | ixoff
		t.Oflag &^= opost
		t.Lflag &^= echo | echonl | icanon | isig | iexten
		t.Cflag &^= cbaud | csize | cstopb | parenb | parodd | crtscts
		t.Cflag |= baudCodes[l.Baud] | cread | clocal
		if l.DataBits == 7 {
			t.Cflag |= cs7
		} else {
			t.Cflag |= cs8
		}
		switch l.Parity {
		case "even":
			t.Cflag |= parenb
		case "odd":
			t.Cflag |= parenb | parodd
		}
		t.Cc[vmin], t.Cc[vtime] = 1, 0
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, tcsets, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = fmt.Errorf("set termios: %w", e)
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
