package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/timeline"
)

// MaxItems is the most items one Items call returns, and the most parcels
// one load, depart or close lists.
const MaxItems = 5000

// placesBox holds the Places an atomic.Pointer can swap.
type placesBox struct{ p timeline.Places }

// RouteLister is what a Places may also answer: the village points of a
// route in visiting order, for a run's stops.
type RouteLister interface {
	RouteVillages(township, route string) []string
}

// SetPlaces gives the store the county's sites and the townships' plans,
// which deriving an item needs (a village's township, the route of a
// village). Items derived before have the checks that needed them skipped
// (see Rederive).
func (db *DB) SetPlaces(p timeline.Places) { db.places.Store(&placesBox{p}) }

// SetOptions sets the derivation's options (the parcel weight limit). Call
// it before the store is used.
func (db *DB) SetOptions(o timeline.Options) { db.opt = o }

func (db *DB) placesOf() timeline.Places {
	if b := db.places.Load(); b != nil {
		return b.p
	}
	return nil
}

func (db *DB) township(site string) string {
	if p := db.placesOf(); p != nil {
		if t := p.Township(site); t != "" {
			return t
		}
	}
	return site
}

// derive recomputes, in tx, the items of the ids (waybills or lot labels)
// from all their events and their announcement. It locks the items' rows
// first, by id, creating the rows of new items: a concurrent transaction
// deriving one of them waits, and then reads the events this one stored.
func (db *DB) derive(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = sortedUnique(storableAll(ids))
	if _, err := tx.Exec(ctx, `INSERT INTO items (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING`, ids); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT id FROM items WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM parcel_events WHERE waybill = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	all, err := scanEvents(rows)
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	evs := make(map[string][]*hub.ParcelEvent, len(ids))
	for _, e := range all {
		evs[e.Waybill] = append(evs[e.Waybill], e)
	}
	rows, err = tx.Query(ctx, `SELECT waybill, site, village, carrier, weight_kg FROM manifest_parcels WHERE waybill = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	ann := make(map[string]*hub.Announcement, len(ids))
	for rows.Next() {
		a := new(hub.Announcement)
		if err := rows.Scan(&a.Waybill, &a.Site, &a.Village, &a.Carrier, &a.WeightKg); err != nil {
			rows.Close()
			return fmt.Errorf("items: %w", err)
		}
		ann[a.Waybill] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("items: %w", err)
	}

	places := db.placesOf()
	n := len(ids)
	text := make([][]string, 14)
	for i := range text {
		text[i] = make([]string, 0, n)
	}
	lots, counts := make([]bool, 0, n), make([]int32, 0, n)
	weights := make([]*float64, 0, n)
	times := make([][]*time.Time, 4)
	for i := range times {
		times[i] = make([]*time.Time, 0, n)
	}
	for _, id := range ids {
		it := timeline.Derive(id, ann[id], evs[id], places, db.opt)
		for i, v := range []string{it.ID, it.Township, it.Site, it.Village, it.Carrier, it.Route, it.Bin, it.Run, it.State,
			strings.Join(it.Flags, ","), it.Producer, it.Product, it.Grade, ""} {
			text[i] = append(text[i], v)
		}
		lots, counts, weights = append(lots, it.Lot), append(counts, int32(it.Events)), append(weights, nullWeight(it.WeightKg))
		for i, t := range []time.Time{it.Arrived, it.Dispatched, it.Delivered, it.Last} {
			times[i] = append(times[i], nullTime(t))
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE items SET lot = u.lot, township = u.township, site = u.site, village = u.village,
			carrier = u.carrier, route = u.route, bin = u.bin, run = u.run, state = u.state,
			flags = string_to_array(u.flags, ','), producer = u.producer, product = u.product, grade = u.grade,
			weight_kg = u.weight_kg, arrived_at = u.arrived_at, dispatched_at = u.dispatched_at,
			delivered_at = u.delivered_at, last_at = u.last_at, events = u.events
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bool[], $15::float8[],
			$16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::int4[])
			AS u(id, township, site, village, carrier, route, bin, run, state, flags, producer, product, grade,
				lot, weight_kg, arrived_at, dispatched_at, delivered_at, last_at, events)
		WHERE items.id = u.id`,
		text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], text[9], text[10], text[11], text[12],
		lots, weights, times[0], times[1], times[2], times[3], counts); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	return nil
}

