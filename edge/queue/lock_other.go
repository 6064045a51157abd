//go:build !unix

package queue

import (
	"os"
	"path/filepath"
)

// lockDir only creates the lock file where flock is not available: the
// agent runs on Linux, other systems are for development.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
}
