package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

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
// village). Items derived before have the checks that needed them skipped.
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
// from all their events and their announcement.
func (db *DB) derive(ctx context.Context, tx *sql.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	evStmt, err := tx.PrepareContext(ctx, `SELECT `+eventColumns+` FROM parcel_events WHERE waybill = ?`)
	if err != nil {
		return err
	}
	defer evStmt.Close()
	anStmt, err := tx.PrepareContext(ctx, `SELECT site, village, carrier, weight_kg FROM manifest_parcels WHERE waybill = ?`)
	if err != nil {
		return err
	}
	defer anStmt.Close()
	put, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO items
		(id, lot, township, site, village, carrier, route, bin, run, state, flags, weight_kg, producer, product, grade,
		 arrived_ms, dispatched_ms, delivered_ms, last_ms, events)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer put.Close()
	places := db.placesOf()
	done := make(map[string]bool, len(ids))
	for _, id := range ids {
		if done[id] {
			continue
		}
		done[id] = true
		var a *hub.Announcement
		var an hub.Announcement
		var w sql.NullFloat64
		switch err := anStmt.QueryRowContext(ctx, id).Scan(&an.Site, &an.Village, &an.Carrier, &w); {
		case err == nil:
			an.Waybill = id
			if w.Valid {
				an.WeightKg = &w.Float64
			}
			a = &an
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("item %s: %w", id, err)
		}
		rows, err := evStmt.QueryContext(ctx, id)
		if err != nil {
			return fmt.Errorf("item %s: %w", id, err)
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return fmt.Errorf("item %s: %w", id, err)
		}
		it := timeline.Derive(id, a, evs, places, db.opt)
		if _, err := put.ExecContext(ctx, it.ID, it.Lot, it.Township, it.Site, it.Village, it.Carrier, it.Route, it.Bin,
			it.Run, it.State, strings.Join(it.Flags, ","), nullWeight(it.WeightKg), it.Producer, it.Product, it.Grade,
			ms(it.Arrived), ms(it.Dispatched), ms(it.Delivered), ms(it.Last), it.Events); err != nil {
			return fmt.Errorf("item %s: %w", id, err)
		}
	}
	return nil
}

