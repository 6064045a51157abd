package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/storetest"
)

// BenchmarkPeakDay is hub/sqlite's BenchmarkPeakDay on PostgreSQL: a
// township's peak day, 100,000 parcels with a sorted and a confirmed event
// each, ingested in batches of 500 with each parcel's item derived in the
// same transaction; the baseline is the same events inserted alone. Then
// runs of 500 parcels are loaded by bin and departed, and the waybill
// lookup, the dispatch board and the day's figures are timed.
//
//	go test -run '^$' -bench PeakDay -benchtime 1x ./hub/postgres/
func BenchmarkPeakDay(b *testing.B) {
	const parcels = 100_000
	for range b.N {
		peakDay(b, parcels)
	}
}

func peakDay(b *testing.B, parcels int) {
	ctx := context.Background()
	db, _ := open(b)
	db.SetPlaces(storetest.Places{})
	base, _ := open(b)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 11, 6, 0, 0, 0, time.UTC)
	routes := []string{"r01", "r02", "r03", "r04", "r05"}
	waybills := make([]string, parcels)
	evs := make([]*hub.ParcelEvent, 0, 2*parcels)
	for i := range parcels {
		wb := fmt.Sprintf("YT%013d", 7000000000000+i)
		waybills[i] = wb
		r := routes[rng.IntN(len(routes))]
		kg := 0.2 + rng.Float64()*5
		at := start.Add(time.Duration(i) * 500 * time.Millisecond)
		s := &hub.ParcelEvent{ID: fmt.Sprintf("tw01-e1-%d-s", i), Site: "tw01", Edge: "tw01-e1", Station: "s1",
			Kind: contract.EventSorted, Waybill: wb, Route: r, Bin: "b" + r[1:], Rule: "sort_code", PlanVersion: "p1",
			WeightKg: &kg, TS: at, Recv: at}
		c := *s
		c.ID, c.Kind, c.TS, c.WeightKg = s.ID[:len(s.ID)-1]+"c", contract.EventConfirmed, at.Add(2*time.Second), nil
		evs = append(evs, s, &c)
	}

	t0 := time.Now()
	for i, chunk := range slices.Collect(slices.Chunk(evs, 500)) {
		if i == 10 {
			analyze(b, base)
		}
		if err := base.inTx(ctx, func(tx pgx.Tx) error { _, err := storeEvents(ctx, tx, chunk); return err }); err != nil {
			b.Fatal(err)
		}
	}
	bare := time.Since(t0)

	t0 = time.Now()
	for i, chunk := range slices.Collect(slices.Chunk(evs, 500)) {
		if _, err := db.SaveEvents(ctx, chunk); err != nil {
			b.Fatal(err)
		}
		if i == 10 {
			// What autovacuum does soon after a table fills (this
			// machine's server runs without it): with no statistics the
			// planner takes a lookup of 500 waybills for a scan of the
			// table.
			analyze(b, db)
		}
	}
	full := time.Since(t0)
	analyze(b, db)

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

func analyze(b *testing.B, db *DB) {
	if _, err := db.pool.Exec(context.Background(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
