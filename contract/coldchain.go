package contract

// Cold-chain alarm rules and the evaluator of one room's rule. The hub and
// the edge run the same code, as they do SortPlan.Decide: the hub to raise
// the alarms coordinators acknowledge, the edge to drive its stack light
// and buzzer from its own copy of the rules while the uplink is down.
//
// On the wire a rule is a JSON object; durations are Go duration strings
// ("90s", "5m", "1h30m"; "0s" or absent for zero) and temperatures are in
// degrees Celsius, with the unit in the member name:
//
//	{"site":"tw01","room":"cr1","class":"chilled","probe":"cr1-th",
//	 "low_c":0,"high_c":4,"deadband_c":0.5,"on_delay":"5m","off_delay":"1m",
//	 "re_alarm":"30m","severity":"critical","door_open_after":"10m",
//	 "no_data_after":"10m","frozen_after":"2h","defrost_max":"45m"}
//
// The hub pushes the rules of a site to its edges with the "rules" command,
// whose args are a RoomRules: {"v":1,"site":"tw01","version":"…","rules":[…]}.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RulesCommand is the name of the command that carries a site's RoomRules
// to its edges.
const RulesCommand = "rules"

// The telemetry fields the cold-chain rules read, as the cold-room
// controller and door input profiles name them.
const (
	FieldTemperature = "temperature" // room probe, °C
	FieldDoorOpen    = "door_open"   // door contact on a GPIO input: 1 open
	FieldDoor        = "door"        // door input of a cold-room controller: 1 open
	FieldDefrost     = "defrost"     // controller's defrost relay: 1 on
	FieldProbeAlarm  = "alarm_probe" // controller's probe-fault alarm bit: 1 faulted
)

// Product classes of a cold room.
const (
	ClassChilled  = "chilled"  // 0 to 4 °C
	ClassFrozen   = "frozen"   // −18 °C and below, alarmed from −30 to −18 °C
	ClassMedicine = "medicine" // 2 to 8 °C
	ClassCustom   = "custom"   // the rule gives its own limits
)

// ClassLimits returns the default low and high limits, in °C, of a product
// class; ok is false for ClassCustom and unknown classes, which have none.
func ClassLimits(class string) (lowC, highC float64, ok bool) {
	switch class {
	case ClassChilled:
		return 0, 4, true
	case ClassFrozen:
		return -30, -18, true
	case ClassMedicine:
		return 2, 8, true
	}
	return 0, 0, false
}

// The plausible range of a cold-room temperature in °C. A value outside it
// is a sensor fault, not a temperature: a disconnected probe that a
// controller reports as 3276.7 or −3276.8 lands here when no profile
// caught it first.
const (
	PlausibleMinC = -60.0
	PlausibleMaxC = 60.0
)

// Severities of an alarm, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// DefaultSeverity is the severity of a rule that names none.
const DefaultSeverity = SeverityCritical

// SeverityRank orders severities: 1 info, 2 warning, 3 critical, 0 for
// anything else.
func SeverityRank(s string) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// MaxRuleDuration bounds every duration of a rule.
const MaxRuleDuration = 24 * time.Hour

// MaxRooms is the largest number of rules in one RoomRules.
const MaxRooms = 256