// Rederive recomputes every item, as after the sites or the plans changed
// in a way that changes the checks (a village moved to another route).
func (db *DB) Rederive(ctx context.Context) (int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM items UNION SELECT DISTINCT waybill FROM parcel_events`)
	if err != nil {
		return 0, fmt.Errorf("sqlite rederive: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite rederive: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for chunk := range slices.Chunk(ids, 1000) {
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.derive(ctx, tx, chunk) }); err != nil {
			return 0, fmt.Errorf("sqlite rederive: %w", err)
		}
	}
	return len(ids), nil
}

func (db *DB) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func nullWeight(w *float64) sql.NullFloat64 {
	if w == nil || math.IsNaN(*w) || math.IsInf(*w, 0) {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *w, Valid: true}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

const itemColumns = `id, lot, township, site, village, carrier, route, bin, run, state, flags, weight_kg,
	producer, product, grade, arrived_ms, dispatched_ms, delivered_ms, last_ms, events`

func scanItem(sc interface{ Scan(...any) error }) (*hub.Item, error) {
	it := new(hub.Item)
	var flags string
	var w sql.NullFloat64
	var arrived, dispatched, delivered, last int64
	if err := sc.Scan(&it.ID, &it.Lot, &it.Township, &it.Site, &it.Village, &it.Carrier, &it.Route, &it.Bin, &it.Run,
		&it.State, &flags, &w, &it.Producer, &it.Product, &it.Grade, &arrived, &dispatched, &delivered, &last, &it.Events); err != nil {
		return nil, err
	}
	it.Flags = []string{}
	if flags != "" {
		it.Flags = strings.Split(flags, ",")
	}
	if w.Valid {
		it.WeightKg = &w.Float64
	}
	it.Arrived, it.Dispatched, it.Delivered, it.Last = fromMS(arrived), fromMS(dispatched), fromMS(delivered), fromMS(last)
	return it, nil
}

func scanItems(rows *sql.Rows) ([]*hub.Item, error) {
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
	it, err := scanItem(db.read.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlite item %s: %w", id, err)
	}
	return it, nil
}

// Items returns the items q selects, latest event first, at most MaxItems.
func (db *DB) Items(ctx context.Context, q hub.ItemQuery) ([]*hub.Item, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if q.Township != "" {
		add("township = ?", q.Township)
	}
	if q.Site != "" {
		add("site = ?", q.Site)
	}
	if q.Route != "" {
		add("route = ?", q.Route)
	}
	if q.Bin != "" {
		add("bin = ?", q.Bin)
	}
	if q.Run != "" {
		add("run = ?", q.Run)
	}
	if q.Flag != "" {
		add("(',' || flags || ',') LIKE ?", "%,"+q.Flag+",%")
	}
	if q.Lot != nil {
		add("lot = ?", *q.Lot)
	}
	if len(q.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(q.States))+")")
		for _, s := range q.States {
			args = append(args, s)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxItems {
		limit = MaxItems
	}
	query := `SELECT ` + itemColumns + ` FROM items`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY last_ms DESC, id LIMIT ?"
	rows, err := db.read.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite items: %w", err)
	}
	out, err := scanItems(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite items: %w", err)
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// newID returns prefix and 12 random hex digits.
func newID(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// OpenRun opens a run for a route of a township. Its id is made of the
// township, the day, the route and a number: tw01-20261129-r03-2.
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
	run.State, run.Opened, run.Departed, run.Closed = hub.RunOpen, at.Truncate(time.Millisecond), time.Time{}, time.Time{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		prefix := fmt.Sprintf("%s-%s-%s-", run.Site, at.Format("20060102"), run.Route)
		var n int
		// The route's runs of the day: by exact site and route (an id's "_"
		// would be a LIKE wildcard, and r01's prefix is also r01-x's).
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE site = ? AND route = ? AND substr(id, 1, ?) = ?`,
			run.Site, run.Route, len(prefix), prefix).Scan(&n); err != nil {
			return err
		}
		run.ID = fmt.Sprintf("%s%d", prefix, n+1)
		_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, site, route, vehicle, driver, capacity_kg, capacity_parcels,
			state, opened_ms, departed_ms, closed_ms, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
			run.ID, run.Site, run.Route, run.Vehicle, run.Driver, run.CapacityKg, run.CapacityParcels, run.State,
			run.Opened.UnixMilli(), run.By)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite open run: %w", err)
	}
	return db.Run(ctx, run.ID)
}

const runColumns = `id, site, route, vehicle, driver, capacity_kg, capacity_parcels, state, opened_ms, departed_ms, closed_ms, actor`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanRun(sc interface{ Scan(...any) error }) (*hub.Run, error) {
	r := new(hub.Run)
	var opened, departed, closed int64
	if err := sc.Scan(&r.ID, &r.Site, &r.Route, &r.Vehicle, &r.Driver, &r.CapacityKg, &r.CapacityParcels, &r.State,
		&opened, &departed, &closed, &r.By); err != nil {
		return nil, err
	}
	r.Opened, r.Departed, r.Closed = fromMS(opened), fromMS(departed), fromMS(closed)
	r.Stops = []hub.Stop{}
	return r, nil
}

