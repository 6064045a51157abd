package queue

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Class is a message's priority class; a lower class drains first.
type Class uint8

// The classes, in the order they drain.
const (
	Status    Class = 0
	Event     Class = 1
	Telemetry Class = 2
)

// NumClasses is the number of classes; Stats.Pending is indexed by Class.
const NumClasses = 3

// String returns the class name, which is also its directory.
func (c Class) String() string {
	switch c {
	case Status:
		return "status"
	case Event:
		return "event"
	case Telemetry:
		return "telemetry"
	}
	return fmt.Sprintf("class%d", uint8(c))
}

// Message is what the agent publishes: a topic and a payload, with a class.
type Message struct {
	Class   Class
	Topic   string
	Payload []byte
	// Series and Time are used only for thinning telemetry: one record per
	// Series per minute of Time is kept. An empty Series stands for the
	// Topic; a record with a zero Time is never thinned.
	Series string
	Time   time.Time
}

// Options configures Open.
type Options struct {
	Dir          string        // created if missing
	MaxBytes     int64         // disk budget for all segments; default 256 MiB
	SegmentBytes int64         // rotate segment files at this size; default 8 MiB, at most MaxBytes/4
	SyncEvery    time.Duration // group commit: fsync at most this often for Status/Telemetry; 0 means fsync every Append; DefaultOptions sets 200ms
	Logger       *slog.Logger  // default slog.Default()
}

// Defaults and limits.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 8 << 20
	DefaultSyncEvery    = 200 * time.Millisecond

	// MaxMessageBytes bounds the topic, payload and series of one message
	// together, so that a reader's memory stays bounded.
	MaxMessageBytes = 1 << 20
)

// DefaultOptions returns the options the agent runs with: the zero
// SyncEvery means an fsync for every Append, so the 200ms group commit has
// to be asked for.
func DefaultOptions(dir string) Options {
	return Options{Dir: dir, MaxBytes: DefaultMaxBytes, SegmentBytes: DefaultSegmentBytes, SyncEvery: DefaultSyncEvery}
}

// EntryID identifies a stored message: its class and its sequence number in
// that class. It stays valid across Rewind and reopening.
type EntryID struct {
	class Class
	seq   uint64
}

// Class returns the class of the entry.
func (id EntryID) Class() Class { return id.class }

// Seq returns the entry's sequence number, increasing in append order
// within its class.
func (id EntryID) Seq() uint64 { return id.seq }

func (id EntryID) String() string { return fmt.Sprintf("%s/%d", id.class, id.seq) }

// Entry is a stored message as Next returns it. Time comes back in UTC.
type Entry struct {
	ID EntryID
	Message
}

// Stats are the queue's gauges and counters; counters count since Open.
type Stats struct {
	Pending          [NumClasses]int64 // appended and not yet acknowledged, by Class
	Bytes            int64             // segment files on disk
	Appended         uint64            // messages written to segment files
	Acked            uint64            // messages acknowledged
	Thinned          uint64            // unacknowledged telemetry removed by thinning
	DroppedTelemetry uint64            // unacknowledged telemetry dropped when over budget, including refused appends
	RefusedEvents    uint64            // Event appends refused with ErrFull
	RefusedStatus    uint64            // Status appends refused with ErrFull
	Recovered        uint64            // unacknowledged messages Open found on disk
	Corrupt          uint64            // damaged bytes Open or a reader set aside in quarantine
}