// RoomRule is the alarm rule of one cold room. A zero duration turns its
// check off (a zero on-delay or off-delay acts at once); see the fields.
type RoomRule struct {
	Site  string
	Room  string
	Class string // ClassChilled, ClassFrozen, ClassMedicine or ClassCustom
	// Probe is the device whose temperature the limits apply to; empty for
	// any device of the room. Name it when a room has two probes (a
	// transmitter and a controller), or their values interleave.
	Probe string

	// LowC and HighC are the limits in °C: an alarm when the temperature
	// goes below LowC or above HighC (the limits themselves are in range).
	// Nil takes the class default; a custom class has no limit where nil.
	LowC, HighC *float64
	// DeadbandC is the hysteresis in °C: an excursion ends only once the
	// temperature is back inside the limit by this much, so a value
	// hovering at a limit neither flaps nor escapes the on-delay.
	DeadbandC float64

	OnDelay  time.Duration // an excursion must last this long before it raises an alarm
	OffDelay time.Duration // the temperature must be back this long before the alarm clears
	ReAlarm  time.Duration // an alarm still active this long after its last notice notifies again; 0 never
	Severity string        // SeverityInfo, SeverityWarning or SeverityCritical; empty for DefaultSeverity

	DoorOpenAfter time.Duration // a door open longer than this raises an alarm; 0 no door alarm
	NoDataAfter   time.Duration // no temperature (valid or faulted) for this long raises an alarm; 0 none
	FrozenAfter   time.Duration // a temperature exactly unchanged for this long is a sensor fault; 0 no check
	// DefrostMax is how long a defrost (the controller's defrost relay on)
	// may suspend high-temperature alarms; 0 defrost suspends nothing.
	// A defrost relay stuck on suspends no longer than this.
	DefrostMax time.Duration
}

// DefaultRoomRule returns the rule a room of a product class gets unless
// configured otherwise: the class limits, a 5-minute on-delay (a door
// opening warms a room briefly), 1-minute off-delay, 0.5 °C deadband,
// re-alarm every 30 minutes, door alarm after 10 minutes, no-data alarm
// after 10 minutes, frozen value after 2 hours, defrost at most 45 minutes.
func DefaultRoomRule(site, room, class string) RoomRule {
	return RoomRule{
		Site: site, Room: room, Class: class,
		DeadbandC: 0.5,
		OnDelay:   5 * time.Minute, OffDelay: time.Minute, ReAlarm: 30 * time.Minute,
		Severity:      DefaultSeverity,
		DoorOpenAfter: 10 * time.Minute, NoDataAfter: 10 * time.Minute,
		FrozenAfter: 2 * time.Hour, DefrostMax: 45 * time.Minute,
	}
}

// Limits returns the limits in force: the rule's own, else its class's.
func (r *RoomRule) Limits() (lowC, highC float64, hasLow, hasHigh bool) {
	dl, dh, ok := ClassLimits(r.Class)
	switch {
	case r.LowC != nil:
		lowC, hasLow = *r.LowC, true
	case ok:
		lowC, hasLow = dl, true
	}
	switch {
	case r.HighC != nil:
		highC, hasHigh = *r.HighC, true
	case ok:
		highC, hasHigh = dh, true
	}
	return
}

// SeverityOrDefault is the rule's severity, DefaultSeverity when it names none.
func (r *RoomRule) SeverityOrDefault() string {
	if r.Severity == "" {
		return DefaultSeverity
	}
	return r.Severity
}

