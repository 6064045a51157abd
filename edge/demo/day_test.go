package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/server"
)

// testDay is a township morning squeezed for a test: from 08:00, trucks
// every 20 minutes, vans out after half an hour of waiting, short legs,
// consignees quick to come, farmers busy, produce fetched at 09:15 and
// shipped three times before 10:30, phase 3 live at 08:40.
func testDay() DayConfig {
	h, m := time.Hour, time.Minute
	cfg := DefaultDayConfig()
	cfg.Start = 8 * h
	cfg.TruckFirst, cfg.TruckLast, cfg.TruckEvery, cfg.TruckLead = 8*h+5*m, 20*h, 20*m, 3*m
	cfg.ParcelsPerVillage, cfg.Unannounced, cfg.Late = 12, 0.05, 0.15
	cfg.CoordFrom, cfg.CoordUntil, cfg.CoordEvery, cfg.DispatchAt, cfg.MaxWait, cfg.LastCall = 8*h, 22*h, 5*m, 8, 30*m, 22*h
	cfg.ScanLoad, cfg.Vans = 0.5, 3
	cfg.Loading, cfg.FirstLeg, cfg.Leg, cfg.Dwell = [2]time.Duration{2 * m, 4 * m}, [2]time.Duration{5 * m, 8 * m},
		[2]time.Duration{3 * m, 5 * m}, [2]time.Duration{m, 2 * m}
	cfg.PickupMean, cfg.Damaged, cfg.Returned, cfg.WrongVillage, cfg.Missed = 10*m, 0.02, 0.02, 0.02, 0.01
	cfg.LotsPerVillage, cfg.LotFrom, cfg.LotUntil, cfg.Sweep = 10, 8*h, 20*h, 9*h+15*m
	cfg.PackAfter, cfg.ShipAt = [2]time.Duration{3 * m, 6 * m}, []time.Duration{8*h + 45*m, 9*h + 30*m, 10*h + 15*m}
	cfg.Rollout = 40 * m
	return cfg
}

