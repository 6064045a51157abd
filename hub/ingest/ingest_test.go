package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/state"
)

// memStore is an in-memory SeriesWriter and Store that can be told to fail.
type memStore struct {
	mu         sync.Mutex
	readings   []*hub.Reading
	latest     []*hub.Reading
	edges      []hub.EdgeState
	events     []*hub.ParcelEvent
	fail       int // next n writes fail
	failEvents int // next n event writes fail
}

func (m *memStore) SaveEvents(_ context.Context, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failEvents > 0 {
		m.failEvents--
		return nil, errors.New("event store down")
	}
	var stored []*hub.ParcelEvent
	for _, e := range evs {
		if !slices.ContainsFunc(m.events, func(x *hub.ParcelEvent) bool { return x.ID == e.ID }) {
			m.events = append(m.events, e)
			stored = append(stored, e)
		}
	}
	return stored, nil
}

func (m *memStore) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
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

// waitFor polls cond until it holds or 5 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	wantStored, wantEvents, wantRejected := 0, 0, map[contract.Reason]uint64{}
	for _, ex := range contract.Examples {
		in.Handle(ex.Topic, []byte(ex.Payload), false, now, nil)
		if ex.Reject != "" {
			wantRejected[ex.Reject]++
		} else if strings.Contains(ex.Topic, "/telemetry/") {
			wantStored++
		} else if strings.Contains(ex.Topic, "/event/") {
			wantEvents++
		}
	}
	if wantEvents == 0 {
		t.Error("the contract's examples hold no parcel event")
	}
	waitCount(t, st, wantStored)
	waitFor(t, "the examples' parcel events stored", func() bool { return st.eventCount() == wantEvents })
	waitFor(t, "the examples' exception counted", func() bool { return in.eventExceptions.Value(contract.ExceptionUnknown) == 1 })
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
// without RTC) has its reading times shifted by the offset the hub learns
// from its flow: the readings of its first window (clockWindow) are
// stored as the edge stamped them, since one message cannot tell a slow
// clock from a wait at the broker; every later one is corrected. An edge
// whose clock is ahead is corrected from its first message: no wait puts
// sent after recv. A reading that waited in a good edge's own queue keeps
// its time.
func TestClockSkewCorrected(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	recv0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for i := 0; i <= 10; i++ { // a reading every 5 s for 50 s
		recv := recv0.Add(time.Duration(i) * 5 * time.Second)
		edgeNow := recv.Add(-2 * time.Hour)
		in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry(fmt.Sprintf("a%d", i), "tw01", edgeNow.Add(-time.Second), edgeNow, 2)), false, recv, nil)
	}
	recv := recv0.Add(time.Minute)
	in.Handle("countylink/tw05/tw05-e1/telemetry/cr1-th", []byte(telemetry("queued", "tw05", recv.Add(-30*time.Minute), recv, 3)), false, recv, nil)
	ahead := recv.Add(10 * time.Minute)
	in.Handle("countylink/tw05/tw05-e1/telemetry/cr1-th", []byte(telemetry("ahead", "tw05", ahead.Add(-time.Second), ahead, 3)), false, recv, nil)
	waitCount(t, st, 13)
	got := map[string]time.Time{}
	for _, r := range st.readings {
		got[r.ID] = r.TS
	}
	for i := 0; i <= 10; i++ {
		recv := recv0.Add(time.Duration(i) * 5 * time.Second)
		want := recv.Add(-time.Second) // corrected
		if i < 6 {
			want = want.Add(-2 * time.Hour) // the first window: as stamped
		}
		if id := fmt.Sprintf("a%d", i); !got[id].Equal(want) {
			t.Errorf("slow edge's reading %s: ts %v, want %v", id, got[id], want)
		}
	}
	if want := recv.Add(-30 * time.Minute); !got["queued"].Equal(want) {
		t.Errorf("queued reading: ts %v, want %v", got["queued"], want)
	}
	if want := recv.Add(-time.Second); !got["ahead"].Equal(want) {
		t.Errorf("fast edge: ts %v, want %v", got["ahead"], want)
	}
	if in.Stats().Corrected != 6 {
		t.Errorf("corrected %d, want 6", in.Stats().Corrected)
	}
}

