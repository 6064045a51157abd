package demo

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/countylink/countylink/hub"
)

// van is one of a township's vehicles.
type van struct {
	Plate           string
	Driver          string
	CapacityKg      float64
	CapacityParcels int
	busy            bool
}

// dispatch is the coordinator's decision to send a route's parcels out.
type dispatch struct {
	Route   string
	Waiting int
	Why     string // full, waited, last call
}

// Reasons of a dispatch.
const (
	whyFull     = "full"
	whyWaited   = "waited"
	whyLastCall = "last call"
)

// decide is what the coordinator of township does with its board: each
// route with parcels waiting and no run open or on the road goes when
// enough wait to fill a van (cfg.DispatchAt), when its oldest parcel has
// waited cfg.MaxWait, or, at the last call of the day, when any waits.
// waited gives how long, in simulated time, a parcel sorted at a real
// time has waited. At most vans routes go, the fullest first.
func decide(b *hub.Board, township string, waited func(time.Time) time.Duration, cfg DayConfig, lastCall bool, vans int) []dispatch {
	var out []dispatch
	if b == nil {
		return nil
	}
	for _, r := range b.Routes {
		if r.Site != township && r.Site != "" || r.Route == "" || r.Waiting <= 0 {
			continue
		}
		busy := false
		for _, run := range r.Runs {
			if run != nil && (run.State == hub.RunOpen || run.State == hub.RunDeparted) {
				busy = true
			}
		}
		if busy {
			continue
		}
		why := ""
		switch {
		case r.Waiting >= cfg.DispatchAt:
			why = whyFull
		case !r.Oldest.IsZero() && waited(r.Oldest) >= cfg.MaxWait:
			why = whyWaited
		case lastCall:
			why = whyLastCall
		default:
			continue
		}
		out = append(out, dispatch{Route: r.Route, Waiting: r.Waiting, Why: why})
	}
	slices.SortStableFunc(out, func(a, b dispatch) int {
		return cmp.Or(cmp.Compare(b.Waiting, a.Waiting), cmp.Compare(a.Route, b.Route))
	})
	if len(out) > vans {
		out = out[:max(vans, 0)]
	}
	return out
}

// coordinate is one look of the coordinator at the board: the routes that
// must go get a free van each.
func (t *township) coordinate(ctx context.Context) {
	b, err := t.coord.board(ctx, t.id)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("coordinator: board not read", "err", err)
		}
		return
	}
	now := t.clock.Now()
	tod := now.Sub(t.clock.Midnight(t.clock.Day(now)))
	lastCall := tod >= t.cfg.LastCall
	waited := func(since time.Time) time.Duration { return t.clock.Sim(time.Since(since)) }
	t.mu.Lock()
	free := 0
	for _, v := range t.vans {
		if !v.busy {
			free++
		}
	}
	t.mu.Unlock()
	for _, d := range decide(b, t.id, waited, t.cfg, lastCall, free) {
		v := t.takeVan()
		if v == nil {
			return
		}
		t.sch.goNow(func() {
			defer t.releaseVan(v)
			if err := t.runRoute(ctx, v, d); err != nil && ctx.Err() == nil {
				t.log.Warn("run failed", "route", d.Route, "vehicle", v.Plate, "err", err)
			}
		})
	}
}

func (t *township) takeVan() *van {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.vans {
		if !v.busy {
			v.busy = true
			return v
		}
	}
	return nil
}

func (t *township) releaseVan(v *van) {
	t.mu.Lock()
	v.busy = false
	t.mu.Unlock()
}

// binOf is the bin of a route in the plan in force.
func (t *township) binOf(route string) string {
	t.mu.Lock()
	plan := t.plan
	t.mu.Unlock()
	if plan != nil {
		for _, bins := range plan.Stations {
			if b := bins[route]; b != "" {
				return b
			}
		}
	}
	return "b" + strings.TrimPrefix(route, "r")
}

