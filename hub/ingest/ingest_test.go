package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/state"
)

// memStore is an in-memory SeriesWriter and StateStore that can be told to fail.
type memStore struct {
	mu       sync.Mutex
	readings []*hub.Reading
	latest   []*hub.Reading
	edges    []hub.EdgeState
	fail     int // next n writes fail
}

func (m *memStore) WriteReadings(_ context.Context, rs []*hub.Reading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("store down")
	}
	m.readings = append(m.readings, rs...)
	return nil
}
func (m *memStore) SaveLatest(_ context.Context, rs []*hub.Reading) error {
	m.mu.Lock()
	m.latest = append(m.latest, rs...)
	m.mu.Unlock()
	return nil
}
func (m *memStore) Latest(context.Context) ([]*hub.Reading, error) { return nil, nil }
func (m *memStore) SaveEdge(_ context.Context, e hub.EdgeState) error {
	m.mu.Lock()
	m.edges = append(m.edges, e)
	m.mu.Unlock()
	return nil
}
func (m *memStore) Edges(context.Context) ([]hub.EdgeState, error) { return nil, nil }

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.readings)
}

func newTestIngest(t *testing.T, st *memStore) (*Ingest, *state.State) {
	t.Helper()
	sites := []hub.Site{{ID: "county", Name: "c", Kind: hub.County},
		{ID: "tw01", Name: "a", Kind: hub.Township, Parent: "county", Rooms: []hub.Room{{ID: "cr1", Class: "chilled", MaxC: 4}}},
		{ID: "tw05", Name: "b", Kind: hub.Township, Parent: "county", Rooms: []hub.Room{{ID: "cr1", Class: "chilled", MaxC: 4}}}}
	s := state.New(sites, nil)
	in := New(Config{BatchSize: 10, FlushInterval: 10 * time.Millisecond}, st, st, s, new(metrics.Registry), slog.New(slog.NewTextHandler(io.Discard, nil)))
	return in, s
}

func runWriter(t *testing.T, in *Ingest) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.writeLoop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitCount(t *testing.T, st *memStore, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for st.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d, want %d", st.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExamples runs the contract's shared examples through the hub: each is
// stored or rejected with the example's reason, and counted.
func TestExamples(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	now := time.Date(2026, 11, 29, 7, 0, 30, 0, time.UTC)
	wantStored, wantRejected := 0, map[contract.Reason]uint64{}
	for _, ex := range contract.Examples {
		in.Handle(ex.Topic, []byte(ex.Payload), false, now, nil)
		if ex.Reject != "" {
			wantRejected[ex.Reject]++
		} else if strings.Contains(ex.Topic, "/telemetry/") {
			wantStored++
		}
	}
	waitCount(t, st, wantStored)
	s := in.Stats()
	for r, n := range wantRejected {
		if s.Rejected[r] != n {
			t.Errorf("rejected %s = %d, want %d", r, s.Rejected[r], n)
		}
	}
	if s.Received != uint64(len(contract.Examples)) {
		t.Errorf("received %d, want %d", s.Received, len(contract.Examples))
	}
}

func telemetry(id, site string, ts, sent time.Time, temp float64) string {
	b, _ := contract.Encode(contract.Telemetry{
		Header: contract.Header{V: 1, ID: id, Site: site, Edge: site + "-e1", TS: ts, Sent: sent},
		Device: "cr1-th", Room: "cr1", Fields: map[string]float64{"temperature": temp}})
	return string(b)
}

func TestDuplicatesStoredOnce(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	now := time.Now()
	p := telemetry("tw01-e1-1-1", "tw01", now, now, 2)
	for i := 0; i < 3; i++ {
		in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(p), false, now, nil)
	}
	waitCount(t, st, 1)
	time.Sleep(30 * time.Millisecond) // three flush intervals: nothing more may arrive
	if st.count() != 1 || in.Stats().Duplicates != 2 {
		t.Fatalf("stored %d, duplicates %d", st.count(), in.Stats().Duplicates)
	}
}

func TestUnknownSiteAndOversize(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	now := time.Now()
	in.Handle("countylink/tw99/tw99-e1/telemetry/cr1-th", []byte(telemetry("x", "tw99", now, now, 1)), false, now, nil)
	big := `{"v":1,"pad":"` + strings.Repeat("x", contract.MaxPayloadBytes) + `"}`
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(big), false, now, nil)
	s := in.Stats()
	if s.Rejected[ReasonUnknownSite] != 1 || s.Rejected[contract.ReasonTooLarge] != 1 {
		t.Fatalf("rejected %v", s.Rejected)
	}
}

