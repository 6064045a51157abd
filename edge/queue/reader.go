package queue

import (
	"os"
	"sort"
)

// reader reads one class forward, one block in memory at a time.
type reader struct {
	seg   *segment
	f     *os.File
	it    frameIter
	dec   decoder
	raw   []byte // the rest of the current block
	left  uint64 // records left in it
	seq   uint64 // seq of the last record returned from it
	valid bool   // positioned; false after Rewind or a change of files
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.seg, r.raw, r.left, r.valid = nil, nil, 0, false
}

// seek positions the reader of cl before the first record at or above want.
func (q *Queue) seek(cl *classState, want uint64) error {
	cl.rd.close()
	cl.rd.valid = true
	if len(cl.segs) == 0 {
		return nil
	}
	i := max(sort.Search(len(cl.segs), func(i int) bool { return cl.segs[i].base > want })-1, 0)
	return q.openAt(cl, i, want)
}

// openAt starts reading segment i of cl near want.
func (q *Queue) openAt(cl *classState, i int, want uint64) error {
	r := &cl.rd
	s := cl.segs[i]
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	r.f, r.seg = f, s
	if err := r.it.loadDict(f, s, cl.nextBase(i)); err != nil {
		// The dictionary went bad after Open: its blocks will not decode
		// and are set aside as the reader meets them.
		q.log.Warn("queue: segment dictionary unreadable", "class", cl.class, "segment", s.path, "err", err)
		r.it.hasDict = false
	}
	r.it.off = s.startFor(want)
	r.it.minSeq = s.base
	r.it.onBad = func(b span) { q.damaged(cl, s, f, b, "found while reading") }
	return nil
}

// readNext returns the next record of cl after the reader's position; the
// record aliases the reader's buffer. ok is false when nothing more is
// written yet.
func (q *Queue) readNext(cl *classState) (rec record, ok bool, err error) {
	r := &cl.rd
	for {
		if r.left > 0 {
			rec, n := parseRecord(r.raw) // the block was checked whole
			r.raw, r.left = r.raw[n:], r.left-1
			r.seq += rec.seq
			rec.seq = r.seq
			return rec, true, nil
		}
		if !r.valid {
			if err := q.seek(cl, cl.delivered+1); err != nil {
				r.close()
				return rec, false, err
			}
		}
		if r.seg == nil {
			if len(cl.segs) > 0 {
				r.valid = false
				continue
			}
			return rec, false, nil
		}
		r.it.limit = r.seg.size
		h, off, ok, err := r.it.next()
		if err != nil {
			r.close()
			return rec, false, err
		}
		if !ok {
			i := cl.segIndex(r.seg)
			switch {
			case i < 0:
				r.valid = false
			case i == len(cl.segs)-1:
				return rec, false, nil
			default:
				r.close()
				r.valid = true
				if err := q.openAt(cl, i+1, cl.delivered+1); err != nil {
					r.close()
					return rec, false, err
				}
			}
			continue
		}
		if h.last <= cl.delivered {
			continue
		}
		raw, err := r.dec.decode(h, r.it.dict)
		if err != nil {
			q.damaged(cl, r.seg, r.f, span{off, off + h.size}, "block does not decode")
			if h.first > cl.cursor {
				r.seg.unacked = max(r.seg.unacked-int64(h.count), 0)
			}
			continue
		}
		r.raw, r.left, r.seq = raw, h.count, h.first
	}
}
