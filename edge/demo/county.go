package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/agent"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sites"
)

// CountyOptions describe the demo county: the hub whose townships are
// simulated, and how.
type CountyOptions struct {
	Hub string // the hub's base URL
	// Token is the API token the simulated coordinators call the hub
	// with: a county coordinator's (hub -demo writes one to
	// data_dir/demo-api-token; see ReadTokenFile).
	Token  string
	Broker string // the broker of the agents and the village points
	// PKIDir, when set, is the hub's PKI directory (hub -demo's data/pki)
	// in which every simulated client finds its own certificate and key
	// (see Credentials) to log in over TLS with: Broker is then ssl://.
	PKIDir   string
	Prefix   string // topic prefix; default contract.DefaultPrefix
	StateDir string // one directory per edge below it
	Interval time.Duration
	Speed    float64 // the cold rooms' simulated seconds per real second
	Stations int     // scanner stations per township; default 2
	// ParcelEvery is the mean pause of the staff between two parcels at a
	// station; default 20 simulated seconds, 150 ms at least.
	ParcelEvery time.Duration
	// Day is how long a simulated day of the townships takes in real
	// time; default 20 minutes.
	Day time.Duration
	// DayConfig shapes the day; nil means DefaultDayConfig.
	DayConfig *DayConfig
	// Townships limits the simulation to these townships; empty for all.
	Townships []string
	// Seed makes the parcels and the day; 0 takes one from the clock, so
	// that a new run does not repeat yesterday's waybills.
	Seed uint64
}

// HubRoom is a cold room as the hub lists it.
type HubRoom struct {
	Site  string  `json:"site"`
	Room  string  `json:"room"`
	Class string  `json:"class"`
	MinC  float64 `json:"min_c"`
	MaxC  float64 `json:"max_c"`
}