// loadByScan loads a run as the driver scans the parcels of the route's
// bin one by one, with one parcel of another route among them, which the
// hub must refuse. It returns what was loaded.
func (t *township) loadByScan(ctx context.Context, run *hub.Run, bin string) (loaded []string, err error) {
	its, err := t.coord.items(ctx, url.Values{"township": {t.id}, "route": {run.Route}, "state": {"sorted,confirmed"},
		"limit": {strconv.Itoa(max(run.CapacityParcels, 1))}})
	if err != nil {
		return nil, err
	}
	var wbs []string
	for _, it := range its {
		wbs = append(wbs, it.ID)
	}
	others, err := t.coord.items(ctx, url.Values{"township": {t.id}, "state": {"sorted,confirmed"}, "limit": {"300"}})
	if err != nil {
		return nil, err
	}
	wrong := ""
	for _, it := range others {
		if it.Route != "" && it.Route != run.Route {
			wrong = it.ID
			break
		}
	}
	if len(wbs) == 0 {
		return nil, nil
	}
	scan := slices.Clone(wbs)
	if wrong != "" {
		at := t.intn(len(scan) + 1)
		scan = slices.Insert(scan, at, wrong)
	}
	res, err := t.coord.load(ctx, run.ID, loadRequest{Waybills: scan, FromBin: bin})
	if err != nil {
		return nil, err
	}
	if wrong != "" {
		i := slices.IndexFunc(res.Refused, func(r hub.Refusal) bool { return r.Waybill == wrong })
		switch {
		case i >= 0 && res.Refused[i].Reason == hub.RefuseWrongRoute:
			t.log.Info("coordinator: parcel of another route refused at the van, as it should be", "run", run.ID,
				"waybill", wrong, "detail", res.Refused[i].Detail)
		case i >= 0:
			// Another van took it meanwhile, or it was loaded already.
			t.log.Info("coordinator: parcel of another route refused at the van", "run", run.ID,
				"waybill", wrong, "reason", res.Refused[i].Reason, "detail", res.Refused[i].Detail)
		default:
			t.log.Warn("coordinator: parcel of another route NOT refused by the hub", "run", run.ID, "waybill", wrong)
		}
	}
	return res.Loaded, nil
}

// closeLeftovers brings back the runs an earlier session of the demo left
// loading or on the road: the coordinator would wait for them forever.
func (t *township) closeLeftovers(ctx context.Context) {
	runs, err := t.coord.runs(ctx, t.id, hub.RunOpen+","+hub.RunDeparted)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("coordinator: runs of an earlier session not listed", "err", err)
		}
		return
	}
	closed := 0
	for _, r := range runs {
		if r.State == hub.RunOpen {
			if _, _, err := t.coord.depart(ctx, r.ID); err != nil {
				t.log.Warn("coordinator: run of an earlier session not sent off", "run", r.ID, "err", err)
				continue
			}
		}
		if _, _, err := t.coord.closeRun(ctx, r.ID); err != nil {
			t.log.Warn("coordinator: run of an earlier session not closed", "run", r.ID, "err", err)
			continue
		}
		closed++
	}
	if closed > 0 {
		t.log.Info("coordinator: runs of an earlier session closed", "runs", closed)
	}
}

// runRoute is one van's run: opened, loaded (by bin, or now and then by
// scanning), sent on the road, its village points scanning in their
// parcels as it reaches them, and closed when it is back.
func (t *township) runRoute(ctx context.Context, v *van, d dispatch) error {
	run, err := t.coord.openRun(ctx, t.id, runRequest{Route: d.Route, Vehicle: v.Plate, Driver: v.Driver,
		CapacityKg: v.CapacityKg, CapacityParcels: v.CapacityParcels})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	bin := t.binOf(d.Route)
	var loaded []string
	if t.float() < t.cfg.ScanLoad {
		scanned, err := t.loadByScan(ctx, run, bin)
		if err != nil {
			return fmt.Errorf("load %s by scanning: %w", run.ID, err)
		}
		loaded = append(loaded, scanned...)
	}
	// The rest of the bin goes on in one load; what does not fit stays.
	res, err := t.coord.load(ctx, run.ID, loadRequest{Bin: bin})
	if err != nil {
		return fmt.Errorf("load %s from bin %s: %w", run.ID, bin, err)
	}
	loaded = append(loaded, res.Loaded...)
	full := 0
	for _, r := range res.Refused {
		if r.Reason == hub.RefuseCapacity {
			full++
		}
	}
	if !t.clock.Sleep(ctx, t.between(t.cfg.Loading)) {
		return nil
	}
	departed, left, err := t.coord.depart(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("depart %s: %w", run.ID, err)
	}
	t.stats.runs.Add(1)
	t.stats.dispatched.Add(int64(len(loaded)))
	t.log.Info("run departed", "at", t.clock.Stamp(t.clock.Now()), "run", run.ID, "route", d.Route, "why", d.Why,
		"vehicle", v.Plate, "driver", v.Driver, "parcels", departed.Parcels, "kg", round1(departed.WeightKg),
		"did_not_fit", full, "left_behind", len(left), "left_behind_waybills", firstIDs(left, 5))

	stops, byVillage := t.manifestOf(ctx, departed, loaded)
	collected := t.drive(ctx, departed, stops, byVillage)
	if ctx.Err() != nil {
		return nil
	}
	// Back at the township: the farm products the van picked up are
	// received at the dock, then the run is closed.
	t.receiveLots(ctx, collected, "van "+v.Plate)
	closed, undelivered, err := t.coord.closeRun(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("close %s: %w", run.ID, err)
	}
	t.log.Info("run closed", "at", t.clock.Stamp(t.clock.Now()), "run", run.ID, "route", d.Route, "vehicle", v.Plate,
		"parcels", closed.Parcels, "delivered", closed.Delivered, "undelivered", len(undelivered),
		"undelivered_waybills", firstIDs(undelivered, 5), "lots_brought_back", len(collected))
	return nil
}