// TestClockSkewCorrected: an edge whose clock is two hours slow (a box
// without RTC) has its reading time shifted by the measured skew.
func TestClockSkewCorrected(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	recv := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	edgeNow := recv.Add(-2 * time.Hour)
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("a", "tw01", edgeNow.Add(-10*time.Second), edgeNow, 2)), false, recv, nil)
	// A reading queued for 30 minutes on an edge with a good clock keeps its time.
	in.Handle("countylink/tw05/tw05-e1/telemetry/cr1-th", []byte(telemetry("b", "tw05", recv.Add(-30*time.Minute), recv, 3)), false, recv, nil)
	waitCount(t, st, 2)
	got := map[string]time.Time{}
	for _, r := range st.readings {
		got[r.ID] = r.TS
	}
	if want := recv.Add(-10 * time.Second); !got["a"].Equal(want) {
		t.Errorf("skewed edge: ts %v, want %v", got["a"], want)
	}
	if want := recv.Add(-30 * time.Minute); !got["b"].Equal(want) {
		t.Errorf("queued reading: ts %v, want %v", got["b"], want)
	}
	if in.Stats().Corrected != 1 {
		t.Errorf("corrected %d, want 1", in.Stats().Corrected)
	}
}

// TestStoreOutageRetried: a failing store write is retried, never dropped.
func TestStoreOutageRetried(t *testing.T) {
	st := &memStore{fail: 3}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	now := time.Now()
	for i := 0; i < 5; i++ {
		in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry(contract.MessageID("tw01-e1", 1, uint64(i)), "tw01", now.Add(time.Duration(i)*time.Second), now, 2)), false, now, nil)
	}
	waitCount(t, st, 5)
	if s := in.Stats(); s.WriteErrors != 3 || s.Stored != 5 {
		t.Fatalf("write errors %d stored %d", s.WriteErrors, s.Stored)
	}
}

func TestStatusUpdatesEdge(t *testing.T) {
	st := &memStore{}
	in, s := newTestIngest(t, st)
	now := time.Now().UTC()
	b, _ := contract.Encode(contract.Status{Header: contract.Header{V: 1, ID: "s1", Site: "tw01", Edge: "tw01-e1", TS: now}, State: "online", Backlog: 7})
	in.Handle("countylink/tw01/tw01-e1/status", b, false, now, nil)
	e, ok := s.Edge("tw01", "tw01-e1")
	if !ok || !e.Online || e.Backlog != 7 || len(st.edges) != 1 {
		t.Fatalf("edge %+v %v, saved %d", e, ok, len(st.edges))
	}
}

func TestDedupBounded(t *testing.T) {
	d := newDedup(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		if d.seen(id) {
			t.Fatalf("%s seen too early", id)
		}
	}
	if !d.seen("a") || !d.seen("d") {
		t.Fatal("recent ids forgotten")
	}
	for _, id := range []string{"e", "f", "g", "h"} {
		d.seen(id)
	}
	if d.seen("a") {
		t.Fatal("an id older than two generations is still remembered")
	}
	if len(d.cur)+len(d.prev) > 6 {
		t.Fatalf("holds %d ids, bound is 6", len(d.cur)+len(d.prev))
	}
}

func BenchmarkHandle(b *testing.B) {
	st := &memStore{}
	sites := []hub.Site{{ID: "county", Name: "c", Kind: hub.County}, {ID: "tw01", Name: "a", Kind: hub.Township, Parent: "county"}}
	in := New(Config{QueueSize: b.N + 1}, st, st, state.New(sites, nil), new(metrics.Registry), slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Now()
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i] = []byte(telemetry(contract.MessageID("tw01-e1", 1, uint64(i)), "tw01", now, now, 2.5))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", payloads[i], false, now, nil)
	}
}

// refusingStore refuses any batch holding a reading with field "bad".
type refusingStore struct{ memStore }

func (r *refusingStore) WriteReadings(ctx context.Context, rs []*hub.Reading) error {
	for _, x := range rs {
		if _, bad := x.Fields["bad"]; bad {
			return fmt.Errorf("field type conflict: %w", hub.ErrRejected)
		}
	}
	return r.memStore.WriteReadings(ctx, rs)
}

// TestRefusedReadingIsolated: one reading the store refuses for its content
// does not block or take down the others in its batch.
func TestRefusedReadingIsolated(t *testing.T) {
	st := &refusingStore{}
	in, _ := newTestIngest(t, &st.memStore)
	in.series = st
	batch := make([]item, 9)
	for i := range batch {
		batch[i].r = &hub.Reading{ID: fmt.Sprint(i), Site: "tw01", Device: "d", TS: time.Unix(int64(i), 0), Fields: map[string]float64{"temperature": 1}}
	}
	batch[6].r.Fields = map[string]float64{"bad": 1}
	in.write(context.Background(), batch)
	if st.count() != 8 || in.storeRejected.Value() != 1 {
		t.Fatalf("stored %d, refused %d; want 8 and 1", st.count(), in.storeRejected.Value())
	}
}

