package queue

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// makeRoomLocked frees disk until need more bytes fit in the budget:
// first segments already acknowledged, then by thinning the oldest
// telemetry to one record per series per minute, then by dropping the
// oldest telemetry. Status and Event records are never touched. It reports
// whether need fits.
func (q *Queue) makeRoomLocked(need int64) bool {
	for q.usedLocked()+need > q.maxBytes {
		reclaimed := false
		for _, cl := range q.classes {
			if q.deleteAckedLocked(cl, cl.cursor) {
				reclaimed = true
			}
		}
		if reclaimed || q.thinOldestLocked() || q.dropOldestLocked() || q.sealTelemetryLocked() || q.dropBufferedLocked() {
			continue
		}
		return false
	}
	return true
}

// sealTelemetryLocked ends the telemetry segment being written, so that it
// can be thinned and dropped too; the next write starts a new one. It does
// nothing while a telemetry flush is under way (that flush holds flushMu and
// may be waiting for q.mu, hence TryLock).
func (q *Queue) sealTelemetryLocked() bool {
	cl := q.classes[Telemetry]
	if cl.act == nil || !cl.flushMu.TryLock() {
		return false
	}
	defer cl.flushMu.Unlock()
	if cl.f != nil {
		if cl.unsynced {
			if err := cl.f.Sync(); err != nil {
				q.noteErrLocked(cl, fmt.Errorf("fsync %s: %w", cl.class, err))
				return false
			}
			cl.unsynced = false
		}
		cl.f.Close()
		cl.f = nil
	}
	if s := cl.act; s.count == 0 {
		// Nothing but its dictionary: remove it rather than leave a
		// segment whose name the next records need.
		if err := os.Remove(s.path); err == nil {
			cl.segs = cl.segs[:len(cl.segs)-1]
			q.bytes -= s.size
			if cl.rd.seg == s {
				cl.rd.close()
			}
		}
	}
	cl.act = nil
	return true
}

// dropBufferedLocked drops telemetry appended but not yet written: the last
// telemetry there is.
func (q *Queue) dropBufferedLocked() bool {
	cl := q.classes[Telemetry]
	if cl.syncEachWrite || cl.bufCount == 0 {
		return false
	}
	q.st.DroppedTelemetry += uint64(cl.bufCount)
	q.log.Warn("queue: over the disk budget, dropped telemetry not yet written", "messages", cl.bufCount,
		"dropped_total", q.st.DroppedTelemetry)
	cl.buf, cl.bufCount = cl.buf[:0], 0
	return true
}

// thinOldestLocked thins the oldest telemetry segment not yet thinned.
func (q *Queue) thinOldestLocked() bool {
	cl := q.classes[Telemetry]
	for i, s := range cl.segs {
		if s == cl.act {
			return false
		}
		if s.thinned {
			continue
		}
		if err := q.thinLocked(cl, i); err != nil {
			s.thinned = true // do not try again and again
			q.log.Error("queue: thinning telemetry failed", "segment", s.path, "err", err)
		}
		return true
	}
	return false
}

// dropOldestLocked deletes the oldest telemetry segment.
func (q *Queue) dropOldestLocked() bool {
	cl := q.classes[Telemetry]
	if len(cl.segs) == 0 || cl.segs[0] == cl.act {
		return false
	}
	s := cl.segs[0]
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Error("queue: dropping telemetry failed", "segment", s.path, "err", err)
		return false
	}
	cl.segs = append(cl.segs[:0:0], cl.segs[1:]...)
	q.bytes -= s.size
	q.st.DroppedTelemetry += uint64(s.unacked)
	q.log.Warn("queue: over the disk budget, dropped the oldest telemetry", "segment", s.path,
		"messages", s.unacked, "dropped_total", q.st.DroppedTelemetry)
	// Everything up to s.last is gone: nothing there waits for an ack.
	for i := cl.head; i < len(cl.inflight) && cl.inflight[i].seq <= s.last; i++ {
		cl.inflight[i].acked = true
	}
	for cl.oldHead < len(cl.old) && cl.old[cl.oldHead].seq <= s.last {
		cl.oldHead++
	}
	cl.delivered = max(cl.delivered, s.last)
	if cl.rd.seg == s {
		cl.rd.close()
	}
	if q.thinPrev == s {
		q.thinPrev = nil
	}
	cl.advance()
	return true
}

