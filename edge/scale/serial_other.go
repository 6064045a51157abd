//go:build !(linux && (386 || amd64 || arm || arm64 || riscv64 || loong64))

package scale

import "os"

var baudCodes = map[int]uint32{1200: 0, 2400: 0, 4800: 0, 9600: 0, 19200: 0, 38400: 0, 57600: 0, 115200: 0}

func openTTY(string) (*os.File, error) { return nil, ErrUnsupported }

// SetRaw puts a tty in raw mode with the line's speed and framing. It is
// implemented for Linux only and returns ErrUnsupported here.
func SetRaw(*os.File, Line) error { return ErrUnsupported }