// ReadTokenFile reads an API token from a file, waiting for it to appear
// (hub -demo writes it as it starts) until ctx ends.
func ReadTokenFile(ctx context.Context, path string) (string, error) {
	for {
		b, err := os.ReadFile(path)
		if tok := strings.TrimSpace(string(b)); err == nil && tok != "" {
			return tok, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("API token %s: %w", path, cmp.Or(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// FetchRooms asks the hub for its cold rooms with an API token, waiting
// for it to start.
func FetchRooms(ctx context.Context, hubURL, token string) ([]HubRoom, error) {
	for {
		rooms, err := func() ([]HubRoom, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, hubURL+"/api/v1/coldrooms", nil)
			if err != nil {
				return nil, err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("hub answered %s", resp.Status)
			}
			var rs []HubRoom
			return rs, json.NewDecoder(resp.Body).Decode(&rs)
		}()
		if err == nil {
			return rooms, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("hub %s not reachable: %w", hubURL, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// County is the running county simulation.
type County struct {
	opt   CountyOptions
	cfg   DayConfig
	log   *slog.Logger
	api   *hubAPI
	net   *mqttNet
	clock *Clock
	towns []*township
	byID  map[string]*township
	wg    sync.WaitGroup
}

// RunCounty simulates every township of the hub's county until ctx ends:
// each warehouse read by a real edge agent in this process, its staff
// sorting the parcels trucks bring, a coordinator sending vans out to the
// village points, the village points scanning parcels in and weighing the
// farmers' produce, the produce shipped to the county; phase 3 of the
// village points goes live midway.
func RunCounty(ctx context.Context, log *slog.Logger, opt CountyOptions) error {
	c, err := StartCounty(ctx, log, opt)
	if err != nil {
		return err
	}
	<-ctx.Done()
	c.Wait()
	return nil
}

// StartCounty starts the county simulation; it runs until ctx ends, and
// Wait waits for it to stop.
func StartCounty(ctx context.Context, log *slog.Logger, opt CountyOptions) (*County, error) {
	if opt.Stations == 0 {
		opt.Stations = 2
	}
	if opt.Day <= 0 {
		opt.Day = 20 * time.Minute
	}
	if opt.Seed == 0 {
		opt.Seed = uint64(time.Now().UnixNano())
	}
	cfg := DefaultDayConfig()
	if opt.DayConfig != nil {
		cfg = *opt.DayConfig
	}
	c := &County{opt: opt, cfg: cfg, log: log, api: newHubAPI(opt.Hub, opt.Token), byID: map[string]*township{}}
	c.net = newMQTTNet(opt.Broker, opt.Prefix, opt.PKIDir, log)
	factor := float64(24*time.Hour) / float64(opt.Day)
	// The clock starts for real once the warehouses run; this one sets
	// the paces they are built with.
	c.clock = NewClock(time.Time{}, factor)

	rooms, err := FetchRooms(ctx, opt.Hub, opt.Token)
	if err != nil {
		return nil, err
	}
	all, err := c.fetchSites(ctx)
	if err != nil {
		return nil, err
	}
	bySite := map[string][]Room{}
	for _, r := range rooms {
		bySite[r.Site] = append(bySite[r.Site], Room{ID: r.Room, Setpoint: (r.MinC + r.MaxC) / 2})
	}
	var ids []string
	names := map[string]string{}
	for _, s := range all {
		if s.Kind == hub.Township && (len(opt.Townships) == 0 || slices.Contains(opt.Townships, s.ID)) {
			ids = append(ids, s.ID)
			names[s.ID] = s.Name
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return nil, fmt.Errorf("demo: the hub at %s lists no township to simulate", opt.Hub)
	}

	if opt.PKIDir != "" {
		// hub -demo issues them as it starts, maybe after this started.
		for _, id := range ids {
			if err := waitCredentials(ctx, opt.PKIDir, contract.EdgeIdentity(id, id+"-e1")); err != nil {
				return nil, err
			}
		}
	}
	var agents []*agent.Agent
	var warehouses []*Warehouse
	ok := false
	defer func() {
		if !ok {
			for _, w := range warehouses {
				w.Close()
			}
		}
	}()
	pause := opt.ParcelEvery
	if pause <= 0 {
		pause = max(150*time.Millisecond, c.clock.Real(20*time.Second))
	}
	for _, id := range ids {
		t, w, err := c.newTownship(ctx, id, names[id], all, bySite[id], pause)
		if err != nil {
			return nil, err
		}
		warehouses = append(warehouses, w)
		a, err := agent.New(w.Config(), log.With("sim", true))
		if err != nil {
			return nil, err
		}
		agents = append(agents, a)
		if t != nil {
			c.towns = append(c.towns, t)
			c.byID[id] = t
		}
	}
	ok = true
	for i, a := range agents {
		w := warehouses[i]
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); w.Staff(ctx, true) }()
			a.Run(ctx)
			wg.Wait()
			// The simulators go once the agent no longer reads them: an
			// RS-485 read waits for its line.
			w.Close()
		}()
	}

	// The hub holds each township's plan and sends it to the edge.
	for _, t := range c.towns {
		if err := t.setPlan(ctx, t.plan); err != nil {
			log.Warn("sort plan not saved by the hub; the edge keeps its own", "site", t.id, "err", err)
		}
	}
	for _, t := range c.towns {
		t.closeLeftovers(ctx)
	}
	c.waitOnline(ctx, ids, 20*time.Second)

	mid := time.Now()
	y, m, d := mid.Date()
	c.clock = NewClock(time.Date(y, m, d, 0, 0, 0, 0, time.Local).Add(cfg.Start), factor)
	live, waiting := 0, 0
	for _, t := range c.towns {
		t.clock, t.sch = c.clock, newSched(ctx, c.clock)
		live += len(t.live)
		for _, v := range t.all {
			if !t.live[v.ID] {
				waiting++
			}
		}
	}
	log.Info("county simulation running", "townships", len(ids), "rooms", len(rooms), "stations", len(ids)*opt.Stations,
		"broker", opt.Broker, "cold_room_speed", opt.Speed, "day", opt.Day, "time_factor", round1(factor),
		"starts", c.clock.Now().Format("2006-01-02 15:04"))
	log.Info("rollout: phases 1 and 2 live", "village_points", live, "phase_3_waiting", waiting,
		"phase_3_at", c.clock.Stamp(c.clock.Start().Add(cfg.Rollout)))
	for _, t := range c.towns {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			t.run(ctx)
			t.sch.stop()
		}()
	}
	if cfg.Rollout >= 0 {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.rollout(ctx) }()
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.summaries(ctx) }()
	return c, nil
}

// Wait waits for the simulation to stop after its context ended, and
// disconnects the village points.
func (c *County) Wait() {
	c.wg.Wait()
	c.net.close()
}

// Clock is the simulation's clock.
func (c *County) Clock() *Clock { return c.clock }

// fetchSites lists the hub's sites, waiting for it. A village point
// listed without a phase takes its phase in the demo county (or the new
// village point's), and phase 1 when it has none there.
func (c *County) fetchSites(ctx context.Context) ([]hub.Site, error) {
	var list []hubSite
	for {
		var err error
		if list, err = c.api.sites(ctx); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sites of the hub %s: %w", c.opt.Hub, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	phases := map[string]int{}
	for _, s := range sites.Demo() {
		phases[s.ID] = s.Phase
	}
	if nv := c.cfg.NewVillage; nv.ID != "" {
		phases[nv.ID] = nv.Phase
	}
	var out []hub.Site
	for _, s := range list {
		hs := hub.Site{ID: s.ID, Name: s.Name, NameEN: s.NameEN, Kind: s.Kind, Parent: s.Parent, Phase: s.Phase}
		if hs.Kind == hub.Village && hs.Phase == 0 {
			hs.Phase = max(phases[s.ID], 1)
		}
		out = append(out, hs)
	}
	return out, nil
}

// newTownship builds a township's warehouse and, when it has village
// points, its day; without any its staff go round the old demo plan.
func (c *County) newTownship(ctx context.Context, id, name string, all []hub.Site, rooms []Room, pause time.Duration) (*township, *Warehouse, error) {
	opt := Options{Site: id, Rooms: rooms, Broker: c.opt.Broker, StateDir: filepath.Join(c.opt.StateDir, id+"-e1"),
		Interval: c.opt.Interval, Speed: c.opt.Speed, Stations: c.opt.Stations, ParcelEvery: pause}
	if c.opt.PKIDir != "" {
		opt.TLS = Credentials(c.opt.PKIDir, contract.EdgeIdentity(id, id+"-e1"))
	}
	villages := sites.Villages(all, id)
	if len(villages) == 0 {
		w, err := New(ctx, opt)
		if err != nil {
			return nil, nil, err
		}
		if w.Plan() != nil {
			if _, err := c.api.postManifest(ctx, id, "demo", w.ManifestCSV()); err != nil {
				c.log.Warn("demo manifest not imported by the hub", "site", id, "err", err)
			}
		}
		return nil, w, nil
	}
	t := &township{id: id, name: name, cfg: c.cfg, api: c.api, coord: c.api,
		net: c.net, log: c.log.With("township", id), rng: rand.New(rand.NewPCG(seed(id), c.opt.Seed)),
		all: villages, live: map[string]bool{}, names: map[string]string{}, parcels: map[string]*parcel{},
		waiting: map[string][]*lot{}, lotSeq: map[string]int{}, shipSeq: map[int]int{}}
	full := slices.Clone(villages)
	if nv := c.cfg.NewVillage; nv.ID != "" && nv.Parent == id && !slices.ContainsFunc(full, func(s hub.Site) bool { return s.ID == nv.ID }) {
		full = append(full, nv)
	}
	for _, v := range full {
		t.names[v.ID] = v.Name
	}
	initial := liveSites(villages, 2)
	if len(initial) == 0 {
		initial = villages[:1]
	}
	for _, v := range initial {
		t.live[v.ID] = true
	}
	var err error
	if t.plan, err = townshipPlan(id, initial); err != nil {
		return nil, nil, err
	}
	fullPlan, err := townshipPlan(id, full)
	if err != nil {
		return nil, nil, err
	}
	for _, bins := range fullPlan.Stations {
		for _, b := range bins {
			opt.Bins = append(opt.Bins, b)
		}
	}
	if t.gen, err = sim.NewParcels(fullPlan, sim.ParcelsConfig{Seed: seed(id) ^ c.opt.Seed, Unknown: 0.005, Names: t.names}); err != nil {
		return nil, nil, err
	}
	opt.Plan, opt.OnScan = t.plan, t.scanned
	opt.Carry = max(time.Second, c.clock.Real(8*time.Second))
	if t.w, err = New(ctx, opt); err != nil {
		return nil, nil, err
	}
	t.vans = t.fleet(len(t.live))
	return t, t.w, nil
}

// waitOnline waits, up to limit, for the townships' edges to be online at
// the hub, so that the first manifests reach them.
func (c *County) waitOnline(ctx context.Context, ids []string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		list, err := c.api.sites(ctx)
		if err == nil {
			online := map[string]bool{}
			for _, s := range list {
				online[s.ID] = s.Online
			}
			n := 0
			for _, id := range ids {
				if online[id] {
					n++
				}
			}
			if n == len(ids) {
				return
			}
		}
		if !sleepReal(ctx, 300*time.Millisecond) {
			return
		}
	}
	c.log.Warn("not every township's edge is online at the hub yet; starting the day anyway", "waited", limit)
}

// rollout brings phase 3 live at its time: the new village point is added
// through the API, every township gets a plan version over its phase 1 to
// 3 village points, and parcels and produce start coming for them.
func (c *County) rollout(ctx context.Context) {
	if !c.clock.SleepUntil(ctx, c.clock.Start().Add(c.cfg.Rollout)) {
		return
	}
	c.log.Info("rollout: phase 3 begins", "at", c.clock.Stamp(c.clock.Now()))
	if nv := c.cfg.NewVillage; nv.ID != "" {
		if t := c.byID[nv.Parent]; t != nil {
			if err := c.api.putSite(ctx, nv); err != nil {
				c.log.Warn("rollout: new village point not added by the hub", "site", nv.ID, "err", err)
			} else {
				c.log.Info("rollout: new village point added through the API", "site", nv.ID, "name", nv.Name, "township", nv.Parent)
				t.mu.Lock()
				if !slices.ContainsFunc(t.all, func(s hub.Site) bool { return s.ID == nv.ID }) {
					t.all = append(t.all, nv)
				}
				t.mu.Unlock()
			}
		}
	}
	newly := map[*township][]string{}
	total := 0
	for _, t := range c.towns {
		t.mu.Lock()
		vs := liveSites(t.all, 3)
		for _, v := range vs {
			if !t.live[v.ID] {
				newly[t] = append(newly[t], v.ID)
			}
		}
		t.mu.Unlock()
		if len(newly[t]) == 0 {
			continue
		}
		plan, err := townshipPlan(t.id, vs)
		if err == nil {
			err = t.setPlan(ctx, plan)
		}
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("rollout: phase 3 plan not saved; its village points wait", "err", err)
			}
			delete(newly, t)
			continue
		}
		total += len(newly[t])
		if nv := c.cfg.NewVillage; nv.Parent == t.id && slices.Contains(newly[t], nv.ID) {
			route := ""
			for _, r := range plan.Routes {
				if slices.Contains(r.Villages, nv.ID) {
					route = r.ID + " " + r.Name
				}
			}
			t.log.Info("rollout: new plan version puts the new village point on a route", "plan", plan.Version,
				"site", nv.ID, "route", route)
		}
	}
	// The edges take the new plans before parcels come for the new points.
	if !sleepReal(ctx, 2*time.Second) {
		return
	}
	live := 0
	for _, t := range c.towns {
		if ids := newly[t]; len(ids) > 0 {
			t.goLive(ids)
		}
		t.mu.Lock()
		live += len(t.live)
		t.mu.Unlock()
	}
	c.log.Info("rollout: phase 3 live", "at", c.clock.Stamp(c.clock.Now()), "new_village_points", total, "village_points", live)
}

// summaries logs each day's figures as the next day begins.
func (c *County) summaries(ctx context.Context) {
	type snap struct {
		trucks, parcels, late, unannounced, runs, dispatched, arrived, picked, damaged, returned, wrong, lots, shipped, shipments int64
	}
	take := func() snap {
		var s snap
		for _, t := range c.towns {
			st := &t.stats
			s.trucks += st.trucks.Load()
			s.parcels += st.parcels.Load()
			s.late += st.late.Load()
			s.unannounced += st.unannounced.Load()
			s.runs += st.runs.Load()
			s.dispatched += st.dispatched.Load()
			s.arrived += st.arrived.Load()
			s.picked += st.pickedUp.Load()
			s.damaged += st.damaged.Load()
			s.returned += st.returned.Load()
			s.wrong += st.wrongVillage.Load()
			s.lots += st.lots.Load()
			s.shipped += st.lotsShipped.Load()
			s.shipments += st.shipments.Load()
		}
		return s
	}
	prev := snap{}
	for day := c.clock.Day(c.clock.Now()); ; day++ {
		if !c.clock.SleepUntil(ctx, c.clock.Midnight(day+1)) {
			return
		}
		s := take()
		c.log.Info("day done", "day", day, "date", c.clock.Midnight(day).Format("2006-01-02"),
			"trucks", s.trucks-prev.trucks, "parcels", s.parcels-prev.parcels, "late_manifests", s.late-prev.late,
			"unannounced", s.unannounced-prev.unannounced, "runs", s.runs-prev.runs, "dispatched", s.dispatched-prev.dispatched,
			"scanned_in", s.arrived-prev.arrived, "picked_up", s.picked-prev.picked, "damaged", s.damaged-prev.damaged,
			"returned", s.returned-prev.returned, "wrong_village", s.wrong-prev.wrong, "lots_weighed", s.lots-prev.lots,
			"lots_shipped", s.shipped-prev.shipped, "shipments", s.shipments-prev.shipments, "mqtt_events", c.net.published())
		c.log.Info("day begins", "day", day+1, "date", c.clock.Midnight(day+1).Format("2006-01-02"))
		prev = s
	}
}
