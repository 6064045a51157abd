// Package sites loads the county's sites and cold rooms from YAML and checks
// them: ids usable in topics, one county, parents that exist and sit one
// level up, rollout phases on village points only, room limits that make
// sense. The demo county ships embedded, with demo sort plans for its
// townships (DemoPlan).
package sites

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

//go:embed demo-county.yaml
var demo []byte

// Demo returns the demo county: a county centre, 19 townships and 303
// village points rolled out in three phases (90, 110 and 103 of them).
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
	for i := range f.Sites {
		for j := range f.Sites[i].Rooms {
			r := &f.Sites[i].Rooms[j]
			if lim, ok := hub.ClassLimits[r.Class]; ok && r.MinC == 0 && r.MaxC == 0 {
				r.MinC, r.MaxC = lim[0], lim[1]
			}
		}
	}
	if err := Check(f.Sites); err != nil {
		return nil, err
	}
	return f.Sites, nil
}

// Check validates a whole site list as Parse does, with room limits as
// they are (Parse has filled them from the class by then): ids usable in
// topics and not repeated, exactly one county, townships under the county
// and village points under a township, rollout phases on village points
// only, room classes and limits that make an alarm rule. Errors name the
// entry by its index and id.
func Check(all []hub.Site) error {
	var errs []error
	ids := map[string]bool{}
	kinds := map[string]hub.SiteKind{}
	for _, s := range all {
		ids[s.ID] = true
		if _, seen := kinds[s.ID]; !seen {
			kinds[s.ID] = s.Kind
		}
	}
	counties := 0
	for i, s := range all {
		at := fmt.Sprintf("sites[%d] (%s)", i, s.ID)
		if !contract.ValidID(s.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1-64 of a-z 0-9 - _", at))
		}
		switch s.Kind {
		case hub.County:
			counties++
		case hub.Township, hub.Village:
			want := hub.County
			if s.Kind == hub.Village {
				want = hub.Township
			}
			if !ids[s.Parent] {
				errs = append(errs, fmt.Errorf("%s: parent %q is not a site", at, s.Parent))
			} else if k := kinds[s.Parent]; k != want {
				errs = append(errs, fmt.Errorf("%s: parent %q is a %s, a %s's parent must be a %s", at, s.Parent, k, s.Kind, want))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: kind %q must be county, township or village", at, s.Kind))
		}
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty", at))
		}
		if s.Phase < 0 {
			errs = append(errs, fmt.Errorf("%s: phase %d must not be negative", at, s.Phase))
		} else if s.Phase > 0 && s.Kind != hub.Village {
			errs = append(errs, fmt.Errorf("%s: phase %d: only village points have a rollout phase", at, s.Phase))
		}
		rooms := map[string]bool{}
		for j, r := range s.Rooms {
			rat := fmt.Sprintf("%s rooms[%d] (%s)", at, j, r.ID)
			if !contract.ValidID(r.ID) || rooms[r.ID] {
				errs = append(errs, fmt.Errorf("%s: id invalid or repeated", rat))
			}
			rooms[r.ID] = true
			if _, ok := hub.ClassLimits[r.Class]; !ok && r.Class != "custom" {
				errs = append(errs, fmt.Errorf("%s: class %q must be chilled, frozen, medicine or custom", rat, r.Class))
			}
			if r.MinC >= r.MaxC {
				errs = append(errs, fmt.Errorf("%s: min_c %v must be below max_c %v", rat, r.MinC, r.MaxC))
			} else if rule := Rule(s.ID, r); rule.Validate() != nil {
				errs = append(errs, fmt.Errorf("%s: alarm: %w", rat, rule.Validate()))
			}
		}
	}
	if counties != 1 {
		errs = append(errs, fmt.Errorf("sites: %d sites of kind county, want exactly 1", counties))
	}
	if len(ids) != len(all) {
		errs = append(errs, errors.New("sites: a site id is repeated"))
	}
	return errors.Join(errs...)
}

// Rollout is the sites live at a rollout phase: every site that is not a
// village point, and the village points that joined in that phase or an
// earlier one. A phase of zero or below means every site. The order is kept.
func Rollout(all []hub.Site, phase int) []hub.Site {
	if phase <= 0 {
		return slices.Clone(all)
	}
	var out []hub.Site
	for _, s := range all {
		if s.Kind != hub.Village || s.Phase <= phase {
			out = append(out, s)
		}
	}
	return out
}

// Villages is a township's village points in file order.
func Villages(all []hub.Site, township string) []hub.Site {
	var out []hub.Site
	for _, s := range all {
		if s.Kind == hub.Village && s.Parent == township {
			out = append(out, s)
		}
	}
	return out
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