// Validate refuses a rule that cannot be applied, naming the room and the
// member at fault: an invalid id or class, a limit that is not a plausible
// temperature, a low limit not below the high limit, a deadband as wide as
// the range, a negative or overlong duration, an unknown severity.
func (r *RoomRule) Validate() error {
	bad := func(member, format string, args ...any) error {
		return reject(ReasonInvalid, "room rule %s/%s: %s: %s", clip(r.Site), clip(r.Room), member, fmt.Sprintf(format, args...))
	}
	if !ValidID(r.Site) {
		return bad("site", "%q is not a valid id", clip(r.Site))
	}
	if !ValidID(r.Room) {
		return bad("room", "%q is not a valid id", clip(r.Room))
	}
	if r.Probe != "" && !ValidID(r.Probe) {
		return bad("probe", "%q is not a valid device id", clip(r.Probe))
	}
	switch r.Class {
	case ClassChilled, ClassFrozen, ClassMedicine:
	case ClassCustom:
		if r.LowC == nil && r.HighC == nil {
			return bad("class", "a custom class needs low_c, high_c or both")
		}
	default:
		return bad("class", "%q must be %s, %s, %s or %s", clip(r.Class), ClassChilled, ClassFrozen, ClassMedicine, ClassCustom)
	}
	for _, l := range [...]struct {
		name string
		v    *float64
	}{{"low_c", r.LowC}, {"high_c", r.HighC}} {
		if l.v != nil && !(*l.v >= PlausibleMinC && *l.v <= PlausibleMaxC) {
			return bad(l.name, "%g °C is outside %g..%g °C", *l.v, PlausibleMinC, PlausibleMaxC)
		}
	}
	lo, hi, hasLo, hasHi := r.Limits()
	if hasLo && hasHi && lo >= hi {
		loSrc, hiSrc := "low_c", "high_c"
		if r.LowC == nil {
			loSrc = "the " + r.Class + " default low limit"
		}
		if r.HighC == nil {
			hiSrc = "the " + r.Class + " default high limit"
		}
		verb := "is above"
		if lo == hi {
			verb = "equals"
		}
		return bad("low_c", "%s %g °C %s %s %g °C: the low limit must be below the high limit", loSrc, lo, verb, hiSrc, hi)
	}
	if !(r.DeadbandC >= 0 && r.DeadbandC <= 10) {
		return bad("deadband_c", "%g °C must be 0 to 10 °C", r.DeadbandC)
	}
	if hasLo && hasHi && r.DeadbandC >= hi-lo {
		return bad("deadband_c", "%g °C must be narrower than the %g °C between the limits", r.DeadbandC, hi-lo)
	}
	for _, d := range [...]struct {
		name string
		v    time.Duration
	}{
		{"on_delay", r.OnDelay}, {"off_delay", r.OffDelay}, {"re_alarm", r.ReAlarm},
		{"door_open_after", r.DoorOpenAfter}, {"no_data_after", r.NoDataAfter},
		{"frozen_after", r.FrozenAfter}, {"defrost_max", r.DefrostMax},
	} {
		if d.v < 0 || d.v > MaxRuleDuration {
			return bad(d.name, "%v must be 0 to %v", d.v, MaxRuleDuration)
		}
	}
	if r.Severity != "" && SeverityRank(r.Severity) == 0 {
		return bad("severity", "%q must be %s, %s or %s", clip(r.Severity), SeverityInfo, SeverityWarning, SeverityCritical)
	}
	return nil
}

// roomRuleJSON is RoomRule's wire form.
type roomRuleJSON struct {
	Site          string   `json:"site"`
	Room          string   `json:"room"`
	Class         string   `json:"class"`
	Probe         string   `json:"probe,omitempty"`
	LowC          *float64 `json:"low_c,omitempty"`
	HighC         *float64 `json:"high_c,omitempty"`
	DeadbandC     float64  `json:"deadband_c,omitempty"`
	OnDelay       string   `json:"on_delay,omitempty"`
	OffDelay      string   `json:"off_delay,omitempty"`
	ReAlarm       string   `json:"re_alarm,omitempty"`
	Severity      string   `json:"severity,omitempty"`
	DoorOpenAfter string   `json:"door_open_after,omitempty"`
	NoDataAfter   string   `json:"no_data_after,omitempty"`
	FrozenAfter   string   `json:"frozen_after,omitempty"`
	DefrostMax    string   `json:"defrost_max,omitempty"`
}

// MarshalJSON writes the rule with durations as Go duration strings.
func (r RoomRule) MarshalJSON() ([]byte, error) {
	return json.Marshal(roomRuleJSON{
		Site: r.Site, Room: r.Room, Class: r.Class, Probe: r.Probe,
		LowC: r.LowC, HighC: r.HighC, DeadbandC: r.DeadbandC,
		OnDelay: FormatDuration(r.OnDelay), OffDelay: FormatDuration(r.OffDelay), ReAlarm: FormatDuration(r.ReAlarm),
		Severity:      r.Severity,
		DoorOpenAfter: FormatDuration(r.DoorOpenAfter), NoDataAfter: FormatDuration(r.NoDataAfter),
		FrozenAfter: FormatDuration(r.FrozenAfter), DefrostMax: FormatDuration(r.DefrostMax),
	})
}

