//go:build !linux

package scanner

import (
	"errors"
	"fmt"
	"os"
)

// OpenSerial is implemented on Linux only, where the edge agent runs.
func OpenSerial(path string, baud int) (*os.File, error) {
	return nil, fmt.Errorf("serial %s: %w", path, errors.ErrUnsupported)
}
