package fleet

import (
	"bytes"
	"fmt"

	"github.com/countylink/countylink/contract"
)

// The edges of each kind of site, as the demo county names them: a
// township's edge agent "<township>-e1" with scanner station "st1", a
// village point's phone-class device "vp" with station "h1".
const (
	TownshipEdgeSuffix = "-e1"
	TownshipStation    = "st1"
	VillageEdge        = "vp"
	VillageStation     = "h1"
)

// ProvinceVillages is the number of village points under each township of
// a Province layout.
const ProvinceVillages = 20

// Site is a place of the network as the hub's sites file lists it, for
// FromSites. It mirrors the hub's site list without importing the hub.
type Site struct {
	ID    string
	Kind  string // county, township or village
	Rooms []Room
}

// FromSites is the fleet of a site list: an edge agent for each township
// (edge "<id>-e1", station "st1", sorting) and a device for each village
// point (edge "vp", station "h1"), each reading its site's cold rooms.
// The county centre has no edge.
func FromSites(sites []Site) []Edge {
	var out []Edge
	for _, s := range sites {
		switch s.Kind {
		case "township":
			out = append(out, Edge{Site: s.ID, Edge: s.ID + TownshipEdgeSuffix, Rooms: s.Rooms, Station: TownshipStation, Sorts: true})
		case "village":
			out = append(out, Edge{Site: s.ID, Edge: VillageEdge, Rooms: s.Rooms, Station: VillageStation})
		}
	}
	return out
}

// Province is a synthetic province of n edges: townships t0001, t0002...
// each followed by up to ProvinceVillages village points t0001-v01...,
// every site with rooms cold rooms (cr1 chilled, cr2 frozen, cr3
// medicine, then chilled again...). The layout is a prefix of any larger
// one: Province(100, r) is the first 100 edges of Province(10000, r), so
// one sites file (ProvinceSitesYAML of the largest n) serves every size.
func Province(n, rooms int) []Edge {
	out := make([]Edge, 0, max(n, 0))
	rs := provinceRooms(rooms)
	for t := 1; len(out) < n; t++ {
		tw := provinceTownship(t)
		out = append(out, Edge{Site: tw, Edge: tw + TownshipEdgeSuffix, Rooms: rs, Station: TownshipStation, Sorts: true})
		for v := 1; v <= ProvinceVillages && len(out) < n; v++ {
			out = append(out, Edge{Site: provinceVillage(tw, v), Edge: VillageEdge, Rooms: rs, Station: VillageStation})
		}
	}
	return out
}

func provinceTownship(t int) string           { return fmt.Sprintf("t%04d", t) }
func provinceVillage(tw string, v int) string { return fmt.Sprintf("%s-v%02d", tw, v) }

var provinceClasses = [...]string{contract.ClassChilled, contract.ClassFrozen, contract.ClassMedicine}

func provinceRooms(n int) []Room {
	rs := make([]Room, 0, max(n, 0))
	for i := range max(n, 0) {
		rs = append(rs, Room{ID: fmt.Sprintf("cr%d", i+1), Class: provinceClasses[i%len(provinceClasses)]})
	}
	return rs
}

// ProvinceSitesYAML is the hub's sites file (the format hub/sites
// parses) for Province(n, rooms): the hub allows exactly one county, so
// the province is one "county" with its townships under it and the
// village points under their townships, each site with its cold rooms.
// The hub refuses messages of sites it does not list, so it must run with
// this file for the fleet's messages to count.
func ProvinceSitesYAML(n, rooms int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# A synthetic province for load tests, written by the fleet simulator:\n"+
		"# %d edges, a township every %d village points, %d cold room(s) per site.\n"+
		"# The hub's sites file allows one county: the province is that county.\n", n, ProvinceVillages, rooms)
	b.WriteString("sites:\n  - {id: county, name: 模拟省物流中心, name_en: Simulated province centre, kind: county}\n")
	roomsYAML := func() string {
		if rooms <= 0 {
			return ""
		}
		var r bytes.Buffer
		r.WriteString(", rooms: [")
		for i, rm := range provinceRooms(rooms) {
			if i > 0 {
				r.WriteString(", ")
			}
			fmt.Fprintf(&r, "{id: %s, name: %d号冷库, name_en: Cold room %d, class: %s}", rm.ID, i+1, i+1, rm.Class)
		}
		r.WriteString("]")
		return r.String()
	}()
	for _, e := range Province(n, rooms) {
		if e.Sorts {
			num := e.Site[1:]
			fmt.Fprintf(&b, "  - {id: %s, name: 模拟乡%s, name_en: Township %s, kind: township, parent: county%s}\n", e.Site, num, num, roomsYAML)
			continue
		}
		tw, num := e.Site[:len(e.Site)-len("-v00")], e.Site[len(e.Site)-len("00"):]
		fmt.Fprintf(&b, "  - {id: %s, name: 模拟村%s-%s, name_en: Village %s-%s, kind: village, parent: %s%s}\n",
			e.Site, tw[1:], num, tw[1:], num, tw, roomsYAML)
	}
	return b.Bytes()
}
