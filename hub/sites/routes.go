package sites

import (
	"fmt"
	"unicode/utf8"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// Route sizes of the demo plans: a van's loop from the township visits 3 to
// 5 village points and comes back.
const (
	minRouteVillages = 3
	maxRouteVillages = 5
)

// DemoRoutes splits a township's village points, in their order, into
// village routes of 3 to 5 points each, as even as possible (12 points make
// 4+4+4, 13 make 5+4+4, 17 make 5+4+4+4); fewer than 3 points make one
// route, none make none. Route rNN has sort code WNN and, as keywords, the
// names of its villages with and without their one-character suffix (李家村,
// 李家) when what is left has 2 characters or more. A keyword is kept by the
// first route that has it only, so that a word names one route.
func DemoRoutes(township string, villages []hub.Site) []contract.Route {
	n := len(villages)
	if n == 0 {
		return nil
	}
	k := (n + maxRouteVillages - 1) / maxRouteVillages
	if n < minRouteVillages {
		k = 1
	}
	base, extra := n/k, n%k
	taken := map[string]bool{}
	routes := make([]contract.Route, 0, k)
	next := 0
	for i := range k {
		size := base
		if i < extra {
			size++
		}
		vs := villages[next : next+size]
		next += size
		r := contract.Route{
			ID:        fmt.Sprintf("r%02d", i+1),
			Name:      routeName(i+1, vs),
			SortCodes: []string{fmt.Sprintf("W%02d", i+1)},
		}
		for _, v := range vs {
			r.Villages = append(r.Villages, v.ID)
			for _, kw := range keywords(v.Name) {
				if !taken[kw] {
					taken[kw] = true
					r.Keywords = append(r.Keywords, kw)
				}
			}
		}
		routes = append(routes, r)
	}
	return routes
}

// routeName is "1号线 李家村-石桥村": the route number and its first and
// last village.
func routeName(n int, vs []hub.Site) string {
	first, last := vs[0], vs[len(vs)-1]
	if len(vs) == 1 {
		return fmt.Sprintf("%d号线 %s", n, first.Name)
	}
	return fmt.Sprintf("%d号线 %s-%s", n, first.Name, last.Name)
}

// keywords are a village name and, when 2 characters or more are left, the
// name without its last character (the 村, 庄, 沟... suffix).
func keywords(name string) []string {
	if name == "" {
		return nil
	}
	out := []string{name}
	_, size := utf8.DecodeLastRuneInString(name)
	if short := name[:len(name)-size]; utf8.RuneCountInString(short) >= 2 {
		out = append(out, short)
	}
	return out
}

// DemoPlan is a demo sort plan for a township: the routes of DemoRoutes
// over its village points, route rNN into bin bNN at each station, and
// exceptionBin for parcels without a route. The plan is checked.
func DemoPlan(township string, villages []hub.Site, stations []string, exceptionBin string) (*contract.SortPlan, error) {
	p := &contract.SortPlan{
		V:            contract.SchemaVersion,
		Site:         township,
		Version:      fmt.Sprintf("demo-%s-%d", township, len(villages)),
		Routes:       DemoRoutes(township, villages),
		Stations:     map[string]map[string]string{},
		ExceptionBin: map[string]string{},
	}
	for _, st := range stations {
		bins := map[string]string{}
		for _, r := range p.Routes {
			bins[r.ID] = "b" + r.ID[1:]
		}
		p.Stations[st] = bins
		p.ExceptionBin[st] = exceptionBin
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("demo sort plan of %s: %w", township, err)
	}
	return p, nil
}
