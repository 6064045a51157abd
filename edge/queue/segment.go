package queue

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment is what the queue keeps in memory about one segment file: never
// its records.
type segment struct {
	base    uint64 // file name: no record in it has a smaller seq
	path    string
	size    int64 // bytes of whole frames; the writer appends here
	count   int64 // records held
	unacked int64 // of which not yet acknowledged
	first   uint64
	last    uint64 // seq of the last record held, base-1 when empty
	hasDict bool
	dictOff int64 // offset of a good dictionary frame
	thinned bool
	index   []mark // sparse: a data frame every indexEvery bytes
	bad     []span // damaged ranges found so far, in order
}

// mark locates a data frame so a reader can start near a seq without
// reading the segment from the start.
type mark struct {
	off   int64
	first uint64
}

type span struct{ off, end int64 }

const indexEvery = 64 << 10

func segName(base uint64) string { return fmt.Sprintf("%020d.seg", base) }

// parseSegName returns the base of a segment file name.
func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// addMark records a data frame at off in the sparse index.
func (s *segment) addMark(off int64, first uint64) {
	if n := len(s.index); n == 0 || off-s.index[n-1].off >= indexEvery {
		s.index = append(s.index, mark{off, first})
	}
}

// addRecords accounts a data frame's records.
func (s *segment) addRecords(first, last uint64, count int64) {
	if s.count == 0 {
		s.first = first
	}
	s.count += count
	s.last = last
}

// addBad records a damaged range; it reports false if it was known.
func (s *segment) addBad(b span) bool {
	i := sort.Search(len(s.bad), func(i int) bool { return s.bad[i].off >= b.off })
	if i < len(s.bad) && s.bad[i].off == b.off {
		return false
	}
	s.bad = append(s.bad, span{})
	copy(s.bad[i+1:], s.bad[i:])
	s.bad[i] = b
	return true
}

// knownBad returns the end of the known damaged range starting at off, or
// -1.
func (s *segment) knownBad(off int64) int64 {
	i := sort.Search(len(s.bad), func(i int) bool { return s.bad[i].off >= off })
	if i < len(s.bad) && s.bad[i].off == off {
		return s.bad[i].end
	}
	return -1
}

// startFor returns where to start reading for records from seq on.
func (s *segment) startFor(seq uint64) int64 {
	i := sort.Search(len(s.index), func(i int) bool { return s.index[i].first > seq })
	if i == 0 {
		return 0
	}
	return s.index[i-1].off
}

// frameReader reads a file in chunks at explicit offsets, so that a reader
// never sees bytes past the limit it was given even while the writer
// appends.
type frameReader struct {
	f   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
	n   int   // bytes of buf that are valid
}

const chunkSize = 128 << 10

func (r *frameReader) reset(f io.ReaderAt) {
	r.f, r.off, r.n = f, 0, 0
}

// at returns up to n bytes at off, fewer only at limit.
func (r *frameReader) at(off int64, n int, limit int64) ([]byte, error) {
	if off >= limit {
		return nil, nil
	}
	if int64(n) > limit-off {
		n = int(limit - off)
	}
	if off >= r.off && off+int64(n) <= r.off+int64(r.n) {
		return r.buf[off-r.off : off-r.off+int64(n)], nil
	}
	size := max(n, chunkSize)
	if int64(size) > limit-off {
		size = int(limit - off)
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	m, err := r.f.ReadAt(r.buf, off)
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		r.n = 0
		return nil, err
	}
	r.off, r.n = off, m
	return r.buf[:min(n, m)], nil
}

// frameIter walks the frames of one segment, stepping over damage. It
// returns data frames; it keeps the dictionary frame for itself.
type frameIter struct {
	fr       frameReader
	seg      *segment
	off      int64
	limit    int64
	nextBase uint64 // records must be below
	minSeq   uint64 // the next data frame must start at or above
	sawData  bool
	dict     []byte
	hasDict  bool
	thinned  bool
	dictOff  int64
	onBad    func(span) // damage not known before
}

