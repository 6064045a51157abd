package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOrderAndPriorities(t *testing.T) {
	q := open(t, t.TempDir(), nil)
	for i, m := range []Message{
		{Class: Telemetry, Topic: "t1"},
		{Class: Event, Topic: "e1"},
		{Class: Telemetry, Topic: "t2"},
		{Class: Status, Topic: "s1"},
		{Class: Event, Topic: "e2"},
		{Class: Telemetry, Topic: "t3", Series: "a", Time: t0},
		{Class: Status, Topic: "s2"},
	} {
		m.Payload = fmt.Appendf(nil, "p%d", i)
		mustAppend(t, q, m)
	}
	if err := q.Sync(); err != nil {
		t.Fatal(err)
	}
	es, err := q.Next(100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"s1", "s2", "e1", "e2", "t1", "t2", "t3"}
	if got := topics(es); !slices.Equal(got, want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	last := es[len(es)-1]
	if string(last.Payload) != "p5" || last.Series != "a" || !last.Time.Equal(t0) || last.Class != Telemetry || last.ID.Class() != Telemetry {
		t.Fatalf("last entry = %+v", last)
	}
	if es, _ := q.Next(100); len(es) != 0 {
		t.Fatalf("Next returned %v again", topics(es))
	}
	st := q.Stats()
	if st.Pending != [NumClasses]int64{2, 2, 3} || st.Appended != 7 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestNextAckRewind(t *testing.T) {
	q := open(t, t.TempDir(), nil)
	for i := 1; i <= 10; i++ {
		mustAppend(t, q, Message{Class: Event, Topic: fmt.Sprint(i)})
	}
	a, _ := q.Next(4)
	b, _ := q.Next(4)
	if got := topics(append(a, b...)); !slices.Equal(got, strings.Fields("1 2 3 4 5 6 7 8")) {
		t.Fatalf("Next = %v", got)
	}
	// Several in flight, acknowledged out of order.
	if err := q.Ack(a[3].ID, a[1].ID, b[2].ID, a[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(a[1].ID); err != nil { // again: ignored
		t.Fatal(err)
	}
	if p := q.Stats().Pending[Event]; p != 6 {
		t.Fatalf("Pending = %d, want 6", p)
	}
	q.Rewind()
	select {
	case <-q.Wait():
	default:
		t.Fatal("Rewind did not signal Wait")
	}
	all := drain(t, q)
	if got := topics(all); !slices.Equal(got, strings.Fields("1 5 6 8 9 10")) {
		t.Fatalf("after Rewind Next = %v", got)
	}
	// Rewind twice in a row: acknowledged entries stay skipped.
	q.Rewind()
	all = drain(t, q)
	if got := topics(all); !slices.Equal(got, strings.Fields("1 5 6 8 9 10")) {
		t.Fatalf("after second Rewind Next = %v", got)
	}
	if err := q.Ack(all[0].ID); err != nil {
		t.Fatal(err)
	}
	if c := q.classes[Event].cursor; c != 4 {
		t.Fatalf("cursor = %d, want 4 (the acknowledged prefix)", c)
	}
	for _, e := range all[1:] {
		if err := q.Ack(e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st := q.Stats(); st.Pending[Event] != 0 || st.Acked != 10 {
		t.Fatalf("Stats = %+v", st)
	}
	if c := q.classes[Event].cursor; c != 10 {
		t.Fatalf("cursor = %d, want 10", c)
	}
	if err := q.Ack(EntryID{Event, 99}); err == nil {
		t.Fatal("Ack of an entry never issued: no error")
	}
}

func TestAckAfterRewindIsKept(t *testing.T) {
	q := open(t, t.TempDir(), nil)
	for i := 1; i <= 3; i++ {
		mustAppend(t, q, Message{Class: Event, Topic: fmt.Sprint(i)})
	}
	es, _ := q.Next(3)
	q.Rewind()
	// The broker's acknowledgement of 2 arrives after the disconnect.
	if err := q.Ack(es[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := topics(drain(t, q)); !slices.Equal(got, []string{"1", "3"}) {
		t.Fatalf("Next = %v, want [1 3]", got)
	}
}

func TestReopenResumes(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.SyncEvery = time.Hour })
	for i := range 100 {
		mustAppend(t, q, telemetry(i))
		mustAppend(t, q, Message{Class: Event, Topic: fmt.Sprintf("e%d", i)})
	}
	if err := q.Sync(); err != nil {
		t.Fatal(err)
	}
	es, _ := q.Next(130) // 100 events, 30 telemetry
	var ids []EntryID
	for _, e := range es[:50] {
		ids = append(ids, e.ID)
	}
	ids = append(ids, es[55].ID, es[120].ID) // beyond the prefix: sent again after reopening
	for _, e := range es[100:110] {
		ids = append(ids, e.ID)
	}
	if err := q.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(telemetry(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := q.Next(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v, want ErrClosed", err)
	}

	q = open(t, dir, nil)
	st := q.Stats()
	if st.Recovered != 140 || st.Pending != [NumClasses]int64{0, 50, 90} {
		t.Fatalf("after reopen Stats = %+v", st)
	}
	all := drain(t, q)
	if len(all) != 140 || all[0].Topic != "e50" || all[50].Payload == nil || string(all[50].Payload) != string(telemetry(10).Payload) {
		t.Fatalf("after reopen got %d entries, first %q, 51st %q", len(all), all[0].Topic, all[50].Payload)
	}
	// New appends continue the sequence.
	mustAppend(t, q, Message{Class: Event, Topic: "after"})
	es, _ = q.Next(10)
	if len(es) != 1 || es[0].Topic != "after" || es[0].ID.Seq() != 101 {
		t.Fatalf("after reopen and append: %v", es)
	}
}

func TestSegmentsRotateAndAckedAreDeleted(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.SegmentBytes = 4096; o.SyncEvery = time.Hour })
	r := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range 300 {
		m := noisy(Telemetry, fmt.Sprintf("t%03d", i), 200, r)
		mustAppend(t, q, m)
		want = append(want, m.Topic)
		if i%5 == 4 {
			q.Sync()
		}
	}
	q.Sync()
	if n := len(segFiles(t, dir, Telemetry)); n < 5 {
		t.Fatalf("%d segment files, want many", n)
	}
	var got []string
	for {
		es, err := q.Next(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		got = append(got, topics(es)...)
		for i := len(es) - 1; i >= 0; i-- { // out of order
			if err := q.Ack(es[i].ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replay across segments: got %d entries, want %d", len(got), len(want))
	}
	if err := q.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir, Telemetry)); n != 1 {
		t.Fatalf("%d segment files after acknowledging everything, want 1 (the one being written)", n)
	}
	if st := q.Stats(); st.Pending[Telemetry] != 0 || st.Bytes > 2*4096 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestWaitAndGroupCommit(t *testing.T) {
	q := open(t, t.TempDir(), func(o *Options) { o.SyncEvery = 20 * time.Millisecond })
	select {
	case <-q.Wait():
		t.Fatal("Wait signalled on an empty queue")
	default:
	}
	mustAppend(t, q, telemetry(1))
	select {
	case <-q.Wait():
	case <-time.After(5 * time.Second):
		t.Fatal("Wait not signalled after a group commit")
	}
	if es, _ := q.Next(10); len(es) != 1 {
		t.Fatalf("Next = %v", es)
	}
}

func TestConcurrentAppendersAndConsumer(t *testing.T) {
	q := open(t, t.TempDir(), func(o *Options) { o.SyncEvery = 5 * time.Millisecond; o.SegmentBytes = 8192 })
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c := Class(i % 3)
				if err := q.Append(Message{Class: c, Topic: fmt.Sprintf("%d/%d", w, i), Payload: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
	last := map[string]int{}
	deadline := time.After(20 * time.Second)
	for len(seen) < writers*each {
		es, err := q.Next(50)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			select {
			case <-q.Wait():
			case <-deadline:
				t.Fatalf("got %d of %d", len(seen), writers*each)
			}
			continue
		}
		for _, e := range es {
			if seen[e.Topic] {
				t.Fatalf("%s returned twice", e.Topic)
			}
			seen[e.Topic] = true
			var w, i int
			fmt.Sscanf(e.Topic, "%d/%d", &w, &i)
			key := fmt.Sprintf("%d/%d", w, i%3)
			if p, ok := last[key]; ok && p > i {
				t.Fatalf("order broken within writer %d class %d: %d after %d", w, i%3, i, p)
			}
			last[key] = i
			if err := q.Ack(e.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{}, {Dir: t.TempDir(), MaxBytes: -1}, {Dir: t.TempDir(), SyncEvery: -1}} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v): no error", o)
		}
	}
	dir := t.TempDir()
	open(t, dir, nil)
	if _, err := Open(Options{Dir: dir, Logger: quiet}); err == nil {
		t.Error("a second Open of the same directory succeeded")
	}
	q := open(t, t.TempDir(), nil)
	if err := q.Append(Message{Class: Telemetry, Payload: make([]byte, MaxMessageBytes+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Append = %v", err)
	}
	if err := q.Append(Message{Class: 7}); err == nil {
		t.Error("Append of an unknown class: no error")
	}
}
