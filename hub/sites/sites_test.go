package sites

import (
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	s := Demo()
	townships, rooms := 0, 0
	for _, x := range s {
		if x.Kind == "township" {
			townships++
			rooms += len(x.Rooms)
		}
	}
	if len(s) != 20 || townships != 19 || rooms < 19 {
		t.Fatalf("%d sites, %d townships, %d rooms", len(s), townships, rooms)
	}
	if r := s[1].Rooms[0]; r.MinC != 0 || r.MaxC != 4 {
		t.Fatalf("chilled limits not filled: %+v", r)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, y := range map[string]string{
		"no county":     "sites:\n  - {id: tw01, name: a, kind: township, parent: county}\n",
		"bad parent":    "sites:\n  - {id: county, name: c, kind: county}\n  - {id: tw01, name: a, kind: township, parent: nowhere}\n",
		"bad id":        "sites:\n  - {id: County, name: c, kind: county}\n",
		"low above hi":  "sites:\n  - {id: county, name: c, kind: county, rooms: [{id: r, class: custom, min_c: 5, max_c: 1}]}\n",
		"bad class":     "sites:\n  - {id: county, name: c, kind: county, rooms: [{id: r, class: tepid}]}\n",
		"unknown field": "sites:\n  - {id: county, name: c, kind: county, colour: red}\n",
		"dup id":        "sites:\n  - {id: county, name: c, kind: county}\n  - {id: county, name: d, kind: county}\n",
	} {
		if _, err := Parse([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
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
