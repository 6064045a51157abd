package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// BenchmarkPeakDay ingests a township's peak day, 100,000 parcels, as the
// ingest writes them (batches of 500 events): a sorted and a confirmed
// event per parcel, then runs load and depart them by bin. Each parcel's
// item is derived in the same transaction. The baseline is the same
// events inserted into the events table alone, with no item derived, in
// the same run. Then the waybill lookup (the item and its timeline) and
// the dispatch board query are timed on the full day.
//
//	go test -run '^$' -bench PeakDay -benchtime 1x ./hub/sqlite/
func BenchmarkPeakDay(b *testing.B) {
	const parcels = 100_000
	for range b.N {
		peakDay(b, parcels)
	}
}

func peakDay(b *testing.B, parcels int) {
	ctx := context.Background()
	db, _ := open(b)
	db.SetPlaces(testPlaces{})
	base, _ := open(b)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 11, 6, 0, 0, 0, time.UTC) // the shopping festival's aftermath
	routes := []string{"r01", "r02", "r03", "r04", "r05"}
	waybills := make([]string, parcels)
	evs := make([]*hub.ParcelEvent, 0, 2*parcels)
	for i := range parcels {
		wb := fmt.Sprintf("YT%013d", 7000000000000+i)
		waybills[i] = wb
		r := routes[rng.IntN(len(routes))]
		kg := 0.2 + rng.Float64()*5
		at := start.Add(time.Duration(i) * 500 * time.Millisecond) // 14 h of sorting at two stations
		s := &hub.ParcelEvent{ID: fmt.Sprintf("tw01-e1-%d-s", i), Site: "tw01", Edge: "tw01-e1", Station: "s1",
			Kind: contract.EventSorted, Waybill: wb, Route: r, Bin: "b" + r[1:], Rule: "sort_code", PlanVersion: "p1",
			WeightKg: &kg, TS: at, Recv: at}
		c := *s
		c.ID, c.Kind, c.TS, c.WeightKg = s.ID[:len(s.ID)-1]+"c", contract.EventConfirmed, at.Add(2*time.Second), nil
		evs = append(evs, s, &c)
	}

	t0 := time.Now()
	for chunk := range slices.Chunk(evs, 500) {
		if err := base.inTx(ctx, func(tx *sql.Tx) error { _, err := storeEvents(ctx, tx, chunk); return err }); err != nil {
			b.Fatal(err)
		}
	}
	bare := time.Since(t0)

	t0 = time.Now()
	for chunk := range slices.Chunk(evs, 500) {
		if _, err := db.SaveEvents(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}
	full := time.Since(t0)

	// The day's runs: trucks of 500 parcels per route, loaded by bin and
	// sent off, until the bins are empty.
	t0 = time.Now()
	runs := 0
	for _, r := range routes {
		for {
			run, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: r, CapacityParcels: 500, Opened: start.Add(15 * time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			res, err := db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Bin: "b" + r[1:], At: start.Add(15 * time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := db.DepartRun(ctx, run.ID, "bench", start.Add(16*time.Hour)); err != nil {
				b.Fatal(err)
			}
			runs++
			if len(res.Loaded) < 500 {
				break
			}
		}
	}
	dispatch := time.Since(t0)

	const lookups = 2000
	t0 = time.Now()
	for i := range lookups {
		wb := waybills[rng.IntN(parcels)]
		it, err := db.Item(ctx, wb)
		if err != nil || it == nil {
			b.Fatal(i, err)
		}
		if tl, err := db.Events(ctx, hub.EventQuery{Waybill: wb}); err != nil || len(tl) < 2 {
			b.Fatal(err, len(tl))
		}
	}
	lookup := time.Since(t0) / lookups

	// The board while parcels wait: another day's worth sorted, not loaded.
	more := make([]*hub.ParcelEvent, 0, parcels/4)
	for i := range parcels / 4 {
		e := *evs[2*i]
		e.ID, e.Waybill = fmt.Sprintf("d2-%d", i), fmt.Sprintf("ZT%013d", i)
		more = append(more, &e)
	}
	for chunk := range slices.Chunk(more, 500) {
		if _, err := db.SaveEvents(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}
	const boards = 50
	t0 = time.Now()
	for range boards {
		bd, err := db.Board(ctx, "tw01")
		if err != nil || len(bd.Routes) != len(routes) {
			b.Fatal(err, bd)
		}
	}
	board := time.Since(t0) / boards
	t0 = time.Now()
	figs, err := db.Figures(ctx, start.Truncate(24*time.Hour), start.Truncate(24*time.Hour).AddDate(0, 0, 1), time.UTC)
	if err != nil || len(figs) != 1 || figs[0].Dispatched != parcels || figs[0].Received != parcels+parcels/4 {
		b.Fatal(err, figs)
	}
	figures := time.Since(t0)

	n := float64(len(evs))
	b.ReportMetric(n/full.Seconds(), "events/s")
	b.ReportMetric(n/bare.Seconds(), "bare-events/s")
	b.ReportMetric(bare.Seconds()/full.Seconds(), "ratio")
	b.ReportMetric(full.Seconds(), "day-ingest-s")
	b.ReportMetric(dispatch.Seconds()/float64(runs)*1000, "run-load+depart-ms")
	b.ReportMetric(float64(lookup.Microseconds()), "lookup-µs")
	b.ReportMetric(float64(board.Microseconds()), "board-µs")
	b.ReportMetric(float64(figures.Milliseconds()), "figures-day-ms")
}

// BenchmarkLookupYear times the waybill lookup (the item and its
// timeline) among a year of one township's parcels: 1.1 million parcels
// (3,000 a day) with two events each, written in bulk by SQL rather than
// through SaveEvents, which BenchmarkPeakDay times. The baseline is the
// same lookup on a store holding one day (3,000 parcels), in the same run.
func BenchmarkLookupYear(b *testing.B) {
	const perDay = 3000
	year := lookupStore(b, 365*perDay)
	day := lookupStore(b, perDay)
	const n = 2000
	timeLookups := func(db *DB, parcels int) time.Duration {
		rng := rand.New(rand.NewPCG(3, 4))
		ctx := context.Background()
		t0 := time.Now()
		for range n {
			wb := fmt.Sprintf("ZT%013d", rng.IntN(parcels))
			if it, err := db.Item(ctx, wb); err != nil || it == nil {
				b.Fatal(wb, err)
			}
			if tl, err := db.Events(ctx, hub.EventQuery{Waybill: wb}); err != nil || len(tl) != 2 {
				b.Fatal(wb, err, len(tl))
			}
		}
		return time.Since(t0) / n
	}
	b.ResetTimer()
	y := timeLookups(year, 365*perDay)
	d := timeLookups(day, perDay)
	b.ReportMetric(float64(y.Microseconds()), "year-lookup-µs")
	b.ReportMetric(float64(d.Microseconds()), "day-lookup-µs")
	b.ReportMetric(float64(y)/float64(d), "ratio")
}

// lookupStore is a store holding parcels parcels sorted and confirmed at
// tw01 over the days before 2026-11-29, written by SQL in bulk.
func lookupStore(b *testing.B, parcels int) *DB {
	b.Helper()
	db, _ := open(b)
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC).AddDate(-1, 0, 0).UnixMilli()
	step := int64(365*24*time.Hour/time.Millisecond) / int64(parcels)
	if _, err := db.write.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
		INSERT INTO parcel_events (id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
			weight_kg, weigh_error, ts_ms, recv_ms, clock_fault)
		SELECT 'e-' || i || '-' || k.kind, 'tw01', 'tw01-e1', 's1', k.kind, printf('ZT%013d', i), 'ZTO', 'r0' || (i % 5 + 1),
			'b0' || (i % 5 + 1), 'sort_code', '', 'p1', 1.5, '', ? + i * ? + k.off, ? + i * ? + k.off, ''
		FROM n, (SELECT 'sorted' AS kind, 0 AS off UNION ALL SELECT 'confirmed', 2000) AS k`,
		parcels, start, step, start, step); err != nil {
		b.Fatal(err)
	}
	if _, err := db.write.Exec(`INSERT INTO items (id, lot, township, site, village, carrier, route, bin, run, state, flags,
			weight_kg, producer, product, grade, arrived_ms, dispatched_ms, delivered_ms, last_ms, events)
		SELECT waybill, 0, 'tw01', 'tw01', '', 'ZTO', route, bin, '', 'confirmed', '', 1.5, '', '', '', min(ts_ms), 0, 0, max(ts_ms), 2
		FROM parcel_events GROUP BY waybill`); err != nil {
		b.Fatal(err)
	}
	return db
}