// runLoad fills a run's counts and stops from its items.
func (db *DB) runLoad(ctx context.Context, q querier, r *hub.Run) error {
	if err := q.QueryRowContext(ctx, `SELECT count(*), total(weight_kg),
			count(*) FILTER (WHERE state IN ('arrived', 'picked_up') AND (',' || flags || ',') NOT LIKE '%,wrong_village,%')
		FROM items WHERE run = ?`, r.ID).Scan(&r.Parcels, &r.WeightKg, &r.Delivered); err != nil {
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
	rows, err := q.QueryContext(ctx, `SELECT village, count(*) FROM items WHERE run = ? GROUP BY village`, r.ID)
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
	rows, err = q.QueryContext(ctx, `SELECT e.site, count(DISTINCT e.waybill), min(e.ts_ms)
		FROM parcel_events e JOIN items i ON i.id = e.waybill
		WHERE i.run = ? AND e.kind IN ('arrived', 'picked_up') AND e.ts_ms >= ? GROUP BY e.site`, r.ID, ms(r.Departed))
	if err != nil {
		return err
	}
	for rows.Next() {
		var v string
		var n int
		var first int64
		if err := rows.Scan(&v, &n, &first); err != nil {
			rows.Close()
			return err
		}
		s := stop(v)
		s.Arrived, s.First, s.Visited = n, fromMS(first), true
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
	r, err := db.run(ctx, db.read, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite run %s: %w", id, err)
	}
	return r, nil
}

func (db *DB) run(ctx context.Context, q querier, id string) (*hub.Run, error) {
	r, err := scanRun(q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	var args []any
	if q.Site != "" {
		where, args = append(where, "site = ?"), append(args, q.Site)
	}
	if q.Route != "" {
		where, args = append(where, "route = ?"), append(args, q.Route)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "opened_ms >= ?"), append(args, q.Since.UnixMilli())
	}
	if len(q.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(q.States))+")")
		for _, s := range q.States {
			args = append(args, s)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxRuns {
		limit = MaxRuns
	}
	query := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY opened_ms DESC, id DESC LIMIT ?"
	rows, err := db.read.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite runs: %w", err)
	}
	var out []*hub.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite runs: %w", err)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite runs: %w", err)
	}
	for _, r := range out {
		if err := db.runLoad(ctx, db.read, r); err != nil {
			return nil, fmt.Errorf("sqlite runs: %w", err)
		}
	}
	if out == nil {
		out = []*hub.Run{}
	}
	return out, nil
}

// hubEvent is an event the hub records itself (a load, a departure).
func hubEvent(kind string, it *hub.Item, run *hub.Run, by string, at time.Time) *hub.ParcelEvent {
	return &hub.ParcelEvent{ID: newID("hub-"), Site: run.Site, Station: "dispatch", Kind: kind, Waybill: it.ID,
		Route: run.Route, Run: run.ID, By: by, TS: at, Recv: at}
}

