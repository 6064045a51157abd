package demo

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sites"
)

// DayConfig is the shape of a simulated township day. Times of day are
// durations since midnight, durations are simulated time, shares are of
// all parcels, and rates are per day and live village point.
type DayConfig struct {
	Start time.Duration // time of day the simulation starts, on day 1

	TruckFirst time.Duration // the day's first truck from the county arrives
	TruckLast  time.Duration // no truck arrives after this
	TruckEvery time.Duration // between two trucks (±15%)
	// TruckLead is how long before a truck arrives its manifest reaches
	// the hub: when it leaves the county.
	TruckLead         time.Duration
	ParcelsPerVillage float64
	Unannounced       float64 // in no manifest (a product barcode scanned among them)
	Late              float64 // announced a couple of (real) seconds after their scan
	AddressOnly       float64 // manifest rows giving the address only, the hub finding the village in it

	CoordFrom  time.Duration // the coordinator's working hours
	CoordUntil time.Duration
	CoordEvery time.Duration // how often it looks at the board
	DispatchAt int           // parcels waiting that make a route go
	MaxWait    time.Duration // a route whose oldest parcel waited this long goes
	LastCall   time.Duration // from this time of day any route with a parcel waiting goes
	ScanLoad   float64       // share of runs loaded by scanning, one wrong parcel among them

	Vans     int              // per township, and one more per 10 live village points
	Loading  [2]time.Duration // from opening a run to leaving
	FirstLeg [2]time.Duration // township to the first stop, and the last stop back
	Leg      [2]time.Duration // stop to stop
	Dwell    [2]time.Duration // at a stop

	PickupMean   time.Duration // mean wait until a consignee collects a parcel
	Damaged      float64       // found damaged at the village point
	Returned     float64       // refused or never collected: returned
	WrongVillage float64       // scanned in at another stop of the run
	Missed       float64       // not found in the van: undelivered when the run closes

	LotsPerVillage float64
	LotFrom        time.Duration // farmers bring produce between these times
	LotUntil       time.Duration
	Sweep          time.Duration // the township fetches the lots no van brought back
	PackAfter      [2]time.Duration
	ShipAt         []time.Duration // the county's produce truck leaves with what is packed

	// Rollout is the simulated time from the start at which the village
	// points of phase 3 go live; negative for never. NewVillage, when it
	// has an id, is a village point added through the hub's API then and
	// put on a route by a new plan version.
	Rollout    time.Duration
	NewVillage hub.Site
}

// DefaultDayConfig is a township's day in a northern county: trucks from
// 06:15 to 18:00, vans from 07:00, produce collected from 08:00 to 17:00
// and shipped three times a day, phase 3 live at noon of day 1.
func DefaultDayConfig() DayConfig {
	h, m := time.Hour, time.Minute
	return DayConfig{
		Start:      6 * h,
		TruckFirst: 6*h + 15*m, TruckLast: 18 * h, TruckEvery: 75 * m, TruckLead: 20 * m,
		ParcelsPerVillage: 18, Unannounced: 0.02, Late: 0.02, AddressOnly: 0.25,
		CoordFrom: 7 * h, CoordUntil: 19 * h, CoordEvery: 15 * m, DispatchAt: 30, MaxWait: 2*h + 30*m, LastCall: 17 * h,
		ScanLoad: 0.25,
		Vans:     2, Loading: [2]time.Duration{10 * m, 20 * m}, FirstLeg: [2]time.Duration{20 * m, 35 * m},
		Leg: [2]time.Duration{8 * m, 20 * m}, Dwell: [2]time.Duration{5 * m, 10 * m},
		PickupMean: 3 * h, Damaged: 0.01, Returned: 0.005, WrongVillage: 0.005, Missed: 0.003,
		LotsPerVillage: 1.5, LotFrom: 8 * h, LotUntil: 17 * h, Sweep: 18*h + 30*m,
		PackAfter: [2]time.Duration{30 * m, 90 * m}, ShipAt: []time.Duration{11*h + 30*m, 16 * h, 19*h + 30*m},
		Rollout:    6 * h,
		NewVillage: hub.Site{ID: "tw01-v99", Name: "新建村", NameEN: "Xinjian", Kind: hub.Village, Parent: "tw01", Phase: 3},
	}
}

