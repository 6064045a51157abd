package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBudgetThinsThenDropsTelemetry(t *testing.T) {
	const budget = 256 << 10
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.MaxBytes = budget; o.SegmentBytes = 16 << 10; o.SyncEvery = time.Hour })
	r := rand.New(rand.NewPCG(9, 10))
	var events []Message
	i := 0
	for ; q.Stats().DroppedTelemetry == 0; i++ {
		if i > 200000 {
			t.Fatalf("no telemetry dropped after %d appends: %+v", i, q.Stats())
		}
		// Four series, a reading every 10 s each: six a minute.
		m := noisy(Telemetry, fmt.Sprintf("t%06d", i), 120, r)
		m.Series = fmt.Sprintf("s%d", i%4)
		m.Time = t0.Add(time.Duration(i/4) * 10 * time.Second)
		mustAppend(t, q, m)
		if i%20 == 19 {
			if err := q.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 { // scans keep coming while telemetry is thinned and dropped
			e := noisy(Event, fmt.Sprintf("e%06d", i), 100, r)
			mustAppend(t, q, e)
			events = append(events, e)
		}
	}
	st := q.Stats()
	if st.Thinned == 0 || st.RefusedEvents != 0 || st.Bytes > budget {
		t.Fatalf("Stats = %+v", st)
	}
	// Thinned segments hold one reading per series per minute.
	tcl := q.classes[Telemetry]
	var thinnedUpTo uint64
	for _, s := range tcl.segs {
		if s.thinned {
			thinnedUpTo = s.last
		}
	}
	if thinnedUpTo == 0 {
		t.Fatal("no thinned segment left")
	}
	q.Sync()
	all := drain(t, q)
	var tel []Entry
	seen := map[string]bool{}
	for _, e := range all {
		if e.Class != Telemetry {
			continue
		}
		tel = append(tel, e)
		if e.ID.Seq() > thinnedUpTo {
			continue
		}
		key := fmt.Sprint(e.Series, e.Time.Truncate(time.Minute))
		if seen[key] {
			t.Fatalf("thinned telemetry holds two readings of %s", key)
		}
		seen[key] = true
	}
	if len(seen) == 0 {
		t.Fatal("no thinned readings replayed")
	}
	// The oldest were dropped; every Status and Event is there.
	if tel[0].Topic == "t000000" {
		t.Fatal("oldest telemetry not dropped")
	}
	checkEntries(t, classOnly(all, Event), events)
	want := uint64(i) - st.Thinned - st.DroppedTelemetry
	if got := uint64(len(tel)); got != want {
		t.Fatalf("replayed %d telemetry, appended %d - thinned %d - dropped %d = %d", got, i, st.Thinned, st.DroppedTelemetry, want)
	}
}

func classOnly(es []Entry, c Class) []Entry {
	var out []Entry
	for _, e := range es {
		if e.Class == c {
			out = append(out, e)
		}
	}
	return out
}

func TestEventsRefusedWhenFull(t *testing.T) {
	const budget = 64 << 10
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.MaxBytes = budget; o.SegmentBytes = 16 << 10; o.SyncEvery = time.Hour })
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 100 {
		mustAppend(t, q, noisy(Telemetry, fmt.Sprintf("t%d", i), 200, r))
	}
	var events []Message
	var err error
	for i := 0; i < 10000; i++ {
		m := noisy(Event, fmt.Sprintf("e%04d", i), 300, r)
		if err = q.Append(m); err != nil {
			break
		}
		events = append(events, m)
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append(Event) on a full queue = %v, want ErrFull", err)
	}
	st := q.Stats()
	if st.RefusedEvents != 1 || st.DroppedTelemetry == 0 || st.Pending[Telemetry] != 0 || st.Pending[Event] != int64(len(events)) || st.Bytes > budget {
		t.Fatalf("Stats = %+v", st)
	}
	if err := q.Append(noisy(Event, "again", 300, r)); !errors.Is(err, ErrFull) {
		t.Fatalf("second refused Append = %v", err)
	}
	// Nothing stored is lost, even across a reopen.
	q.Close()
	q = open(t, dir, func(o *Options) { o.MaxBytes = budget; o.SegmentBytes = 16 << 10 })
	checkEntries(t, classOnly(drain(t, q), Event), events)
	// Once the broker has them, there is room again.
	q.Rewind()
	for _, e := range drain(t, q) {
		q.Ack(e.ID)
	}
	if err := q.Append(noisy(Event, "room", 300, r)); err != nil {
		t.Fatalf("Append after acknowledging everything: %v", err)
	}
}

func TestBudgetWithEntriesInFlight(t *testing.T) {
	q := open(t, t.TempDir(), func(o *Options) { o.MaxBytes = 128 << 10; o.SegmentBytes = 8 << 10; o.SyncEvery = time.Hour })
	r := rand.New(rand.NewPCG(15, 16))
	var inflight []Entry
	for i := 0; q.Stats().DroppedTelemetry == 0; i++ {
		m := noisy(Telemetry, fmt.Sprintf("t%06d", i), 150, r)
		m.Series, m.Time = fmt.Sprint(i%3), t0.Add(time.Duration(i)*5*time.Second)
		mustAppend(t, q, m)
		if i%10 == 9 {
			q.Sync()
			es, err := q.Next(3) // the uplink is slow: a few in flight
			if err != nil {
				t.Fatal(err)
			}
			inflight = append(inflight, es...)
		}
	}
	// Acknowledgements of entries thinned or dropped meanwhile are fine.
	for _, e := range inflight[:len(inflight)/2] {
		if err := q.Ack(e.ID); err != nil {
			t.Fatal(err)
		}
	}
	q.Rewind()
	q.Sync()
	pending := q.Stats().Pending[Telemetry]
	all := drain(t, q)
	if int64(len(all)) != pending {
		t.Fatalf("Pending = %d, Next returned %d", pending, len(all))
	}
	var prev uint64
	for _, e := range all {
		if e.ID.Seq() <= prev {
			t.Fatalf("%s out of order", e.Topic)
		}
		prev = e.ID.Seq()
	}
	for _, e := range inflight[:len(inflight)/2] {
		for _, a := range all {
			if a.ID == e.ID {
				t.Fatalf("acknowledged %s returned again", e.Topic)
			}
		}
	}
}