// insertEvents stores hub events in tx and derives their items.
func (db *DB) insertEvents(ctx context.Context, tx *sql.Tx, evs []*hub.ParcelEvent) error {
	if len(evs) == 0 {
		return nil
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO parcel_events
		(id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
		 weight_kg, weigh_error, ts_ms, recv_ms, clock_fault, run, actor, note, producer, product, grade)
		VALUES (?, ?, '', ?, ?, ?, '', ?, ?, '', '', '', NULL, '', ?, ?, '', ?, ?, ?, '', '', '')`)
	if err != nil {
		return err
	}
	defer ins.Close()
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		if _, err := ins.ExecContext(ctx, e.ID, e.Site, e.Station, e.Kind, e.Waybill, e.Route, e.Bin,
			e.TS.UnixMilli(), e.Recv.UnixMilli(), e.Run, e.By, e.Note); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		ids = append(ids, e.Waybill)
	}
	return db.derive(ctx, tx, ids)
}

// LoadRun loads parcels onto an open run, parcel by parcel: a parcel not
// waiting in a bin of the run's township, on another run, of another
// route, or past the run's capacity is refused with its reason. With
// req.Over, a parcel of another route or past capacity is loaded anyway,
// flagged, with a warning. hub.ErrNotFound when there is no such run,
// hub.ErrConflict when it is not open.
func (db *DB) LoadRun(ctx context.Context, req hub.LoadRequest) (*hub.LoadResult, error) {
	if len(req.Waybills) == 0 && req.Bin == "" {
		return nil, fmt.Errorf("%w: a load needs waybills or a bin", hub.ErrInvalidIn)
	}
	if len(req.Waybills) > MaxItems {
		return nil, fmt.Errorf("%w: at most %d waybills in one load", hub.ErrInvalidIn, MaxItems)
	}
	at := cmp.Or(req.At, time.Now()).UTC()
	res := &hub.LoadResult{Loaded: []string{}, Refused: []hub.Refusal{}, Warnings: []string{}}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		run, err := db.run(ctx, tx, req.Run)
		if err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		var items []*hub.Item
		if req.Bin != "" {
			rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM items
				WHERE township = ? AND bin = ? AND state IN ('sorted', 'confirmed') ORDER BY arrived_ms, id LIMIT ?`,
				run.Site, req.Bin, MaxItems)
			if err != nil {
				return err
			}
			if items, err = scanItems(rows); err != nil {
				return err
			}
			if len(items) == 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("bin %s has no parcel waiting", req.Bin))
			}
		}
		seen := map[string]bool{}
		for _, it := range items {
			seen[it.ID] = true
		}
		for _, wb := range req.Waybills {
			wb = strings.ToUpper(strings.TrimSpace(wb))
			if seen[wb] {
				continue
			}
			seen[wb] = true
			it, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ?`, wb))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				res.Refused = append(res.Refused, hub.Refusal{Waybill: wb, Reason: hub.RefuseUnknown, Detail: "never scanned at a township"})
				continue
			case err != nil:
				return err
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
		res.Run, err = db.run(ctx, tx, run.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite load of run %s: %w", req.Run, err)
	}
	return res, nil
}

// UnloadRun takes parcels off an open run: they wait in their bins again.
func (db *DB) UnloadRun(ctx context.Context, runID string, waybills []string, by string, at time.Time) (*hub.LoadResult, error) {
	if len(waybills) == 0 || len(waybills) > MaxItems {
		return nil, fmt.Errorf("%w: an unload needs 1 to %d waybills", hub.ErrInvalidIn, MaxItems)
	}
	at = cmp.Or(at, time.Now()).UTC()
	res := &hub.LoadResult{Loaded: []string{}, Refused: []hub.Refusal{}, Warnings: []string{}}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		run, err := db.run(ctx, tx, runID)
		if err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		var evs []*hub.ParcelEvent
		for _, wb := range waybills {
			wb = strings.ToUpper(strings.TrimSpace(wb))
			it, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ?`, wb))
			if errors.Is(err, sql.ErrNoRows) || (err == nil && (it.Run != run.ID || it.State != hub.StateLoaded)) {
				res.Refused = append(res.Refused, hub.Refusal{Waybill: wb, Reason: hub.RefuseState, Detail: "not loaded on this run"})
				continue
			}
			if err != nil {
				return err
			}
			evs = append(evs, hubEvent(hub.EventUnloaded, it, run, by, at))
			res.Loaded = append(res.Loaded, it.ID) // taken off
		}
		if err := db.insertEvents(ctx, tx, evs); err != nil {
			return err
		}
		res.Run, err = db.run(ctx, tx, run.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite unload of run %s: %w", runID, err)
	}
	return res, nil
}