// TestAckAfterStore: every message is acknowledged only once the batch
// holding it is stored, in arrival order, including messages with nothing
// to store (rejected, duplicate, status) that arrived between them.
func TestAckAfterStore(t *testing.T) {
	st := &memStore{fail: 2}
	in, _ := newTestIngest(t, st)
	var mu sync.Mutex
	var acked []string
	ack := func(name string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			// Every acknowledged reading must already be in the store.
			if strings.HasPrefix(name, "r") && st.count() == 0 {
				t.Errorf("%s acknowledged before it was stored", name)
			}
			acked = append(acked, name)
		}
	}
	now := time.Now()
	topic := "countylink/tw01/tw01-e1/telemetry/cr1-th"
	in.Handle(topic, []byte(telemetry("r1", "tw01", now, now, 1)), false, now, ack("r1"))
	in.Handle(topic, []byte("garbage"), false, now, ack("bad"))
	in.Handle(topic, []byte(telemetry("r1", "tw01", now, now, 1)), false, now, ack("dup"))
	in.Handle(topic, []byte(telemetry("r2", "tw01", now.Add(time.Second), now, 2)), false, now, ack("r2"))
	mu.Lock()
	if len(acked) != 0 {
		t.Fatalf("acknowledged before any write: %v", acked)
	}
	mu.Unlock()
	runWriter(t, in) // the first two writes fail, the third succeeds
	waitCount(t, st, 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(acked, ",") != "r1,bad,dup,r2" {
		t.Fatalf("acks %v, want r1,bad,dup,r2 in order", acked)
	}
}

func TestAutoAck(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	in.cfg.AutoAck = true
	done := false
	now := time.Now()
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("a", "tw01", now, now, 1)), false, now, func() { done = true })
	if !done {
		t.Fatal("auto-ack did not acknowledge on receipt")
	}
}

// seenMem is an in-memory SeenStore.
type seenMem struct {
	mu  sync.Mutex
	ids []string
}

func (s *seenMem) SaveSeen(_ context.Context, ids []string, _ time.Time) error {
	s.mu.Lock()
	s.ids = append(s.ids, ids...)
	s.mu.Unlock()
	return nil
}
func (s *seenMem) RecentSeen(context.Context, time.Time, int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...), nil
}
func (s *seenMem) PruneSeen(context.Context, time.Time) (int64, error) { return 0, nil }

// TestDedupSurvivesRestart: ids stored by one ingest are recognised by the
// next one started on the same SeenStore.
func TestDedupSurvivesRestart(t *testing.T) {
	seen := &seenMem{}
	now := time.Now()
	topic := "countylink/tw01/tw01-e1/telemetry/cr1-th"
	p := []byte(telemetry("tw01-e1-1-7", "tw01", now, now, 1))

	st1 := &memStore{}
	in1, _ := newTestIngest(t, st1)
	in1.cfg.SeenStore = seen
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in1.writeLoop(ctx); close(done) }()
	in1.Handle(topic, p, false, now, nil)
	waitCount(t, st1, 1)
	cancel()
	<-done

	st2 := &memStore{}
	in2, _ := newTestIngest(t, st2)
	in2.cfg.SeenStore = seen
	in2.loadSeen()
	runWriter(t, in2)
	in2.Handle(topic, p, false, now, nil)
	time.Sleep(30 * time.Millisecond) // three flush intervals
	if st2.count() != 0 || in2.Stats().Duplicates != 1 {
		t.Fatalf("after restart: stored %d, duplicates %d", st2.count(), in2.Stats().Duplicates)
	}
}

// TestClockImplausibleFlagged: a reading taken in 1970 (a box without RTC,
// queued, then sent after NTP set the clock and the agent restarted) is
// never stored as if from 1970 or from the future: it is stored at the
// receive time with a clock fault.
func TestClockImplausibleFlagged(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	recv := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("old", "tw01", time.Unix(1000, 0), recv, 2)), false, recv, nil)
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("future", "tw01", recv.Add(24*time.Hour), recv, 2)), false, recv, nil)
	waitCount(t, st, 2)
	for _, r := range st.readings {
		if !r.TS.Equal(recv) || !strings.Contains(r.Faults[ClockFault], "unsynchronised") {
			t.Errorf("%s: ts %v faults %v", r.ID, r.TS, r.Faults)
		}
	}
	if in.Stats().ClockFlagged != 2 {
		t.Errorf("flagged %d", in.Stats().ClockFlagged)
	}
}
