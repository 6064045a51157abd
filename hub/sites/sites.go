// Package sites loads the county's sites and cold rooms from YAML and checks
// them: ids usable in topics, one county, parents that exist, room limits
// that make sense. The demo county ships embedded.
package sites

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

//go:embed demo-county.yaml
var demo []byte

// Demo returns the demo county: a county centre and 19 townships.
func Demo() []hub.Site {
	s, err := Parse(demo)
	if err != nil {
		panic("embedded demo county: " + err.Error())
	}
	return s
}

// Load reads a sites file.
func Load(path string) ([]hub.Site, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads and validates sites YAML, filling room limits from the
// product class where the file leaves them out.
func Parse(b []byte) ([]hub.Site, error) {
	var f struct {
		Sites []hub.Site `yaml:"sites"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	var errs []error
	ids := map[string]bool{}
	for _, s := range f.Sites {
		ids[s.ID] = true
	}
	counties := 0
	for i := range f.Sites {
		s := &f.Sites[i]
		at := fmt.Sprintf("sites[%d] (%s)", i, s.ID)
		if !contract.ValidID(s.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1-64 of a-z 0-9 - _", at))
		}
		switch s.Kind {
		case hub.County:
			counties++
		case hub.Township, hub.Village:
			if !ids[s.Parent] {
				errs = append(errs, fmt.Errorf("%s: parent %q is not a site", at, s.Parent))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: kind %q must be county, township or village", at, s.Kind))
		}
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty", at))
		}
		rooms := map[string]bool{}
		for j := range s.Rooms {
			r := &s.Rooms[j]
			rat := fmt.Sprintf("%s rooms[%d] (%s)", at, j, r.ID)
			if !contract.ValidID(r.ID) || rooms[r.ID] {
				errs = append(errs, fmt.Errorf("%s: id invalid or repeated", rat))
			}
			rooms[r.ID] = true
			if lim, ok := hub.ClassLimits[r.Class]; ok && r.MinC == 0 && r.MaxC == 0 {
				r.MinC, r.MaxC = lim[0], lim[1]
			} else if !ok && r.Class != "custom" {
				errs = append(errs, fmt.Errorf("%s: class %q must be chilled, frozen, medicine or custom", rat, r.Class))
			}
			if r.MinC >= r.MaxC {
				errs = append(errs, fmt.Errorf("%s: min_c %v must be below max_c %v", rat, r.MinC, r.MaxC))
			} else if rule := Rule(s.ID, *r); rule.Validate() != nil {
				errs = append(errs, fmt.Errorf("%s: alarm: %w", rat, rule.Validate()))
			}
		}
	}
	if counties != 1 {
		errs = append(errs, fmt.Errorf("sites: %d sites of kind county, want exactly 1", counties))
	}
	if len(ids) != len(f.Sites) {
		errs = append(errs, errors.New("sites: a site id is repeated"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f.Sites, nil
}

// Rule is the alarm rule of room r at site: the defaults of its class
// with the room's limits and the overrides of its alarm section.
func Rule(site string, r hub.Room) contract.RoomRule {
	class := r.Class
	if class == "" {
		class = contract.ClassCustom
	}
	rule := contract.DefaultRoomRule(site, r.ID, class)
	lo, hi := r.MinC, r.MaxC
	rule.LowC, rule.HighC = &lo, &hi
	a := r.Alarm
	rule.Probe = a.Probe
	if a.DeadbandC != nil {
		rule.DeadbandC = *a.DeadbandC
	}
	if a.Severity != "" {
		rule.Severity = a.Severity
	}
	for _, o := range []struct {
		set time.Duration
		to  *time.Duration
	}{
		{a.OnDelay, &rule.OnDelay}, {a.OffDelay, &rule.OffDelay}, {a.ReAlarm, &rule.ReAlarm},
		{a.DoorOpenAfter, &rule.DoorOpenAfter}, {a.NoDataAfter, &rule.NoDataAfter},
		{a.FrozenAfter, &rule.FrozenAfter}, {a.DefrostMax, &rule.DefrostMax},
	} {
		switch {
		case o.set > 0:
			*o.to = o.set
		case o.set < 0:
			*o.to = 0
		}
	}
	return rule
}

// Rules is every room's alarm rule.
func Rules(sites []hub.Site) []contract.RoomRule {
	var out []contract.RoomRule
	for _, s := range sites {
		for _, r := range s.Rooms {
			out = append(out, Rule(s.ID, r))
		}
	}
	return out
}