// markGone settles the flight of a record that no longer exists.
func (cl *classState) markGone(seq uint64) {
	if f := cl.flightOf(seq); f != nil {
		f.acked = true
	}
}

// thinKeep decides whether a telemetry record survives thinning: the first
// of its series in each minute does.
func (q *Queue) thinKeep(r *record) bool {
	if r.ts == 0 {
		return true
	}
	key := r.series
	if len(key) == 0 {
		key = r.topic
	}
	minute := r.ts / int64(time.Minute)
	if r.ts < 0 && r.ts%int64(time.Minute) != 0 {
		minute--
	}
	if m, ok := q.thinLast[string(key)]; ok && m == minute {
		return false
	}
	if len(q.thinLast) >= 1<<16 {
		clear(q.thinLast) // series are not meant to be that many
	}
	q.thinLast[string(key)] = minute
	return true
}

// thinLocked rewrites telemetry segment i keeping the first record per
// series per minute and dropping what is acknowledged. The new file
// replaces the old one atomically (write, fsync, rename).
func (q *Queue) thinLocked(cl *classState, i int) (err error) {
	s := cl.segs[i]
	if i == 0 || q.thinPrev != cl.segs[i-1] || q.thinLast == nil {
		q.thinLast = make(map[string]int64)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var it frameIter
	if err := it.loadDict(f, s, cl.nextBase(i)); err != nil {
		return err
	}
	it.off = 0
	it.onBad = func(b span) { q.damaged(cl, s, f, b, "found while thinning") }
	tmp := s.path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	dict := append([]byte(nil), it.dict...)
	enc := newEncoder(dict)
	ns := &segment{base: s.base, path: s.path, last: s.base - 1, hasDict: true, dictOff: 0, thinned: true}
	buf := appendDictFrames(nil, flagThinned, dict)
	var raw []byte
	var first, prev, n uint64
	var removed, written int64
	var gone []uint64 // removed records Next has returned
	emit := func() error {
		if n > 0 {
			ns.addMark(written+int64(len(buf)), first)
			ns.addRecords(first, prev, int64(n))
			buf = enc.appendData(buf, first, prev, n, raw)
			raw, n = raw[:0], 0
		}
		if len(buf) >= 1<<20 {
			if _, err := out.Write(buf); err != nil {
				return err
			}
			written += int64(len(buf))
			buf = buf[:0]
		}
		return nil
	}
	var dec decoder
	for {
		h, off, ok, err := it.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		rb, err := dec.decode(h, it.dict)
		if err != nil {
			q.damaged(cl, s, f, span{off, off + h.size}, "block does not decode")
			continue
		}
		seq := h.first
		for range h.count {
			r, k := parseRecord(rb)
			rb = rb[k:]
			seq += r.seq
			if seq <= cl.cursor || cl.isAcked(seq) {
				continue // acknowledged: not worth keeping
			}
			if !q.thinKeep(&r) {
				removed++
				if cl.flightOf(seq) != nil {
					gone = append(gone, seq)
				}
				continue
			}
			delta := seq - prev
			if n == 0 {
				first, delta = seq, 0
			}
			raw = appendRawRecord(raw, delta, &r)
			prev = seq
			n++
			ns.unacked++
			if len(raw) >= blockRaw {
				if err := emit(); err != nil {
					return err
				}
			}
		}
	}
	if err := emit(); err != nil {
		return err
	}
	if _, err := out.Write(buf); err != nil {
		return err
	}
	ns.size = written + int64(len(buf))
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	if err := syncDir(cl.dir); err != nil {
		return fmt.Errorf("after rename: %w", err)
	}
	cl.segs[i] = ns
	for _, seq := range gone {
		cl.markGone(seq)
	}
	cl.advance()
	q.bytes += ns.size - s.size
	q.st.Thinned += uint64(removed)
	q.thinPrev = ns
	if cl.rd.seg == s {
		cl.rd.close()
	}
	q.log.Info("queue: over the disk budget, thinned telemetry to one reading a minute per series",
		"segment", s.path, "removed", removed, "kept", ns.count, "bytes_before", s.size, "bytes_after", ns.size)
	return nil
}
