package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sites"
)

func TestDecide(t *testing.T) {
	cfg := DefaultDayConfig()
	now := time.Now()
	waited := func(since time.Time) time.Duration { return now.Sub(since) * 72 }
	b := &hub.Board{Routes: []hub.BoardRoute{
		{Site: "tw01", Route: "r01", Waiting: 12, Oldest: now.Add(-time.Minute)},                       // nothing yet
		{Site: "tw01", Route: "r02", Waiting: 31, Oldest: now.Add(-time.Minute)},                       // full
		{Site: "tw01", Route: "r03", Waiting: 4, Oldest: now.Add(-3 * time.Hour / 72)},                 // waited 3 h
		{Site: "tw01", Route: "r04", Waiting: 60, Runs: []*hub.Run{{ID: "x", State: hub.RunDeparted}}}, // a van is out
		{Site: "tw01", Route: "r05", Waiting: 50, Runs: []*hub.Run{{ID: "y", State: hub.RunOpen}}},     // a van is loading
		{Site: "tw01", Route: "r06", Waiting: 45, Runs: []*hub.Run{{ID: "z", State: hub.RunClosed}}},   // back: full again
		{Site: "tw02", Route: "r01", Waiting: 99},                                                      // another township
		{Site: "tw01", Route: "", Waiting: 99},                                                         // no route
		{Site: "tw01", Route: "r07"},                                                                   // a run only
	}}
	routes := func(ds []dispatch) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Route+":"+d.Why)
		}
		return out
	}
	if got, want := routes(decide(b, "tw01", waited, cfg, false, 5)), []string{"r06:full", "r02:full", "r03:waited"}; !slices.Equal(got, want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
	if got, want := routes(decide(b, "tw01", waited, cfg, true, 5)), []string{"r06:full", "r02:full", "r01:last call", "r03:waited"}; !slices.Equal(got, want) {
		t.Errorf("at the last call %v, want %v", got, want)
	}
	if got, want := routes(decide(b, "tw01", waited, cfg, false, 1)), []string{"r06:full"}; !slices.Equal(got, want) {
		t.Errorf("with one van %v, want %v", got, want)
	}
	if got := decide(b, "tw01", waited, cfg, true, 0); len(got) != 0 {
		t.Errorf("without a van %v", routes(got))
	}
	if got := decide(nil, "tw01", waited, cfg, true, 3); len(got) != 0 {
		t.Errorf("without a board %v", routes(got))
	}
}

// recordNet records the scans the village points and handhelds would
// publish.
type recordNet struct {
	mu  sync.Mutex
	evs []recorded
}

type recorded struct {
	site string
	ev   contract.ParcelEvent
}

type recordDevice struct {
	n    *recordNet
	site string
}

func (d recordDevice) publish(_ context.Context, ev contract.ParcelEvent) error {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	d.n.evs = append(d.n.evs, recorded{d.site, ev})
	return nil
}

func (n *recordNet) village(id string) scanDevice        { return recordDevice{n, id} }
func (n *recordNet) handheld(township string) scanDevice { return recordDevice{n, township} }
func (n *recordNet) published() uint64                   { n.mu.Lock(); defer n.mu.Unlock(); return uint64(len(n.evs)) }
func (n *recordNet) events() []recorded                  { n.mu.Lock(); defer n.mu.Unlock(); return slices.Clone(n.evs) }
func (n *recordNet) kinds(kind string) (out []recorded)  { return filterKind(n.events(), kind) }
func filterKind(evs []recorded, kind string) (out []recorded) {
	for _, e := range evs {
		if e.ev.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// testTownship is tw01 of the demo county with its phase 1 and 2 village
// points live, a clock 100000 times faster than real time, and the hub at
// hubURL.
func testTownship(t *testing.T, ctx context.Context, hubURL string, net scanNet, cfg DayConfig) *township {
	t.Helper()
	all := sites.Villages(sites.Demo(), "tw01")
	tw := &township{id: "tw01", name: "城关镇", cfg: cfg, api: newHubAPI(hubURL, "clk_test-token"),
		coord: newHubAPI(hubURL, "clk_test-token"), net: net,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), rng: rand.New(rand.NewPCG(1, 2)),
		all: all, live: map[string]bool{}, names: map[string]string{}, parcels: map[string]*parcel{},
		waiting: map[string][]*lot{}, lotSeq: map[string]int{}, shipSeq: map[int]int{}}
	live := liveSites(all, 2)
	for _, v := range live {
		tw.live[v.ID] = true
		tw.names[v.ID] = v.Name
	}
	var err error
	if tw.plan, err = townshipPlan("tw01", live); err != nil {
		t.Fatal(err)
	}
	tw.clock = NewClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.Local), 100000)
	tw.sch = newSched(ctx, tw.clock)
	tw.vans = tw.fleet(len(tw.live))
	return tw
}

