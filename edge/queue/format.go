package queue

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// A segment file is a sequence of frames:
//
//	magic   [4]byte  0xC7 0x51 0x9E 0x0B
//	length  uint32   little endian: bytes after this 12-byte prefix
//	crc     uint32   little endian: CRC-32C of the length field and those bytes
//	kind    byte     kindDict or kindData
//	flags   byte     flagThinned on a dict frame
//	first   uvarint  sequence number of the first record (data frames)
//	span    uvarint  last - first
//	count   uvarint  records in the frame
//	rawLen  uvarint  length of the decompressed body
//	body             dict: the raw dictionary; data: a flate stream of records
//	                 compressed with the segment's dictionary
//
// A segment starts with two copies of its dictionary frame, so one damaged
// copy does not cost the segment. A record in a data body is
//
//	delta   uvarint  seq minus the previous record's seq (0 for the first:
//	                 its seq is first)
//	topic   uvarint length, bytes
//	payload uvarint length, bytes
//	series  uvarint length, bytes
//	time    varint   Unix nanoseconds, 0 for the zero time
//
// The magic lets recovery find the next frame after damage; the CRC decides
// whether a candidate is one.
var magic = [4]byte{0xC7, 0x51, 0x9E, 0x0B}

const (
	prefixLen = 12

	kindDict byte = 1
	kindData byte = 2

	// flagThinned marks a segment rewritten by thinning, so it is not
	// thinned again.
	flagThinned byte = 1

	// compressLevel: compress/flate's BestSpeed (1) ignores a preset
	// dictionary, level 2 uses it at about the same speed. With the
	// dictionary a lone 290-byte telemetry record, the usual block on a
	// quiet edge, shrinks to about 41 bytes instead of 197.
	compressLevel = 2

	// dictMax bounds a segment dictionary: the most recent records the
	// writer saw. 4 KiB gets within 3% of 16 KiB and costs half the time
	// per block.
	dictMax = 4 << 10

	// blockRaw is the raw size at which buffered records are written as a
	// block without waiting for the group commit: it bounds memory on both
	// sides.
	blockRaw = 256 << 10

	// maxRaw and maxFrame are what a reader accepts; anything larger is
	// damage.
	maxRaw   = blockRaw + MaxMessageBytes + 64
	maxFrame = maxRaw + maxRaw/8 + 256

	// minRecord is the smallest encoded record: five empty fields.
	minRecord = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadBlock = errors.New("undecodable block")

// header is a parsed, CRC-checked frame. body aliases the read buffer.
type header struct {
	kind, flags byte
	first, last uint64
	count       uint64
	rawLen      int
	size        int64 // whole frame, prefix included
	body        []byte
}

// frameLen reads the prefix at the start of b: the whole frame's length, or
// 0 if b does not start with a plausible frame.
func frameLen(b []byte) int {
	if len(b) < prefixLen || !bytes.Equal(b[:4], magic[:]) {
		return 0
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if n < 6 || n > maxFrame {
		return 0
	}
	return prefixLen + int(n)
}

// parseFrame checks the frame that fills b exactly (b must be frameLen(b)
// long). ok is false for anything a writer could not have produced.
func parseFrame(b []byte) (h header, ok bool) {
	crc := crc32.Update(crc32.Checksum(b[4:8], castagnoli), castagnoli, b[prefixLen:])
	if crc != binary.LittleEndian.Uint32(b[8:12]) {
		return h, false
	}
	p := b[prefixLen:]
	h.kind, h.flags = p[0], p[1]
	p = p[2:]
	var v [4]uint64
	for i := range v {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return h, false
		}
		v[i], p = x, p[n:]
	}
	first, span, count, rawLen := v[0], v[1], v[2], v[3]
	h.size, h.body = int64(len(b)), p
	switch h.kind {
	case kindDict:
		if first != 0 || span != 0 || count != 0 || rawLen > dictMax || rawLen != uint64(len(p)) {
			return h, false
		}
	case kindData:
		if first == 0 || count == 0 || span < count-1 || first+span < first ||
			rawLen > maxRaw || rawLen < count*minRecord {
			return h, false
		}
	default:
		return h, false
	}
	h.first, h.last, h.count, h.rawLen = first, first+span, count, int(rawLen)
	return h, true
}

// appendFrame frames body (written by fill) after dst.
func appendFrame(dst []byte, kind, flags byte, first, last, count uint64, rawLen int, fill func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, magic[:]...)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kind, flags)
	var span uint64
	if count > 0 {
		span = last - first
	}
	dst = binary.AppendUvarint(dst, first)
	dst = binary.AppendUvarint(dst, span)
	dst = binary.AppendUvarint(dst, count)
	dst = binary.AppendUvarint(dst, uint64(rawLen))
	dst = fill(dst)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[4:8], uint32(len(f)-prefixLen))
	crc := crc32.Update(crc32.Checksum(f[4:8], castagnoli), castagnoli, f[prefixLen:])
	binary.LittleEndian.PutUint32(f[8:12], crc)
	return dst
}