// TestBrokerBacklogKeepsTime: readings the broker kept while the hub was
// down arrive in a burst minutes after they were sent. They are not
// taken for a slow clock: a hub starting on such a backlog stores each at
// its own time, and an edge whose offset the hub learned before the
// outage has its backlog shifted by that offset, not by the wait.
func TestBrokerBacklogKeepsTime(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	up := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC) // the hub subscribes
	want := map[string]time.Time{}
	n := 0
	send := func(site string, offset time.Duration, sent, recv time.Time) {
		n++
		id := fmt.Sprintf("%s-%d", site, n)
		in.Handle("countylink/"+site+"/"+site+"-e1/telemetry/cr1-th", []byte(telemetry(id, site, sent.Add(-offset-time.Second), sent.Add(-offset), 2)), false, recv, nil)
		want[id] = sent.Add(-time.Second)
	}
	// tw05's clock is 2 h slow; the hub learns it from 40 s of live flow
	// before the outage.
	for i := 0; i < 8; i++ {
		at := up.Add(-20*time.Minute + time.Duration(i)*5*time.Second)
		send("tw05", 2*time.Hour, at, at)
	}
	// Ten minutes of both edges' readings (tw01's clock is good), sent
	// every 5 s while the hub was away, delivered in 240 ms when it
	// subscribes; then a minute of live flow.
	for i := 0; i < 120; i++ {
		sent := up.Add(-10*time.Minute + time.Duration(i)*5*time.Second)
		send("tw01", 0, sent, up.Add(time.Duration(i)*time.Millisecond))
		send("tw05", 2*time.Hour, sent, up.Add(time.Duration(i)*time.Millisecond+500*time.Microsecond))
	}
	for i := 0; i < 12; i++ {
		at := up.Add(time.Second + time.Duration(i)*5*time.Second)
		send("tw01", 0, at, at)
		send("tw05", 2*time.Hour, at, at)
	}
	waitCount(t, st, n)
	wrong := 0
	for _, r := range st.readings {
		w := want[r.ID]
		if strings.HasPrefix(r.ID, "tw05-") {
			var k int
			fmt.Sscanf(r.ID, "tw05-%d", &k)
			if k <= 6 { // its first 30 s, before the hub knew its clock
				w = w.Add(-2 * time.Hour)
			}
		}
		if !r.TS.Equal(w) {
			if wrong++; wrong <= 5 {
				t.Errorf("reading %s stored at %v, want %v", r.ID, r.TS, w)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d readings at the wrong time", wrong, n)
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
	if !ok || !e.Online || e.Backlog != 7 {
		t.Fatalf("edge %+v %v", e, ok)
	}
	// Saved with the writer's next flush.
	runWriter(t, in)
	waitFor(t, "the edge state saved", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.edges) == 1 && st.edges[0].Backlog == 7
	})
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

// BenchmarkHandle is one reading's way through Handle, as the agent sends
// it and accepted: decoded, validated, de-duplicated, checked against the
// edge's rate, applied to the live state and queued for the writer. The
// readings are a second apart, as one device's are, so none is over the
// rate (with one reading time for all, every reading after the burst
// would be dropped, and the benchmark would time the drop).
func BenchmarkHandle(b *testing.B) {
	st := &memStore{}
	sites := []hub.Site{{ID: "county", Name: "c", Kind: hub.County}, {ID: "tw01", Name: "a", Kind: hub.Township, Parent: "county"}}
	in := New(Config{QueueSize: b.N + 1}, st, st, state.New(sites, nil), new(metrics.Registry), slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Now()
	first := now.Add(-time.Duration(b.N) * time.Second)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i], _ = contract.Encode(contract.Telemetry{
			Header: contract.Header{V: 1, ID: contract.MessageID("tw01-e1", 1, uint64(i)), Site: "tw01", Edge: "tw01-e1",
				TS: first.Add(time.Duration(i) * time.Second), Sent: now},
			Device: "cr1-th", Room: "cr1",
			Fields: map[string]float64{"temperature": 2.5 + float64(i%40)/10, "humidity": 70 + float64(i%200)/10},
			Units:  map[string]string{"temperature": "Cel", "humidity": "%RH"}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", payloads[i], false, now, nil)
	}
	b.StopTimer()
	if len(in.queue) != b.N {
		b.Fatalf("%d of %d readings accepted", len(in.queue), b.N)
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

func event(id, station, kind string, ts, sent time.Time, weight float64) []byte {
	e := contract.ParcelEvent{
		Header: contract.Header{V: 1, ID: id, Site: "tw01", Edge: "tw01-e1", TS: ts, Sent: sent},
		Kind:   kind, Station: station, Waybill: "SF1234567890123", Carrier: "sf", Route: "r3", Bin: "b3", Rule: "manifest", PlanVersion: "1"}
	if weight > 0 {
		e.WeightKg = &weight
	}
	b, _ := contract.Encode(e)
	return b
}

const eventTopic = "countylink/tw01/tw01-e1/event/st1"

// TestEventStoredOnce: a parcel event re-delivered is stored and counted
// once, and reaches the site's counts and the live stream only once stored.
func TestEventStoredOnce(t *testing.T) {
	st := &memStore{}
	in, s := newTestIngest(t, st)
	seen := &seenMem{}
	in.cfg.SeenStore = seen
	now := time.Now()
	p := event("tw01-e1-1-1", "st1", contract.EventSorted, now, now, 1.25)
	for range 3 {
		in.Handle(eventTopic, p, false, now, nil)
	}
	if got := s.Parcels("tw01").Sorted; got != 0 {
		t.Fatalf("counted %d before it was stored", got)
	}
	runWriter(t, in)
	waitFor(t, "the event stored", func() bool { return st.eventCount() == 1 })
	waitFor(t, "the event counted", func() bool { return s.Parcels("tw01").Sorted == 1 })
	time.Sleep(30 * time.Millisecond) // three flush intervals: nothing more may arrive
	stats := in.Stats()
	if st.eventCount() != 1 || stats.Duplicates != 2 || stats.EventsStored != 1 || s.Parcels("tw01").Sorted != 1 {
		t.Fatalf("stored %d, duplicates %d, counted %d", st.eventCount(), stats.Duplicates, s.Parcels("tw01").Sorted)
	}
	if got := s.Parcels("tw01").WeightKg; got != 1.25 {
		t.Errorf("weight %v", got)
	}
	if e, ok := s.Edge("tw01", "tw01-e1"); !ok || !e.Online {
		t.Errorf("an event does not prove its edge online: %+v", e)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if !slices.Equal(seen.ids, []string{"tw01-e1-1-1"}) {
		t.Errorf("seen ids %v", seen.ids)
	}
}

// TestEventStoreOutage: a failing event store is retried; no event is
// acknowledged before it is stored, and acknowledgements keep arrival order
// across readings, events and rejected messages.
func TestEventStoreOutage(t *testing.T) {
	st := &memStore{failEvents: 3}
	in, _ := newTestIngest(t, st)
	var mu sync.Mutex
	var acked []string
	ack := func(name string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			if strings.HasPrefix(name, "ev") && st.eventCount() == 0 {
				t.Errorf("%s acknowledged before it was stored", name)
			}
			acked = append(acked, name)
		}
	}
	now := time.Now()
	in.Handle(eventTopic, event("ev1", "st1", contract.EventSorted, now, now, 1), false, now, ack("ev1"))
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("r1", "tw01", now, now, 1)), false, now, ack("r1"))
	// Another station's event on this station's topic: rejected, acknowledged in its turn.
	in.Handle(eventTopic, event("ev2", "st2", contract.EventSorted, now, now, 1), false, now, ack("wrong-station"))
	in.Handle(eventTopic, event("ev3", "st1", contract.EventConfirmed, now.Add(time.Second), now, 0), false, now, ack("ev3"))
	mu.Lock()
	if len(acked) != 0 {
		t.Fatalf("acknowledged before any write: %v", acked)
	}
	mu.Unlock()
	runWriter(t, in) // the first three event writes fail
	waitFor(t, "four acknowledgements", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(acked, ","); got != "ev1,r1,wrong-station,ev3" {
		t.Fatalf("acks %s, want ev1,r1,wrong-station,ev3", got)
	}
	s := in.Stats()
	if s.EventWriteErrors != 3 || s.EventsStored != 2 || st.eventCount() != 2 || s.Rejected[contract.ReasonIdentity] != 1 {
		t.Fatalf("write errors %d, stored %d (%d in the store), identity rejections %d",
			s.EventWriteErrors, s.EventsStored, st.eventCount(), s.Rejected[contract.ReasonIdentity])
	}
}

// TestEventAbandonedAtShutdown: an event the store never took is not
// acknowledged, so the broker delivers it again.
func TestEventAbandonedAtShutdown(t *testing.T) {
	st := &memStore{failEvents: 1 << 30}
	in, _ := newTestIngest(t, st)
	acked := false
	now := time.Now()
	in.Handle(eventTopic, event("ev1", "st1", contract.EventSorted, now, now, 1), false, now, func() { acked = true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.writeLoop(ctx); close(done) }()
	waitFor(t, "a failed write", func() bool { return in.Stats().EventWriteErrors > 0 })
	cancel()
	<-done
	if acked || st.eventCount() != 0 {
		t.Fatalf("acked %v, stored %d", acked, st.eventCount())
	}
}

// TestEventClock: event times are corrected for clock skew like readings,
// and an implausible one is stored at the receive time with a clock fault.
func TestEventClock(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	runWriter(t, in)
	recv := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	edgeNow := recv.Add(-2 * time.Hour)
	// The hub learns the edge's slow clock from its flow first (see
	// TestClockSkewCorrected).
	for i := 7; i > 0; i-- {
		at := recv.Add(-time.Duration(i) * 5 * time.Second)
		in.Handle(eventTopic, event(fmt.Sprintf("warm%d", i), "st1", contract.EventSorted, at.Add(-2*time.Hour), at.Add(-2*time.Hour), 1), false, at, nil)
	}
	in.Handle(eventTopic, event("skewed", "st1", contract.EventSorted, edgeNow.Add(-10*time.Second), edgeNow, 1), false, recv, nil)
	// Queued 30 minutes on the edge: it keeps its time, in the hub's clock.
	in.Handle(eventTopic, event("queued", "st1", contract.EventSorted, edgeNow.Add(-30*time.Minute), edgeNow, 1), false, recv, nil)
	in.Handle(eventTopic, event("1970", "st1", contract.EventSorted, time.Unix(1000, 0), recv, 1), false, recv, nil)
	waitFor(t, "the events stored", func() bool { return st.eventCount() == 10 })
	st.mu.Lock()
	defer st.mu.Unlock()
	got := map[string]*hub.ParcelEvent{}
	for _, e := range st.events {
		got[e.ID] = e
	}
	if want := recv.Add(-10 * time.Second); !got["skewed"].TS.Equal(want) || got["skewed"].ClockFault != "" {
		t.Errorf("skewed edge: ts %v, want %v", got["skewed"].TS, want)
	}
	if want := recv.Add(-30 * time.Minute); !got["queued"].TS.Equal(want) {
		t.Errorf("queued event: ts %v, want %v", got["queued"].TS, want)
	}
	if e := got["1970"]; !e.TS.Equal(recv) || !strings.Contains(e.ClockFault, "unsynchronised") {
		t.Errorf("1970 event: ts %v, clock fault %q", e.TS, e.ClockFault)
	}
	for _, e := range got {
		if !e.Recv.Equal(recv) && !strings.HasPrefix(e.ID, "warm") {
			t.Errorf("%s: recv %v", e.ID, e.Recv)
		}
	}
}

type resultsFunc func(r *contract.Result, recv time.Time) bool

func (f resultsFunc) HandleResult(r *contract.Result, recv time.Time) bool { return f(r, recv) }

// TestResultsRouted: every command result goes to the result handler.
func TestResultsRouted(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	var got []string
	in.cfg.Results = resultsFunc(func(r *contract.Result, _ time.Time) bool { got = append(got, r.Command); return true })
	for _, ex := range contract.Examples {
		if strings.HasSuffix(ex.Topic, "/result") && ex.Reject == "" {
			in.Handle(ex.Topic, []byte(ex.Payload), false, time.Now(), nil)
		}
	}
	if len(got) == 0 || got[0] != "hub-1" {
		t.Fatalf("results handed on: %v", got)
	}
}

// TestPublishNotConnected: a command is refused at once while the ingest
// has no broker connection, rather than queued for later.
func TestPublishNotConnected(t *testing.T) {
	in, _ := newTestIngest(t, &memStore{})
	if err := in.Publish(context.Background(), "countylink/tw01/tw01-e1/cmd/ping", []byte("{}")); !errors.Is(err, hub.ErrNotConnected) {
		t.Fatalf("err %v", err)
	}
}

// TestOnStored: the hook sees each parcel event once, once stored and
// counted, and not one the store had already (another replica stored it).
func TestOnStored(t *testing.T) {
	now := time.Now()
	had := &hub.ParcelEvent{ID: "tw01-e1-1-2"}
	st := &memStore{events: []*hub.ParcelEvent{had}}
	in, s := newTestIngest(t, st)
	var mu sync.Mutex
	var got []string
	in.cfg.OnStored = func(evs []*hub.ParcelEvent) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			if s.Parcels("tw01").Sorted == 0 {
				t.Errorf("%s reported before it was counted", ev.ID)
			}
			got = append(got, ev.ID)
		}
	}
	for _, id := range []string{"tw01-e1-1-1", "tw01-e1-1-1", "tw01-e1-1-2"} {
		in.Handle(eventTopic, event(id, "st1", contract.EventSorted, now, now, 1), false, now, nil)
	}
	runWriter(t, in)
	waitFor(t, "the event stored", func() bool { return st.eventCount() == 2 })
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"tw01-e1-1-1"}) {
		t.Errorf("OnStored saw %v; want the one event stored now, once", got)
	}
}
