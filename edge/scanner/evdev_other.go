//go:build !linux

package scanner

import (
	"errors"
	"fmt"
	"os"
)

// OpenEvdev is implemented on Linux only, where the edge agent runs.
func OpenEvdev(path string) (*os.File, error) {
	return nil, fmt.Errorf("evdev %s: %w", path, errors.ErrUnsupported)
}
