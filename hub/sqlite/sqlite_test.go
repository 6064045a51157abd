package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/countylink/countylink/hub"
)

func open(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestOpenSettings(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "1", // NORMAL
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"user_version": fmt.Sprint(len(migrations)),
	} {
		var got string
		if err := db.write.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if _, err := db.read.ExecContext(ctx, "DELETE FROM edges"); err == nil {
		t.Error("the read pool can write")
	}
	db.Close()

	// Opening again applies no step twice.
	db, err := Open(path)
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	// A file from a newer hub is refused rather than misread.
	if _, err := db.write.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		if db != nil {
			db.Close()
		}
		t.Errorf("open of a newer schema: err = %v", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db"),
		filepath.Join(t.TempDir(), "missing", "hub.db")} {
		if db, err := Open(path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestWriteAndQuery(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	rs := []*hub.Reading{
		{ID: "e1-2", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0.Add(10*time.Second + 999*time.Microsecond),
			Fields: map[string]float64{"t": 3.5, "rh": 80}},
		{ID: "e1-1", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0,
			Fields: map[string]float64{"t": 3.25, "rh": 81.5}},
		{ID: "e1-3", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0.Add(20 * time.Second),
			Faults: map[string]string{"t": "modbus timeout", "rh": "modbus timeout"}},
		{ID: "e1-4", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0.Add(30 * time.Second),
			Fields: map[string]float64{"t": -1}, Faults: map[string]string{"rh": "out of range"}},
		{ID: "e2-1", Site: "t02", Edge: "e2", Device: "th1", TS: t0, Fields: map[string]float64{"t": 9}},
		nil,
		{ID: "e2-2", Site: "t02", Edge: "e2", Device: "th1", Fields: map[string]float64{"t": 1}}, // no time
	}
	if err := db.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name             string
		site, dev, field string
		from, to         time.Time
		want             []Sample
	}{
		{"all t", "t01", "th1", "t", time.Time{}, time.Time{}, []Sample{
			{t0, 3.25}, {t0.Add(10 * time.Second), 3.5}, {t0.Add(30 * time.Second), -1}}},
		{"rh from", "t01", "th1", "rh", t0.Add(time.Second), time.Time{}, []Sample{{t0.Add(10 * time.Second), 80}}},
		{"both ends included", "t01", "th1", "t", t0, t0.Add(10 * time.Second), []Sample{
			{t0, 3.25}, {t0.Add(10 * time.Second), 3.5}}},
		{"other site", "t02", "th1", "t", time.Time{}, time.Time{}, []Sample{{t0, 9}}},
		{"unknown field", "t01", "th1", "kg", time.Time{}, time.Time{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Query(ctx, tc.site, tc.dev, tc.field, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	got := rowsOf(t, db, `SELECT site, edge, device, room, field, ts_ms, text FROM faults ORDER BY ts_ms, field`)
	want := []string{
		"t01 e1 th1 cold1 rh 1740816020000 modbus timeout",
		"t01 e1 th1 cold1 t 1740816020000 modbus timeout",
		"t01 e1 th1 cold1 rh 1740816030000 out of range",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("faults:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := rowsOf(t, db, `SELECT room FROM readings WHERE site = 't02'`); !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("room of a reading without one: %q", got)
	}
}

// rowsOf returns the rows of a query as space-separated values.
func rowsOf(t *testing.T, db *DB, query string) []string {
	t.Helper()
	rows, err := db.read.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteTwiceKeepsOneValue(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	rs := testReadings(400, t0)
	for i := range 2 {
		if err := db.WriteReadings(ctx, rs); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	values, faults := 0, 0
	for _, r := range rs {
		values += len(r.Fields)
		faults += len(r.Faults)
	}
	if n := count(t, db, "readings"); n != values {
		t.Errorf("%d values stored after writing %d twice", n, values)
	}
	if n := count(t, db, "faults"); n != faults {
		t.Errorf("%d faults stored after writing %d twice", n, faults)
	}

	// A re-sent reading with another value replaces the stored one.
	r := *rs[0]
	r.Fields = map[string]float64{"t": 42}
	if err := db.WriteReadings(ctx, []*hub.Reading{&r}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Query(ctx, r.Site, r.Device, "t", r.TS, r.TS)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Sample{{r.TS, 42}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after re-write: %v, want %v", got, want)
	}
}

func TestNonFiniteValue(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	r := &hub.Reading{ID: "x", Site: "t01", Edge: "e1", Device: "th1", TS: t0, Fields: map[string]float64{"t": math.NaN(), "rh": 50}}
	if err := db.WriteReadings(ctx, []*hub.Reading{r}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLatest(ctx, []*hub.Reading{r}); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db, `SELECT field, text FROM faults`); !reflect.DeepEqual(got, []string{"t value NaN"}) {
		t.Errorf("faults: %q", got)
	}
	if n := count(t, db, "readings"); n != 1 {
		t.Errorf("%d values stored, want 1", n)
	}
}

func TestSaveLatestKeepsNewer(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	mk := func(id string, ts time.Time, v float64) *hub.Reading {
		return &hub.Reading{ID: id, Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: ts, Fields: map[string]float64{"t": v}}
	}
	other := &hub.Reading{ID: "o1", Site: "t02", Edge: "e2", Device: "th9", TS: t0,
		Faults: map[string]string{"t": "modbus timeout"}}
	steps := []struct {
		name string
		save []*hub.Reading
		want []*hub.Reading
	}{
		{"first", []*hub.Reading{mk("a", t0.Add(time.Minute), 3), other}, []*hub.Reading{mk("a", t0.Add(time.Minute), 3), other}},
		{"older is ignored", []*hub.Reading{mk("b", t0, 5)}, []*hub.Reading{mk("a", t0.Add(time.Minute), 3), other}},
		{"newer replaces", []*hub.Reading{mk("c", t0.Add(2*time.Minute), 4)}, []*hub.Reading{mk("c", t0.Add(2*time.Minute), 4), other}},
		// Within one batch too, whatever the order.
		{"newest of a batch", []*hub.Reading{mk("e", t0.Add(4*time.Minute), 7), mk("d", t0.Add(3*time.Minute), 6)},
			[]*hub.Reading{mk("e", t0.Add(4*time.Minute), 7), other}},
	}
	for _, s := range steps {
		if err := db.SaveLatest(ctx, s.save); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.Latest(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: got %s, want %s", s.name, show(got), show(s.want))
		}
	}
}

func show(rs []*hub.Reading) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%+v ", *r)
	}
	return b.String()
}

func TestEdges(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	seen := time.Date(2025, 3, 1, 8, 0, 0, 5_000_000, time.UTC)
	save := []hub.EdgeState{
		{Site: "t02", Edge: "e2", Online: true, LastSeen: seen, Agent: "edge-agent/0.3", Backlog: 12},
		{Site: "t01", Edge: "e1"}, // never seen
		{Site: "t02", Edge: "e2", Online: false, LastSeen: seen.Add(time.Minute), Agent: "edge-agent/0.3", Backlog: 0},
	}
	for _, e := range save {
		if err := db.SaveEdge(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []hub.EdgeState{save[1], save[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestSurvivesReopen(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	rs := testReadings(100, t0)
	if err := db.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLatest(ctx, rs[len(rs)-4:]); err != nil {
		t.Fatal(err)
	}
	edge := hub.EdgeState{Site: "t01", Edge: "edge-t01", Online: true, LastSeen: t0, Agent: "a/1", Backlog: 3}
	if err := db.SaveEdge(ctx, edge); err != nil {
		t.Fatal(err)
	}
	wantSamples, _ := db.Query(ctx, rs[0].Site, rs[0].Device, "t", time.Time{}, time.Time{})
	wantLatest, _ := db.Latest(ctx)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	samples, err := db.Query(ctx, rs[0].Site, rs[0].Device, "t", time.Time{}, time.Time{})
	if err != nil || len(samples) == 0 || !reflect.DeepEqual(samples, wantSamples) {
		t.Errorf("samples after reopen: %v, %v; want %v", samples, err, wantSamples)
	}
	latest, err := db.Latest(ctx)
	if err != nil || len(latest) != 4 || !reflect.DeepEqual(latest, wantLatest) {
		t.Errorf("latest after reopen: %s, %v; want %s", show(latest), err, show(wantLatest))
	}
	edges, err := db.Edges(ctx)
	if err != nil || !reflect.DeepEqual(edges, []hub.EdgeState{edge}) {
		t.Errorf("edges after reopen: %+v, %v", edges, err)
	}
}

// commits counts the transactions committed on the write connection.
func commits(t testing.TB, db *DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	conn, err := db.write.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The pool has this one connection, so every later write uses it.
	defer conn.Close()
	err = conn.Raw(func(c any) error {
		c.(msqlite.HookRegisterer).RegisterCommitHook(func() int32 { n.Add(1); return 0 })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestBatchIsOneTransaction(t *testing.T) {
	db, _ := open(t)
	rs := testReadings(5000, t0)
	n := commits(t, db)
	start := time.Now()
	if err := db.WriteReadings(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	t.Logf("5000 readings in %v", time.Since(start))
	if got := n.Load(); got != 1 {
		t.Errorf("%d commits for one batch, want 1", got)
	}
	values := 0
	for _, r := range rs {
		values += len(r.Fields)
	}
	if got := count(t, db, "readings"); got != values {
		t.Errorf("%d values stored, want %d", got, values)
	}
}

// A batch that fails partway leaves nothing behind.
func TestFailedBatchLeavesNothing(t *testing.T) {
	db, _ := open(t)
	rs := testReadings(5000, t0)
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel from inside the transaction, when the first value is stored.
	var once atomic.Bool
	conn, err := db.write.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn.Raw(func(c any) error {
		c.(msqlite.HookRegisterer).RegisterPreUpdateHook(func(msqlite.SQLitePreUpdateData) {
			if once.CompareAndSwap(false, true) {
				cancel()
			}
		})
		return nil
	})
	conn.Close()
	if err := db.WriteReadings(ctx, rs); err == nil {
		t.Fatal("write with its context cancelled midway succeeded")
	}
	if n := count(t, db, "readings") + count(t, db, "faults"); n != 0 {
		t.Errorf("%d rows stored by a failed batch", n)
	}
}

// testReadings returns n readings of n/4 temperature-humidity devices across
// sites, one every 10 s per device from t0; one in a hundred has faults only.
func testReadings(n int, t0 time.Time) []*hub.Reading {
	rs := make([]*hub.Reading, n)
	devices := max(n/4, 1)
	for i := range rs {
		d := i % devices
		site := fmt.Sprintf("t%02d", d%19+1)
		r := &hub.Reading{
			ID:     fmt.Sprintf("e%d-%d", d, i),
			Site:   site,
			Edge:   "edge-" + site,
			Device: fmt.Sprintf("th%d", d),
			Room:   fmt.Sprintf("cold%d", d%3+1),
			TS:     t0.Add(time.Duration(i/devices) * 10 * time.Second).Add(time.Duration(d) * time.Millisecond),
			Fields: map[string]float64{"t": 2 + float64(i%40)/10, "rh": 70 + float64(i%200)/10, "door": float64(i % 2)},
		}
		if i%100 == 99 {
			r.Fields = nil
			r.Faults = map[string]string{"t": "modbus timeout", "rh": "modbus timeout", "door": "gpio read failed"}
		}
		rs[i] = r
	}
	return rs
}

// BenchmarkWriteReadings writes batches of 5,000 readings (3 values each)
// into a growing file.
func BenchmarkWriteReadings(b *testing.B) {
	db, _ := open(b)
	ctx := context.Background()
	const batch = 5000
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rs := testReadings(batch, t0.Add(time.Duration(round)*time.Hour))
		round++
		b.StartTimer()
		if err := db.WriteReadings(ctx, rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "readings/s")
}

func TestSeen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	if err := db.SaveSeen(ctx, []string{"a", "b"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSeen(ctx, []string{"c"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := db.RecentSeen(ctx, t0.Add(30*time.Minute), 10)
	if err != nil || len(ids) != 1 || ids[0] != "c" {
		t.Fatalf("recent %v %v", ids, err)
	}
	if n, err := db.PruneSeen(ctx, t0.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if ids, _ := db.RecentSeen(ctx, time.Time{}, 10); len(ids) != 1 {
		t.Fatalf("after prune %v", ids)
	}
}

// BenchmarkSaveSeen saves the ids of one ingest batch, 5,000 messages
// from 20 edges, as the ingest does after each write.
func BenchmarkSaveSeen(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const batch = 5000
	ids := make([]string, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ids {
			k := i*batch + j // as contract.MessageID makes them
			ids[j] = "tw01-e" + strconv.Itoa(k%20) + "-1-" + strconv.Itoa(k/20)
		}
		if err := db.SaveSeen(ctx, ids, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "ids/s")
}

func testEvent(id, site, kind string, ts time.Time, weight *float64, exception string) *hub.ParcelEvent {
	e := &hub.ParcelEvent{ID: id, Site: site, Edge: site + "-e1", Station: "st1", Kind: kind, Waybill: "SF" + id,
		Carrier: "sf", Route: "r3", Bin: "b3", Rule: "manifest", PlanVersion: "2026-11-29.1", WeightKg: weight,
		TS: ts, Recv: ts.Add(time.Second)}
	if exception != "" {
		e.Route, e.Bin, e.Rule, e.Exception, e.WeighError = "", "x", "none", exception, "scale: weight not stable"
	}
	return e
}

func kg(v float64) *float64 { return &v }

// TestEventsMigration: a file written by a hub before parcel events gains
// the table on open, and keeps what it held.
func TestEventsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := old.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec(`PRAGMA user_version = 2; INSERT INTO seen (id, at_ms) VALUES ('kept', 1)`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, want := rowsOf(t, db, `PRAGMA user_version`), []string{strconv.Itoa(len(migrations))}; !reflect.DeepEqual(got, want) {
		t.Errorf("user_version %v, want %v", got, want)
	}
	if n := count(t, db, "seen"); n != 1 {
		t.Errorf("seen holds %d rows after the migration, want 1", n)
	}
	got := rowsOf(t, db, `SELECT name FROM sqlite_schema WHERE tbl_name = 'parcel_events' AND type = 'index' AND sql IS NOT NULL ORDER BY name`)
	want := []string{"parcel_events_kind_ts", "parcel_events_site_ts", "parcel_events_ts", "parcel_events_waybill"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("indexes %v, want %v", got, want)
	}
}

func TestSaveEventsIdempotent(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	evs := []*hub.ParcelEvent{
		testEvent("e1-1-1", "tw01", "sorted", t0, kg(1.25), ""),
		testEvent("e1-1-2", "tw01", "sorted", t0.Add(time.Second), nil, "unknown"),
		testEvent("e1-1-3", "tw01", "confirmed", t0.Add(2*time.Second), nil, ""),
	}
	stored, err := db.SaveEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("first save stored %d, want 3", len(stored))
	}
	// Re-delivered, with one new event among them: only the new one is stored.
	again := append(evs, testEvent("e1-1-4", "tw01", "sorted", t0.Add(3*time.Second), kg(2), ""))
	changed := *evs[0]
	changed.Bin = "b9" // a re-sent id never replaces what is stored
	again[0] = &changed
	stored, err = db.SaveEvents(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != "e1-1-4" {
		t.Fatalf("second save stored %v, want only e1-1-4", stored)
	}
	if n := count(t, db, "parcel_events"); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	got, err := db.Events(ctx, hub.EventQuery{Waybill: "SFe1-1-1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("by waybill: %v %v", got, err)
	}
	if !reflect.DeepEqual(got[0], evs[0]) {
		t.Errorf("read back %+v\nwant %+v", *got[0], *evs[0])
	}
	got, _ = db.Events(ctx, hub.EventQuery{Waybill: "SFe1-1-2"})
	if len(got) != 1 || got[0].WeightKg != nil || got[0].Exception != "unknown" || got[0].WeighError == "" {
		t.Errorf("event without weight read back as %+v", got)
	}
}

func TestEventsQuery(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	var evs []*hub.ParcelEvent
	for i := range 30 {
		site := []string{"tw01", "tw02", "tw03"}[i%3]
		evs = append(evs, testEvent(fmt.Sprintf("e-%02d", i), site, "sorted", t0.Add(time.Duration(i)*time.Minute), kg(1), ""))
	}
	// Two events in the same millisecond: the id breaks the tie.
	evs = append(evs, testEvent("e-99", "tw01", "confirmed", evs[27].TS, nil, ""))
	if _, err := db.SaveEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ids := func(evs []*hub.ParcelEvent) []string {
		out := []string{}
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    hub.EventQuery
		want []string
	}{
		{"site newest first", hub.EventQuery{Site: "tw01", Limit: 4}, []string{"e-99", "e-27", "e-24", "e-21"}},
		{"all sites", hub.EventQuery{Limit: 3}, []string{"e-29", "e-28", "e-99"}},
		{"before", hub.EventQuery{Site: "tw02", Before: t0.Add(7 * time.Minute), Limit: 10}, []string{"e-04", "e-01"}},
		{"unknown site", hub.EventQuery{Site: "tw09", Limit: 10}, []string{}},
		{"waybill", hub.EventQuery{Waybill: "SFe-05"}, []string{"e-05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Events(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Errorf("got %v, want %v", ids(got), tc.want)
			}
		})
	}
	if got, _ := db.Events(ctx, hub.EventQuery{Limit: 10_000}); len(got) != 31 {
		t.Errorf("no limit: %d events", len(got))
	}
}

func TestParcelTotals(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	evs := []*hub.ParcelEvent{
		testEvent("y", "tw01", "sorted", day.Add(-time.Millisecond), kg(100), ""), // yesterday
		testEvent("a", "tw01", "sorted", day, kg(1.25), ""),
		testEvent("b", "tw01", "sorted", day.Add(time.Hour), nil, "unknown"),
		testEvent("c", "tw01", "confirmed", day.Add(2*time.Hour), kg(7), ""), // a confirmation's weight is not counted again
		testEvent("d", "tw02", "sorted", day.Add(3*time.Hour), kg(2.5), "no_bin"),
		testEvent("z", "tw02", "sorted", day.Add(24*time.Hour), kg(100), ""), // tomorrow
	}
	if _, err := db.SaveEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := db.ParcelTotals(ctx, day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]hub.ParcelTotals{
		"tw01": {Sorted: 2, Confirmed: 1, Exceptions: 1, WeightKg: 1.25, Last: day.Add(2 * time.Hour)},
		"tw02": {Sorted: 1, Exceptions: 1, WeightKg: 2.5, Last: day.Add(3 * time.Hour)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// The store's count and the one kept event by event agree.
	byAdd := map[string]hub.ParcelTotals{}
	for _, e := range evs[1:5] {
		tot := byAdd[e.Site]
		tot.Add(e)
		byAdd[e.Site] = tot
	}
	if !reflect.DeepEqual(byAdd, want) {
		t.Errorf("ParcelTotals.Add gives %+v\nwant %+v", byAdd, want)
	}
}