// parcel is what the demo knows of a parcel it made.
type parcel struct {
	sim.Parcel
	late        bool // announced after its scan
	unannounced bool // in no manifest
}

// lot is a farm product lot weighed at a village point.
type lot struct {
	id       string
	village  string
	product  string
	producer string
	grade    string
	kg       float64
}

// dayStats count what a township did, for the day's summary.
type dayStats struct {
	trucks, parcels, late, unannounced atomic.Int64
	runs, dispatched                   atomic.Int64
	arrived, pickedUp, damaged         atomic.Int64
	returned, wrongVillage             atomic.Int64
	lots, lotsShipped                  atomic.Int64
	shipments                          atomic.Int64
}

// township is one township's simulated day around its warehouse: trucks
// bring parcels, the coordinator sends vans out, village points scan
// parcels in and weigh the farmers' produce, the dock ships it.
type township struct {
	id    string
	name  string
	cfg   DayConfig
	clock *Clock
	sch   *sched
	api   *hubAPI // the demo's own calls: manifests, plans, sites
	coord *hubAPI // the coordinator's
	net   scanNet
	w     *Warehouse
	gen   *sim.Parcels
	log   *slog.Logger
	stats dayStats

	mu      sync.Mutex
	rng     *rand.Rand
	all     []hub.Site // its village points, every phase, in the sites file's order
	live    map[string]bool
	names   map[string]string // village point id to name
	plan    *contract.SortPlan
	parcels map[string]*parcel // by waybill, until they are done with
	waiting map[string][]*lot  // lots weighed at each village point, not collected yet
	packed  []*lot
	lotSeq  map[string]int // lots of a village point on a day
	shipSeq map[int]int    // shipments of a day
	vans    []*van
}

// townshipPlan is the demo plan of a township over some of its village
// points, for the warehouse's two stations.
func townshipPlan(township string, villages []hub.Site) (*contract.SortPlan, error) {
	return sites.DemoPlan(township, villages, []string{sim.DemoStation1, sim.DemoStation2}, sim.DemoExceptionBin)
}

// liveSites are the village points among all live at a rollout phase:
// those that joined in it or before.
func liveSites(all []hub.Site, phase int) []hub.Site {
	var out []hub.Site
	for _, v := range all {
		if v.Phase <= phase {
			out = append(out, v)
		}
	}
	return out
}

// random helpers, safe for the township's goroutines.

func (t *township) float() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rng.Float64()
}

func (t *township) intn(n int) int {
	if n <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rng.IntN(n)
}

// between is a duration drawn evenly from [r[0], r[1]].
func (t *township) between(r [2]time.Duration) time.Duration {
	if r[1] <= r[0] {
		return r[0]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return r[0] + time.Duration(t.rng.Int64N(int64(r[1]-r[0])+1))
}

// poisson draws a Poisson count of mean m.
func (t *township) poisson(m float64) int {
	if m <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= t.rng.Float64()
		if p <= l || k > 10000 {
			return k
		}
		k++
	}
}

func mapsKeys[K comparable, V any](m map[K]V) iter.Seq[K] { return maps.Keys(m) }

func (t *township) liveVillages() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, v := range t.all {
		if t.live[v.ID] {
			out = append(out, v.ID)
		}
	}
	return out
}

func (t *township) villageOf(waybill string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.parcels[waybill]; p != nil {
		return p.Village
	}
	return ""
}

func (t *township) routeVillages(route string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.plan != nil {
		for _, r := range t.plan.Routes {
			if r.ID == route {
				return slices.Clone(r.Villages)
			}
		}
	}
	return nil
}

func (t *township) done(waybill string) {
	t.mu.Lock()
	delete(t.parcels, waybill)
	t.mu.Unlock()
}

// tod is a simulated time's time of day.
func (t *township) tod(at time.Time) time.Duration {
	return at.Sub(t.clock.Midnight(t.clock.Day(at)))
}

