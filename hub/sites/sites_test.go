package sites

import (
	"strings"
	"testing"
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