// Rederive recomputes every item, as after the sites or the plans changed
// in a way that changes the checks (a village moved to another route). It
// works in transactions of a thousand items.
func (db *DB) Rederive(ctx context.Context) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM items UNION SELECT DISTINCT waybill FROM parcel_events`)
	if err != nil {
		return 0, fmt.Errorf("postgres rederive: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("postgres rederive: %w", err)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, 1000) {
		if err := db.inTx(ctx, func(tx pgx.Tx) error { return db.derive(ctx, tx, chunk) }); err != nil {
			return 0, fmt.Errorf("postgres rederive: %w", err)
		}
	}
	return len(ids), nil
}

const itemColumns = `id, lot, township, site, village, carrier, route, bin, run, state, flags, weight_kg,
	producer, product, grade, arrived_at, dispatched_at, delivered_at, last_at, events`

func scanItem(row pgx.Row) (*hub.Item, error) {
	it := new(hub.Item)
	var arrived, dispatched, delivered, last *time.Time
	if err := row.Scan(&it.ID, &it.Lot, &it.Township, &it.Site, &it.Village, &it.Carrier, &it.Route, &it.Bin, &it.Run,
		&it.State, &it.Flags, &it.WeightKg, &it.Producer, &it.Product, &it.Grade, &arrived, &dispatched, &delivered, &last,
		&it.Events); err != nil {
		return nil, err
	}
	if it.Flags == nil {
		it.Flags = []string{}
	}
	it.Arrived, it.Dispatched, it.Delivered, it.Last = timeOf(arrived), timeOf(dispatched), timeOf(delivered), timeOf(last)
	return it, nil
}

// scanItems reads rows of itemColumns and closes them.
func scanItems(rows pgx.Rows) ([]*hub.Item, error) {
	defer rows.Close()
	out := []*hub.Item{}
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Item returns the item of a waybill or lot label, nil when no event and
// no manifest knows it.
func (db *DB) Item(ctx context.Context, id string) (*hub.Item, error) {
	it, err := scanItem(db.pool.QueryRow(ctx, `SELECT `+itemColumns+` FROM items WHERE id = $1`, storable(id)))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("postgres item %s: %w", id, err)
	}
	return it, nil
}

// Items returns the items q selects, latest event first, at most MaxItems.
func (db *DB) Items(ctx context.Context, q hub.ItemQuery) ([]*hub.Item, error) {
	var where []string
	var p params
	for _, c := range []struct{ col, v string }{{"township", q.Township}, {"site", q.Site}, {"route", q.Route},
		{"bin", q.Bin}, {"run", q.Run}} {
		if c.v != "" {
			where = append(where, c.col+" = "+p.add(c.v))
		}
	}
	if q.Flag != "" {
		where = append(where, p.add(q.Flag)+" = ANY(flags)")
	}
	if q.Lot != nil {
		where = append(where, "lot = "+p.add(*q.Lot))
	}
	if len(q.States) > 0 {
		where = append(where, p.in("state", q.States))
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxItems {
		limit = MaxItems
	}
	query := `SELECT ` + itemColumns + ` FROM items`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY last_at DESC NULLS LAST, id LIMIT " + p.add(limit)
	rows, err := db.pool.Query(ctx, query, p...)
	if err != nil {
		return nil, fmt.Errorf("postgres items: %w", err)
	}
	out, err := scanItems(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres items: %w", err)
	}
	return out, nil
}

// newID returns prefix and 12 random hex digits.
func newID(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// OpenRun opens a run for a route of a township. Its id is made of the
// township, the day (UTC), the route and a number: tw01-20261129-r03-2.
// Runs opened at once by several hubs get numbers of their own.
func (db *DB) OpenRun(ctx context.Context, r *hub.Run) (*hub.Run, error) {
	if !contract.ValidID(r.Site) || !contract.ValidID(r.Route) {
		return nil, fmt.Errorf("%w: a run needs a township and a route id", hub.ErrInvalidIn)
	}
	if r.CapacityKg < 0 || math.IsNaN(r.CapacityKg) || math.IsInf(r.CapacityKg, 0) || r.CapacityParcels < 0 {
		return nil, fmt.Errorf("%w: capacity must be zero (no limit) or positive", hub.ErrInvalidIn)
	}
	if len(r.Vehicle) > contract.MaxTextLen || len(r.Driver) > contract.MaxTextLen {
		return nil, fmt.Errorf("%w: vehicle or driver too long", hub.ErrInvalidIn)
	}
	at := cmp.Or(r.Opened, time.Now()).UTC()
	run := *r
	run.State, run.Opened, run.Departed, run.Closed = hub.RunOpen, ts(at), time.Time{}, time.Time{}
	day := at.Format("20060102")
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The counter's row is locked until the commit: concurrent opens
		// of the route take the following numbers. A number whose id some
		// other run has (a township, route and day whose ids run into
		// each other's) is skipped.
		for range 100 {
			var n int
			if err := tx.QueryRow(ctx, `INSERT INTO run_numbers (site, day, route, n) VALUES ($1, $2, $3, 1)
				ON CONFLICT (site, day, route) DO UPDATE SET n = run_numbers.n + 1 RETURNING n`,
				run.Site, day, run.Route).Scan(&n); err != nil {
				return err
			}
			run.ID = fmt.Sprintf("%s-%s-%s-%d", run.Site, day, run.Route, n)
			tag, err := tx.Exec(ctx, `INSERT INTO runs (id, site, route, vehicle, driver, capacity_kg, capacity_parcels,
				state, opened_at, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
				run.ID, run.Site, run.Route, storable(run.Vehicle), storable(run.Driver), run.CapacityKg, run.CapacityParcels,
				run.State, run.Opened, storable(run.By))
			if err != nil || tag.RowsAffected() == 1 {
				return err
			}
		}
		return fmt.Errorf("no free number for a run of %s %s", run.Site, run.Route)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres open run: %w", err)
	}
	return db.Run(ctx, run.ID)
}