// TestCountyDay plays a compressed morning of township tw01 against a
// real hub (server.Main, its embedded broker and store): the warehouse's
// edge agent sorts what the trucks bring, the coordinator sends vans out
// through the API, the village points scan parcels in and weigh produce
// over MQTT, the dock ships it, and phase 3 goes live with a new village
// point. The hub's API then shows every step.
func TestCountyDay(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a compressed morning against a real hub: about 30 s")
	}
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.TimeZone = "127.0.0.1:0", t.TempDir(), "Asia/Shanghai"
	cfg.MQTT.Embedded, cfg.MQTT.EmbeddedListen = true, "127.0.0.1:0"
	// Secured as hub -demo's: its CA and every client's certificate made
	// at the start, TLS and the topic ACL for the edge agent, the
	// handheld and the village points' phones.
	cfg.MQTT.EmbeddedPKIDir, cfg.MQTT.EmbeddedTLSListen = filepath.Join(cfg.DataDir, "pki"), "127.0.0.1:0"
	cfg.FlushInterval = 20 * time.Millisecond
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = os.Stderr
	}
	m := &server.Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Demo: true}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	waitUntil(t, 10*time.Second, "the hub subscribed", func() error {
		if !m.Ingest.Ready() {
			return fmt.Errorf("not subscribed")
		}
		return nil
	})
	base := "http://" + m.HTTPAddr
	// The county coordinator's API token the demo's bots and this test
	// call the hub with, as hub -demo gives devsim one.
	tok, _, err := m.Auth.IssueToken(context.Background(), hub.TokenAPI, "demo-bots", hub.RoleCounty, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	apiToken = tok

	day := testDay()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := StartCounty(ctx, log, CountyOptions{Hub: base, Token: tok, Broker: m.Broker.TLSURL(), PKIDir: cfg.MQTT.EmbeddedPKIDir, StateDir: t.TempDir(),
		Interval: time.Second, Speed: 30, Day: 4 * time.Minute, DayConfig: &day, Townships: []string{"tw01"}, Seed: 1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			c.Wait()
		}
	}
	defer stop()
	start := time.Now()

	// Parcels sorted and confirmed, a van out and back, parcels scanned in
	// and picked up at the village points, produce weighed and shipped.
	var items, lots []*hub.Item
	var runs []*hub.Run
	var figs []hub.DayFigures
	waitUntil(t, 50*time.Second, "a morning's work at tw01", func() error {
		items, runs, lots, figs = nil, nil, nil, nil
		if err := apiGet(base+"/api/v1/items?township=tw01&lot=false&limit=1000", &items); err != nil {
			return err
		}
		if err := apiGet(base+"/api/v1/sites/tw01/runs?state=closed", &runs); err != nil {
			return err
		}
		if err := apiGet(base+"/api/v1/items?township=tw01&lot=true&limit=1000", &lots); err != nil {
			return err
		}
		if err := apiGet(base+"/api/v1/figures?township=tw01", &figs); err != nil {
			return err
		}
		st := states(items)
		lt := states(lots)
		switch {
		case st[hub.StateConfirmed]+st[hub.StatePickedUp]+st[hub.StateArrived]+st[hub.StateDispatched] == 0:
			return fmt.Errorf("no parcel confirmed or further: %v", st)
		case len(runs) == 0:
			return fmt.Errorf("no run closed yet; parcels %v", st)
		case st[hub.StatePickedUp] == 0 || st[hub.StateArrived]+st[hub.StatePickedUp] < 5:
			return fmt.Errorf("parcels %v: want some arrived and picked up", st)
		case lt[hub.StateLotShipped] == 0:
			return fmt.Errorf("lots %v: none shipped", lt)
		case len(figs) == 0 || figs[0].Delivered == 0 || figs[0].LotsShipped == 0:
			return fmt.Errorf("figures %+v", figs)
		case flagged(items, hub.FlagCorrected) == 0:
			return fmt.Errorf("no late-announced parcel corrected yet; parcels %v", st)
		}
		return nil
	})
	t.Logf("after %v (%s): parcels %v (%d corrected, %d unannounced), lots %v, %d runs closed, figures %+v",
		time.Since(start).Round(time.Millisecond), c.Clock().Stamp(c.Clock().Now()), states(items),
		flagged(items, hub.FlagCorrected), flagged(items, hub.FlagUnannounced), states(lots), len(runs), figs)

	// Sorted at the stations by the edge agent, from the plan the demo gave
	// the hub, into the route's bins.
	sorted := 0
	for _, it := range items {
		if it.Route != "" && strings.HasPrefix(it.Bin, "b") && it.Arrived.After(start.Add(-time.Minute)) {
			sorted++
		}
	}
	if sorted == 0 {
		t.Errorf("no parcel sorted to a route's bin: %+v", items[:min(3, len(items))])
	}
	// Every parcel scanned in arrived at a village point of tw01; a few at
	// the wrong one, flagged.
	for _, it := range items {
		if (it.State == hub.StateArrived || it.State == hub.StatePickedUp) && !strings.HasPrefix(it.Site, "tw01-v") {
			t.Errorf("parcel %s %s at %s", it.ID, it.State, it.Site)
		}
	}
	// The runs: opened by the coordinator bot (with the demo bots' API token), loaded, out and back.
	r := runs[0]
	if !strings.HasPrefix(r.Vehicle, "晋K·") || r.Driver == "" || r.Departed.IsZero() || r.Closed.IsZero() ||
		r.Parcels == 0 || r.By != "api:demo-bots" || len(r.Stops) == 0 {
		t.Errorf("run %+v", r)
	}
	// Lots: weighed at a village point, labelled with the day, shipped in
	// a shipment of the day.
	date := c.Clock().Start().Format("20060102")
	for _, l := range lots {
		if !strings.HasPrefix(l.ID, "LOT-TW01-V") || !strings.Contains(l.ID, "-"+date+"-") || !strings.HasPrefix(l.Village, "tw01-v") ||
			l.WeightKg == nil || *l.WeightKg < 5 || *l.WeightKg > 120 {
			t.Errorf("lot %+v", l)
		}
		if l.Product == "" || l.Producer == "" || !slices.Contains(grades[:], l.Grade) {
			t.Errorf("lot %+v: want its product, producer and grade", l)
		}
		if l.State == hub.StateLotShipped && !strings.HasPrefix(l.Run, "ship-tw01-"+date+"-") {
			t.Errorf("lot shipped %+v: want shipment ship-tw01-%s-n", l, date)
		}
	}

	// Phase 3: the new village point through the API, a plan putting it on
	// a route, sent to the edge.
	var siteList []hubSite
	if err := apiGet(base+"/api/v1/sites", &siteList); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(siteList, func(s hubSite) bool { return s.ID == "tw01-v99" && s.Kind == hub.Village && s.Parent == "tw01" }) {
		t.Errorf("tw01-v99 not among the hub's sites")
	}
	// The village point added through the API got its phone's identity.
	if _, err := os.Stat(Credentials(cfg.MQTT.EmbeddedPKIDir, contract.EdgeIdentity("tw01-v99", "vp")).KeyFile); err != nil {
		t.Errorf("the new village point's phone has no credentials: %v", err)
	}
	var plan contract.SortPlan
	if err := apiGet(base+"/api/v1/sites/tw01/sortplan", &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Version != "demo-tw01-21" || !slices.ContainsFunc(plan.Routes, func(r contract.Route) bool { return slices.Contains(r.Villages, "tw01-v99") }) {
		t.Errorf("plan %s: want demo-tw01-21 with tw01-v99 on a route", plan.Version)
	}
	var audit []hub.AuditEntry
	if err := apiGet(base+"/api/v1/audit?site=tw01&action=run.load", &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].By != "api:demo-bots" {
		t.Errorf("audit of run loads %+v", audit)
	}
	stop()
}

func flagged(its []*hub.Item, flag string) int {
	n := 0
	for _, it := range its {
		if it.Has(flag) {
			n++
		}
	}
	return n
}

func states(its []*hub.Item) map[string]int {
	out := map[string]int{}
	for _, it := range its {
		out[it.State]++
	}
	return out
}

// apiToken is the API token apiGet sends.
var apiToken string

func apiGet(url string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