// run plays the township's days until ctx ends.
func (t *township) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){t.trucks, t.coordinator, t.days} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
}

// trucks bring the county's parcels all day: each truck's manifest goes
// to the hub as it leaves the county, its parcels to the stations as it
// arrives.
func (t *township) trucks(ctx context.Context) {
	offset := time.Duration(seed(t.id)%16) * time.Minute // not every township at once
	perDay := max(1, int((t.cfg.TruckLast-t.cfg.TruckFirst)/max(t.cfg.TruckEvery, time.Minute))+1)
	for day := t.clock.Day(t.clock.Now()); ctx.Err() == nil; day++ {
		mid := t.clock.Midnight(day)
		for at := mid.Add(t.cfg.TruckFirst + offset); !at.After(mid.Add(t.cfg.TruckLast)); {
			if at.After(t.clock.Now()) {
				if !t.clock.SleepUntil(ctx, at.Add(-t.cfg.TruckLead)) {
					return
				}
				n := t.poisson(t.cfg.ParcelsPerVillage * float64(len(t.liveVillages())) / float64(perDay))
				posted := time.Now()
				batch := t.truckload(ctx, day, n)
				// The hub sends the manifest on to the edge: give it a moment
				// even when the clock runs very fast.
				if !t.clock.SleepUntil(ctx, at) || !sleepReal(ctx, time.Until(posted.Add(1500*time.Millisecond))) {
					return
				}
				t.w.Unload(batch)
				t.stats.trucks.Add(1)
				t.log.Debug("truck arrived", "at", t.clock.Stamp(t.clock.Now()), "parcels", len(batch), "queue", t.w.Waiting())
			}
			jit := time.Duration(float64(t.cfg.TruckEvery) * (0.85 + 0.3*t.float()))
			at = at.Add(max(jit, time.Minute))
		}
		if !t.clock.SleepUntil(ctx, t.clock.Midnight(day+1)) {
			return
		}
	}
}

func sleepReal(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// truckload draws a truck's n parcels for the live village points and
// posts their manifest, leaving out the unannounced and the late ones.
func (t *township) truckload(ctx context.Context, day, n int) []sim.Parcel {
	var batch []sim.Parcel
	var csv strings.Builder
	csv.WriteString("waybill,carrier,village,address\n")
	rows := 0
	for len(batch) < n {
		p := t.gen.Next()
		t.mu.Lock()
		if p.Village != "" && !t.live[p.Village] {
			t.mu.Unlock()
			continue
		}
		x := t.rng.Float64()
		rec := &parcel{Parcel: p}
		switch {
		case p.Village == "" || x < t.cfg.Unannounced:
			rec.unannounced = true
		case x < t.cfg.Unannounced+t.cfg.Late:
			rec.late = true
		}
		t.parcels[p.Waybill] = rec
		addrOnly := t.rng.Float64() < t.cfg.AddressOnly
		group := 1 + t.rng.IntN(9)
		t.mu.Unlock()
		batch = append(batch, p)
		switch {
		case rec.unannounced:
			t.stats.unannounced.Add(1)
		case rec.late:
			t.stats.late.Add(1)
		default:
			csv.WriteString(t.manifestRow(p, addrOnly, group))
			rows++
		}
	}
	t.stats.parcels.Add(int64(len(batch)))
	if rows > 0 {
		t.postManifest(ctx, fmt.Sprintf("truck-day%d-%s", day, t.clock.Now().Format("1504")), csv.String())
	}
	return batch
}

// manifestRow is a parcel's manifest line: its village point, or only its
// address for the hub to find the village in.
func (t *township) manifestRow(p sim.Parcel, addrOnly bool, group int) string {
	village := p.Village
	if addrOnly {
		village = ""
	}
	return fmt.Sprintf("%s,%s,%s,%s%s%d组\n", p.Waybill, p.Carrier, village, t.name, p.VillageName, group)
}

func (t *township) postManifest(ctx context.Context, name, csv string) {
	rep, err := t.api.postManifest(ctx, t.id, name, []byte(csv))
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("manifest not imported by the hub", "name", name, "err", err)
		}
		return
	}
	if rep.Report.Rejected > 0 {
		var why []string
		for _, e := range rep.Report.Errors[:min(3, len(rep.Report.Errors))] {
			why = append(why, e.Waybill+" "+e.Field+": "+e.Msg)
		}
		t.log.Warn("manifest rows rejected by the hub", "name", name, "rows", rep.Report.Rows, "rejected", rep.Report.Rejected, "errors", why)
	}
}