// DepartRun records that an open run left: its parcels are dispatched.
// It returns the run and the parcels of its route left behind in the bins.
func (db *DB) DepartRun(ctx context.Context, runID, by string, at time.Time) (*hub.Run, []*hub.Item, error) {
	at = cmp.Or(at, time.Now()).UTC()
	var run *hub.Run
	var left []*hub.Item
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if run, err = db.run(ctx, tx, runID); err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return fmt.Errorf("%w: run %s has %s", hub.ErrConflict, run.ID, run.State)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, departed_ms = ? WHERE id = ?`,
			hub.RunDeparted, at.UnixMilli(), run.ID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM items WHERE run = ? AND state = ?`, run.ID, hub.StateLoaded)
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
		rows, err = tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM items
			WHERE township = ? AND route = ? AND state IN ('sorted', 'confirmed') ORDER BY arrived_ms, id LIMIT ?`,
			run.Site, run.Route, MaxItems)
		if err != nil {
			return err
		}
		if left, err = scanItems(rows); err != nil {
			return err
		}
		run, err = db.run(ctx, tx, run.ID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite departure of run %s: %w", runID, err)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if run, err = db.run(ctx, tx, runID); err != nil {
			return err
		}
		if run.State != hub.RunDeparted {
			return fmt.Errorf("%w: run %s has %s; only a departed run closes", hub.ErrConflict, run.ID, run.State)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, closed_ms = ? WHERE id = ?`,
			hub.RunClosed, at.UnixMilli(), run.ID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM items
			WHERE run = ? AND (state NOT IN ('arrived', 'picked_up') OR (',' || flags || ',') LIKE '%,wrong_village,%')
			ORDER BY id LIMIT ?`, run.ID, MaxItems)
		if err != nil {
			return err
		}
		if undelivered, err = scanItems(rows); err != nil {
			return err
		}
		run, err = db.run(ctx, tx, run.ID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite closing of run %s: %w", runID, err)
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
		return nil, fmt.Errorf("sqlite board: %w", err)
	}
	return b, nil
}

func (db *DB) board(ctx context.Context, township string) (*hub.Board, error) {
	cond, args := "", []any{}
	if township != "" {
		cond, args = " AND township = ?", []any{township}
	}
	rows, err := db.read.QueryContext(ctx, `SELECT township, route, count(*), total(weight_kg), min(arrived_ms)
		FROM items WHERE state IN ('sorted', 'confirmed')`+cond+` GROUP BY township, route`, args...)
	if err != nil {
		return nil, err
	}
	b := &hub.Board{Routes: []hub.BoardRoute{}}
	idx := map[[2]string]int{}
	for rows.Next() {
		var r hub.BoardRoute
		var oldest int64
		if err := rows.Scan(&r.Site, &r.Route, &r.Waiting, &r.WaitingKg, &oldest); err != nil {
			rows.Close()
			return nil, err
		}
		r.Oldest, r.Runs = fromMS(oldest), []*hub.Run{}
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
	since := time.Now().Add(-boardWindow).UnixMilli()
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM items
		WHERE state IN ('exception', 'damaged', 'returned') AND last_ms >= ?`+cond, append([]any{since}, args...)...).Scan(&b.Exceptions); err != nil {
		return nil, err
	}
	return b, nil
}

// dayOf is the day (in loc) of a time in Unix milliseconds.
func dayOf(v int64, loc *time.Location) string {
	return time.UnixMilli(v).In(loc).Format(time.DateOnly)
}

// dayBucket is the SQL expression of the day of column, in a zone offset
// by off seconds from UTC (the zone's offset at the start of the period:
// a period across a daylight saving change counts an hour of it in the
// neighbouring day; China has none), and dayStart turns a bucket back
// into a time in that day.
func dayBucket(column string, off int) string {
	return fmt.Sprintf("((%s + %d) / 86400000)", column, int64(off)*1000)
}

func dayStart(bucket int64, off int) int64 { return bucket*86400000 - int64(off)*1000 }

// Figures returns each township's figures for each day from from (included)
// to to (excluded), days in loc. Townships and days without any activity
// are left out.
func (db *DB) Figures(ctx context.Context, from, to time.Time, loc *time.Location) ([]hub.DayFigures, error) {
	if loc == nil {
		loc = time.Local
	}
	out, err := db.figures(ctx, from.UnixMilli(), to.UnixMilli(), loc)
	if err != nil {
		return nil, fmt.Errorf("sqlite figures: %w", err)
	}
	return out, nil
}

