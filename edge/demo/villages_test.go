package demo

import (
	"strings"
	"testing"

	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/edge/waybill"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/sites"
)

// TestManifestRows checks the demo's manifest rows against the hub's
// manifest parser with the demo county's village points, as the hub
// imports them: a row with its village point and a row with only the
// address both reach the village point, in every township.
func TestManifestRows(t *testing.T) {
	all := sites.Demo()
	opts := manifest.Options{}
	names := map[string]string{}
	for _, s := range all {
		switch s.Kind {
		case hub.Township:
			opts.Sites = append(opts.Sites, s.ID)
			names[s.ID] = s.Name
		case hub.Village:
			opts.Villages = append(opts.Villages, manifest.Village{ID: s.ID, Site: s.Parent, Names: []string{s.Name, s.NameEN}})
		}
	}
	for _, tw := range opts.Sites {
		opts.Site = tw
		villages := sites.Villages(all, tw)
		t2 := &township{id: tw, name: names[tw]}
		var csv strings.Builder
		csv.WriteString("waybill,carrier,village,address\n")
		for i, v := range villages {
			for j, addrOnly := range []bool{false, true} {
				p := sim.Parcel{Waybill: "SF1" + strings.Repeat("0", 9) + string(rune('0'+j)) + twoDigits(i), Carrier: waybill.SF,
					Village: v.ID, VillageName: v.Name}
				csv.WriteString(t2.manifestRow(p, addrOnly, 1+i%9))
			}
		}
		b, err := manifest.Parse(strings.NewReader(csv.String()), "csv", opts)
		if err != nil {
			t.Fatalf("%s: %v", tw, err)
		}
		if b.Report.Rejected > 0 || len(b.Parcels) != 2*len(villages) {
			t.Errorf("%s: %d of %d rows rejected: %v", tw, b.Report.Rejected, b.Report.Rows, b.Report.Errors)
		}
		for i, p := range b.Parcels {
			if want := villages[i/2].ID; p.Village != want || p.Site != tw || p.Carrier != "SF" {
				t.Errorf("%s row %d: %+v, want village %s", tw, i+1, p, want)
			}
		}
	}
}

func twoDigits(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// TestDemoPlans checks every township's demo plans: over its phase 1 and
// 2 village points, and over all of them with the new village point,
// whose bins the warehouse's lamps cover.
func TestDemoPlans(t *testing.T) {
	all := sites.Demo()
	nv := DefaultDayConfig().NewVillage
	total := 0
	for _, s := range all {
		if s.Kind != hub.Township {
			continue
		}
		vs := sites.Villages(all, s.ID)
		start, err := townshipPlan(s.ID, liveSites(vs, 2))
		if err != nil {
			t.Fatal(err)
		}
		if nv.Parent == s.ID {
			vs = append(vs, nv)
		}
		full, err := townshipPlan(s.ID, liveSites(vs, 3))
		if err != nil {
			t.Fatal(err)
		}
		total += len(liveSites(sites.Villages(all, s.ID), 2))
		if n := len(full.Routes); n < 3 || n > 5 || len(start.Routes) > n {
			t.Errorf("%s: %d routes, then %d", s.ID, len(start.Routes), n)
		}
		for st, bins := range start.Stations {
			for r, b := range bins {
				if full.Stations[st][r] != b {
					t.Errorf("%s: bin %s of %s at %s is not among the full plan's", s.ID, b, r, st)
				}
			}
		}
		if start.Version == full.Version {
			t.Errorf("%s: both plans are version %s", s.ID, start.Version)
		}
	}
	if total != 200 {
		t.Errorf("%d village points in phases 1 and 2, want 200", total)
	}
}