// UnmarshalJSON reads a rule, refusing unknown members (a misspelt
// "on_dealy" must not silently mean no delay) and naming a member whose
// duration does not parse. It does not validate: call Validate.
func (r *RoomRule) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w roomRuleJSON
	if err := dec.Decode(&w); err != nil {
		return err
	}
	out := RoomRule{Site: w.Site, Room: w.Room, Class: w.Class, Probe: w.Probe,
		LowC: w.LowC, HighC: w.HighC, DeadbandC: w.DeadbandC, Severity: w.Severity}
	for _, d := range [...]struct {
		name string
		s    string
		to   *time.Duration
	}{
		{"on_delay", w.OnDelay, &out.OnDelay}, {"off_delay", w.OffDelay, &out.OffDelay}, {"re_alarm", w.ReAlarm, &out.ReAlarm},
		{"door_open_after", w.DoorOpenAfter, &out.DoorOpenAfter}, {"no_data_after", w.NoDataAfter, &out.NoDataAfter},
		{"frozen_after", w.FrozenAfter, &out.FrozenAfter}, {"defrost_max", w.DefrostMax, &out.DefrostMax},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("room rule %s/%s: %s: %q is not a duration such as \"90s\", \"5m\" or \"1h30m\"", clip(w.Site), clip(w.Room), d.name, clip(d.s))
		}
		*d.to = v
	}
	*r = out
	return nil
}

// FormatDuration writes d as the shortest Go duration string: "5m" rather
// than "5m0s", "1h" rather than "1h0m0s"; "" for zero.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// RoomRules is the args of the "rules" command: every room rule of one
// site. The edge replaces the rules it holds with these and keeps them on
// disk.
type RoomRules struct {
	V       int        `json:"v"`
	Site    string     `json:"site"`
	Version string     `json:"version"` // changes with every edit
	Rules   []RoomRule `json:"rules"`
}

// DecodeRoomRules decodes and checks a RoomRules. A rule without a site
// takes the payload's.
func DecodeRoomRules(b []byte) (*RoomRules, error) {
	if len(b) > MaxPayloadBytes {
		return nil, reject(ReasonTooLarge, "room rules are %d bytes, limit %d", len(b), MaxPayloadBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rs RoomRules
	if err := dec.Decode(&rs); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "room rules", Err: err}
	}
	if rs.V != SchemaVersion {
		return nil, reject(ReasonVersion, "room rules version %d", rs.V)
	}
	for i := range rs.Rules {
		if rs.Rules[i].Site == "" {
			rs.Rules[i].Site = rs.Site
		}
	}
	if err := rs.Check(); err != nil {
		return nil, err
	}
	return &rs, nil
}

// Check refuses a RoomRules that cannot be applied: no site or version,
// too many rules, a rule for another site, a room named twice, an invalid
// rule.
func (rs *RoomRules) Check() error {
	if !ValidID(rs.Site) || rs.Version == "" || len(rs.Version) > MaxIDLen {
		return reject(ReasonInvalid, "room rules need a site and a version of 1 to %d characters", MaxIDLen)
	}
	if len(rs.Rules) > MaxRooms {
		return reject(ReasonInvalid, "room rules for %s: %d rules, at most %d", rs.Site, len(rs.Rules), MaxRooms)
	}
	seen := make(map[string]bool, len(rs.Rules))
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.Site != rs.Site {
			return reject(ReasonIdentity, "room rules for %s: rules[%d] is for site %q", rs.Site, i, clip(r.Site))
		}
		if err := r.Validate(); err != nil {
			return err
		}
		if seen[r.Room] {
			return reject(ReasonInvalid, "room rules for %s: room %s has two rules", rs.Site, r.Room)
		}
		seen[r.Room] = true
	}
	return nil
}

