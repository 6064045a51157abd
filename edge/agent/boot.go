package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// nextBoot increments and returns the boot counter kept in dir. Message ids
// are edge-boot-seq, so the counter must never repeat: the new value is
// written to a temporary file, synced and renamed over the old one before
// any message uses it.
func nextBoot(dir string) (uint64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, "boot")
	var n uint64
	if b, err := os.ReadFile(path); err == nil {
		n, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("boot counter %s is damaged (%q); remove it only if no message with this edge id can be reused: %w", path, b, err)
		}
	} else if !os.IsNotExist(err) {
		return 0, err
	}
	n++
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, err
	}
	if _, err := f.WriteString(strconv.FormatUint(n, 10) + "\n"); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}