const runColumns = `id, site, route, vehicle, driver, capacity_kg, capacity_parcels, state, opened_at, departed_at, closed_at, actor`

func scanRun(row pgx.Row) (*hub.Run, error) {
	r := new(hub.Run)
	var departed, closed *time.Time
	if err := row.Scan(&r.ID, &r.Site, &r.Route, &r.Vehicle, &r.Driver, &r.CapacityKg, &r.CapacityParcels, &r.State,
		&r.Opened, &departed, &closed, &r.By); err != nil {
		return nil, err
	}
	r.Opened, r.Departed, r.Closed = r.Opened.UTC(), timeOf(departed), timeOf(closed)
	r.Stops = []hub.Stop{}
	return r, nil
}

// runLoad fills a run's counts and stops from its items.
func (db *DB) runLoad(ctx context.Context, q querier, r *hub.Run) error {
	if err := q.QueryRow(ctx, `SELECT count(*), coalesce(sum(weight_kg::numeric), 0)::float8,
			count(*) FILTER (WHERE state IN ('arrived', 'picked_up') AND NOT 'wrong_village' = ANY(flags))
		FROM items WHERE run = $1`, r.ID).Scan(&r.Parcels, &r.WeightKg, &r.Delivered); err != nil {
		return err
	}
	stops := map[string]*hub.Stop{}
	var order []string
	if p, ok := db.placesOf().(RouteLister); ok {
		for _, v := range p.RouteVillages(r.Site, r.Route) {
			stops[v] = &hub.Stop{Village: v}
			order = append(order, v)
		}
	}
	stop := func(v string) *hub.Stop {
		s := stops[v]
		if s == nil {
			s = &hub.Stop{Village: v}
			stops[v] = s
			order = append(order, v)
		}
		return s
	}
	rows, err := q.Query(ctx, `SELECT village, count(*) FROM items WHERE run = $1 GROUP BY village ORDER BY village`, r.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return err
		}
		if v != "" {
			stop(v).Parcels = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(ctx, `SELECT e.site, count(DISTINCT e.waybill), min(e.ts)
		FROM parcel_events e JOIN items i ON i.id = e.waybill
		WHERE i.run = $1 AND e.kind IN ('arrived', 'picked_up') AND e.ts >= $2 GROUP BY e.site ORDER BY e.site`,
		r.ID, cmp.Or(r.Departed, time.Unix(0, 0)))
	if err != nil {
		return err
	}
	for rows.Next() {
		var v string
		var n int
		var first time.Time
		if err := rows.Scan(&v, &n, &first); err != nil {
			rows.Close()
			return err
		}
		s := stop(v)
		s.Arrived, s.First, s.Visited = n, first.UTC(), true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	r.Stops = make([]hub.Stop, 0, len(order))
	for _, v := range order {
		r.Stops = append(r.Stops, *stops[v])
	}
	return nil
}

// Run returns a run with its load and stops; hub.ErrNotFound when none.
func (db *DB) Run(ctx context.Context, id string) (*hub.Run, error) {
	r, err := db.run(ctx, db.pool, id, false)
	if err != nil {
		return nil, fmt.Errorf("postgres run %s: %w", id, err)
	}
	return r, nil
}

// run reads a run and its load, locking its row until the end of the
// transaction when lock is set.
func (db *DB) run(ctx context.Context, q querier, id string, lock bool) (*hub.Run, error) {
	query := `SELECT ` + runColumns + ` FROM runs WHERE id = $1`
	if lock {
		query += " FOR UPDATE"
	}
	r, err := scanRun(q.QueryRow(ctx, query, storable(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hub.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, db.runLoad(ctx, q, r)
}

// MaxRuns is the most runs one Runs call returns.
const MaxRuns = 500

// Runs returns the runs q selects, newest first, with their loads.
func (db *DB) Runs(ctx context.Context, q hub.RunQuery) ([]*hub.Run, error) {
	var where []string
	var p params
	if q.Site != "" {
		where = append(where, "site = "+p.add(q.Site))
	}
	if q.Route != "" {
		where = append(where, "route = "+p.add(q.Route))
	}
	if !q.Since.IsZero() {
		where = append(where, "opened_at >= "+p.add(ts(q.Since)))
	}
	if len(q.States) > 0 {
		where = append(where, p.in("state", q.States))
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxRuns {
		limit = MaxRuns
	}
	query := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY opened_at DESC, id DESC LIMIT " + p.add(limit)
	rows, err := db.pool.Query(ctx, query, p...)
	if err != nil {
		return nil, fmt.Errorf("postgres runs: %w", err)
	}
	out := []*hub.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres runs: %w", err)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres runs: %w", err)
	}
	for _, r := range out {
		if err := db.runLoad(ctx, db.pool, r); err != nil {
			return nil, fmt.Errorf("postgres runs: %w", err)
		}
	}
	return out, nil
}

// hubEvent is an event the hub records itself (a load, a departure).
func hubEvent(kind string, it *hub.Item, run *hub.Run, by string, at time.Time) *hub.ParcelEvent {
	return &hub.ParcelEvent{ID: newID("hub-"), Site: run.Site, Station: "dispatch", Kind: kind, Waybill: it.ID,
		Route: run.Route, Run: run.ID, By: by, TS: at, Recv: at}
}

// insertEvents stores hub events in tx and derives their items.
func (db *DB) insertEvents(ctx context.Context, tx pgx.Tx, evs []*hub.ParcelEvent) error {
	if len(evs) == 0 {
		return nil
	}
	stored, err := storeEvents(ctx, tx, evs)
	if err != nil {
		return err
	}
	if len(stored) != len(evs) {
		return fmt.Errorf("%d of %d hub events had ids taken", len(evs)-len(stored), len(evs))
	}
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.Waybill)
	}
	return db.derive(ctx, tx, ids)
}

// lockItems reads the items of ids with their rows locked until the end
// of tx, in the order of their ids (the order every transaction locks
// items in), by id.
func lockItems(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*hub.Item, error) {
	out := make(map[string]*hub.Item, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ANY($1) ORDER BY id FOR UPDATE`, sortedUnique(storableAll(ids)))
	if err != nil {
		return nil, err
	}
	items, err := scanItems(rows)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		out[it.ID] = it
	}
	return out, nil
}

func waiting(state string) bool { return slices.Contains(hub.WaitingStates, state) }

// LoadRun loads parcels onto an open run, parcel by parcel: a parcel not
// waiting in a bin of the run's township, on another run, of another
// route, or past the run's capacity is refused with its reason. With
// req.Over, a parcel of another route or past capacity is loaded anyway,
// flagged, with a warning. hub.ErrNotFound when there is no such run,
// hub.ErrConflict when it is not open. The run's row and the parcels' are
// locked: a parcel two hubs load onto two runs at once goes onto one.
func (db *DB) LoadRun(ctx context.Context, req hub.LoadRequest) (*hub.LoadResult, error) {
	if len(req.Waybills) == 0 && req.Bin == "" {
		return nil, fmt.Errorf("%w: a load needs waybills or a bin", hub.ErrInvalidIn)
	}
	if len(req.Waybills) > MaxItems {
		return nil, fmt.Errorf("%w: at most %d waybills in one load", hub.ErrInvalidIn, MaxItems)
	}
	at := cmp.Or(req.At, time.Now()).UTC()
	var res *hub.LoadResult
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		res = &hub.LoadResult{Loaded: []string{}, Refused: []hub.Refusal{}, Warnings: []string{}}
		run, err := db.run(ctx, tx, req.Run, true)
		if err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		// The parcels waiting in the bin, then those scanned: their rows
		// locked, and checked as they are once locked.
		var inBin []string
		if req.Bin != "" {
			rows, err := tx.Query(ctx, `SELECT id FROM items
				WHERE township = $1 AND bin = $2 AND state IN ('sorted', 'confirmed') ORDER BY arrived_at, id LIMIT $3`,
				run.Site, req.Bin, MaxItems)
			if err != nil {
				return err
			}
			if inBin, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
		}
		scanned := make([]string, 0, len(req.Waybills))
		for _, wb := range req.Waybills {
			scanned = append(scanned, storable(strings.ToUpper(strings.TrimSpace(wb))))
		}
		locked, err := lockItems(ctx, tx, append(slices.Clone(inBin), scanned...))
		if err != nil {
			return err
		}
		var items []*hub.Item
		seen := map[string]bool{}
		for _, id := range inBin {
			// Loaded by another hub while this one waited for the lock:
			// no longer in the bin.
			if it := locked[id]; it != nil && it.Township == run.Site && it.Bin == req.Bin && waiting(it.State) {
				items = append(items, it)
				seen[id] = true
			}
		}
		if req.Bin != "" && len(items) == 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("bin %s has no parcel waiting", req.Bin))
		}
		for _, wb := range scanned {
			if seen[wb] {
				continue
			}
			seen[wb] = true
			it := locked[wb]
			if it == nil {
				res.Refused = append(res.Refused, hub.Refusal{Waybill: wb, Reason: hub.RefuseUnknown, Detail: "never scanned at a township"})
				continue
			}
			items = append(items, it)
		}
		var evs []*hub.ParcelEvent
		for _, it := range timeline.Load(run, items, req, res) {
			ev := hubEvent(contract.EventLoaded, it, run, req.By, at)
			ev.Bin = req.FromBin
			if req.Bin != "" {
				ev.Bin = req.Bin
			}
			evs = append(evs, ev)
		}
		if err := db.insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		res.Run, err = db.run(ctx, tx, run.ID, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres load of run %s: %w", req.Run, err)
	}
	return res, nil
}

// UnloadRun takes parcels off an open run: they wait in their bins again.
func (db *DB) UnloadRun(ctx context.Context, runID string, waybills []string, by string, at time.Time) (*hub.LoadResult, error) {
	if len(waybills) == 0 || len(waybills) > MaxItems {
		return nil, fmt.Errorf("%w: an unload needs 1 to %d waybills", hub.ErrInvalidIn, MaxItems)
	}
	at = cmp.Or(at, time.Now()).UTC()
	var res *hub.LoadResult
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		res = &hub.LoadResult{Loaded: []string{}, Refused: []hub.Refusal{}, Warnings: []string{}}
		run, err := db.run(ctx, tx, runID, true)
		if err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		wbs := make([]string, 0, len(waybills))
		for _, wb := range waybills {
			wbs = append(wbs, storable(strings.ToUpper(strings.TrimSpace(wb))))
		}
		locked, err := lockItems(ctx, tx, wbs)
		if err != nil {
			return err
		}
		var evs []*hub.ParcelEvent
		for _, wb := range wbs {
			it := locked[wb]
			if it == nil || it.Run != run.ID || it.State != hub.StateLoaded {
				res.Refused = append(res.Refused, hub.Refusal{Waybill: wb, Reason: hub.RefuseState, Detail: "not loaded on this run"})
				continue
			}
			evs = append(evs, hubEvent(hub.EventUnloaded, it, run, by, at))
			res.Loaded = append(res.Loaded, it.ID) // taken off
			it.State = hub.StateSorted             // a waybill twice in the list is taken off once
		}
		if err := db.insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		res.Run, err = db.run(ctx, tx, run.ID, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres unload of run %s: %w", runID, err)
	}
	return res, nil
}

// DepartRun records that an open run left: its parcels are dispatched.
// It returns the run and the parcels of its route left behind in the bins.
func (db *DB) DepartRun(ctx context.Context, runID, by string, at time.Time) (*hub.Run, []*hub.Item, error) {
	at = cmp.Or(at, time.Now()).UTC()
	var run *hub.Run
	var left []*hub.Item
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = db.run(ctx, tx, runID, true); err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET state = $1, departed_at = $2 WHERE id = $3`,
			hub.RunDeparted, ts(at), run.ID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+itemColumns+` FROM items WHERE run = $1 AND state = $2 ORDER BY id FOR UPDATE`,
			run.ID, hub.StateLoaded)
		if err != nil {
			return err
		}
		loaded, err := scanItems(rows)
		if err != nil {
			return err
		}
		evs := make([]*hub.ParcelEvent, 0, len(loaded))
		for _, it := range loaded {
			evs = append(evs, hubEvent(hub.EventDispatched, it, run, by, at))
		}
		if err := db.insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT `+itemColumns+` FROM items
			WHERE township = $1 AND route = $2 AND state IN ('sorted', 'confirmed') ORDER BY arrived_at, id LIMIT $3`,
			run.Site, run.Route, MaxItems)
		if err != nil {
			return err
		}
		if left, err = scanItems(rows); err != nil {
			return err
		}
		run, err = db.run(ctx, tx, run.ID, false)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres departure of run %s: %w", runID, err)
	}
	return run, left, nil
}

// CloseRun records that a run is back. It returns the run and its parcels
// not scanned in at their village point (scanned in at another counts as
// not delivered).
func (db *DB) CloseRun(ctx context.Context, runID, by string, at time.Time) (*hub.Run, []*hub.Item, error) {
	at = cmp.Or(at, time.Now()).UTC()
	var run *hub.Run
	var undelivered []*hub.Item
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if run, err = db.run(ctx, tx, runID, true); err != nil {
			return err
		}
		if run.State != hub.RunDeparted {
			return fmt.Errorf("%w: run %s has %s; only a departed run closes", hub.ErrConflict, run.ID, run.State)
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET state = $1, closed_at = $2 WHERE id = $3`,
			hub.RunClosed, ts(at), run.ID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+itemColumns+` FROM items
			WHERE run = $1 AND (state NOT IN ('arrived', 'picked_up') OR 'wrong_village' = ANY(flags))
			ORDER BY id LIMIT $2`, run.ID, MaxItems)
		if err != nil {
			return err
		}
		if undelivered, err = scanItems(rows); err != nil {
			return err
		}
		run, err = db.run(ctx, tx, run.ID, false)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres closing of run %s: %w", runID, err)
	}
	return run, undelivered, nil
}