// fakeHub answers the coordinator's calls as the hub's API does, for one
// run of route r01 of tw01.
type fakeHub struct {
	t    *testing.T
	plan *contract.SortPlan

	mu      sync.Mutex
	users   []string // the Authorization of each call
	opened  []runRequest
	loads   []loadRequest
	loaded  map[string]string // waybill to its village
	calls   []string
	closedC chan struct{}
}

const wrongParcel = "JT0000000000001"

func (f *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, r.Header.Get("Authorization"))
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	route := f.plan.Routes[0]
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	run := func(state string) *hub.Run {
		rn := &hub.Run{ID: "tw01-20261129-r01-1", Site: "tw01", Route: "r01", State: state, Parcels: len(f.loaded)}
		for _, v := range route.Villages {
			rn.Stops = append(rn.Stops, hub.Stop{Village: v})
		}
		return rn
	}
	switch p, q := r.URL.Path, r.URL.Query(); {
	case r.Method == http.MethodGet && p == "/api/v1/sites/tw01/board":
		reply(200, hub.Board{Routes: []hub.BoardRoute{
			{Site: "tw01", Route: "r01", Waiting: 40, Oldest: time.Now()},
			{Site: "tw01", Route: "r02", Waiting: 2, Oldest: time.Now()},
		}})
	case r.Method == http.MethodPost && p == "/api/v1/sites/tw01/runs":
		var req runRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(400, map[string]string{"error": err.Error()})
			return
		}
		f.opened = append(f.opened, req)
		reply(201, run(hub.RunOpen))
	case r.Method == http.MethodGet && p == "/api/v1/items" && q.Get("run") != "":
		var its []*hub.Item
		for _, wb := range slices.Sorted(mapsKeys(f.loaded)) {
			its = append(its, &hub.Item{ID: wb, Township: "tw01", Village: f.loaded[wb], Route: "r01", State: hub.StateDispatched, Run: q.Get("run")})
		}
		reply(200, its)
	case r.Method == http.MethodGet && p == "/api/v1/items" && q.Get("route") == "r01":
		var its []*hub.Item
		for i, v := range route.Villages {
			its = append(its, &hub.Item{ID: "SF10000000000" + string(rune('0'+i)), Village: v, Route: "r01", State: hub.StateConfirmed})
		}
		reply(200, its)
	case r.Method == http.MethodGet && p == "/api/v1/items":
		reply(200, []*hub.Item{{ID: "SF1000000000000", Route: "r01"}, {ID: wrongParcel, Route: "r02", State: hub.StateSorted}})
	case r.Method == http.MethodPost && p == "/api/v1/runs/tw01-20261129-r01-1/load":
		var req loadRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(400, map[string]string{"error": err.Error()})
			return
		}
		f.loads = append(f.loads, req)
		res := hub.LoadResult{Loaded: []string{}, Refused: []hub.Refusal{}}
		for i, wb := range req.Waybills {
			if wb == wrongParcel {
				res.Refused = append(res.Refused, hub.Refusal{Waybill: wb, Reason: hub.RefuseWrongRoute, Detail: "sorted to route r02"})
				continue
			}
			f.loaded[wb] = route.Villages[i%len(route.Villages)]
			res.Loaded = append(res.Loaded, wb)
		}
		if req.Bin != "" {
			for i, v := range route.Villages {
				wb := "YT70000000000" + string(rune('0'+i))
				f.loaded[wb] = v
				res.Loaded = append(res.Loaded, wb)
			}
			res.Refused = append(res.Refused, hub.Refusal{Waybill: "YT7999999999999", Reason: hub.RefuseCapacity})
		}
		res.Run = run(hub.RunOpen)
		reply(200, res)
	case r.Method == http.MethodPost && p == "/api/v1/runs/tw01-20261129-r01-1/depart":
		reply(200, map[string]any{"run": run(hub.RunDeparted), "left_behind": []*hub.Item{{ID: "YT7999999999999"}}})
	case r.Method == http.MethodPost && p == "/api/v1/runs/tw01-20261129-r01-1/close":
		reply(200, map[string]any{"run": run(hub.RunClosed), "undelivered": []*hub.Item{}})
		close(f.closedC)
	default:
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL)
		reply(404, map[string]string{"error": "not found"})
	}
}

