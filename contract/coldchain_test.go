package contract

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)

func ptr(v float64) *float64 { return &v }

func TestClassLimits(t *testing.T) {
	for _, tc := range []struct {
		class  string
		lo, hi float64
		ok     bool
	}{
		{ClassChilled, 0, 4, true},
		{ClassFrozen, -30, -18, true},
		{ClassMedicine, 2, 8, true},
		{ClassCustom, 0, 0, false},
		{"ice-cream", 0, 0, false},
	} {
		lo, hi, ok := ClassLimits(tc.class)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("%s: %v %v %v", tc.class, lo, hi, ok)
		}
	}
	r := RoomRule{Class: ClassChilled, HighC: ptr(5)}
	if lo, hi, hasLo, hasHi := r.Limits(); lo != 0 || hi != 5 || !hasLo || !hasHi {
		t.Errorf("chilled with high_c 5: %v %v %v %v", lo, hi, hasLo, hasHi)
	}
	r = RoomRule{Class: ClassCustom, HighC: ptr(10)}
	if _, hi, hasLo, hasHi := r.Limits(); hi != 10 || hasLo || !hasHi {
		t.Errorf("custom with only high_c: %v %v %v", hi, hasLo, hasHi)
	}
}

func TestRoomRuleJSON(t *testing.T) {
	r := DefaultRoomRule("tw01", "cr1", ClassCustom)
	r.LowC, r.HighC, r.Probe = ptr(0), ptr(4.5), "cr1-th"
	r.OnDelay = 90 * time.Second
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"low_c":0`, `"high_c":4.5`, `"on_delay":"1m30s"`, `"off_delay":"1m"`, `"frozen_after":"2h"`, `"defrost_max":"45m"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back RoomRule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip:\n%+v\n%+v", back, r)
	}
	for name, in := range map[string]string{
		"unknown member": `{"site":"tw01","room":"cr1","class":"chilled","on_dealy":"5m"}`,
		"bad duration":   `{"site":"tw01","room":"cr1","class":"chilled","on_delay":"5 min"}`,
		"number delay":   `{"site":"tw01","room":"cr1","class":"chilled","on_delay":300}`,
	} {
		err := json.Unmarshal([]byte(in), &back)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if name == "bad duration" && !strings.Contains(err.Error(), "on_delay") {
			t.Errorf("%s: %v does not name the member", name, err)
		}
	}
	for d, want := range map[time.Duration]string{0: "", time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s", 5 * time.Minute: "5m", 1500 * time.Millisecond: "1.5s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRoomRuleValidate(t *testing.T) {
	ok := DefaultRoomRule("tw01", "cr1", ClassChilled)
	if err := ok.Validate(); err != nil {
		t.Fatalf("default rule: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(r *RoomRule)
		want string // in the message
	}{
		{"low above high", func(r *RoomRule) { r.Class, r.LowC, r.HighC = ClassCustom, ptr(8), ptr(4) },
			"room rule tw01/cr1: low_c: low_c 8 °C is above high_c 4 °C: the low limit must be below the high limit"},
		{"low equals high", func(r *RoomRule) { r.Class, r.LowC, r.HighC = ClassCustom, ptr(4), ptr(4) }, "low_c 4 °C equals high_c 4 °C"},
		{"low above class high", func(r *RoomRule) { r.LowC = ptr(5) }, "low_c 5 °C is above the chilled default high limit 4 °C"},
		{"bad site", func(r *RoomRule) { r.Site = "TW 01" }, "site:"},
		{"bad room", func(r *RoomRule) { r.Room = "" }, "room:"},
		{"bad probe", func(r *RoomRule) { r.Probe = "Probe!" }, "probe:"},
		{"bad class", func(r *RoomRule) { r.Class = "icecream" }, "class: \"icecream\" must be"},
		{"custom without limits", func(r *RoomRule) { r.Class = ClassCustom }, "custom class needs low_c, high_c or both"},
		{"implausible limit", func(r *RoomRule) { r.HighC = ptr(3276.7) }, "high_c: 3276.7 °C is outside"},
		{"negative deadband", func(r *RoomRule) { r.DeadbandC = -1 }, "deadband_c:"},
		{"deadband too wide", func(r *RoomRule) { r.DeadbandC = 4 }, "narrower than the 4 °C"},
		{"negative delay", func(r *RoomRule) { r.OnDelay = -time.Second }, "on_delay: -1s must be 0 to 24h"},
		{"long defrost", func(r *RoomRule) { r.DefrostMax = 48 * time.Hour }, "defrost_max:"},
		{"severity", func(r *RoomRule) { r.Severity = "urgent" }, "severity: \"urgent\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || ReasonOf(err) != ReasonInvalid {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRoomRules(t *testing.T) {
	rs, err := DecodeRoomRules([]byte(ExampleRoomRules))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 3 || rs.Rules[0].Site != "tw01" || rs.Rules[0].OnDelay != 5*time.Minute || rs.Rules[2].HighC == nil || *rs.Rules[2].HighC != 8 {
		t.Errorf("decoded %+v", rs)
	}
	// The command's args survive an encode and decode.
	b, err := Encode(rs)
	if err != nil {
		t.Fatal(err)
	}
	rs2, err := DecodeRoomRules(b)
	if err != nil || !reflect.DeepEqual(rs, rs2) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, rs, rs2)
	}
	for name, tc := range map[string]struct {
		in   string
		want Reason
	}{
		"low above high": {`{"v":1,"site":"tw01","version":"1","rules":[{"room":"cr1","class":"custom","low_c":8,"high_c":4}]}`, ReasonInvalid},
		"other site":     {`{"v":1,"site":"tw01","version":"1","rules":[{"site":"tw02","room":"cr1","class":"chilled"}]}`, ReasonIdentity},
		"room twice":     {`{"v":1,"site":"tw01","version":"1","rules":[{"room":"cr1","class":"chilled"},{"room":"cr1","class":"frozen"}]}`, ReasonInvalid},
		"no version":     {`{"v":1,"site":"tw01","rules":[]}`, ReasonInvalid},
		"future schema":  {`{"v":2,"site":"tw01","version":"1","rules":[]}`, ReasonVersion},
		"unknown member": {`{"v":1,"site":"tw01","version":"1","rules":[{"room":"cr1","class":"chilled","colour":"red"}]}`, ReasonMalformed},
		"bad duration":   {`{"v":1,"site":"tw01","version":"1","rules":[{"room":"cr1","class":"chilled","off_delay":"soon"}]}`, ReasonMalformed},
		"not json":       {`rules`, ReasonMalformed},
		"too large":      {`{"v":1,"site":"tw01","version":"1","rules":[]}` + strings.Repeat(" ", MaxPayloadBytes), ReasonTooLarge},
	} {
		if _, err := DecodeRoomRules([]byte(tc.in)); ReasonOf(err) != tc.want {
			t.Errorf("%s: %v, want reason %s", name, err, tc.want)
		}
	}
}

func FuzzDecodeRoomRules(f *testing.F) {
	f.Add([]byte(ExampleRoomRules))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := DecodeRoomRules(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		enc, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeRoomRules(enc); err != nil {
			t.Fatalf("re-encoded rules refused: %v\n%s", err, enc)
		}
	})
}

func TestAlarmKindText(t *testing.T) {
	for k := AlarmHigh; int(k) < NumAlarmKinds; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back AlarmKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%s: %v %v", b, back, err)
		}
	}
	var k AlarmKind
	if k.UnmarshalText([]byte("fire")) == nil {
		t.Error("unknown kind accepted")
	}
	s := AlarmSet(0).With(AlarmHigh).With(AlarmNoData)
	if !s.Has(AlarmHigh) || s.Has(AlarmLow) || s.Without(AlarmHigh).Has(AlarmHigh) {
		t.Errorf("set %b", s)
	}
}