// appendDictFrames writes the two copies of a segment's dictionary.
func appendDictFrames(dst []byte, flags byte, dict []byte) []byte {
	for range 2 {
		dst = appendFrame(dst, kindDict, flags, 0, 0, 0, len(dict), func(b []byte) []byte { return append(b, dict...) })
	}
	return dst
}

// sliceWriter lets flate append to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// encoder compresses data frames with one segment's dictionary.
type encoder struct {
	zw *flate.Writer
	sw sliceWriter
}

func newEncoder(dict []byte) *encoder {
	e := &encoder{}
	e.zw, _ = flate.NewWriterDict(&e.sw, compressLevel, dict) // the level is valid
	return e
}

// appendData frames raw, count records from first to last, after dst.
func (e *encoder) appendData(dst []byte, first, last, count uint64, raw []byte) []byte {
	return appendFrame(dst, kindData, 0, first, last, count, len(raw), func(b []byte) []byte {
		e.sw.b = b
		e.zw.Reset(&e.sw) // keeps the dictionary
		e.zw.Write(raw)   // sliceWriter never fails
		e.zw.Close()
		b, e.sw.b = e.sw.b, nil
		return b
	})
}

// decoder decompresses data frames; its buffers are reused.
type decoder struct {
	zr  io.ReadCloser
	br  bytes.Reader
	raw []byte
}

// decode returns the records of h, checked to be well formed. The result is
// valid until the next call.
func (d *decoder) decode(h header, dict []byte) ([]byte, error) {
	d.br.Reset(h.body)
	if d.zr == nil {
		d.zr = flate.NewReaderDict(&d.br, dict)
	} else if err := d.zr.(flate.Resetter).Reset(&d.br, dict); err != nil {
		return nil, err
	}
	if cap(d.raw) < h.rawLen {
		d.raw = make([]byte, h.rawLen)
	}
	raw := d.raw[:h.rawLen]
	if _, err := io.ReadFull(d.zr, raw); err != nil {
		return nil, errBadBlock
	}
	var one [1]byte
	if n, _ := d.zr.Read(one[:]); n != 0 {
		return nil, errBadBlock
	}
	if !validBlock(raw, h) {
		return nil, errBadBlock
	}
	return raw, nil
}

// record is one decoded record; its slices alias the block.
type record struct {
	seq                    uint64
	topic, payload, series []byte
	ts                     int64
}

// appendRecord encodes m after dst.
func appendRecord(dst []byte, delta uint64, m *Message) []byte {
	dst = binary.AppendUvarint(dst, delta)
	dst = binary.AppendUvarint(dst, uint64(len(m.Topic)))
	dst = append(dst, m.Topic...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Payload)))
	dst = append(dst, m.Payload...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Series)))
	dst = append(dst, m.Series...)
	var ts int64
	if !m.Time.IsZero() {
		ts = m.Time.UnixNano()
	}
	return binary.AppendVarint(dst, ts)
}

// appendRawRecord re-encodes r after dst with a new delta (thinning).
func appendRawRecord(dst []byte, delta uint64, r *record) []byte {
	dst = binary.AppendUvarint(dst, delta)
	for _, f := range [][]byte{r.topic, r.payload, r.series} {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return binary.AppendVarint(dst, r.ts)
}

// parseRecord decodes the record at the start of b and returns its length,
// or 0 if it is malformed. r.seq holds the delta.
func parseRecord(b []byte) (r record, n int) {
	d, k := binary.Uvarint(b)
	if k <= 0 {
		return r, 0
	}
	r.seq, n = d, k
	for _, f := range []*[]byte{&r.topic, &r.payload, &r.series} {
		l, k := binary.Uvarint(b[n:])
		if k <= 0 || l > uint64(len(b)-n-k) {
			return r, 0
		}
		n += k
		*f = b[n : n+int(l) : n+int(l)]
		n += int(l)
	}
	ts, k := binary.Varint(b[n:])
	if k <= 0 {
		return r, 0
	}
	r.ts = ts
	return r, n + k
}

// validBlock reports whether raw holds exactly h.count records with
// increasing sequence numbers from h.first to h.last.
func validBlock(raw []byte, h header) bool {
	seq := h.first
	for i := uint64(0); i < h.count; i++ {
		r, n := parseRecord(raw)
		if n == 0 || (i == 0) != (r.seq == 0) || seq+r.seq < seq {
			return false
		}
		seq += r.seq
		raw = raw[n:]
	}
	return len(raw) == 0 && seq == h.last
}

// recordSize is the raw size of m in a block, an upper bound of what it
// costs on disk.
func recordSize(m *Message) int {
	return len(m.Topic) + len(m.Payload) + len(m.Series) + 4*binary.MaxVarintLen64
}