// boardWindow is how far back the board counts exceptions.
const boardWindow = 24 * time.Hour

// Board returns a township's dispatch board (every township's when
// township is empty): each route with parcels waiting in its bins or a run
// open or on the road, and the parcels of the last 24 hours in an
// exception state (the exception bin, damaged, returned).
func (db *DB) Board(ctx context.Context, township string) (*hub.Board, error) {
	b, err := db.board(ctx, township)
	if err != nil {
		return nil, fmt.Errorf("postgres board: %w", err)
	}
	return b, nil
}

func (db *DB) board(ctx context.Context, township string) (*hub.Board, error) {
	cond, args := "", []any{}
	if township != "" {
		cond, args = " AND township = $1", []any{storable(township)}
	}
	rows, err := db.pool.Query(ctx, `SELECT township, route, count(*), coalesce(sum(weight_kg::numeric), 0)::float8, min(arrived_at)
		FROM items WHERE state IN ('sorted', 'confirmed')`+cond+` GROUP BY township, route`, args...)
	if err != nil {
		return nil, err
	}
	b := &hub.Board{Routes: []hub.BoardRoute{}}
	idx := map[[2]string]int{}
	for rows.Next() {
		var r hub.BoardRoute
		var oldest *time.Time
		if err := rows.Scan(&r.Site, &r.Route, &r.Waiting, &r.WaitingKg, &oldest); err != nil {
			rows.Close()
			return nil, err
		}
		r.Oldest, r.Runs = timeOf(oldest), []*hub.Run{}
		idx[[2]string{r.Site, r.Route}] = len(b.Routes)
		b.Routes = append(b.Routes, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	runs, err := db.Runs(ctx, hub.RunQuery{Site: township, States: []string{hub.RunOpen, hub.RunDeparted}})
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		k := [2]string{r.Site, r.Route}
		i, ok := idx[k]
		if !ok {
			i = len(b.Routes)
			idx[k] = i
			b.Routes = append(b.Routes, hub.BoardRoute{Site: r.Site, Route: r.Route, Runs: []*hub.Run{}})
		}
		b.Routes[i].Runs = append(b.Routes[i].Runs, r)
	}
	slices.SortFunc(b.Routes, func(x, y hub.BoardRoute) int {
		return cmp.Or(cmp.Compare(x.Site, y.Site), cmp.Compare(x.Route, y.Route))
	})
	since := time.Now().Add(-boardWindow)
	if township != "" {
		cond = " AND township = $2"
	}
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM items
		WHERE state IN ('exception', 'damaged', 'returned') AND last_at >= $1`+cond, append([]any{since}, args...)...).Scan(&b.Exceptions); err != nil {
		return nil, err
	}
	return b, nil
}

// Audit records an entry of the audit log.
func (db *DB) Audit(ctx context.Context, e hub.AuditEntry) error {
	at := cmp.Or(e.At, time.Now())
	if _, err := db.pool.Exec(ctx, `INSERT INTO audit (at, actor, action, site, target, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		ts(at), storable(e.By), storable(e.Action), storable(e.Site), storable(e.Target), storable(e.Detail)); err != nil {
		return fmt.Errorf("postgres audit %s: %w", e.Action, err)
	}
	return nil
}

// MaxAudit is the most entries one AuditLog call returns.
const MaxAudit = 1000

// AuditLog returns the entries q selects, newest first.
func (db *DB) AuditLog(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	var where []string
	var p params
	if q.Site != "" {
		where = append(where, "site = "+p.add(q.Site))
	}
	if q.Action != "" {
		where = append(where, "action = "+p.add(q.Action))
	}
	if q.Before > 0 {
		where = append(where, "seq < "+p.add(q.Before))
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxAudit {
		limit = MaxAudit
	}
	query := `SELECT seq, at, actor, action, site, target, detail FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.pool.Query(ctx, query+" ORDER BY seq DESC LIMIT "+p.add(limit), p...)
	if err != nil {
		return nil, fmt.Errorf("postgres audit log: %w", err)
	}
	defer rows.Close()
	out := []hub.AuditEntry{}
	for rows.Next() {
		var e hub.AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.By, &e.Action, &e.Site, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("postgres audit log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres audit log: %w", err)
	}
	return out, nil
}

// SaveSite stores a site edited through the API (its rooms stay in the
// sites file).
func (db *DB) SaveSite(ctx context.Context, s hub.Site) error {
	s.Rooms = nil
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO sites (id, record, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at`,
		storable(s.ID), string(b), ts(time.Now())); err != nil {
		return fmt.Errorf("postgres save of site %s: %w", s.ID, err)
	}
	return nil
}

// Sites returns the sites edited through the API, in the order they were
// first stored.
func (db *DB) Sites(ctx context.Context) ([]hub.Site, error) {
	rows, err := db.pool.Query(ctx, `SELECT record FROM sites ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres sites: %w", err)
	}
	defer rows.Close()
	var out []hub.Site
	for rows.Next() {
		var rec string
		var s hub.Site
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("postgres sites: %w", err)
		}
		if err := json.Unmarshal([]byte(rec), &s); err != nil {
			return nil, fmt.Errorf("postgres sites: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