// roomRun drives a RoomState with readings every 10 s, the edge's rate,
// and notes its transitions.
type roomRun struct {
	t    *testing.T
	rule RoomRule
	st   RoomState
	now  time.Time
	log  []string // "+high@3m0s", "-high@9m0s": transitions, at the time since t0
}

func newRun(t *testing.T, r RoomRule) *roomRun { return &roomRun{t: t, rule: r, now: t0} }

func (rr *roomRun) note(changed AlarmSet) {
	for k := AlarmHigh; int(k) < NumAlarmKinds; k++ {
		if changed.Has(k) {
			sign := "-"
			if rr.st.Active.Has(k) {
				sign = "+"
			}
			rr.log = append(rr.log, sign+k.String()+"@"+rr.now.Sub(t0).String())
		}
	}
}

// temps feeds one reading every 10 s for d at value v.
func (rr *roomRun) temps(d time.Duration, v float64) {
	for end := rr.now.Add(d); rr.now.Before(end); rr.now = rr.now.Add(10 * time.Second) {
		rr.note(rr.st.Update(&rr.rule, rr.now, v, FaultNone))
	}
}

func (rr *roomRun) fault(d time.Duration, f Fault) {
	for end := rr.now.Add(d); rr.now.Before(end); rr.now = rr.now.Add(10 * time.Second) {
		rr.note(rr.st.Update(&rr.rule, rr.now, 0, f))
	}
}