// ExampleRoomRules is a valid RoomRules payload, shared by the tests of
// every package that produces or consumes the rules command.
const ExampleRoomRules = `{"v":1,"site":"tw01","version":"2026-11-29.1","rules":[
 {"room":"cr1","class":"chilled","probe":"cr1-th","deadband_c":0.5,"on_delay":"5m","off_delay":"1m","re_alarm":"30m",
  "severity":"critical","door_open_after":"10m","no_data_after":"10m","frozen_after":"2h","defrost_max":"45m"},
 {"room":"cr2","class":"frozen","deadband_c":1,"on_delay":"10m","off_delay":"2m","door_open_after":"5m","no_data_after":"10m","defrost_max":"40m"},
 {"room":"med","class":"custom","low_c":2,"high_c":8,"deadband_c":0.3,"on_delay":"2m","off_delay":"2m","re_alarm":"15m","no_data_after":"5m"}]}`

// AlarmKind is what an alarm is about.
type AlarmKind uint8

// Alarm kinds. The evaluator raises the room kinds; EdgeOffline and
// EdgeFlood are the hub's.
const (
	AlarmHigh        AlarmKind = iota + 1 // temperature above the high limit
	AlarmLow                              // temperature below the low limit
	AlarmDoorOpen                         // door open too long
	AlarmSensorFault                      // no valid temperature: probe fault, implausible, frozen, clock
	AlarmNoData                           // no temperature at all for too long
	AlarmEdgeOffline                      // the edge box is offline
	AlarmEdgeFlood                        // the edge sends far more than it should: the hub drops some

	NumAlarmKinds = int(AlarmEdgeFlood) + 1 // for arrays indexed by kind
)

var alarmKindNames = [NumAlarmKinds]string{"", "high", "low", "door_open", "sensor_fault", "no_data", "edge_offline", "edge_flood"}

// String is the kind's wire name: high, low, door_open, sensor_fault,
// no_data, edge_offline, edge_flood.
func (k AlarmKind) String() string {
	if int(k) < len(alarmKindNames) && k != 0 {
		return alarmKindNames[k]
	}
	return fmt.Sprintf("AlarmKind(%d)", uint8(k))
}

// MarshalText writes the kind's name.
func (k AlarmKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= NumAlarmKinds {
		return nil, fmt.Errorf("alarm kind %d has no name", uint8(k))
	}
	return []byte(alarmKindNames[k]), nil
}