// scanned is the stations' hook: a parcel announced late has its
// manifest row posted a couple of seconds after its scan.
func (t *township) scanned(station string, p sim.Parcel) {
	t.mu.Lock()
	rec := t.parcels[p.Waybill]
	t.mu.Unlock()
	if rec == nil || !rec.late {
		return
	}
	t.sch.afterReal(2*time.Second, func() {
		t.postManifest(t.sch.ctx, "late-"+strings.ToLower(p.Waybill), "waybill,carrier,village\n"+
			fmt.Sprintf("%s,%s,%s\n", p.Waybill, p.Carrier, p.Village))
	})
}

// coordinator looks at the board every cfg.CoordEvery in its hours.
func (t *township) coordinator(ctx context.Context) {
	for ctx.Err() == nil {
		if tod := t.tod(t.clock.Now()); tod >= t.cfg.CoordFrom && tod < t.cfg.CoordUntil {
			t.coordinate(ctx)
		}
		if !t.clock.Sleep(ctx, t.cfg.CoordEvery) {
			return
		}
	}
}

// days schedules each day's produce, sweep and shipments.
func (t *township) days(ctx context.Context) {
	for day := t.clock.Day(t.clock.Now()); ctx.Err() == nil; day++ {
		mid := t.clock.Midnight(day)
		t.scheduleLots(mid, t.liveVillages())
		t.sch.at(mid.Add(t.cfg.Sweep), func() { t.sweep(ctx) })
		for _, at := range t.cfg.ShipAt {
			if mid.Add(at).After(t.clock.Now()) {
				t.sch.at(mid.Add(at), func() { t.ship(ctx, day) })
			}
		}
		if !t.clock.SleepUntil(ctx, t.clock.Midnight(day+1)) {
			return
		}
	}
}

// scheduleLots schedules the lots farmers bring to villages for the rest
// of the day that starts at mid.
func (t *township) scheduleLots(mid time.Time, villages []string) {
	from, until := mid.Add(t.cfg.LotFrom), mid.Add(t.cfg.LotUntil)
	if now := t.clock.Now(); now.After(from) {
		from = now
	}
	if !until.After(from) {
		return
	}
	share := float64(until.Sub(from)) / float64(max(t.cfg.LotUntil-t.cfg.LotFrom, time.Minute))
	for _, v := range villages {
		for range t.poisson(t.cfg.LotsPerVillage * share) {
			at := from.Add(time.Duration(t.float() * float64(until.Sub(from))))
			t.sch.at(at, func() { t.weigh(t.sch.ctx, v) })
		}
	}
}

// weigh is a farmer's produce weighed and labelled at a village point.
func (t *township) weigh(ctx context.Context, village string) {
	t.mu.Lock()
	total := 0
	for _, p := range products {
		total += p.weight
	}
	n := t.rng.IntN(total)
	pr := products[0]
	for _, p := range products {
		if n -= p.weight; n < 0 {
			pr = p
			break
		}
	}
	g, gn := 0, t.rng.IntN(100)
	for gn >= pr.gradeShare[g] && g < 2 {
		gn -= pr.gradeShare[g]
		g++
	}
	kg := math.Round((pr.minKg+t.rng.Float64()*(pr.maxKg-pr.minKg))*10) / 10
	date := t.clock.Now().Format("20060102")
	key := village + "/" + date
	t.lotSeq[key]++
	l := &lot{id: fmt.Sprintf("LOT-%s-%s-%d", strings.ToUpper(village), date, t.lotSeq[key]), village: village,
		product: pr.name, producer: people[t.rng.IntN(len(people))], grade: grades[g], kg: kg}
	t.mu.Unlock()
	err := t.net.village(village).publish(ctx, contract.ParcelEvent{Kind: contract.EventLotWeighed, Waybill: l.id,
		WeightKg: &l.kg, Producer: l.producer, Product: l.product, Grade: l.grade, By: pick(people, village)})
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("lot not sent", "village", village, "lot", l.id, "err", err)
		}
		return
	}
	t.stats.lots.Add(1)
	t.mu.Lock()
	t.waiting[village] = append(t.waiting[village], l)
	t.mu.Unlock()
}