// manifestOf is what a van carries: the parcels on the run by village
// point, as the hub has them (the announced destination), and the stops
// in visiting order: the route's, then any other destination.
func (t *township) manifestOf(ctx context.Context, run *hub.Run, loaded []string) ([]string, map[string][]string) {
	byVillage := map[string][]string{}
	its, err := t.coord.items(ctx, url.Values{"run": {run.ID}, "limit": {"1000"}})
	if err != nil && ctx.Err() == nil {
		t.log.Warn("run's parcels not listed; the van goes by the demo's own list", "run", run.ID, "err", err)
	}
	known := map[string]bool{}
	for _, it := range its {
		if it.Lot {
			continue
		}
		known[it.ID] = true
		if v := cmp.Or(it.Village, t.villageOf(it.ID)); v != "" {
			byVillage[v] = append(byVillage[v], it.ID)
		}
	}
	for _, wb := range loaded {
		if !known[wb] {
			if v := t.villageOf(wb); v != "" {
				byVillage[v] = append(byVillage[v], wb)
			}
		}
	}
	var stops []string
	for _, s := range run.Stops {
		stops = append(stops, s.Village)
	}
	for _, v := range t.routeVillages(run.Route) {
		if !slices.Contains(stops, v) {
			stops = append(stops, v)
		}
	}
	var extra []string
	for v := range byVillage {
		if !slices.Contains(stops, v) {
			extra = append(extra, v)
		}
	}
	slices.Sort(extra)
	return append(stops, extra...), byVillage
}

// drive takes the van round its stops: at each, the village point scans
// in the parcels for it and hands over the lots waiting there. It returns
// the lots picked up.
func (t *township) drive(ctx context.Context, run *hub.Run, stops []string, byVillage map[string][]string) []*lot {
	// Where each parcel is scanned in: its destination, now and then
	// another stop (left at the wrong village point), or nowhere (not
	// found in the van).
	drop := map[string][]string{}
	wrongAt := map[string]bool{}
	for _, v := range slices.Sorted(mapsKeys(byVillage)) {
		for _, wb := range byVillage[v] {
			at := v
			switch x := t.float(); {
			case x < t.cfg.Missed:
				continue
			case x < t.cfg.Missed+t.cfg.WrongVillage && len(stops) > 1:
				for at == v {
					at = stops[t.intn(len(stops))]
				}
				wrongAt[wb] = true
			}
			drop[at] = append(drop[at], wb)
		}
	}
	var collected []*lot
	for i, stop := range stops {
		leg := t.cfg.Leg
		if i == 0 {
			leg = t.cfg.FirstLeg
		}
		if !t.clock.Sleep(ctx, t.between(leg)) {
			return collected
		}
		for _, wb := range drop[stop] {
			t.scanIn(ctx, run, stop, wb, wrongAt[wb])
		}
		collected = append(collected, t.takeLots(stop)...)
		if !t.clock.Sleep(ctx, t.between(t.cfg.Dwell)) {
			return collected
		}
	}
	t.clock.Sleep(ctx, t.between(t.cfg.FirstLeg)) // the way back
	return collected
}

func firstIDs(its []*hub.Item, n int) []string {
	var out []string
	for _, it := range its[:min(n, len(its))] {
		out = append(out, it.ID)
	}
	return out
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
