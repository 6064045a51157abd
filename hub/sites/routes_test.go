package sites

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

func villagesNamed(township string, names ...string) []hub.Site {
	var out []hub.Site
	for i, n := range names {
		out = append(out, hub.Site{ID: fmt.Sprintf("%s-v%02d", township, i+1), Name: n, Kind: hub.Village, Parent: township})
	}
	return out
}

func someVillages(n int) []hub.Site {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("第%d村", i+1)
	}
	return villagesNamed("tw01", names...)
}

func TestDemoRoutesSizes(t *testing.T) {
	for _, c := range []struct {
		n     int
		sizes []int
	}{
		{0, nil}, {1, []int{1}}, {2, []int{2}}, {3, []int{3}}, {5, []int{5}}, {6, []int{3, 3}},
		{7, []int{4, 3}}, {11, []int{4, 4, 3}}, {12, []int{4, 4, 4}}, {13, []int{5, 4, 4}},
		{16, []int{4, 4, 4, 4}}, {17, []int{5, 4, 4, 4}}, {20, []int{5, 5, 5, 5}}, {21, []int{5, 4, 4, 4, 4}},
	} {
		vs := someVillages(c.n)
		rs := DemoRoutes("tw01", vs)
		var sizes []int
		var ids []string
		for _, r := range rs {
			sizes = append(sizes, len(r.Villages))
			ids = append(ids, r.Villages...)
		}
		if !slices.Equal(sizes, c.sizes) {
			t.Errorf("%d villages: routes of %v, want %v", c.n, sizes, c.sizes)
		}
		var want []string
		for _, v := range vs {
			want = append(want, v.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%d villages: visited %v, want %v", c.n, ids, want)
		}
	}
}

func TestDemoRoutesNamesAndKeywords(t *testing.T) {
	rs := DemoRoutes("tw01", villagesNamed("tw01", "李家村", "王庄村", "张湾", "柳树沟村", "石桥村", "李家村", "西村"))
	want := []contract.Route{
		{ID: "r01", Name: "1号线 李家村-柳树沟村", Villages: []string{"tw01-v01", "tw01-v02", "tw01-v03", "tw01-v04"},
			SortCodes: []string{"W01"}, Keywords: []string{"李家村", "李家", "王庄村", "王庄", "张湾", "柳树沟村", "柳树沟"}},
		// 李家村 is r01's already; 西村 is too short to lose its suffix.
		{ID: "r02", Name: "2号线 石桥村-西村", Villages: []string{"tw01-v05", "tw01-v06", "tw01-v07"},
			SortCodes: []string{"W02"}, Keywords: []string{"石桥村", "石桥", "西村"}},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d routes: %+v", len(rs), rs)
	}
	for i := range want {
		g, w := rs[i], want[i]
		if g.ID != w.ID || g.Name != w.Name || !slices.Equal(g.Villages, w.Villages) ||
			!slices.Equal(g.SortCodes, w.SortCodes) || !slices.Equal(g.Keywords, w.Keywords) {
			t.Errorf("route %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// TestDemoPlans builds every demo township's plan, at each rollout phase,
// and sorts a parcel for each village point by manifest, by sort code and
// by address.
func TestDemoPlans(t *testing.T) {
	all := Demo()
	stations := []string{"s1", "s2"}
	for _, phase := range []int{1, 2, 3} {
		live := Rollout(all, phase)
		for _, tw := range live {
			if tw.Kind != hub.Township {
				continue
			}
			vs := Villages(live, tw.ID)
			p, err := DemoPlan(tw.ID, vs, stations, "b99")
			if err != nil {
				t.Fatalf("phase %d %s: %v", phase, tw.ID, err)
			}
			if p.V != contract.SchemaVersion || p.Site != tw.ID || p.Version != fmt.Sprintf("demo-%s-%d", tw.ID, len(vs)) {
				t.Errorf("phase %d %s: plan v%d %s@%s", phase, tw.ID, p.V, p.Site, p.Version)
			}
			routeOf := map[string]string{}
			keywords := map[string]string{}
			for _, r := range p.Routes {
				if len(vs) >= 3 && (len(r.Villages) < 3 || len(r.Villages) > 5) {
					t.Errorf("phase %d %s: route %s has %d villages", phase, tw.ID, r.ID, len(r.Villages))
				}
				for _, v := range r.Villages {
					if other, dup := routeOf[v]; dup {
						t.Errorf("phase %d %s: %s on %s and %s", phase, tw.ID, v, other, r.ID)
					}
					routeOf[v] = r.ID
				}
				for _, k := range r.Keywords {
					if other, dup := keywords[k]; dup {
						t.Errorf("phase %d %s: keyword %s of %s and %s", phase, tw.ID, k, other, r.ID)
					}
					keywords[k] = r.ID
				}
			}
			for _, st := range stations {
				for _, v := range vs {
					want := routeOf[v.ID]
					if want == "" {
						t.Errorf("phase %d: %s is on no route", phase, v.ID)
						continue
					}
					bin := "b" + want[1:]
					for _, c := range []struct {
						rule string
						in   contract.Parcel
					}{
						{"manifest", contract.Parcel{Waybill: "X", Village: v.ID}},
						{"sort_code", contract.Parcel{Waybill: "X", SortCode: "W" + want[1:]}},
						{"keyword", contract.Parcel{Waybill: "X", Address: "示范县" + tw.Name + v.Name + "3组"}},
						{"keyword", contract.Parcel{Waybill: "X", Address: strings.TrimSuffix(v.Name, "村") + "3组15号"}},
					} {
						d := p.Decide(st, c.in)
						if d.Route != want || d.Bin != bin || d.Rule != c.rule || d.Exception != "" {
							t.Errorf("phase %d %s %s: %+v: %+v, want %s into %s by %s", phase, tw.ID, st, c.in, d, want, bin, c.rule)
						}
					}
				}
				d := p.Decide(st, contract.Parcel{Waybill: "X", Village: "nowhere", Address: "外县某村"})
				if d.Bin != "b99" || d.Exception != contract.ExceptionUnknown {
					t.Errorf("phase %d %s: an unknown parcel %+v", phase, tw.ID, d)
				}
			}
		}
	}
}

func TestDemoPlanRefuses(t *testing.T) {
	vs := someVillages(12)
	for _, c := range []struct {
		name, site, exception string
	}{
		{"exception bin is a route's", "tw01", "b02"},
		{"no exception bin", "tw01", ""},
		{"bad site", "TW01", "b99"},
	} {
		if p, err := DemoPlan(c.site, vs, []string{"s1"}, c.exception); err == nil {
			t.Errorf("%s: accepted %+v", c.name, p)
		}
	}
}