// takeLots hands over the lots waiting at a village point.
func (t *township) takeLots(village string) []*lot {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := t.waiting[village]
	delete(t.waiting, village)
	return ls
}

// sweep fetches every lot no van brought back.
func (t *township) sweep(ctx context.Context) {
	t.mu.Lock()
	var ls []*lot
	for _, v := range slices.Sorted(maps.Keys(t.waiting)) {
		ls = append(ls, t.waiting[v]...)
	}
	clear(t.waiting)
	t.mu.Unlock()
	t.receiveLots(ctx, ls, "evening collection")
}

// receiveLots scans lots in at the township's dock and has them packed.
func (t *township) receiveLots(ctx context.Context, ls []*lot, how string) {
	dock := t.net.handheld(t.id)
	clerk := pick(people, t.id+"-dock")
	for _, l := range ls {
		if err := dock.publish(ctx, contract.ParcelEvent{Kind: contract.EventLotReceived, Waybill: l.id, By: clerk,
			Note: how}); err != nil {
			if ctx.Err() == nil {
				t.log.Warn("lot receipt not sent", "lot", l.id, "err", err)
			}
			continue
		}
		t.sch.after(t.between(t.cfg.PackAfter), func() {
			if err := dock.publish(t.sch.ctx, contract.ParcelEvent{Kind: contract.EventLotPacked, Waybill: l.id, By: clerk}); err != nil {
				if t.sch.ctx.Err() == nil {
					t.log.Warn("lot packing not sent", "lot", l.id, "err", err)
				}
				return
			}
			t.mu.Lock()
			t.packed = append(t.packed, l)
			t.mu.Unlock()
		})
	}
}

// ship sends the packed lots off on the county's produce truck.
func (t *township) ship(ctx context.Context, day int) {
	t.mu.Lock()
	ls := t.packed
	t.packed = nil
	if len(ls) == 0 {
		t.mu.Unlock()
		return
	}
	t.shipSeq[day]++
	// A run id must be a valid id: lower case.
	id := fmt.Sprintf("ship-%s-%s-%d", t.id, t.clock.Midnight(day).Format("20060102"), t.shipSeq[day])
	t.mu.Unlock()
	dock := t.net.handheld(t.id)
	kg := 0.0
	sent := 0
	for _, l := range ls {
		if err := dock.publish(ctx, contract.ParcelEvent{Kind: contract.EventLotShipped, Waybill: l.id, Run: id,
			By: pick(people, t.id+"-dock")}); err != nil {
			if ctx.Err() == nil {
				t.log.Warn("lot shipment not sent", "lot", l.id, "err", err)
			}
			continue
		}
		kg += l.kg
		sent++
	}
	t.stats.lotsShipped.Add(int64(sent))
	t.stats.shipments.Add(1)
	t.log.Info("produce shipped to the county", "at", t.clock.Stamp(t.clock.Now()), "shipment", id, "lots", sent, "kg", round1(kg))
}

