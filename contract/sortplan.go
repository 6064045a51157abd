package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// SortPlan is a township's sorting plan: its village routes, the rules that
// pick a parcel's route, and the bin each route uses at each scanner
// station. The hub publishes it to the township's edges and both take the
// same decision from it with Decide: this is the one piece of code.
type SortPlan struct {
	V       int    `json:"v"`
	Site    string `json:"site"`
	Version string `json:"version"` // changes with every edit; the edge reports the one it runs

	Routes []Route `json:"routes"`
	// Stations maps a station id to its bins: route id to bin id.
	Stations map[string]map[string]string `json:"stations"`
	// ExceptionBin is where a parcel without a route goes, per station.
	ExceptionBin map[string]string `json:"exception_bin"`
}

// Route is one village route of a township.
type Route struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Villages []string `json:"villages"` // village point ids on the route, in order
	// SortCodes are three-segment sort code values (the segment printed
	// for the township's delivery area, e.g. "W01") that mean this route.
	SortCodes []string `json:"sort_codes,omitempty"`
	// Keywords are address words (village names) that mean this route.
	Keywords []string `json:"keywords,omitempty"`
}

// Parcel is what a decision is taken from.
type Parcel struct {
	Waybill  string
	Village  string // destination village from the manifest, if announced
	SortCode string // the delivery segment of the printed three-segment code, if read
	Address  string // consignee address text, if known
}

// Decision is where a parcel goes at a station.
type Decision struct {
	Route     string // empty for the exception bin
	Bin       string
	Rule      string // manifest, sort_code, keyword, none
	Exception string // why the parcel went to the exception bin; empty otherwise
}

// Exception reasons.
const (
	ExceptionUnknown = "unknown" // no rule gives a route
	ExceptionNoBin   = "no_bin"  // the route has no bin at this station
	ExceptionStation = "station" // the plan does not know the station
)

// DecodeSortPlan decodes and checks a plan.
func DecodeSortPlan(b []byte) (*SortPlan, error) {
	if len(b) > MaxPayloadBytes*4 {
		return nil, reject(ReasonTooLarge, "sort plan is %d bytes", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p SortPlan
	if err := dec.Decode(&p); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "sort plan", Err: err}
	}
	if p.V != SchemaVersion {
		return nil, reject(ReasonVersion, "sort plan version %d", p.V)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Check refuses a plan that cannot be applied: a route without an id, a
// route or bin named twice, a station bin for a route that does not
// exist, a station without an exception bin.
func (p *SortPlan) Check() error {
	if !ValidID(p.Site) || p.Version == "" {
		return reject(ReasonInvalid, "sort plan needs a site and a version")
	}
	routes := map[string]bool{}
	for _, r := range p.Routes {
		if !ValidID(r.ID) || routes[r.ID] {
			return reject(ReasonInvalid, "route %q: invalid or repeated id", clip(r.ID))
		}
		routes[r.ID] = true
	}
	for st, bins := range p.Stations {
		if !ValidID(st) {
			return reject(ReasonInvalid, "station %q: invalid id", clip(st))
		}
		if p.ExceptionBin[st] == "" {
			return reject(ReasonInvalid, "station %s has no exception bin", st)
		}
		used := map[string]string{}
		for route, bin := range bins {
			if !routes[route] {
				return reject(ReasonInvalid, "station %s: bin %s is for route %q, which the plan does not have", st, bin, clip(route))
			}
			if bin == "" {
				return reject(ReasonInvalid, "station %s: route %s has an empty bin", st, route)
			}
			if other, dup := used[bin]; dup {
				return reject(ReasonInvalid, "station %s: bin %s serves both %s and %s", st, bin, other, route)
			}
			if bin == p.ExceptionBin[st] {
				return reject(ReasonInvalid, "station %s: bin %s is also the exception bin", st, bin)
			}
			used[bin] = route
		}
	}
	return nil
}

// Decide picks the route and bin of a parcel at a station: the manifest's
// destination village first, then the printed sort code, then address
// keywords; otherwise the exception bin.
func (p *SortPlan) Decide(station string, in Parcel) Decision {
	bins, ok := p.Stations[station]
	if !ok {
		return Decision{Rule: "none", Exception: ExceptionStation}
	}
	route, rule := p.route(in)
	if route == "" {
		return Decision{Bin: p.ExceptionBin[station], Rule: "none", Exception: ExceptionUnknown}
	}
	bin, ok := bins[route]
	if !ok {
		return Decision{Route: route, Bin: p.ExceptionBin[station], Rule: rule, Exception: ExceptionNoBin}
	}
	return Decision{Route: route, Bin: bin, Rule: rule}
}

func (p *SortPlan) route(in Parcel) (route, rule string) {
	if in.Village != "" {
		for _, r := range p.Routes {
			for _, v := range r.Villages {
				if v == in.Village {
					return r.ID, "manifest"
				}
			}
		}
	}
	if in.SortCode != "" {
		for _, r := range p.Routes {
			for _, c := range r.SortCodes {
				if strings.EqualFold(c, in.SortCode) {
					return r.ID, "sort_code"
				}
			}
		}
	}
	if in.Address != "" {
		for _, r := range p.Routes {
			for _, k := range r.Keywords {
				if k != "" && strings.Contains(in.Address, k) {
					return r.ID, "keyword"
				}
			}
		}
	}
	return "", ""
}

// String names the plan for logs.
func (p *SortPlan) String() string { return fmt.Sprintf("sort plan %s@%s", p.Site, p.Version) }
