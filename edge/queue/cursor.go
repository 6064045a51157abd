package queue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The cursor file of a class holds the seq through which every record is
// acknowledged. It is overwritten in place, alternating between two slots
// a page apart, each with a generation and a CRC: a torn write spoils at
// most the slot being written and the other still holds the previous
// cursor. Unlike a temporary file renamed over the old one, this costs the
// SD card one page write per update and no directory or inode change.
const (
	cursorName = "cursor"
	slotSize   = 24
	slotGap    = 4096
)

var cursorMagic = [4]byte{'C', 'L', 'Q', 'C'}

type cursorFile struct {
	f   *os.File
	gen uint64
}

// openCursor opens or creates the cursor file in dir and returns the last
// cursor written, 0 if none is readable.
func openCursor(dir string) (*cursorFile, uint64, error) {
	path := filepath.Join(dir, cursorName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			err = syncDir(dir)
		}
		if err != nil {
			return nil, 0, err
		}
		return &cursorFile{f: f}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	c := &cursorFile{f: f}
	var cur uint64
	for i := range 2 {
		var b [slotSize]byte
		if _, err := f.ReadAt(b[:], int64(i*slotGap)); err != nil && err != io.EOF {
			f.Close()
			return nil, 0, err
		}
		if [4]byte(b[:4]) != cursorMagic || crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:]) {
			continue
		}
		if gen := binary.LittleEndian.Uint64(b[4:]); gen >= c.gen {
			c.gen, cur = gen, binary.LittleEndian.Uint64(b[12:])
		}
	}
	return c, cur, nil
}

// write makes seq the durable cursor.
func (c *cursorFile) write(seq uint64) error {
	var b [slotSize]byte
	copy(b[:], cursorMagic[:])
	binary.LittleEndian.PutUint64(b[4:], c.gen+1)
	binary.LittleEndian.PutUint64(b[12:], seq)
	binary.LittleEndian.PutUint32(b[20:], crc32.Checksum(b[:20], castagnoli))
	if _, err := c.f.WriteAt(b[:], int64((c.gen+1)%2*slotGap)); err != nil {
		return err
	}
	if err := c.f.Sync(); err != nil {
		return err
	}
	c.gen++
	return nil
}

// syncDir makes the creation, removal or renaming of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