func (db *DB) figures(ctx context.Context, from, to int64, loc *time.Location) ([]hub.DayFigures, error) {
	_, off := time.UnixMilli(from).In(loc).Zone()
	figs := map[[2]string]*hub.DayFigures{}
	get := func(day, site string) *hub.DayFigures {
		k := [2]string{day, db.township(site)}
		f := figs[k]
		if f == nil {
			f = &hub.DayFigures{Day: k[0], Township: k[1]}
			figs[k] = f
		}
		return f
	}
	// Events by site, kind and day: a parcel sorted twice in a day
	// counts once.
	day := dayBucket("ts_ms", off)
	rows, err := db.read.QueryContext(ctx, `SELECT site, kind, `+day+`, count(DISTINCT waybill),
			count(DISTINCT waybill) FILTER (WHERE exception <> ''), total(weight_kg)
		FROM parcel_events WHERE ts_ms >= ? AND ts_ms < ?
			AND kind IN ('sorted', 'dispatched', 'picked_up', 'damaged', 'returned', 'lot_weighed')
		GROUP BY site, kind, `+day, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var site, kind string
		var hour int64
		var n, exc int
		var kg float64
		if err := rows.Scan(&site, &kind, &hour, &n, &exc, &kg); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(dayOf(dayStart(hour, off), loc), site)
		switch kind {
		case contract.EventSorted:
			f.Sorted += n - exc
			f.Exceptions += exc
		case hub.EventDispatched:
			f.Dispatched += n
		case contract.EventPickedUp:
			f.Delivered += n
		case contract.EventDamaged, contract.EventReturned:
			f.Exceptions += n
		case contract.EventLotWeighed:
			f.LotsCollected += n
			f.KgCollected += kg
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Parcels first scanned at the township, and the time they waited
	// there for a run.
	rows, err = db.read.QueryContext(ctx, `SELECT township, `+dayBucket("arrived_ms", off)+`, count(*) FROM items
		WHERE arrived_ms >= ? AND arrived_ms < ? AND lot = 0 GROUP BY 1, 2`, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var hour int64
		var n int
		if err := rows.Scan(&t, &hour, &n); err != nil {
			rows.Close()
			return nil, err
		}
		get(dayOf(dayStart(hour, off), loc), t).Received += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type acc struct {
		sum float64
		n   int
	}
	waits := map[*hub.DayFigures]*acc{}
	rows, err = db.read.QueryContext(ctx, `SELECT township, `+dayBucket("dispatched_ms", off)+`, count(*), total(dispatched_ms - arrived_ms)
		FROM items WHERE dispatched_ms >= ? AND dispatched_ms < ? AND arrived_ms > 0 AND lot = 0
		GROUP BY 1, 2`, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var hour int64
		var n int
		var sum float64
		if err := rows.Scan(&t, &hour, &n, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(dayOf(dayStart(hour, off), loc), t)
		a := waits[f]
		if a == nil {
			a = &acc{}
			waits[f] = a
		}
		a.sum, a.n = a.sum+sum, a.n+n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for f, a := range waits {
		f.AvgDispatchH = math.Round(a.sum/float64(a.n)/3600e3*100) / 100
	}
	// Parcels scanned in at a village point that is not theirs, on the
	// day of their latest event.
	rows, err = db.read.QueryContext(ctx, `SELECT township, `+dayBucket("last_ms", off)+`, count(*) FROM items
		WHERE last_ms >= ? AND last_ms < ? AND lot = 0 AND (',' || flags || ',') LIKE '%,wrong_village,%' GROUP BY 1, 2`, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var d int64
		var n int
		if err := rows.Scan(&t, &d, &n); err != nil {
			rows.Close()
			return nil, err
		}
		get(dayOf(dayStart(d, off), loc), t).Exceptions += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Lots shipped, with the weight they were weighed at.
	rows, err = db.read.QueryContext(ctx, `SELECT e.site, `+dayBucket("e.ts_ms", off)+`, count(DISTINCT e.waybill), total(i.weight_kg)
		FROM parcel_events e JOIN items i ON i.id = e.waybill
		WHERE e.kind = 'lot_shipped' AND e.ts_ms >= ? AND e.ts_ms < ? GROUP BY 1, 2`, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var site string
		var hour int64
		var n int
		var kg float64
		if err := rows.Scan(&site, &hour, &n, &kg); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(dayOf(dayStart(hour, off), loc), site)
		f.LotsShipped += n
		f.KgShipped += kg
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]hub.DayFigures, 0, len(figs))
	for _, f := range figs {
		f.KgCollected = math.Round(f.KgCollected*100) / 100
		f.KgShipped = math.Round(f.KgShipped*100) / 100
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b hub.DayFigures) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Township, b.Township))
	})
	return out, nil
}

// Produce returns the farm products weighed at each village point per day
// and product, from from (included) to to (excluded), days in loc.
func (db *DB) Produce(ctx context.Context, from, to time.Time, loc *time.Location) ([]hub.ProduceTotal, error) {
	if loc == nil {
		loc = time.Local
	}
	_, off := from.In(loc).Zone()
	rows, err := db.read.QueryContext(ctx, `SELECT site, product, `+dayBucket("ts_ms", off)+`, count(DISTINCT waybill), total(weight_kg)
		FROM parcel_events WHERE kind = 'lot_weighed' AND ts_ms >= ? AND ts_ms < ?
		GROUP BY 1, 2, 3`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite produce: %w", err)
	}
	defer rows.Close()
	totals := map[[3]string]*hub.ProduceTotal{}
	for rows.Next() {
		var site, product string
		var hour int64
		var n int
		var kg float64
		if err := rows.Scan(&site, &product, &hour, &n, &kg); err != nil {
			return nil, fmt.Errorf("sqlite produce: %w", err)
		}
		k := [3]string{dayOf(dayStart(hour, off), loc), site, product}
		t := totals[k]
		if t == nil {
			t = &hub.ProduceTotal{Day: k[0], Village: site, Township: db.township(site), Product: product}
			totals[k] = t
		}
		t.Lots += n
		t.Kg += kg
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite produce: %w", err)
	}
	out := make([]hub.ProduceTotal, 0, len(totals))
	for _, t := range totals {
		t.Kg = math.Round(t.Kg*100) / 100
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b hub.ProduceTotal) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Village, b.Village), cmp.Compare(a.Product, b.Product))
	})
	return out, nil
}