// scanIn is a parcel scanned in at a village point from a van; what
// becomes of it there follows later.
func (t *township) scanIn(ctx context.Context, run *hub.Run, village, waybill string, wrong bool) {
	vp := t.net.village(village)
	keeper := pick(people, village)
	if err := vp.publish(ctx, contract.ParcelEvent{Kind: contract.EventArrived, Waybill: waybill, Run: run.ID, By: keeper}); err != nil {
		if ctx.Err() == nil {
			t.log.Warn("scan-in not sent", "village", village, "waybill", waybill, "err", err)
		}
		return
	}
	t.stats.arrived.Add(1)
	if wrong {
		t.stats.wrongVillage.Add(1)
		t.log.Info("parcel left at the wrong village point", "at", t.clock.Stamp(t.clock.Now()), "waybill", waybill,
			"village", village, "for", t.villageOf(waybill))
		t.done(waybill)
		return
	}
	switch x := t.float(); {
	case x < t.cfg.Damaged:
		t.stats.damaged.Add(1)
		note := damages[t.intn(len(damages))]
		t.sch.after(5*time.Minute, func() {
			t.villageEvent(village, waybill, contract.EventDamaged, note)
		})
	case x < t.cfg.Damaged+t.cfg.Returned:
		t.stats.returned.Add(1)
		note := returns[t.intn(len(returns))]
		t.sch.at(t.daytime(t.clock.Now().Add(3*t.pickupDelay())), func() {
			t.villageEvent(village, waybill, contract.EventReturned, note)
		})
	default:
		t.sch.at(t.daytime(t.clock.Now().Add(t.pickupDelay())), func() {
			if t.villageEvent(village, waybill, contract.EventPickedUp, "") {
				t.stats.pickedUp.Add(1)
			}
		})
	}
}

// villageEvent is a later scan at a village point: picked up, damaged,
// returned. The parcel is done with then.
func (t *township) villageEvent(village, waybill, kind, note string) bool {
	defer t.done(waybill)
	err := t.net.village(village).publish(t.sch.ctx, contract.ParcelEvent{Kind: kind, Waybill: waybill, Note: note,
		By: pick(people, village)})
	if err != nil && t.sch.ctx.Err() == nil {
		t.log.Warn("village scan not sent", "village", village, "waybill", waybill, "kind", kind, "err", err)
	}
	return err == nil
}

// pickupDelay is how long a consignee takes to come: exponential around
// cfg.PickupMean, ten minutes at least.
func (t *township) pickupDelay() time.Duration {
	d := time.Duration(-math.Log(1-t.float()) * float64(t.cfg.PickupMean))
	return min(max(d, 10*time.Minute), 30*time.Hour)
}

// daytime moves a time at night (21:00 to 07:00) to the next morning.
func (t *township) daytime(at time.Time) time.Time {
	mid := t.clock.Midnight(t.clock.Day(at))
	switch tod := at.Sub(mid); {
	case tod < 7*time.Hour:
		return mid.Add(7*time.Hour + time.Duration(t.float()*float64(3*time.Hour)))
	case tod >= 21*time.Hour:
		return mid.Add(31*time.Hour + time.Duration(t.float()*float64(3*time.Hour)))
	}
	return at
}

// setPlan records the plan in force and tells the hub, which sends it to
// the township's edge.
func (t *township) setPlan(ctx context.Context, plan *contract.SortPlan) error {
	if _, err := t.api.putPlan(ctx, plan); err != nil {
		return err
	}
	t.mu.Lock()
	t.plan = plan
	t.mu.Unlock()
	return nil
}

// goLive makes village points live: parcels and produce start coming
// for them.
func (t *township) goLive(ids []string) {
	t.mu.Lock()
	for _, id := range ids {
		t.live[id] = true
	}
	n := len(t.live)
	t.mu.Unlock()
	t.scheduleLots(t.clock.Midnight(t.clock.Day(t.clock.Now())), ids)
	t.mu.Lock()
	t.vans = t.fleet(n)
	t.mu.Unlock()
}

// fleet is the township's vans for n live village points: cfg.Vans and
// one more per ten points, keeping the vans it has. t.mu is held.
func (t *township) fleet(n int) []*van {
	want := t.cfg.Vans + n/10
	vans := t.vans
	letters := "ABCDEFGHJKLMN"
	for len(vans) < want {
		vans = append(vans, &van{
			Plate:           fmt.Sprintf("晋K·%c%04d", letters[t.rng.IntN(len(letters))], 1000+t.rng.IntN(9000)),
			Driver:          drivers[t.rng.IntN(len(drivers))],
			CapacityParcels: 80 + 10*t.rng.IntN(8),
			CapacityKg:      float64(300 + 50*t.rng.IntN(11)),
		})
	}
	return vans
}
