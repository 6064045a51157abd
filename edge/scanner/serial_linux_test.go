//go:build linux

package scanner

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// TestSerialOverPTY reads a line scanner through a real pseudo-terminal:
// the test writes to the master as the scanner would, the reader opens the
// slave by path as it would /dev/ttyACM0.
func TestSerialOverPTY(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer tty.Close()
	defer master.Close()

	opt := quiet("station-2")
	opt.StripAIM = true
	r := NewSerial(tty.Name(), 115200, opt)
	scans := runReader(t, r)

	// Wait until the reader has put the line in raw mode: before that the
	// line discipline would echo and translate what the scanner sends.
	eventually(t, "raw mode", func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&(unix.ICANON|unix.ECHO) == 0 && tio.Iflag&unix.ICRNL == 0 &&
			tio.Cflag&unix.CBAUD == unix.B115200
	})

	master.Write([]byte("]C1SF1234567890123\r\n" +
		"JT5012345678901\r" +
		strings.Repeat("Z", 200) + "\r\n" + // too long: noise
		"YT70\x0312345678901\r\n" + // ETX inside: noise
		"571-W01-01\n"))
	want := []string{"SF1234567890123", "JT5012345678901", "571-W01-01"}
	if got := receive(t, scans, 3); !slices.Equal(got, want) {
		t.Errorf("scans %q, want %q", got, want)
	}
	eventually(t, "noise counted", func() bool { return r.Stats().Noise == 2 })

	// The scanner goes away (the master closes): the read fails, is
	// counted, and the reader keeps trying to reopen.
	master.Close()
	eventually(t, "the failure counted", func() bool { return r.Stats().Errors >= 1 })
	if st := r.Stats(); st.Scans != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpenSerialErrors(t *testing.T) {
	if _, err := OpenSerial(filepath.Join(t.TempDir(), "missing"), 9600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing device: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := OpenSerial(file, 9600); err == nil || !strings.Contains(err.Error(), "not a terminal") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := OpenSerial(file, 12345); err == nil || !strings.Contains(err.Error(), "unsupported speed") {
		t.Errorf("odd speed: %v", err)
	}
	if _, err := OpenEvdev(file); err == nil || !strings.Contains(err.Error(), "EVIOCGRAB") {
		t.Errorf("evdev on a regular file: %v", err)
	}
}
