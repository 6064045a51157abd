package sites

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
)

func TestDemo(t *testing.T) {
	s := Demo()
	kinds, phases, rooms := map[hub.SiteKind]int{}, map[int]int{}, 0
	for _, x := range s {
		kinds[x.Kind]++
		if x.Kind == hub.Township {
			rooms += len(x.Rooms)
		}
		if x.Kind == hub.Village {
			phases[x.Phase]++
		} else if x.Phase != 0 {
			t.Errorf("%s: %s with phase %d", x.ID, x.Kind, x.Phase)
		}
	}
	if len(s) != 323 || kinds[hub.County] != 1 || kinds[hub.Township] != 19 || kinds[hub.Village] != 303 || rooms < 19 {
		t.Fatalf("%d sites, kinds %v, %d township rooms", len(s), kinds, rooms)
	}
	if phases[1] != 90 || phases[2] != 110 || phases[3] != 103 || len(phases) != 3 {
		t.Errorf("villages per phase %v, want 90/110/103", phases)
	}
	if r := s[1].Rooms[0]; r.MinC != 0 || r.MaxC != 4 {
		t.Fatalf("chilled limits not filled: %+v", r)
	}
	ids, names := map[string]bool{}, map[string]bool{}
	for _, x := range s {
		if ids[x.ID] {
			t.Errorf("id %s repeated", x.ID)
		}
		ids[x.ID] = true
		if x.Kind == hub.Village {
			if names[x.Name] {
				t.Errorf("%s: village name %s used twice in the county", x.ID, x.Name)
			}
			names[x.Name] = true
		}
		if x.Name == "" || x.NameEN == "" {
			t.Errorf("%s: name %q, name_en %q", x.ID, x.Name, x.NameEN)
		}
	}
}

func TestDemoTownships(t *testing.T) {
	all := Demo()
	for _, tw := range all {
		if tw.Kind != hub.Township {
			continue
		}
		vs := Villages(all, tw.ID)
		if len(vs) < 12 || len(vs) > 20 {
			t.Errorf("%s: %d villages, want 12..20", tw.ID, len(vs))
		}
		names, last := map[string]bool{}, 1
		for i, v := range vs {
			if want := fmt.Sprintf("%s-v%02d", tw.ID, i+1); v.ID != want {
				t.Errorf("%s: village %d is %s, want %s", tw.ID, i, v.ID, want)
			}
			if names[v.Name] {
				t.Errorf("%s: %s repeats name %s", tw.ID, v.ID, v.Name)
			}
			names[v.Name] = true
			if v.Phase < last || v.Phase > 3 {
				t.Errorf("%s: phase %d after %d", v.ID, v.Phase, last)
			}
			last = v.Phase
		}
		if len(vs) == 0 || vs[0].Phase != 1 {
			t.Errorf("%s: no village in phase 1", tw.ID)
		}
	}
}

func TestRollout(t *testing.T) {
	all := Demo()
	for _, c := range []struct {
		phase, villages int
	}{{-1, 303}, {0, 303}, {1, 90}, {2, 200}, {3, 303}, {4, 303}} {
		got := Rollout(all, c.phase)
		villages, others := 0, 0
		for _, s := range got {
			if s.Kind == hub.Village {
				villages++
				if c.phase > 0 && s.Phase > c.phase {
					t.Errorf("phase %d: %s of phase %d is live", c.phase, s.ID, s.Phase)
				}
			} else {
				others++
			}
		}
		if villages != c.villages || others != 20 {
			t.Errorf("phase %d: %d villages, %d other sites; want %d, 20", c.phase, villages, others, c.villages)
		}
		for i, j := 0, 0; i < len(got); i++ { // order kept
			for j < len(all) && all[j].ID != got[i].ID {
				j++
			}
			if j == len(all) {
				t.Fatalf("phase %d: %s out of order", c.phase, got[i].ID)
			}
		}
	}
}