func (rr *roomRun) want(log ...string) {
	rr.t.Helper()
	if strings.Join(rr.log, " ") != strings.Join(log, " ") {
		rr.t.Errorf("transitions %q, want %q", rr.log, log)
	}
}

func chilled() RoomRule {
	r := DefaultRoomRule("tw01", "cr1", ClassChilled)
	r.FrozenAfter = 0
	return r
}

func TestRoomStateOnDelay(t *testing.T) {
	rr := newRun(t, chilled())
	rr.temps(10*time.Minute, 2.5)
	rr.temps(3*time.Minute, 6) // shorter than the 5-minute on-delay
	rr.temps(10*time.Minute, 2.5)
	rr.want()
	rr.temps(6*time.Minute, 6)
	rr.want("+high@28m0s") // 23m + 5m
}

func TestRoomStateDeadbandOffDelay(t *testing.T) {
	rr := newRun(t, chilled()) // high 4, deadband 0.5, off-delay 1m
	rr.temps(6*time.Minute, 4.3)
	rr.want("+high@5m0s")
	// Hovering across the limit, never back by the deadband: no clear.
	for range 20 {
		rr.temps(20*time.Second, 3.8)
		rr.temps(20*time.Second, 4.2)
	}
	// Back by the deadband, but shorter than the off-delay, then above.
	rr.temps(40*time.Second, 3.4)
	rr.temps(10*time.Second, 4.1)
	rr.want("+high@5m0s")
	rr.temps(2*time.Minute, 3.4)
	rr.want("+high@5m0s", "-high@21m10s")
}

func TestRoomStateHoverRaises(t *testing.T) {
	// An excursion that dips just under the limit (inside the deadband)
	// keeps its on-delay running: hovering at the limit is an excursion.
	rr := newRun(t, chilled())
	for range 10 {
		rr.temps(20*time.Second, 4.2)
		rr.temps(20*time.Second, 3.9)
	}
	rr.want("+high@5m20s")
}

func TestRoomStateLow(t *testing.T) {
	r := chilled()
	r.OnDelay = 0
	rr := newRun(t, r)
	rr.temps(time.Minute, -0.5)
	rr.temps(time.Minute, 0.2) // inside the deadband
	rr.temps(2*time.Minute, 1)
	rr.want("+low@0s", "-low@3m0s")
}

func TestRoomStateFaultHoldsHigh(t *testing.T) {
	rr := newRun(t, chilled())
	rr.temps(6*time.Minute, 7)
	rr.fault(30*time.Minute, FaultReported)
	rr.temps(30*time.Second, 3)          // valid, back, shorter than the off-delay
	rr.fault(10*time.Second, FaultRange) // the off-delays start again
	rr.temps(50*time.Second, 3)
	rr.want("+high@5m0s", "+sensor_fault@6m0s")
	if rr.st.Fault != FaultNone || !rr.st.Active.Has(AlarmHigh) {
		t.Errorf("state %+v", rr.st)
	}
	rr.temps(20*time.Second, 3)
	rr.want("+high@5m0s", "+sensor_fault@6m0s", "-high@37m40s", "-sensor_fault@37m40s")
	// An implausible value is a fault, not a temperature.
	rr.note(rr.st.Update(&rr.rule, rr.now, 3276.7, FaultNone))
	if rr.st.Fault != FaultRange || rr.st.Value != 3 || !rr.st.Active.Has(AlarmSensorFault) {
		t.Errorf("3276.7: %+v", rr.st)
	}
}