var (
	// ErrFull is returned by Append when the disk budget is used up by
	// messages that may not be dropped.
	ErrFull = errors.New("queue: full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrTooLarge is returned by Append for a message over MaxMessageBytes.
	ErrTooLarge = errors.New("queue: message too large")
)

// Queue is the durable store-and-forward queue. Its methods are safe for
// concurrent use.
type Queue struct {
	dir       string
	maxBytes  int64
	segBytes  int64
	dictMax   int // dictionary size: dictMax, less for small segments
	syncEvery time.Duration
	log       *slog.Logger
	lock      *os.File

	mu      sync.Mutex
	closed  bool
	classes [NumClasses]*classState
	bytes   int64
	st      Stats
	ready   chan struct{}
	lastErr string

	thinLast map[string]int64 // series -> minute last kept, carried between adjacent segments
	thinPrev *segment

	cursorMu sync.Mutex
	stop     chan struct{}
	done     chan struct{}
}

// flight is an entry Next returned (or skipped as acknowledged) and whose
// acknowledgement matters for the cursor.
type flight struct {
	seq   uint64
	acked bool
}

// batch collects the records of one group commit for the appenders that
// wait for its fsync.
type batch struct {
	done chan struct{}
	err  error
}

type classState struct {
	class Class
	dir   string
	segs  []*segment
	cur   *cursorFile

	// Records appended and not yet written; under Queue.mu.
	next          uint64
	buf, spare    []byte
	bufFirst      uint64
	bufLast       uint64
	bufCount      int64
	batch         *batch
	writing       int64 // raw bytes a flush has taken and not yet accounted
	writingCount  int64
	hist          []byte // the latest raw records, for the next dictionary
	histSpare     []byte
	act           *segment
	unsynced      bool
	err           error // the last failed write, while records wait for a retry
	lastTopic     string
	lastSeries    string
	syncEachWrite bool

	// The writer; under flushMu.
	flushMu sync.Mutex
	f       *os.File
	enc     *encoder
	out     []byte
	shut    bool

	// Reading and acknowledgement; under Queue.mu.
	cursor    uint64 // every seq up to here is acknowledged or gone
	persisted uint64 // the cursor on disk
	delivered uint64 // Next has passed every seq up to here since the last Rewind
	inflight  []flight
	head      int
	old       []flight // delivered before the last Rewind, all above delivered
	oldHead   int
	rd        reader
}

// Open opens the queue in opts.Dir, creating it if needed. It reads every
// segment, truncates a torn tail, copies damaged bytes to
// <Dir>/quarantine/ and logs what it found.
func Open(opts Options) (*Queue, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("queue: Options.Dir is empty")
	case opts.MaxBytes < 0:
		return nil, fmt.Errorf("queue: Options.MaxBytes is negative (%d)", opts.MaxBytes)
	case opts.SegmentBytes < 0:
		return nil, fmt.Errorf("queue: Options.SegmentBytes is negative (%d)", opts.SegmentBytes)
	case opts.SyncEvery < 0:
		return nil, fmt.Errorf("queue: Options.SyncEvery is negative (%v)", opts.SyncEvery)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &Queue{
		dir:       opts.Dir,
		maxBytes:  opts.MaxBytes,
		segBytes:  max(min(opts.SegmentBytes, opts.MaxBytes/4), 4096),
		syncEvery: opts.SyncEvery,
		log:       opts.Logger.With("queue", opts.Dir),
		ready:     make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	q.dictMax = int(min(dictMax, q.segBytes/16))
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lock, err := lockDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.lock = lock
	for c := range Class(NumClasses) {
		if err := q.openClass(c); err != nil {
			q.closeFiles()
			return nil, fmt.Errorf("queue %s: %s: %w", q.dir, c, err)
		}
	}
	st := q.statsLocked()
	q.st.Recovered = uint64(st.Pending[0] + st.Pending[1] + st.Pending[2])
	q.log.Info("queue: opened", "status", st.Pending[Status], "events", st.Pending[Event],
		"telemetry", st.Pending[Telemetry], "bytes", q.bytes, "corrupt_bytes", q.st.Corrupt)
	if q.st.Recovered > 0 {
		q.signal()
	}
	go q.run()
	return q, nil
}

func (q *Queue) openClass(c Class) error {
	cl := &classState{class: c, dir: filepath.Join(q.dir, c.String())}
	cl.syncEachWrite = c == Event || q.syncEvery == 0
	q.classes[c] = cl
	if err := os.MkdirAll(cl.dir, 0o755); err != nil {
		return err
	}
	cur, cursor, err := openCursor(cl.dir)
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	cl.cur, cl.cursor, cl.persisted, cl.delivered = cur, cursor, cursor, cursor
	bases, other, err := listSegments(cl.dir)
	if err != nil {
		return err
	}
	for _, name := range other {
		q.log.Warn("queue: ignoring a file that is not a segment", "class", c, "file", name)
	}
	var dict []byte
	for i, base := range bases {
		next := uint64(math.MaxUint64)
		if i+1 < len(bases) {
			next = bases[i+1]
		}
		s, d, err := q.scanSegment(cl, base, next)
		if err != nil {
			return err
		}
		cl.segs, dict = append(cl.segs, s), d
		q.bytes += s.size
	}
	cl.next = cl.cursor + 1
	if n := len(cl.segs); n > 0 {
		s := cl.segs[n-1]
		cl.next = max(cl.next, s.base, s.last+1)
		switch {
		case s.size == 0:
			// Created and never written: a power cut during rotation.
			if err := os.Remove(s.path); err != nil {
				return err
			}
			cl.segs = cl.segs[:n-1]
		case s.hasDict && len(s.bad) == 0 && !s.thinned && s.size < q.segBytes:
			f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			cl.f, cl.act, cl.enc = f, s, newEncoder(dict)
		default:
			// Sealed: the next segment needs a name of its own even if this
			// one holds no record.
			cl.next = max(cl.next, s.base+1)
		}
	}
	return nil
}

// scanSegment reads one segment: it checks every frame, counts records,
// sets damage aside and truncates damage at the end.
func (q *Queue) scanSegment(cl *classState, base, nextBase uint64) (*segment, []byte, error) {
	path := filepath.Join(cl.dir, segName(base))
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	s := &segment{base: base, path: path, size: fi.Size(), last: base - 1, dictOff: -1}
	var it frameIter
	it.start(f, s, nextBase)
	var bad []span
	it.onBad = func(b span) { bad = append(bad, b) }
	var dec decoder
	for {
		h, off, ok, err := it.next()
		if err != nil {
			return nil, nil, fmt.Errorf("segment %s: %w", path, err)
		}
		if !ok {
			break
		}
		unacked := int64(h.count)
		if h.last <= cl.cursor {
			unacked = 0
		} else if h.first <= cl.cursor {
			raw, err := dec.decode(h, it.dict)
			if err != nil {
				bad = append(bad, span{off, off + h.size})
				continue
			}
			unacked = countAbove(raw, h, cl.cursor)
		}
		s.addMark(off, h.first)
		s.addRecords(h.first, h.last, int64(h.count))
		s.unacked += unacked
	}
	s.hasDict, s.dictOff, s.thinned = it.hasDict, it.dictOff, it.thinned
	for _, b := range bad {
		s.addBad(b)
		q.quarantine(cl, s, f, b, "damaged or torn frames")
	}
	if n := len(s.bad); n > 0 && s.bad[n-1].end == s.size {
		// Damage up to the end: a torn write. Cut it off so that appends
		// continue after the last good frame.
		tail := s.bad[n-1]
		if err := truncate(path, tail.off); err != nil {
			return nil, nil, err
		}
		s.size, s.bad = tail.off, s.bad[:n-1]
	}
	return s, append([]byte(nil), it.dict...), nil
}

// countAbove counts the records of a decoded block with a seq above seq.
func countAbove(raw []byte, h header, seq uint64) int64 {
	var n int64
	cur := h.first
	for range h.count {
		r, k := parseRecord(raw)
		raw = raw[k:]
		cur += r.seq
		if cur > seq {
			n++
		}
	}
	return n
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// quarantine copies the damaged range b of s to <dir>/quarantine, once.
func (q *Queue) quarantine(cl *classState, s *segment, f io.ReaderAt, b span, why string) {
	n := b.end - b.off
	dir := filepath.Join(q.dir, "quarantine")
	path := filepath.Join(dir, fmt.Sprintf("%s-%020d-%d.bad", cl.class, s.base, b.off))
	if fi, err := os.Stat(path); err == nil && fi.Size() == n {
		q.log.Debug("queue: damaged bytes already in quarantine", "class", cl.class, "segment", s.path, "offset", b.off, "bytes", n)
		return
	}
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var out *os.File
		if out, err = os.Create(path); err == nil {
			_, err = io.Copy(out, io.NewSectionReader(f, b.off, n))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
	}
	q.st.Corrupt += uint64(n)
	if err != nil {
		q.log.Error("queue: damaged bytes skipped, copying them to quarantine failed", "class", cl.class,
			"segment", s.path, "offset", b.off, "bytes", n, "reason", why, "err", err)
		return
	}
	q.log.Warn("queue: damaged bytes skipped and set aside", "class", cl.class, "segment", s.path,
		"offset", b.off, "bytes", n, "reason", why, "quarantine", path)
}

// damaged handles damage a reader finds after Open (bit rot, or a block
// whose CRC holds but which does not decode).
func (q *Queue) damaged(cl *classState, s *segment, f io.ReaderAt, b span, why string) {
	if s.addBad(b) {
		q.quarantine(cl, s, f, b, why)
	}
}

// Append stores m. An Event returns only once it is on disk (fsync); Status
// and Telemetry are written and synced by the group commit every SyncEvery
// (or each time if SyncEvery is 0). Over budget it first thins, then drops
// the oldest telemetry; if that is not enough it returns ErrFull.
func (q *Queue) Append(m Message) error {
	if m.Class >= NumClasses {
		return fmt.Errorf("queue: append: unknown class %d", m.Class)
	}
	if len(m.Topic)+len(m.Payload)+len(m.Series) > MaxMessageBytes {
		return fmt.Errorf("queue: append %q: %w", m.Topic, ErrTooLarge)
	}
	cl := q.classes[m.Class]
	size := int64(recordSize(&m))
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if !cl.syncEachWrite && cl.err != nil && len(cl.buf) >= 4*blockRaw {
		err := cl.err
		q.mu.Unlock()
		return fmt.Errorf("queue: append: writes are failing: %w", err)
	}
	if q.usedLocked()+size > q.maxBytes && !q.makeRoomLocked(size) {
		switch m.Class {
		case Event:
			q.st.RefusedEvents++
		case Status:
			q.st.RefusedStatus++
		default:
			q.st.DroppedTelemetry++
		}
		q.mu.Unlock()
		return ErrFull
	}
	seq := cl.next
	cl.next++
	delta := uint64(1)
	if cl.bufCount == 0 {
		delta, cl.bufFirst = 0, seq
	}
	cl.buf = appendRecord(cl.buf, delta, &m)
	cl.bufLast = seq
	cl.bufCount++
	var b *batch
	if cl.syncEachWrite {
		if cl.batch == nil {
			cl.batch = &batch{done: make(chan struct{})}
		}
		b = cl.batch
	}
	full := len(cl.buf) >= blockRaw
	q.mu.Unlock()
	if b != nil {
		q.flush(cl, true) // the error is b's, or another batch's
		<-b.done
		return b.err
	}
	if full {
		q.flush(cl, false) // records that failed stay buffered; cl.err says so
	}
	return nil
}

// usedLocked is the disk in use, counting buffered records at their raw
// size.
func (q *Queue) usedLocked() int64 {
	n := q.bytes
	for _, cl := range q.classes {
		n += int64(len(cl.buf)) + cl.writing
	}
	return n
}

// flush writes the buffered records of cl as one block, and fsyncs if sync.
func (q *Queue) flush(cl *classState, sync bool) error {
	cl.flushMu.Lock()
	defer cl.flushMu.Unlock()
	if cl.shut {
		return ErrClosed
	}
	q.mu.Lock()
	raw, first, last, count, b := cl.buf, cl.bufFirst, cl.bufLast, cl.bufCount, cl.batch
	cl.buf, cl.spare, cl.bufCount, cl.batch = cl.spare[:0], nil, 0, nil
	cl.writing, cl.writingCount = int64(len(raw)), count
	var actSize int64
	if cl.act != nil {
		actSize = cl.act.size
	}
	rotate := count > 0 && (cl.act == nil || actSize >= q.segBytes)
	var dict []byte
	if rotate {
		dict = lastBytes(nil, cl.hist, raw, q.dictMax)
	}
	if count > 0 {
		cl.hist, cl.histSpare = lastBytes(cl.histSpare[:0], cl.hist, raw, q.dictMax), cl.hist
	}
	needSync := sync && (count > 0 || cl.unsynced)
	q.mu.Unlock()

	var err, syncErr error
	var seg *segment
	out := cl.out[:0]
	dataOff := 0
	if count > 0 {
		if rotate {
			seg, err = q.createSegment(cl, first, dict)
			out = appendDictFrames(out, 0, dict)
			actSize = 0
		}
		if err == nil {
			dataOff = len(out)
			out = cl.enc.appendData(out, first, last, uint64(count), raw)
			if _, err = cl.f.Write(out); err != nil {
				if seg != nil {
					cl.f.Close()
					os.Remove(seg.path)
					cl.f, seg = nil, nil
				} else {
					cl.f.Truncate(actSize)
				}
			}
		}
	}
	if err == nil && needSync && cl.f != nil {
		syncErr = cl.f.Sync()
		if syncErr == nil && seg != nil {
			syncErr = syncDir(cl.dir)
		}
	}
	if len(out) <= 4*blockRaw {
		cl.out = out
	}

	q.mu.Lock()
	cl.writing, cl.writingCount = 0, 0
	switch {
	case err != nil && cl.syncEachWrite:
		// The appenders hear of it: their records are not kept.
		q.noteErrLocked(cl, fmt.Errorf("write %s: %w", cl.class, err))
	case err != nil:
		// Keep the records for the next try, ahead of newer ones.
		if cl.bufCount > 0 {
			cl.buf[0] = 1 // the first delta now follows last
			cl.buf = append(raw, cl.buf...)
		} else {
			cl.buf, cl.bufLast = raw, last
		}
		cl.bufFirst = first
		cl.bufCount += count
		cl.err = err
		q.noteErrLocked(cl, fmt.Errorf("write %s: %w", cl.class, err))
	default:
		if seg != nil {
			cl.segs = append(cl.segs, seg)
			cl.act = seg
		}
		if count > 0 {
			s := cl.act
			s.addMark(s.size+int64(dataOff), first)
			s.size += int64(len(out))
			s.addRecords(first, last, count)
			s.unacked += count
			q.bytes += int64(len(out))
			q.st.Appended += uint64(count)
			cl.unsynced = true
			cl.err = nil
		}
		if needSync && syncErr == nil {
			cl.unsynced = false
		}
		if cap(raw) <= 2*blockRaw {
			cl.spare = raw[:0]
		}
	}
	if syncErr != nil {
		err = fmt.Errorf("fsync %s: %w", cl.class, syncErr)
		q.noteErrLocked(cl, err)
	}
	q.mu.Unlock()
	if count > 0 && err == nil {
		q.signal()
	}
	if b != nil {
		b.err = err
		close(b.done)
	}
	return err
}

// noteErrLocked logs a write error once, not at every retry.
func (q *Queue) noteErrLocked(cl *classState, err error) {
	if s := err.Error(); s != q.lastErr {
		q.lastErr = s
		q.log.Error("queue: write failed", "class", cl.class, "err", err)
	}
}

// lastBytes returns the last n bytes of a followed by b, appended to dst.
func lastBytes(dst, a, b []byte, n int) []byte {
	if len(b) >= n {
		return append(dst, b[len(b)-n:]...)
	}
	if k := n - len(b); len(a) > k {
		a = a[len(a)-k:]
	}
	return append(append(dst, a...), b...)
}

// createSegment starts a new segment file for records from base on.
func (q *Queue) createSegment(cl *classState, base uint64, dict []byte) (*segment, error) {
	path := filepath.Join(cl.dir, segName(base))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if cl.f != nil {
		q.mu.Lock()
		unsynced := cl.unsynced
		q.mu.Unlock()
		if unsynced {
			// Nobody fsyncs a file once the writer moved on.
			if err := cl.f.Sync(); err != nil {
				f.Close()
				os.Remove(path)
				return nil, err
			}
		}
		cl.f.Close()
	}
	cl.f, cl.enc = f, newEncoder(dict)
	return &segment{base: base, path: path, last: base - 1, hasDict: true, dictOff: 0}, nil
}

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Wait returns a channel that is signalled when new entries become
// available to Next.
func (q *Queue) Wait() <-chan struct{} { return q.ready }

// Next returns up to max of the oldest entries not yet returned: all Status
// before Event before Telemetry, oldest first within a class. It does not
// remove them (Ack does) and does not return them again until Rewind. It
// returns an empty slice at once when nothing is pending.
func (q *Queue) Next(max int) ([]Entry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	out := []Entry{}
	var arena []byte
	for _, cl := range q.classes {
		for len(out) < max {
			r, ok, err := q.readNext(cl)
			if err != nil {
				return out, fmt.Errorf("queue: read %s: %w", cl.class, err)
			}
			if !ok {
				break
			}
			if r.seq <= cl.delivered {
				continue
			}
			cl.delivered = r.seq
			if cl.ackedBefore(r.seq) {
				cl.inflight = append(cl.inflight, flight{r.seq, true})
				continue
			}
			cl.inflight = append(cl.inflight, flight{seq: r.seq})
			out = append(out, cl.entry(&r, &arena))
		}
		cl.advance()
	}
	return out, nil
}

// ackedBefore moves past the entries delivered before the last Rewind up to
// seq and reports whether seq was one of them and acknowledged.
func (cl *classState) ackedBefore(seq uint64) bool {
	for cl.oldHead < len(cl.old) && cl.old[cl.oldHead].seq < seq {
		cl.oldHead++
	}
	if cl.oldHead < len(cl.old) && cl.old[cl.oldHead].seq == seq {
		cl.oldHead++
		return cl.old[cl.oldHead-1].acked
	}
	if cl.oldHead == len(cl.old) {
		cl.old, cl.oldHead = nil, 0
	}
	return false
}

// entry copies r out of the read buffer.
func (cl *classState) entry(r *record, arena *[]byte) Entry {
	if string(r.topic) != cl.lastTopic {
		cl.lastTopic = string(r.topic)
	}
	if string(r.series) != cl.lastSeries {
		cl.lastSeries = string(r.series)
	}
	n := len(r.payload)
	if cap(*arena)-len(*arena) < n {
		*arena = make([]byte, 0, max(n, 32<<10))
	}
	a := *arena
	p := a[len(a) : len(a)+n : len(a)+n]
	copy(p, r.payload)
	*arena = a[:len(a)+n]
	e := Entry{ID: EntryID{cl.class, r.seq}, Message: Message{Class: cl.class, Topic: cl.lastTopic, Payload: p, Series: cl.lastSeries}}
	if r.ts != 0 {
		e.Time = time.Unix(0, r.ts).UTC()
	}
	return e
}

// advance moves the cursor over the acknowledged prefix.
func (cl *classState) advance() {
	for cl.head < len(cl.inflight) && cl.inflight[cl.head].acked {
		cl.head++
	}
	if cl.head == len(cl.inflight) {
		cl.cursor = max(cl.cursor, cl.delivered)
		cl.inflight, cl.head = cl.inflight[:0], 0
		return
	}
	cl.cursor = max(cl.cursor, cl.inflight[cl.head].seq-1)
	if cl.head >= 1024 && 2*cl.head >= len(cl.inflight) {
		n := copy(cl.inflight, cl.inflight[cl.head:])
		cl.inflight, cl.head = cl.inflight[:n], 0
	}
}

// find returns the flight for seq among fs, sorted by seq.
func find(fs []flight, seq uint64) *flight {
	i := sort.Search(len(fs), func(i int) bool { return fs[i].seq >= seq })
	if i < len(fs) && fs[i].seq == seq {
		return &fs[i]
	}
	return nil
}

// flightOf returns the flight of a seq above the cursor, nil if it was
// never delivered.
func (cl *classState) flightOf(seq uint64) *flight {
	if seq <= cl.delivered {
		return find(cl.inflight[cl.head:], seq)
	}
	return find(cl.old[cl.oldHead:], seq)
}

// isAcked reports whether a seq above the cursor is acknowledged.
func (cl *classState) isAcked(seq uint64) bool {
	f := cl.flightOf(seq)
	return f != nil && f.acked
}

// segFor returns the segment that holds seq, or nil.
func (cl *classState) segFor(seq uint64) *segment {
	i := sort.Search(len(cl.segs), func(i int) bool { return cl.segs[i].base > seq }) - 1
	if i < 0 {
		return nil
	}
	return cl.segs[i]
}

func (cl *classState) segIndex(s *segment) int {
	i := sort.Search(len(cl.segs), func(i int) bool { return cl.segs[i].base >= s.base })
	if i < len(cl.segs) && cl.segs[i] == s {
		return i
	}
	return -1
}

func (cl *classState) nextBase(i int) uint64 {
	if i+1 < len(cl.segs) {
		return cl.segs[i+1].base
	}
	return math.MaxUint64
}

// Ack forgets entries the broker has. Acknowledgements may come in any
// order; the cursor persisted at the next group commit covers the longest
// acknowledged prefix of each class. Unknown or repeated IDs are ignored,
// IDs never issued are an error.
func (q *Queue) Ack(ids ...EntryID) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	var errs []error
	for _, id := range ids {
		if id.class >= NumClasses || id.seq == 0 || id.seq >= q.classes[id.class].next {
			errs = append(errs, fmt.Errorf("queue: ack %v: no such entry", id))
			continue
		}
		cl := q.classes[id.class]
		if id.seq <= cl.cursor {
			continue
		}
		f := cl.flightOf(id.seq)
		if f == nil || f.acked {
			continue
		}
		f.acked = true
		q.st.Acked++
		if s := cl.segFor(id.seq); s != nil && s.unacked > 0 {
			s.unacked--
		}
	}
	for _, cl := range q.classes {
		cl.advance()
	}
	return errors.Join(errs...)
}

// Rewind makes Next return every entry not yet acknowledged again, in
// order: for after a disconnect.
func (q *Queue) Rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for _, cl := range q.classes {
		rest := cl.inflight[cl.head:]
		if cl.delivered == cl.cursor && len(rest) == 0 {
			continue
		}
		old := make([]flight, 0, len(rest)+len(cl.old)-cl.oldHead)
		old = append(append(old, rest...), cl.old[cl.oldHead:]...)
		cl.old, cl.oldHead = old, 0
		cl.inflight, cl.head = cl.inflight[:0], 0
		cl.delivered = cl.cursor
		cl.rd.close()
	}
	q.signal()
}

// Stats returns the queue's gauges and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.statsLocked()
}