// TestCoordinatorRun has tw01's coordinator look at a board against a
// fake hub: the full route gets a van, loaded by scanning (the parcel of
// another route among them, refused) and from its bin, sent out; the
// village points scan their parcels in as it comes, hand it their farm
// produce, and the run is closed back at the township with the produce
// received at the dock.
func TestCoordinatorRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeHub{t: t, loaded: map[string]string{}, closedC: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	defer srv.Close()
	cfg := DefaultDayConfig()
	cfg.ScanLoad, cfg.Missed, cfg.WrongVillage, cfg.Damaged, cfg.Returned = 1, 0, 0, 0, 0
	net := &recordNet{}
	tw := testTownship(t, ctx, srv.URL, net, cfg)
	f.plan = tw.plan
	r01 := tw.plan.Routes[0]
	// A lot waits at the route's second village point.
	tw.waiting[r01.Villages[1]] = []*lot{{id: "LOT-TW01-V02-20261129-1", village: r01.Villages[1], product: "小米", kg: 25}}

	tw.coordinate(ctx)
	select {
	case <-f.closedC:
	case <-time.After(10 * time.Second):
		t.Fatal("the run was not closed within 10 s")
	}
	// The parcels are scanned in before the van is back; let the last
	// pickups (scheduled minutes later, simulated) come.
	time.Sleep(200 * time.Millisecond)
	cancel()
	tw.sch.stop()

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u != "Bearer clk_test-token" {
			t.Errorf("a call with Authorization %q", u)
		}
	}
	if len(f.opened) != 1 || f.opened[0].Route != "r01" {
		t.Fatalf("runs opened %+v, want one of r01 (r02 waits for more)", f.opened)
	}
	o := f.opened[0]
	if !regexp.MustCompile(`^晋K·[A-Z]\d{4}$`).MatchString(o.Vehicle) || !slices.Contains(drivers, o.Driver) ||
		o.CapacityParcels < 80 || o.CapacityParcels > 150 || o.CapacityKg < 300 || o.CapacityKg > 800 {
		t.Errorf("run opened with %+v", o)
	}
	if len(f.loads) != 2 || !slices.Contains(f.loads[0].Waybills, wrongParcel) || f.loads[0].FromBin != "b01" ||
		f.loads[1].Bin != "b01" || len(f.loads[1].Waybills) != 0 {
		t.Errorf("loads %+v: want one by scanning from b01 with %s among them, then bin b01", f.loads, wrongParcel)
	}
	if i := slices.Index(f.calls, "POST /api/v1/runs/tw01-20261129-r01-1/depart"); i < 0 || i > slices.Index(f.calls, "POST /api/v1/runs/tw01-20261129-r01-1/close") {
		t.Errorf("calls %v: want depart before close", f.calls)
	}
	arrived := net.kinds(contract.EventArrived)
	if len(arrived) != len(f.loaded) {
		t.Errorf("%d scan-ins for %d parcels loaded", len(arrived), len(f.loaded))
	}
	for _, a := range arrived {
		if f.loaded[a.ev.Waybill] != a.site || a.ev.Run != "tw01-20261129-r01-1" || a.ev.By == "" {
			t.Errorf("scan-in %+v at %s, want at %s", a.ev, a.site, f.loaded[a.ev.Waybill])
		}
		if wb := a.ev.Waybill; wb == wrongParcel {
			t.Errorf("the parcel of another route was scanned in")
		}
	}
	recv := net.kinds(contract.EventLotReceived)
	if len(recv) != 1 || recv[0].site != "tw01" || recv[0].ev.Waybill != "LOT-TW01-V02-20261129-1" || !strings.HasPrefix(recv[0].ev.Note, "van ") {
		t.Errorf("lots received %+v", recv)
	}
	if len(tw.waiting) != 0 {
		t.Errorf("lots still waiting at the village points: %v", tw.waiting)
	}
}