func TestRoomStateFrozen(t *testing.T) {
	r := chilled()
	r.FrozenAfter = 30 * time.Minute
	rr := newRun(t, r)
	rr.temps(40*time.Minute, 2.4)
	rr.want("+sensor_fault@30m0s")
	if rr.st.Fault != FaultFrozen {
		t.Errorf("fault %v", rr.st.Fault)
	}
	rr.temps(time.Minute, 2.5)
	rr.temps(10*time.Second, 2.6)
	rr.want("+sensor_fault@30m0s", "-sensor_fault@41m0s")
}

func TestRoomStateDefrost(t *testing.T) {
	rr := newRun(t, chilled()) // defrost_max 45m, on-delay 5m
	rr.note(rr.st.Defrost(&rr.rule, rr.now, true))
	rr.temps(30*time.Minute, 9) // suspended
	rr.want()
	rr.temps(21*time.Minute, 9) // 45m reached at 45m: the on-delay starts then
	rr.want("+high@50m0s")

	// A defrost that ends: the on-delay counts from its end.
	rr = newRun(t, chilled())
	rr.note(rr.st.Defrost(&rr.rule, rr.now, true))
	rr.temps(20*time.Minute, 9)
	rr.note(rr.st.Defrost(&rr.rule, rr.now, false))
	rr.temps(4*time.Minute, 6)
	rr.temps(time.Minute, 3)
	rr.want()

	// Defrost does not suspend the low limit, nor clear a high alarm.
	rr = newRun(t, chilled())
	rr.temps(6*time.Minute, 9)
	rr.note(rr.st.Defrost(&rr.rule, rr.now, true))
	rr.temps(10*time.Minute, 9)
	rr.want("+high@5m0s")
}

func TestRoomStateDoorAndNoData(t *testing.T) {
	rr := newRun(t, chilled()) // door 10m, no data 10m
	rr.note(rr.st.Tick(&rr.rule, rr.now))
	rr.note(rr.st.Door(&rr.rule, rr.now, true))
	rr.now = rr.now.Add(9 * time.Minute)
	rr.note(rr.st.Tick(&rr.rule, rr.now))
	rr.now = rr.now.Add(time.Minute)
	rr.note(rr.st.Tick(&rr.rule, rr.now))
	rr.now = rr.now.Add(time.Minute)
	rr.note(rr.st.Door(&rr.rule, rr.now, false))
	rr.want("+door_open@10m0s", "+no_data@10m0s", "-door_open@11m0s")
	rr.temps(10*time.Second, 2)
	rr.want("+door_open@10m0s", "+no_data@10m0s", "-door_open@11m0s", "-no_data@11m0s")
	// A time earlier than one seen counts as that one.
	rr.note(rr.st.Door(&rr.rule, t0, true))
	if !rr.st.DoorSince.Equal(rr.st.At) {
		t.Errorf("door since %v, at %v", rr.st.DoorSince, rr.st.At)
	}
	// Expect restarts the no-data timer.
	rr.st.Expect(rr.now.Add(time.Hour))
	rr.note(rr.st.Tick(&rr.rule, rr.now.Add(65*time.Minute)))
	if rr.st.Active.Has(AlarmNoData) {
		t.Error("no data 5 minutes after Expect")
	}
}

func TestRoomStateJSONKeepsTimers(t *testing.T) {
	rr := newRun(t, chilled())
	rr.temps(3*time.Minute, 6)
	b, err := json.Marshal(&rr.st)
	if err != nil {
		t.Fatal(err)
	}
	var restored RoomState
	if err := json.Unmarshal(b, &restored); err != nil {
		t.Fatal(err)
	}
	rr.st = restored
	rr.temps(3*time.Minute, 6)
	rr.want("+high@5m0s")
}

func TestRoomStateNoAllocation(t *testing.T) {
	r := chilled()
	var s RoomState
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(10 * time.Second)
		s.Update(&r, now, 2.5, FaultNone)
		s.Door(&r, now, false)
		s.Defrost(&r, now, false)
		s.Tick(&r, now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per evaluation", allocs)
	}
}