func (q *Queue) statsLocked() Stats {
	st := q.st
	st.Bytes = q.bytes
	for c, cl := range q.classes {
		n := cl.bufCount + cl.writingCount
		for _, s := range cl.segs {
			n += s.unacked
		}
		st.Pending[c] = n
	}
	return st
}

// Sync writes and fsyncs everything appended, and persists the cursors.
func (q *Queue) Sync() error {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return q.syncAll()
}

func (q *Queue) syncAll() error {
	var errs []error
	for _, cl := range q.classes {
		if err := q.flush(cl, true); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, q.persistCursors())
	return errors.Join(errs...)
}

// Close syncs and closes the queue.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
	err := q.syncAll()
	q.closeFiles()
	return err
}

func (q *Queue) closeFiles() {
	for _, cl := range q.classes {
		if cl == nil {
			continue
		}
		cl.flushMu.Lock()
		cl.shut = true
		if cl.f != nil {
			cl.f.Close()
			cl.f = nil
		}
		cl.flushMu.Unlock()
		q.mu.Lock()
		cl.rd.close()
		if cl.cur != nil {
			cl.cur.f.Close()
		}
		q.mu.Unlock()
	}
	if q.lock != nil {
		q.lock.Close()
	}
}

// run is the group commit: every SyncEvery it writes and fsyncs what was
// appended and persists the cursors. An idle queue writes nothing.
func (q *Queue) run() {
	defer close(q.done)
	every := q.syncEvery
	if every <= 0 {
		every = time.Second // only cursors left to persist
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
		for _, cl := range q.classes {
			q.mu.Lock()
			need := !cl.syncEachWrite && (cl.bufCount > 0 || cl.unsynced)
			q.mu.Unlock()
			if need {
				q.flush(cl, true) // logged; records stay buffered for the next tick
			}
		}
		if err := q.persistCursors(); err != nil {
			q.mu.Lock()
			if s := err.Error(); s != q.lastErr {
				q.lastErr = s
				q.log.Error("queue: persisting the read position failed", "err", err)
			}
			q.mu.Unlock()
		}
	}
}

