package sim_test

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/edge/waybill"
)

func demoPlan(t *testing.T) *contract.SortPlan {
	t.Helper()
	plan, err := sim.DemoSortPlan("tw07")
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestDemoSortPlan(t *testing.T) {
	plan := demoPlan(t)
	if err := plan.Check(); err != nil {
		t.Fatal(err)
	}
	if len(plan.Routes) != 8 || len(plan.Stations) != 2 || plan.Site != "tw07" || plan.V != contract.SchemaVersion {
		t.Fatalf("plan %+v", plan)
	}
	for _, st := range []string{sim.DemoStation1, sim.DemoStation2} {
		if len(plan.Stations[st]) != 8 || plan.ExceptionBin[st] != sim.DemoExceptionBin {
			t.Errorf("station %s: bins %v, exception bin %q", st, plan.Stations[st], plan.ExceptionBin[st])
		}
	}
	r := plan.Routes[0]
	if r.ID != "r01" || r.Name != "李家村线" || !slices.Equal(r.Villages, []string{"v01"}) ||
		!slices.Equal(r.SortCodes, []string{"W01"}) || !slices.Equal(r.Keywords, []string{"李家村"}) {
		t.Errorf("first route %+v", r)
	}
	// Each of Decide's rules finds the route.
	for _, in := range []contract.Parcel{{Village: "v03"}, {SortCode: "w03"}, {Address: "某县某镇张湾村5组"}} {
		if d := plan.Decide(sim.DemoStation2, in); d.Route != "r03" || d.Bin != "b03" || d.Exception != "" {
			t.Errorf("%+v: %+v", in, d)
		}
	}

	small, err := sim.DemoSortPlan("tw08", "上河村", "下河村")
	if err != nil || len(small.Routes) != 2 || small.Routes[1].Keywords[0] != "下河村" {
		t.Errorf("two villages: %+v, %v", small, err)
	}
	for name, villages := range map[string][]string{
		"repeated": {"上河村", "上河村"},
		"empty":    {"上河村", ""},
		"too many": slices.Repeat([]string{"x"}, 99),
	} {
		if _, err := sim.DemoSortPlan("tw08", villages...); err == nil {
			t.Errorf("%s villages: no error", name)
		}
	}
	if _, err := sim.DemoSortPlan("TW 8"); err == nil {
		t.Error("invalid site: no error")
	}
}

// TestParcelsDecide: every parcel decides, through the manifest as a
// station looks it up, to the route and bin it was generated for.
func TestParcelsDecide(t *testing.T) {
	plan := demoPlan(t)
	cfg := sim.DefaultParcelsConfig()
	cfg.Unknown, cfg.Outside = 0.1, 0.1
	g, err := sim.NewParcels(plan, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for range 2000 {
		p := g.Next()
		village, ok := g.Lookup(p.Waybill)
		if ok != (p.Village != "") || village != p.Village {
			t.Fatalf("%+v: manifest gives %q, %v", p, village, ok)
		}
		r := waybill.Parse(p.Waybill)
		switch {
		case p.Carrier == waybill.NoCarrier:
			kinds["unknown"]++
			if !r.Unknown || p.Village != "" || p.Route != "" {
				t.Fatalf("%+v: parsed %+v", p, r)
			}
		case r.Carrier != p.Carrier || r.Ambiguous:
			t.Fatalf("%+v: parsed as %v (candidates %v)", p, r.Carrier, r.Candidates)
		case p.Route == "":
			kinds["outside"]++
			if !strings.HasPrefix(p.Village, "x") || p.VillageName == "" {
				t.Fatalf("outside parcel %+v", p)
			}
		default:
			kinds["routed"]++
		}
		for _, st := range []string{sim.DemoStation1, sim.DemoStation2} {
			d := plan.Decide(st, contract.Parcel{Waybill: r.Code, Village: village})
			if d.Route != p.Route || d.Bin != p.Bin(plan, st) {
				t.Fatalf("%+v at %s: decided %+v, want route %q bin %q", p, st, d, p.Route, p.Bin(plan, st))
			}
			if p.Route == "" && (d.Bin != sim.DemoExceptionBin || d.Exception != contract.ExceptionUnknown) {
				t.Fatalf("%+v at %s: decided %+v, want the exception bin", p, st, d)
			}
			if p.Route != "" && (d.Rule != "manifest" || d.Exception != "") {
				t.Fatalf("%+v at %s: decided %+v", p, st, d)
			}
		}
	}
	// Shares within a few points of 10%, 10%, 80% (fixed seed: no flake).
	for kind, want := range map[string]float64{"unknown": 0.1, "outside": 0.1, "routed": 0.8} {
		if got := float64(kinds[kind]) / 2000; math.Abs(got-want) > 0.03 {
			t.Errorf("%s: share %.3f, want %.2f", kind, got, want)
		}
	}
	if n := len(g.Manifest()); n != 2000-kinds["unknown"] {
		t.Errorf("manifest has %d entries, want %d", n, 2000-kinds["unknown"])
	}
	if _, ok := g.Lookup("SF0000000000000"); ok {
		t.Error("the manifest knows a parcel never drawn")
	}
}

// TestParcelsNames: with names for the village points, as a plan whose
// keywords are not one per village has (hub/sites.DemoPlan), parcels carry
// the villages' own names; a village left out keeps its keyword.
func TestParcelsNames(t *testing.T) {
	plan := &contract.SortPlan{V: contract.SchemaVersion, Site: "tw01", Version: "x",
		Routes: []contract.Route{
			{ID: "r01", Villages: []string{"tw01-v01", "tw01-v02"}, Keywords: []string{"长兴村", "长兴", "栗园村", "栗园"}},
			{ID: "r02", Villages: []string{"tw01-v03"}, Keywords: []string{"白石嘴村"}},
		},
		Stations:     map[string]map[string]string{"s1": {"r01": "b01", "r02": "b02"}},
		ExceptionBin: map[string]string{"s1": "b99"},
	}
	g, err := sim.NewParcels(plan, sim.ParcelsConfig{Seed: 3, Names: map[string]string{"tw01-v01": "长兴村", "tw01-v02": "栗园村"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tw01-v01": "长兴村", "tw01-v02": "栗园村", "tw01-v03": "白石嘴村"}
	seen := map[string]bool{}
	for range 300 {
		p := g.Next()
		if p.VillageName != want[p.Village] {
			t.Fatalf("%+v: want the name %q", p, want[p.Village])
		}
		seen[p.Village] = true
	}
	if len(seen) != 3 {
		t.Errorf("villages drawn %v", seen)
	}
}

func TestParcelsCarrierMix(t *testing.T) {
	mix := map[waybill.Carrier]float64{waybill.SF: 1, waybill.JD: 1, waybill.YTO: 2, waybill.ZTO: 4, waybill.JT: 3, waybill.Yunda: 3, waybill.ChinaPost: 6}
	g, err := sim.NewParcels(demoPlan(t), sim.ParcelsConfig{Seed: 42, Mix: mix})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	count := map[waybill.Carrier]int{}
	for range n {
		p := g.Next()
		if p.Route == "" {
			t.Fatalf("with no unknown or outside share: %+v", p)
		}
		if r := waybill.Parse(p.Waybill); r.Carrier != p.Carrier || r.Code != p.Waybill {
			t.Fatalf("%+v parsed as %+v", p, r)
		}
		count[p.Carrier]++
	}
	for c, w := range mix {
		want := w / 20
		if got := float64(count[c]) / n; math.Abs(got-want) > 0.01 {
			t.Errorf("%v: share %.3f, want %.3f", c, got, want)
		}
	}

	// Carriers left out of the mix never come.
	g, err = sim.NewParcels(demoPlan(t), sim.ParcelsConfig{Seed: 1, Mix: map[waybill.Carrier]float64{waybill.ChinaPost: 1, waybill.SF: 0}})
	if err != nil {
		t.Fatal(err)
	}
	s10 := 0
	for range 500 {
		p := g.Next()
		if p.Carrier != waybill.ChinaPost {
			t.Fatalf("%+v", p)
		}
		if strings.HasSuffix(p.Waybill, "CN") {
			s10++
		}
	}
	if s10 < 300 {
		t.Errorf("%d of 500 China Post codes are S10, want most", s10)
	}
}

func TestParcelsDeterministic(t *testing.T) {
	draw := func(seed uint64) []sim.Parcel {
		cfg := sim.DefaultParcelsConfig()
		cfg.Seed = seed
		g, err := sim.NewParcels(demoPlan(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]sim.Parcel, 300)
		for i := range out {
			out[i] = g.Next()
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different streams")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same stream")
	}
	seen := map[string]bool{}
	for i, p := range a {
		if p.Seq != i+1 || seen[p.Waybill] {
			t.Fatalf("parcel %d: %+v (repeated code or sequence)", i, p)
		}
		seen[p.Waybill] = true
	}
}

func TestParcelsConfigValidate(t *testing.T) {
	for name, cfg := range map[string]sim.ParcelsConfig{
		"negative unknown":     {Unknown: -0.1},
		"outside above 1":      {Outside: 1.5},
		"shares above 1":       {Unknown: 0.6, Outside: 0.6},
		"NaN":                  {Outside: math.NaN()},
		"not a carrier":        {Mix: map[waybill.Carrier]float64{waybill.NoCarrier: 1}},
		"negative weight":      {Mix: map[waybill.Carrier]float64{waybill.SF: -1, waybill.JD: 2}},
		"infinite weight":      {Mix: map[waybill.Carrier]float64{waybill.SF: math.Inf(1)}},
		"every weight is zero": {Mix: map[waybill.Carrier]float64{waybill.SF: 0}},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := sim.NewParcels(demoPlan(t), cfg); err == nil {
			t.Errorf("%s: NewParcels did not fail", name)
		}
	}
	if err := sim.DefaultParcelsConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if _, err := sim.NewParcels(&contract.SortPlan{Site: "tw09", Version: "1"}, sim.DefaultParcelsConfig()); err == nil {
		t.Error("a plan without villages: no error")
	}
	// Only unknown codes need no village.
	g, err := sim.NewParcels(&contract.SortPlan{Site: "tw09", Version: "1"}, sim.ParcelsConfig{Unknown: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := g.Next(); p.Carrier != waybill.NoCarrier || !waybill.Parse(p.Waybill).Unknown {
		t.Errorf("%+v", p)
	}
}

// TestParcelsConcurrent draws parcels while stations look them up.
func TestParcelsConcurrent(t *testing.T) {
	g, err := sim.NewParcels(demoPlan(t), sim.DefaultParcelsConfig())
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan string, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(codes)
		for range 500 {
			codes <- g.Next().Waybill
		}
	})
	for range 3 {
		wg.Go(func() {
			for c := range codes {
				g.Lookup(strings.ToLower(c))
				g.Manifest()
			}
		})
	}
	wg.Wait()
}
