package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
)

// StateStore is what the hub keeps besides the parcels and the time
// series, which both *sqlite.DB and *postgres.DB are: the latest readings,
// the edges' states, the seen message ids, the alarms and named values.
type StateStore interface {
	hub.StateStore
	SaveEdges(ctx context.Context, es []hub.EdgeState) error
	hub.SeenStore
	hub.AlarmStore
	hub.KV
}

// State runs the behaviour tests of the hub's state, each as a subtest on
// a store of its own from open, which must return an empty store and
// close it at the test's cleanup. Besides what one hub relies on, they
// check what several hubs writing the same store at once rely on: the
// newest reading of a device and the latest state of an edge win, not
// the last writer.
func State(t *testing.T, open func(t *testing.T) StateStore) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, StateStore)
	}{
		{"Alarms", testAlarms},
		{"AlarmFilter", testAlarmFilter},
		{"Latest", testLatest},
		{"ConcurrentLatest", testConcurrentLatest},
		{"Edges", testEdges},
		{"ConcurrentEdges", testConcurrentEdges},
		{"Seen", testSeen},
		{"KV", testKV},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

var stateT0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

// testAlarms: a transition replaces the alarm's record and is appended to
// its history, a batch in its order.
func testAlarms(t *testing.T, db StateStore) {
	ctx := context.Background()
	t0 := stateT0
	row := hub.AlarmRow{ID: "tw01.cr1.high.1", Site: "tw01", Room: "cr1", Edge: "tw01-e1", Source: "cr1", Kind: "high", Severity: "critical",
		State: "active", Raised: t0, Updated: t0, Record: []byte(`{"id":"tw01.cr1.high.1","state":"active"}`)}
	if err := db.SaveAlarmChanges(ctx, []hub.AlarmChange{{Alarm: row, At: t0, Event: "raised"}}); err != nil {
		t.Fatal(err)
	}
	acked := row
	acked.State, acked.Updated, acked.Record = "acknowledged", t0.Add(time.Minute), []byte(`{"id":"tw01.cr1.high.1","state":"acknowledged"}`)
	updated := acked
	updated.Severity, updated.Updated, updated.Record = "warning", t0.Add(2*time.Minute), []byte(`{"id":"tw01.cr1.high.1","state":"acknowledged","n":2}`)
	if err := db.SaveAlarmChanges(ctx, []hub.AlarmChange{
		{Alarm: acked, At: t0.Add(time.Minute), Event: "acknowledged", By: "王芳"},
		{Alarm: updated, At: t0.Add(2 * time.Minute), Event: "updated"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveAlarmChanges(ctx, nil); err != nil {
		t.Errorf("no transitions: %v", err)
	}
	got, err := db.Alarms(ctx, hub.AlarmFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("alarms %+v, %v", got, err)
	}
	if !reflect.DeepEqual(got[0], updated) {
		t.Errorf("alarm\n got %+v\nwant %+v", got[0], updated)
	}
	h, err := db.AlarmHistory(ctx, row.ID)
	if err != nil || len(h) != 3 {
		t.Fatalf("history %+v, %v", h, err)
	}
	for i, want := range []struct {
		event, by string
		at        time.Time
		rec       []byte
	}{{"raised", "", t0, row.Record}, {"acknowledged", "王芳", t0.Add(time.Minute), acked.Record}, {"updated", "", t0.Add(2 * time.Minute), updated.Record}} {
		c := h[i]
		if c.Event != want.event || c.By != want.by || !c.At.Equal(want.at) || c.At.Location() != time.UTC || c.Alarm.ID != row.ID || !bytes.Equal(c.Alarm.Record, want.rec) {
			t.Errorf("history[%d] = %+v, want %s by %q at %v", i, c, want.event, want.by, want.at)
		}
	}
	if h, err := db.AlarmHistory(ctx, "nope"); err != nil || len(h) != 0 {
		t.Errorf("history of an unknown alarm %+v, %v", h, err)
	}
}

// testAlarmFilter: by site, by states, raised before, newest first, at
// most the limit.
func testAlarmFilter(t *testing.T, db StateStore) {
	ctx := context.Background()
	var cs []hub.AlarmChange
	for i, a := range []struct{ site, state string }{
		{"tw01", "active"}, {"tw02", "cleared"}, {"tw01", "acknowledged"}, {"tw01", "cleared"}, {"tw02", "active"},
	} {
		at := stateT0.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("%s.cr1.high.%d", a.site, i)
		cs = append(cs, hub.AlarmChange{At: at, Event: "raised", Alarm: hub.AlarmRow{ID: id, Site: a.site, Room: "cr1", Edge: a.site + "-e1",
			Source: "cr1", Kind: "high", Severity: "warning", State: a.state, Raised: at, Updated: at, Record: []byte(`{}`)}})
	}
	if err := db.SaveAlarmChanges(ctx, cs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    hub.AlarmFilter
		want []int // indexes into cs, in order
	}{
		{"all", hub.AlarmFilter{}, []int{4, 3, 2, 1, 0}},
		{"site", hub.AlarmFilter{Site: "tw01"}, []int{3, 2, 0}},
		{"open", hub.AlarmFilter{States: []string{"active", "acknowledged"}}, []int{4, 2, 0}},
		{"cleared of tw02", hub.AlarmFilter{Site: "tw02", States: []string{"cleared"}}, []int{1}},
		{"before", hub.AlarmFilter{Before: stateT0.Add(3 * time.Minute)}, []int{2, 1, 0}},
		{"limit", hub.AlarmFilter{Limit: 2}, []int{4, 3}},
		{"none", hub.AlarmFilter{Site: "tw09"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Alarms(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids, want []string
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			for _, i := range tc.want {
				want = append(want, cs[i].Alarm.ID)
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("got %v, want %v", ids, want)
			}
		})
	}
}

func reading(site, device string, at time.Time, v float64) *hub.Reading {
	return &hub.Reading{ID: fmt.Sprintf("%s-%s-%d", site, device, at.UnixMilli()), Site: site, Edge: site + "-e1", Device: device, Room: "cr1",
		TS: at, Fields: map[string]float64{"temperature": v}, Faults: map[string]string{}}
}

// testLatest: a device's newest reading is kept, whatever order they come
// in, with its fields and faults; values JSON cannot hold are left out.
func testLatest(t *testing.T, db StateStore) {
	ctx := context.Background()
	if rs, err := db.Latest(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("empty store: %v, %v", rs, err)
	}
	newer := reading("tw01", "cr1-th", stateT0.Add(time.Minute), 3.5)
	newer.Fields["humidity"] = 81
	newer.Faults["door"] = "no answer"
	older := reading("tw01", "cr1-th", stateT0, 2)
	odd := reading("tw01", "cr2-th", stateT0, math.NaN())
	odd.Fields["humidity"] = math.Inf(1)
	odd.Fields["battery"] = 3.1
	other := reading("tw02", "cr1-th", stateT0.Add(time.Second), -18)
	first := reading("tw02", "cr1-th", stateT0, -17) // same device in one batch: the newer counts
	if err := db.SaveLatest(ctx, []*hub.Reading{newer, odd, other, first, nil}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLatest(ctx, []*hub.Reading{older}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Latest(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("latest %v, %v", got, err)
	}
	oddWant := *odd
	oddWant.Fields = map[string]float64{"battery": 3.1}
	for i, want := range []*hub.Reading{newer, &oddWant, other} {
		if g := got[i]; g.ID != want.ID || g.Site != want.Site || g.Device != want.Device || g.Edge != want.Edge || g.Room != want.Room ||
			!g.TS.Equal(want.TS) || g.TS.Location() != time.UTC || !reflect.DeepEqual(g.Fields, want.Fields) || !reflect.DeepEqual(g.Faults, want.Faults) {
			t.Errorf("latest[%d]\n got %+v\nwant %+v", i, g, want)
		}
	}
	// The same time replaces: a re-sent message, or a correction.
	again := reading("tw01", "cr1-th", stateT0.Add(time.Minute), 4)
	if err := db.SaveLatest(ctx, []*hub.Reading{again}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Latest(ctx); len(got) != 3 || got[0].Fields["temperature"] != 4 {
		t.Errorf("a reading of the same time does not replace: %+v", got[0])
	}
}

// testConcurrentLatest: hubs saving readings of the same devices at once,
// in every order, leave each device's newest reading.
func testConcurrentLatest(t *testing.T, db StateStore) {
	ctx := context.Background()
	const writers, devices, rounds = 6, 8, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				var batch []*hub.Reading
				for _, d := range rng.Perm(devices) {
					// Times are unique per writer and round: the newest is
					// writer w's at round rounds-1 for some w.
					at := stateT0.Add(time.Duration(rng.IntN(rounds*writers*10)) * time.Second).Add(time.Duration(w) * time.Millisecond)
					batch = append(batch, reading("tw01", fmt.Sprintf("d%d", d), at, float64(w*1000+r)))
				}
				if err := db.SaveLatest(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Each writer's readings are reproducible: find the newest per device.
	newest := map[string]time.Time{}
	for w := range writers {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		for range rounds {
			for _, d := range rng.Perm(devices) {
				at := stateT0.Add(time.Duration(rng.IntN(rounds*writers*10)) * time.Second).Add(time.Duration(w) * time.Millisecond)
				if dev := fmt.Sprintf("d%d", d); at.After(newest[dev]) {
					newest[dev] = at
				}
			}
		}
	}
	got, err := db.Latest(ctx)
	if err != nil || len(got) != devices {
		t.Fatalf("latest %d readings, %v", len(got), err)
	}
	for _, r := range got {
		if !r.TS.Equal(newest[r.Device]) {
			t.Errorf("%s: latest at %v, the newest saved is at %v", r.Device, r.TS, newest[r.Device])
		}
	}
}

// testEdges: an edge's state is replaced by one seen at the same time or
// later, never by one seen earlier; never seen counts as earliest.
func testEdges(t *testing.T, db StateStore) {
	ctx := context.Background()
	seen := stateT0.Add(5 * time.Millisecond)
	online := hub.EdgeState{Site: "tw02", Edge: "tw02-e2", Online: true, LastSeen: seen, Agent: "edge-agent/0.3", Backlog: 12}
	never := hub.EdgeState{Site: "tw01", Edge: "tw01-e1"}
	offline := hub.EdgeState{Site: "tw02", Edge: "tw02-e2", Online: false, LastSeen: seen.Add(time.Minute), Agent: "edge-agent/0.3"}
	stale := hub.EdgeState{Site: "tw02", Edge: "tw02-e2", Online: true, LastSeen: seen, Agent: "edge-agent/0.2", Backlog: 99}
	for _, e := range []hub.EdgeState{online, never, offline, stale} {
		if err := db.SaveEdge(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hub.EdgeState{never, offline}; !reflect.DeepEqual(got, want) {
		t.Errorf("edges\n got %+v\nwant %+v", got, want)
	}
	// Several in one transaction; the never-seen edge is seen now.
	seenNow := hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: true, LastSeen: seen.Add(2 * time.Minute), Agent: "edge-agent/0.3", Backlog: 1}
	third := hub.EdgeState{Site: "tw03", Edge: "tw03-e1", Online: true, LastSeen: seen}
	if err := db.SaveEdges(ctx, []hub.EdgeState{seenNow, stale, third}); err != nil {
		t.Fatal(err)
	}
	got, err = db.Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hub.EdgeState{seenNow, offline, third}; !reflect.DeepEqual(got, want) {
		t.Errorf("edges after SaveEdges\n got %+v\nwant %+v", got, want)
	}
	if err := db.SaveEdges(ctx, nil); err != nil {
		t.Errorf("no edges: %v", err)
	}
}

// testConcurrentEdges: hubs saving the states of the same edges at once
// leave each edge's latest-seen state.
func testConcurrentEdges(t *testing.T, db StateStore) {
	ctx := context.Background()
	const writers, edges, rounds = 6, 8, 15
	at := func(w, r, e int) time.Time {
		// Unique per writer, round and edge; not increasing with rounds.
		return stateT0.Add(time.Duration((r*7+w*13+e*5)%97) * time.Second).Add(time.Duration(w) * time.Millisecond)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				var batch []hub.EdgeState
				for e := range edges {
					batch = append(batch, hub.EdgeState{Site: "tw01", Edge: fmt.Sprintf("tw01-e%d", e), Online: r%2 == 0,
						LastSeen: at(w, r, e), Agent: fmt.Sprintf("w%d", w), Backlog: int64(r)})
				}
				var err error
				if r%2 == 0 {
					err = db.SaveEdges(ctx, batch)
				} else {
					for _, e := range batch {
						if err = db.SaveEdge(ctx, e); err != nil {
							break
						}
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := db.Edges(ctx)
	if err != nil || len(got) != edges {
		t.Fatalf("edges %d, %v", len(got), err)
	}
	for i, e := range got {
		var want time.Time
		var agent string
		for w := range writers {
			for r := range rounds {
				if a := at(w, r, i); a.After(want) {
					want, agent = a, fmt.Sprintf("w%d", w)
				}
			}
		}
		if !e.LastSeen.Equal(want) || e.Agent != agent {
			t.Errorf("%s: last seen %v by %s, the latest saved is %v by %s", e.Edge, e.LastSeen, e.Agent, want, agent)
		}
	}
}

// testSeen: ids recorded are found since a time, newest first, at most a
// limit, and forgotten before a time.
func testSeen(t *testing.T, db StateStore) {
	ctx := context.Background()
	if err := db.SaveSeen(ctx, nil, stateT0); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSeen(ctx, []string{"a", "b", "a"}, stateT0); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSeen(ctx, []string{"c"}, stateT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSeen(ctx, []string{"d", "b"}, stateT0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ids, err := db.RecentSeen(ctx, stateT0.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[2] != "c" || !((ids[0] == "b" && ids[1] == "d") || (ids[0] == "d" && ids[1] == "b")) {
		t.Errorf("recent %v, want b and d then c", ids)
	}
	if ids, _ := db.RecentSeen(ctx, stateT0, 2); len(ids) != 2 {
		t.Errorf("limit 2: %v", ids)
	}
	n, err := db.PruneSeen(ctx, stateT0.Add(90*time.Second))
	if err != nil || n != 2 { // a and c; b was seen again
		t.Errorf("pruned %d, %v; want 2", n, err)
	}
	if ids, _ := db.RecentSeen(ctx, time.Time{}, 10); len(ids) != 2 {
		t.Errorf("after pruning %v", ids)
	}
}

// testKV: a missing name is nil; a value replaces the one before.
func testKV(t *testing.T, db StateStore) {
	ctx := context.Background()
	if v, err := db.Get(ctx, "alarm-engine"); v != nil || err != nil {
		t.Fatalf("missing: %q, %v", v, err)
	}
	bin := []byte{0, 1, 2, 0xff, 'x'}
	for _, v := range [][]byte{[]byte("one"), []byte(`{"v":1,"名":"王"}`), bin} {
		if err := db.Put(ctx, "alarm-engine", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Get(ctx, "alarm-engine"); err != nil || !bytes.Equal(got, v) {
			t.Errorf("get %q, %v; want %q", got, err, v)
		}
	}
	if err := db.Put(ctx, "sortplan/tw01", []byte("plan")); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get(ctx, "alarm-engine"); !bytes.Equal(got, bin) {
		t.Errorf("another name changed it: %q", got)
	}
}