// Audit records an entry of the audit log.
func (db *DB) Audit(ctx context.Context, e hub.AuditEntry) error {
	at := cmp.Or(e.At, time.Now())
	if _, err := db.write.ExecContext(ctx, `INSERT INTO audit (at_ms, actor, action, site, target, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		at.UnixMilli(), e.By, e.Action, e.Site, e.Target, e.Detail); err != nil {
		return fmt.Errorf("sqlite audit %s: %w", e.Action, err)
	}
	return nil
}

// MaxAudit is the most entries one AuditLog call returns.
const MaxAudit = 1000

// AuditLog returns the entries q selects, newest first.
func (db *DB) AuditLog(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	var where []string
	var args []any
	if q.Site != "" {
		where, args = append(where, "site = ?"), append(args, q.Site)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if q.Before > 0 {
		where, args = append(where, "seq < ?"), append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxAudit {
		limit = MaxAudit
	}
	query := `SELECT seq, at_ms, actor, action, site, target, detail FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.read.QueryContext(ctx, query+" ORDER BY seq DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite audit log: %w", err)
	}
	defer rows.Close()
	out := []hub.AuditEntry{}
	for rows.Next() {
		var e hub.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.By, &e.Action, &e.Site, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite audit log: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite audit log: %w", err)
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
	if _, err := db.write.ExecContext(ctx, `INSERT INTO sites (id, record, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms`,
		s.ID, string(b), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("sqlite save of site %s: %w", s.ID, err)
	}
	return nil
}

// Sites returns the sites edited through the API, in the order they were
// first stored.
func (db *DB) Sites(ctx context.Context) ([]hub.Site, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT record FROM sites ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite sites: %w", err)
	}
	defer rows.Close()
	var out []hub.Site
	for rows.Next() {
		var rec string
		var s hub.Site
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("sqlite sites: %w", err)
		}
		if err := json.Unmarshal([]byte(rec), &s); err != nil {
			return nil, fmt.Errorf("sqlite sites: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