func TestParseRefuses(t *testing.T) {
	const base = "sites:\n  - {id: county, name: c, kind: county}\n  - {id: tw01, name: t, kind: township, parent: county}\n"
	for _, c := range []struct {
		name, yaml, want string // want: part of the error, if any
	}{
		{"no county", "sites:\n  - {id: tw01, name: a, kind: township, parent: county}\n", ""},
		{"bad parent", "sites:\n  - {id: county, name: c, kind: county}\n  - {id: tw01, name: a, kind: township, parent: nowhere}\n", "sites[1] (tw01): parent"},
		{"bad id", "sites:\n  - {id: County, name: c, kind: county}\n", ""},
		{"low above hi", "sites:\n  - {id: county, name: c, kind: county, rooms: [{id: r, class: custom, min_c: 5, max_c: 1}]}\n", ""},
		{"bad class", "sites:\n  - {id: county, name: c, kind: county, rooms: [{id: r, class: tepid}]}\n", ""},
		{"unknown field", "sites:\n  - {id: county, name: c, kind: county, colour: red}\n", ""},
		{"dup id", "sites:\n  - {id: county, name: c, kind: county}\n  - {id: county, name: d, kind: county}\n", ""},
		{"negative phase", base + "  - {id: tw01-v01, name: v, kind: village, parent: tw01, phase: -1}\n", "sites[2] (tw01-v01): phase -1"},
		{"phase on a township", "sites:\n  - {id: county, name: c, kind: county}\n  - {id: tw01, name: t, kind: township, parent: county, phase: 1}\n", "sites[1] (tw01): phase 1"},
		{"phase on the county", "sites:\n  - {id: county, name: c, kind: county, phase: 2}\n", "sites[0] (county): phase 2"},
		{"village under the county", base + "  - {id: v01, name: v, kind: village, parent: county, phase: 1}\n", "sites[2] (v01): parent \"county\""},
		{"village under a village", base + "  - {id: v01, name: v, kind: village, parent: tw01}\n  - {id: v02, name: w, kind: village, parent: v01}\n", "sites[3] (v02): parent \"v01\""},
		{"township under a township", base + "  - {id: tw02, name: u, kind: township, parent: tw01}\n", "sites[2] (tw02): parent \"tw01\""},
	} {
		_, err := Parse([]byte(c.yaml))
		switch {
		case err == nil:
			t.Errorf("%s: accepted", c.name)
		case strings.TrimSpace(err.Error()) == "":
			t.Errorf("%s: empty error", c.name)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
	}
	if _, err := Parse([]byte(base + "  - {id: tw01-v01, name: v, kind: village, parent: tw01, phase: 2}\n  - {id: tw01-v02, name: w, kind: village, parent: tw01}\n")); err != nil {
		t.Errorf("villages with and without a phase: %v", err)
	}
}

func TestCheck(t *testing.T) {
	if err := Check(Demo()); err != nil {
		t.Fatalf("the demo county: %v", err)
	}
	county := hub.Site{ID: "county", Name: "县", Kind: hub.County}
	tw := hub.Site{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county",
		Rooms: []hub.Room{{ID: "cr1", Class: "chilled", MinC: 0, MaxC: 4}}}
	v := hub.Site{ID: "tw01-v01", Name: "李家村", Kind: hub.Village, Parent: "tw01", Phase: 1}
	unfilled := tw
	unfilled.Rooms = []hub.Room{{ID: "cr1", Class: "chilled"}}
	orphan := v
	orphan.Parent = "county"
	for _, c := range []struct {
		name  string
		sites []hub.Site
		want  string // part of the error; empty for none
	}{
		{"good", []hub.Site{county, tw, v}, ""},
		{"limits not filled", []hub.Site{county, unfilled}, "sites[1] (tw01) rooms[0] (cr1): min_c 0 must be below max_c 0"},
		{"village under the county", []hub.Site{county, tw, orphan}, "sites[2] (tw01-v01): parent \"county\" is a county"},
		{"no county", []hub.Site{tw}, "want exactly 1"},
	} {
		err := Check(c.sites)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestRules(t *testing.T) {
	ss, err := Parse([]byte(`sites:
  - {id: county, name: 县, kind: county}
  - id: tw01
    name: 城关镇
    kind: township
    parent: county
    rooms:
      - {id: cr1, name: 1号冷库, class: chilled, alarm: {probe: cr1-th, on_delay: 10m, door_open_after: -1s, severity: warning}}
      - {id: med, name: 药品库, class: medicine}
`))
	if err != nil {
		t.Fatal(err)
	}
	rs := Rules(ss)
	if len(rs) != 2 {
		t.Fatalf("%d rules", len(rs))
	}
	r := rs[0]
	lo, hi, _, _ := r.Limits()
	if r.Site != "tw01" || r.Room != "cr1" || r.Probe != "cr1-th" || r.OnDelay != 10*time.Minute || r.DoorOpenAfter != 0 ||
		r.Severity != "warning" || lo != 0 || hi != 4 || r.NoDataAfter == 0 {
		t.Errorf("cr1 rule %+v", r)
	}
	if lo, hi, _, _ := rs[1].Limits(); lo != 2 || hi != 8 {
		t.Errorf("medicine limits %v..%v", lo, hi)
	}
	_, err = Parse([]byte(`sites:
  - {id: county, name: 县, kind: county}
  - {id: tw01, name: 城关镇, kind: township, parent: county, rooms: [{id: cr1, name: x, class: chilled, alarm: {severity: loud}}]}
`))
	if err == nil || !strings.Contains(err.Error(), "rooms[0] (cr1): alarm") {
		t.Errorf("a bad severity: %v", err)
	}
}