func (it *frameIter) start(f io.ReaderAt, s *segment, nextBase uint64) {
	it.fr.reset(f)
	it.seg, it.off, it.limit, it.nextBase = s, 0, s.size, nextBase
	it.minSeq = s.base
	it.sawData, it.hasDict, it.thinned, it.dict, it.dictOff = false, false, false, it.dict[:0], -1
}

// try parses a frame at off. next is the offset after it; ok false: no
// frame there that fits this segment.
func (it *frameIter) try(off int64) (h header, ok bool, err error) {
	p, err := it.fr.at(off, prefixLen, it.limit)
	if err != nil {
		return h, false, err
	}
	n := frameLen(p)
	if n == 0 || off+int64(n) > it.limit {
		return h, false, nil
	}
	b, err := it.fr.at(off, n, it.limit)
	if err != nil {
		return h, false, err
	}
	h, ok = parseFrame(b)
	if !ok {
		return h, false, nil
	}
	if h.kind == kindData && (h.first < it.minSeq || h.last >= it.nextBase || !it.hasDict) {
		return h, false, nil
	}
	return h, true, nil
}

// resync finds the first frame after from, or the limit.
func (it *frameIter) resync(from int64) (int64, error) {
	for off := from; off < it.limit; {
		p, err := it.fr.at(off, chunkSize, it.limit)
		if err != nil {
			return 0, err
		}
		i := bytes.Index(p, magic[:])
		if i < 0 {
			if len(p) < len(magic) {
				return it.limit, nil
			}
			off += int64(len(p) - len(magic) + 1)
			continue
		}
		cand := off + int64(i)
		if _, ok, err := it.try(cand); err != nil {
			return 0, err
		} else if ok {
			return cand, nil
		}
		off = cand + 1
	}
	return it.limit, nil
}

// next returns the next data frame and its offset; ok is false at the
// limit.
func (it *frameIter) next() (h header, off int64, ok bool, err error) {
	for it.off < it.limit {
		if end := it.seg.knownBad(it.off); end > it.off {
			it.off = end
			continue
		}
		off = it.off
		h, ok, err = it.try(off)
		if err != nil {
			return h, off, false, err
		}
		if !ok {
			end, err := it.resync(off + 1)
			if err != nil {
				return h, off, false, err
			}
			if it.onBad != nil {
				it.onBad(span{off, end})
			}
			it.off = end
			continue
		}
		it.off = off + h.size
		if h.kind == kindDict {
			if !it.sawData && !it.hasDict {
				it.dict = append(it.dict[:0], h.body...)
				it.hasDict, it.thinned, it.dictOff = true, h.flags&flagThinned != 0, off
			}
			continue
		}
		it.sawData = true
		it.minSeq = h.last + 1
		return h, off, true, nil
	}
	return h, it.off, false, nil
}

// loadDict reads the dictionary of s so that reading can start in the
// middle of it.
func (it *frameIter) loadDict(f io.ReaderAt, s *segment, nextBase uint64) error {
	it.start(f, s, nextBase)
	if !s.hasDict {
		return nil
	}
	it.off = s.dictOff
	b, err := it.fr.at(s.dictOff, prefixLen, s.size)
	if err != nil {
		return err
	}
	n := frameLen(b)
	if n == 0 {
		return fmt.Errorf("segment %s: dictionary frame at %d: %w", s.path, s.dictOff, errBadBlock)
	}
	if b, err = it.fr.at(s.dictOff, n, s.size); err != nil {
		return err
	}
	h, ok := parseFrame(b)
	if !ok || h.kind != kindDict {
		return fmt.Errorf("segment %s: dictionary frame at %d: %w", s.path, s.dictOff, errBadBlock)
	}
	it.dict = append(it.dict[:0], h.body...)
	it.hasDict, it.sawData, it.dictOff = true, true, s.dictOff
	return nil
}

// listSegments returns the bases of the segment files in dir, in order, and
// removes leftovers of interrupted rewrites.
func listSegments(dir string) ([]uint64, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var bases []uint64
	var other []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(dir, name))
		case e.Type().IsRegular():
			if b, ok := parseSegName(name); ok {
				bases = append(bases, b)
			} else if name != cursorName {
				other = append(other, name)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, other, nil
}