// UnmarshalText reads a kind's name.
func (k *AlarmKind) UnmarshalText(b []byte) error {
	for i := 1; i < NumAlarmKinds; i++ {
		if alarmKindNames[i] == string(b) {
			*k = AlarmKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown alarm kind %q", clip(string(b)))
}

// AlarmSet is a set of alarm kinds.
type AlarmSet uint8

// Has reports whether k is in s.
func (s AlarmSet) Has(k AlarmKind) bool { return s&(1<<k) != 0 }

// With returns s with k added.
func (s AlarmSet) With(k AlarmKind) AlarmSet { return s | 1<<k }

// Without returns s with k removed.
func (s AlarmSet) Without(k AlarmKind) AlarmSet { return s &^ (1 << k) }

// Fault says why a temperature is not valid.
type Fault uint8

// Temperature faults.
const (
	FaultNone       Fault = iota // a valid temperature
	FaultReported                // the edge reports the field faulted (probe open, ...)
	FaultRange                   // outside PlausibleMinC..PlausibleMaxC
	FaultController              // the controller's probe-fault alarm bit is set
	FaultFrozen                  // exactly unchanged for FrozenAfter
	FaultFuture                  // the reading's time is in the future: its clock cannot be trusted
)

var faultNames = [...]string{"", "reported", "range", "controller", "frozen", "future"}

// String is the fault's wire name.
func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", uint8(f))
}

// MarshalText writes the fault's name.
func (f Fault) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a fault's name.
func (f *Fault) UnmarshalText(b []byte) error {
	for i, n := range faultNames {
		if n == string(b) {
			*f = Fault(i)
			return nil
		}
	}
	return fmt.Errorf("unknown fault %q", clip(string(b)))
}

// CheckTemperature returns FaultRange for a value that is no plausible
// cold-room temperature (NaN included), FaultNone otherwise.
func CheckTemperature(c float64) Fault {
	if c >= PlausibleMinC && c <= PlausibleMaxC {
		return FaultNone
	}
	return FaultRange
}

// RoomState evaluates one room's rule: the temperature limits with their
// delays and deadband, defrost suspension, door, sensor fault and no data.
// It is a value with no clock of its own: every call passes the time (the
// reading's time, or the clock's for Tick), and a time earlier than one
// seen before counts as that one, so timers never run backwards. Active
// is the set of conditions in alarm; each call returns the kinds that
// changed. It allocates nothing, and its JSON form restores the timers
// after a restart. The rule is passed to each call so that an edited rule
// applies at once without resetting the timers.
//
// A faulted or missing temperature never clears a high or low alarm: only
// valid values, back inside the limit by the deadband for the off-delay,
// do.
type RoomState struct {
	At     time.Time `json:"at,omitzero"`     // the latest time evaluated
	Active AlarmSet  `json:"active,omitzero"` // conditions in alarm

	Value    float64   `json:"value"`              // the last valid temperature, °C
	HasValue bool      `json:"has_value,omitzero"` // Value holds one
	Fault    Fault     `json:"fault,omitzero"`     // why the last temperature was not valid
	LastData time.Time `json:"last_data,omitzero"` // the last temperature, valid or not

	HighSince    time.Time `json:"high_since,omitzero"`     // an excursion above the high limit began (cleared once back inside by the deadband)
	HighOKSince  time.Time `json:"high_ok_since,omitzero"`  // the high alarm's value back inside by the deadband since
	LowSince     time.Time `json:"low_since,omitzero"`      // an excursion below the low limit began
	LowOKSince   time.Time `json:"low_ok_since,omitzero"`   // the low alarm's value back inside since
	FaultOKSince time.Time `json:"fault_ok_since,omitzero"` // valid values again since, while the fault alarm is active
	SameSince    time.Time `json:"same_since,omitzero"`     // Value unchanged since, for the frozen check
	DefrostSince time.Time `json:"defrost_since,omitzero"`  // defrost relay on since
	DoorSince    time.Time `json:"door_since,omitzero"`     // door open since
}

// advance moves the state's time to now, never backwards.
func (s *RoomState) advance(now time.Time) time.Time {
	if now.Before(s.At) {
		return s.At
	}
	s.At = now
	return now
}

// Update evaluates a temperature at now: value in °C when fault is
// FaultNone, otherwise why there is none (value is then ignored). A value
// outside the plausible range or frozen for r.FrozenAfter becomes a fault
// here.
func (s *RoomState) Update(r *RoomRule, now time.Time, value float64, fault Fault) (changed AlarmSet) {
	before := s.Active
	now = s.advance(now)
	if now.After(s.LastData) {
		s.LastData = now
	}
	s.Active = s.Active.Without(AlarmNoData)
	if fault == FaultNone {
		fault = CheckTemperature(value)
	}
	if fault == FaultNone {
		if !s.HasValue || value != s.Value || s.SameSince.IsZero() {
			s.SameSince = now
		} else if r.FrozenAfter > 0 && now.Sub(s.SameSince) >= r.FrozenAfter {
			fault = FaultFrozen
		}
		s.Value, s.HasValue = value, true
	}
	s.Fault = fault
	if fault != FaultNone {
		// Unknown is not fine: the off-delays start again, the alarms hold.
		s.Active = s.Active.With(AlarmSensorFault)
		s.FaultOKSince, s.HighOKSince, s.LowOKSince = time.Time{}, time.Time{}, time.Time{}
	} else {
		if s.Active.Has(AlarmSensorFault) {
			if s.FaultOKSince.IsZero() {
				s.FaultOKSince = now
			}
			if now.Sub(s.FaultOKSince) >= r.OffDelay {
				s.Active = s.Active.Without(AlarmSensorFault)
				s.FaultOKSince = time.Time{}
			}
		}
		lo, hi, hasLo, hasHi := r.Limits()
		defrost := r.DefrostMax > 0 && !s.DefrostSince.IsZero() && now.Sub(s.DefrostSince) < r.DefrostMax
		s.limit(AlarmHigh, r, now, hasHi, value > hi, value <= hi-r.DeadbandC, defrost, &s.HighSince, &s.HighOKSince)
		s.limit(AlarmLow, r, now, hasLo, value < lo, value >= lo+r.DeadbandC, false, &s.LowSince, &s.LowOKSince)
	}
	s.door(r, now)
	return before ^ s.Active
}

// limit runs one limit: beyond says the value is past it, back that it is
// inside by the deadband, hold that excursions are suspended (defrost).
// Between the two (in the deadband) an excursion neither ends nor raises.
func (s *RoomState) limit(k AlarmKind, r *RoomRule, now time.Time, has, beyond, back, hold bool, since, okSince *time.Time) {
	active := s.Active.Has(k)
	switch {
	case !has:
		*since, *okSince = time.Time{}, time.Time{}
		s.Active = s.Active.Without(k)
	case beyond:
		*okSince = time.Time{}
		if active {
			return
		}
		if hold {
			*since = time.Time{}
			return
		}
		if since.IsZero() {
			*since = now
		}
		if now.Sub(*since) >= r.OnDelay {
			s.Active = s.Active.With(k)
		}
	case back:
		*since = time.Time{}
		if !active {
			return
		}
		if okSince.IsZero() {
			*okSince = now
		}
		if now.Sub(*okSince) >= r.OffDelay {
			s.Active = s.Active.Without(k)
			*okSince = time.Time{}
		}
	default:
		*okSince = time.Time{}
		if hold && !active {
			*since = time.Time{}
		}
	}
}

// Door evaluates the door at now: open or closed. Closing clears a door
// alarm at once.
func (s *RoomState) Door(r *RoomRule, now time.Time, open bool) (changed AlarmSet) {
	before := s.Active
	now = s.advance(now)
	switch {
	case !open:
		s.DoorSince = time.Time{}
	case s.DoorSince.IsZero():
		s.DoorSince = now
	}
	s.door(r, now)
	return before ^ s.Active
}

func (s *RoomState) door(r *RoomRule, now time.Time) {
	if r.DoorOpenAfter <= 0 || s.DoorSince.IsZero() {
		s.Active = s.Active.Without(AlarmDoorOpen)
	} else if now.Sub(s.DoorSince) >= r.DoorOpenAfter {
		s.Active = s.Active.With(AlarmDoorOpen)
	}
}

// Defrost records the defrost relay at now. While it is on, for at most
// r.DefrostMax, a high excursion does not start its on-delay; a high alarm
// already active stays.
func (s *RoomState) Defrost(r *RoomRule, now time.Time, on bool) (changed AlarmSet) {
	before := s.Active
	now = s.advance(now)
	switch {
	case !on:
		s.DefrostSince = time.Time{}
	case s.DefrostSince.IsZero():
		s.DefrostSince = now
	}
	s.door(r, now)
	return before ^ s.Active
}

// Tick evaluates the timers that run without readings, the door and no
// data, at now. No-data counting starts at the first Tick or Update.
// Temperature delays are judged on readings only: a value is known from
// one reading to the next, and when readings stop, no data says so.
func (s *RoomState) Tick(r *RoomRule, now time.Time) (changed AlarmSet) {
	before := s.Active
	now = s.advance(now)
	s.door(r, now)
	switch {
	case r.NoDataAfter <= 0:
		s.Active = s.Active.Without(AlarmNoData)
	case s.LastData.IsZero():
		s.LastData = now
	case now.Sub(s.LastData) >= r.NoDataAfter:
		s.Active = s.Active.With(AlarmNoData)
	}
	return before ^ s.Active
}

// Expect restarts the no-data timer at now, unless no data is in alarm
// already: data is expected from now on (the edge came back online, a
// rule was set).
func (s *RoomState) Expect(now time.Time) {
	if !s.Active.Has(AlarmNoData) && now.After(s.LastData) {
		s.LastData = now
	}
}