// persistCursors writes the cursors that moved, then deletes the segments
// they passed.
func (q *Queue) persistCursors() error {
	q.cursorMu.Lock()
	defer q.cursorMu.Unlock()
	var errs []error
	for _, cl := range q.classes {
		q.mu.Lock()
		cur, done := cl.cursor, cl.persisted
		q.mu.Unlock()
		if cur == done {
			continue
		}
		if err := cl.cur.write(cur); err != nil {
			errs = append(errs, fmt.Errorf("queue: cursor %s: %w", cl.class, err))
			continue
		}
		q.mu.Lock()
		cl.persisted = cur
		q.deleteAckedLocked(cl, cur)
		q.mu.Unlock()
	}
	return errors.Join(errs...)
}

// deleteAckedLocked deletes the oldest segments of cl whose records are all
// at or below upTo, except the one being written.
func (q *Queue) deleteAckedLocked(cl *classState, upTo uint64) bool {
	n := 0
	for _, s := range cl.segs {
		if s == cl.act || s.last > upTo {
			break
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Error("queue: deleting an acknowledged segment failed", "segment", s.path, "err", err)
			break
		}
		if cl.rd.seg == s {
			cl.rd.close()
		}
		if q.thinPrev == s {
			q.thinPrev = nil
		}
		q.bytes -= s.size
		n++
	}
	if n > 0 {
		cl.segs = append(cl.segs[:0:0], cl.segs[n:]...)
	}
	return n > 0
}
