package alarm

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

var t0 = time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)

// simClock is the hub's wall clock in a test.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// rig is an Engine on a simulated clock with its events in a Log. Rooms
// cr1, cr2 and cr3 of tw01 are behind edge tw01-e1; each has a probe
// cr<n>-th.
type rig struct {
	t     *testing.T
	clk   *simClock
	log   *Log
	e     *Engine
	seen  int // events already returned by next
	rules []contract.RoomRule
}

func testRule(room string) contract.RoomRule {
	r := contract.DefaultRoomRule("tw01", room, contract.ClassChilled)
	r.FrozenAfter = 0
	return r
}

func newRig(t *testing.T, rules ...contract.RoomRule) *rig {
	t.Helper()
	g := &rig{t: t, clk: &simClock{now: t0}, log: &Log{}, rules: rules}
	g.e = New(DefaultConfig(), g.log, g.clk.Now)
	if err := g.e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	return g
}

// at is the wall time since t0.
func (g *rig) at() time.Duration { return g.clk.Now().Sub(t0) }

// read hands the engine one reading of room taken at ts (since t0) and
// received now.
func (g *rig) read(room string, ts time.Duration, fields map[string]float64, faults map[string]string) {
	dev := room + "-th"
	if _, door := fields[contract.FieldDoorOpen]; door {
		dev = room + "-door"
	}
	g.e.Reading(&hub.Reading{ID: fmt.Sprint("m", ts), Site: "tw01", Edge: "tw01-e1", Device: dev, Room: room,
		TS: t0.Add(ts), Fields: fields, Faults: faults})
}

// run advances the clock by d in 10 s steps; at each step every room in
// temps reads its value (NaN-free; absent rooms send nothing) and the
// engine ticks.
func (g *rig) run(d time.Duration, temps map[string]float64) {
	for end := g.at() + d; g.at() < end; {
		g.clk.set(g.clk.Now().Add(10 * time.Second))
		for _, room := range slices.Sorted(mapKeys(temps)) {
			g.read(room, g.at(), map[string]float64{contract.FieldTemperature: temps[room]}, nil)
		}
		g.e.Tick(g.clk.Now())
	}
}

func mapKeys(m map[string]float64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// next returns the events since the last call as "raised high cr1@5m0s"
// (transition, kind, source, time since t0).
func (g *rig) next() []string {
	evs := g.log.Events()[g.seen:]
	g.seen += len(evs)
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s %s@%v", ev.Transition, ev.Alarm.Kind, ev.Alarm.Source, ev.At.Sub(t0)))
	}
	return out
}

func (g *rig) want(want ...string) {
	g.t.Helper()
	if got := g.next(); strings.Join(got, "; ") != strings.Join(want, "; ") {
		g.t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

func (g *rig) active(kind contract.AlarmKind, source string) *Alarm {
	for _, a := range g.e.Active() {
		if a.Kind == kind && a.Source == source {
			return &a
		}
	}
	return nil
}

func TestOnDelay(t *testing.T) {
	g := newRig(t, testRule("cr1")) // on-delay 5m
	g.run(10*time.Minute, map[string]float64{"cr1": 2.5})
	g.run(3*time.Minute, map[string]float64{"cr1": 7}) // a 3-minute excursion
	g.run(10*time.Minute, map[string]float64{"cr1": 2.5})
	g.want()
	g.run(6*time.Minute, map[string]float64{"cr1": 7})
	g.want("raised high cr1@28m10s") // the excursion began at 23m10s
	a := g.active(contract.AlarmHigh, "cr1")
	if a == nil || *a.Value != 7 || *a.Limit != 4 || a.Severity != contract.SeverityCritical || a.Count != 1 ||
		!strings.HasPrefix(a.Message, "冷库 cr1 温度高于上限 4 °C / Room cr1: temperature above the high limit of 4 °C") {
		t.Errorf("alarm %+v", a)
	}
}

func TestDeadbandOffDelayNoFlapping(t *testing.T) {
	g := newRig(t, testRule("cr1")) // high 4, deadband 0.5, off-delay 1m
	g.run(6*time.Minute, map[string]float64{"cr1": 4.4})
	g.want("raised high cr1@5m10s")
	for range 15 { // around the limit, never back by the deadband
		g.run(30*time.Second, map[string]float64{"cr1": 3.7})
		g.run(30*time.Second, map[string]float64{"cr1": 4.2})
	}
	g.run(50*time.Second, map[string]float64{"cr1": 3.2}) // back, shorter than the off-delay
	g.run(10*time.Second, map[string]float64{"cr1": 3.6}) // inside the deadband: the off-delay restarts
	g.run(50*time.Second, map[string]float64{"cr1": 3.2})
	g.want()
	g.run(20*time.Second, map[string]float64{"cr1": 3.2})
	g.want("cleared high cr1@23m10s")
	if len(g.e.Active()) != 0 {
		t.Errorf("active %+v", g.e.Active())
	}
}

func TestReAlarm(t *testing.T) {
	g := newRig(t, testRule("cr1")) // re-alarm 30m
	g.run(6*time.Minute, map[string]float64{"cr1": 8})
	g.want("raised high cr1@5m10s")
	g.run(60*time.Minute, map[string]float64{"cr1": 8})
	g.want("realarm high cr1@35m10s", "realarm high cr1@1h5m10s")
	a := g.active(contract.AlarmHigh, "cr1")
	if a.Count != 3 || a.State != StateActive {
		t.Fatalf("alarm %+v", a)
	}
	// Acknowledged: the re-alarm counts from the acknowledgement, and
	// makes the alarm active again.
	g.run(20*time.Minute, map[string]float64{"cr1": 8})
	if err := g.e.Ack(a.ID, "王芳", "维修工已在路上", g.clk.Now()); err != nil {
		t.Fatal(err)
	}
	g.run(20*time.Minute, map[string]float64{"cr1": 8})
	g.want("acknowledged high cr1@1h26m0s")
	g.run(15*time.Minute, map[string]float64{"cr1": 8})
	g.want("realarm high cr1@1h56m0s")
	a = g.active(contract.AlarmHigh, "cr1")
	if a.Count != 4 || a.State != StateActive || a.Acked != nil {
		t.Errorf("alarm %+v", a)
	}
	if h := g.log.History(a.ID); len(h) != 5 { // raised, 2 realarms, acknowledged, realarm
		t.Errorf("history of %s: %d events", a.ID, len(h))
	}
}

func TestDoorOpenTooLong(t *testing.T) {
	g := newRig(t, testRule("cr1")) // door 10m
	door := func(open float64) { g.read("cr1", g.at(), map[string]float64{contract.FieldDoorOpen: open}, nil) }
	door(1)
	g.run(5*time.Minute, nil)
	door(0) // a 5-minute delivery
	g.run(30*time.Minute, map[string]float64{"cr1": 2})
	g.want()
	door(1)
	g.run(15*time.Minute, map[string]float64{"cr1": 2})
	g.want("raised door_open cr1@45m0s")
	door(0)
	g.want("cleared door_open cr1@50m0s")
	// The controller's door input counts too.
	g.read("cr1", g.at(), map[string]float64{contract.FieldTemperature: 2, contract.FieldDoor: 1}, nil)
	g.run(11*time.Minute, map[string]float64{"cr1": 2})
	g.want("raised door_open cr1@1h0m0s")
}

func TestFrozenValue(t *testing.T) {
	r := testRule("cr1")
	r.FrozenAfter = time.Hour
	g := newRig(t, r)
	g.run(30*time.Minute, map[string]float64{"cr1": 2.4})
	g.run(time.Second, map[string]float64{"cr1": 2.5})
	g.run(70*time.Minute, map[string]float64{"cr1": 2.5})
	g.want("raised sensor_fault cr1-th@1h30m10s")
	a := g.active(contract.AlarmSensorFault, "cr1-th")
	if a == nil || !strings.Contains(a.Message, "stuck at 2.5 °C for more than 1 h") {
		t.Errorf("alarm %+v", a)
	}
	g.run(2*time.Minute, map[string]float64{"cr1": 2.6})
	g.want("cleared sensor_fault cr1-th@1h41m20s")
}

func TestFaultNeverClearsHigh(t *testing.T) {
	r := testRule("cr1")
	r.ReAlarm = 0
	g := newRig(t, r)
	g.run(6*time.Minute, map[string]float64{"cr1": 9})
	g.want("raised high cr1@5m10s")
	high := g.active(contract.AlarmHigh, "cr1")
	// The probe comes off: the edge reports a fault, for an hour.
	for range 360 {
		g.clk.set(g.clk.Now().Add(10 * time.Second))
		g.read("cr1", g.at(), map[string]float64{"humidity": 80}, map[string]string{"temperature": "sensor fault: raw value 32767"})
		g.e.Tick(g.clk.Now())
	}
	g.want("raised sensor_fault cr1-th@6m10s")
	if a := g.active(contract.AlarmHigh, "cr1"); a == nil || *a.Value != 9 {
		t.Fatalf("high alarm after an hour of faults: %+v", a)
	}
	f := g.active(contract.AlarmSensorFault, "cr1-th")
	if !strings.Contains(f.Message, "raw value 32767") {
		t.Errorf("fault message %q", f.Message)
	}
	// A firmware without the profile's invalid list sends 3276.7: a fault
	// too, and the same alarm, updated.
	g.run(time.Minute, map[string]float64{"cr1": 3276.7})
	g.want("updated sensor_fault cr1-th@1h6m10s")
	// The controller's probe bit as well.
	g.clk.set(g.clk.Now().Add(10 * time.Second))
	g.read("cr1", g.at(), map[string]float64{contract.FieldTemperature: 2, contract.FieldProbeAlarm: 1}, nil)
	g.want("updated sensor_fault cr1-th@1h7m10s")
	if a := g.active(contract.AlarmSensorFault, "cr1-th"); a.ID != f.ID || !strings.Contains(a.Message, "controller") {
		t.Errorf("fault alarm %+v, was %s", a, f.ID)
	}
	// Only valid values, back for the off-delay, clear both.
	g.run(2*time.Minute, map[string]float64{"cr1": 2})
	g.want("cleared high cr1@1h8m20s", "cleared sensor_fault cr1-th@1h8m20s")
	if h := g.log.History(high.ID); len(h) != 2 {
		t.Errorf("high alarm history %+v", h)
	}
}

func TestReadingFromTheFuture(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(6*time.Minute, map[string]float64{"cr1": 9})
	g.want("raised high cr1@5m10s")
	g.read("cr1", g.at()+time.Hour, map[string]float64{contract.FieldTemperature: 2}, nil)
	g.read("cr1", g.at()+time.Hour, map[string]float64{contract.FieldTemperature: 2}, nil)
	g.want("raised sensor_fault cr1-th@6m0s")
	a := g.active(contract.AlarmHigh, "cr1")
	if a == nil || *a.Value != 9 {
		t.Errorf("a future reading changed the high alarm: %+v", a)
	}
	if s := g.e.Stats(); s.Future != 2 {
		t.Errorf("stats %+v", s)
	}
	// A minute ahead is tolerated (Config.MaxFuture 2m); valid values
	// for the off-delay clear the fault.
	g.run(time.Minute, map[string]float64{"cr1": 9})
	g.read("cr1", g.at()+time.Minute, map[string]float64{contract.FieldTemperature: 9}, nil)
	g.want("cleared sensor_fault cr1-th@8m0s")
}

func TestNoData(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2")) // no data 10m
	g.run(5*time.Minute, map[string]float64{"cr1": 2})
	g.want()
	g.run(15*time.Minute, map[string]float64{"cr1": 2})
	g.want("raised no_data cr2@10m10s") // cr2 never sent anything; counted from the first tick
	g.run(15*time.Minute, map[string]float64{"cr2": 2})
	g.want("cleared no_data cr2@20m10s", "raised no_data cr1@30m0s")
	// A door reading is no temperature.
	g.read("cr1", g.at(), map[string]float64{contract.FieldDoorOpen: 0}, nil)
	g.want()
	if a := g.active(contract.AlarmNoData, "cr1"); a == nil || a.Message != "冷库 cr1 超过 10 分钟没有温度数据 / Room cr1: no temperature for more than 10 min" {
		t.Errorf("alarm %+v", a)
	}
}

func TestEdgeOfflineSuppresses(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2"), testRule("cr3"))
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.run(10*time.Minute, map[string]float64{"cr1": 9, "cr2": 2, "cr3": 2})
	g.want("raised high cr1@5m10s")

	// The uplink drops for two hours.
	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.run(2*time.Hour, nil)
	g.want("raised edge_offline tw01-e1@15m0s", "suppressed high cr1@15m0s")
	active := g.e.Active()
	if len(active) != 2 || !active[0].Suppressed || active[1].Kind != contract.AlarmEdgeOffline || active[1].Suppressed {
		t.Fatalf("active %+v", active)
	}
	if !strings.Contains(active[1].Message, "3 个冷库") || active[1].Severity != contract.SeverityCritical {
		t.Errorf("edge alarm %+v", active[1])
	}
	if s := g.e.Stats(); s.Offline != 1 || s.Suppressed != 1 {
		t.Errorf("stats %+v", s)
	}

	// It comes back and sends its queue: cr1 cooled down at 30m, cr2
	// reads on, cr3's transmitter died with the uplink.
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.want("cleared edge_offline tw01-e1@2h10m0s", "unsuppressed high cr1@2h10m0s")
	for ts := 10 * time.Minute; ts < 2*time.Hour+10*time.Minute; ts += 10 * time.Second {
		v := 9.0
		if ts >= 30*time.Minute {
			v = 2.5
		}
		g.read("cr1", ts, map[string]float64{contract.FieldTemperature: v}, nil)
		g.read("cr2", ts, map[string]float64{contract.FieldTemperature: 2}, nil)
		if ts%(10*time.Minute) == 0 {
			g.e.Tick(g.clk.Now()) // ticks go on while the queue drains
		}
	}
	g.want("cleared high cr1@31m0s") // at the time it happened
	g.run(20*time.Minute, map[string]float64{"cr1": 2.5, "cr2": 2})
	// cr3's no-data delay counts from the reconnection, not from its
	// last reading two hours ago.
	g.want("raised no_data cr3@2h20m0s")
}

func TestEdgeBlipRaisesNothing(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(time.Minute, map[string]float64{"cr1": 2})
	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.run(4*time.Minute, nil)
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.run(5*time.Minute, map[string]float64{"cr1": 2})
	g.want()
}

func TestReconnectionNoFalseDoorAlarm(t *testing.T) {
	g := newRig(t, testRule("cr1")) // door 10m
	g.run(9*time.Minute, map[string]float64{"cr1": 2})
	g.read("cr1", g.at(), map[string]float64{contract.FieldDoorOpen: 1}, nil)
	g.run(time.Minute, map[string]float64{"cr1": 2})
	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.run(time.Hour, nil)
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.want("raised edge_offline tw01-e1@15m0s", "cleared edge_offline tw01-e1@1h10m0s")
	g.run(10*time.Second, nil) // a tick before the queue arrives
	g.read("cr1", 11*time.Minute, map[string]float64{contract.FieldDoorOpen: 0}, nil)
	g.run(time.Minute, map[string]float64{"cr1": 2})
	g.want()

	// A door that did stay open raises its alarm from the queued readings,
	// at the time it happened.
	g.read("cr1", g.at(), map[string]float64{contract.FieldDoorOpen: 1}, nil)
	open := g.at()
	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.run(time.Hour, nil)
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.next()
	for ts := open; ts < g.at(); ts += 10 * time.Second {
		g.read("cr1", ts, map[string]float64{contract.FieldTemperature: 2}, nil)
	}
	g.want(fmt.Sprintf("raised door_open cr1@%v", open+10*time.Minute))
}

func TestDefrostSuspendsHigh(t *testing.T) {
	r := testRule("cr1") // defrost max 45m, on-delay 5m
	r.ReAlarm = 0
	g := newRig(t, r)
	defrost := func(on float64, d time.Duration, v float64) {
		for end := g.at() + d; g.at() < end; {
			g.clk.set(g.clk.Now().Add(10 * time.Second))
			g.read("cr1", g.at(), map[string]float64{contract.FieldTemperature: v, contract.FieldDefrost: on}, nil)
			g.e.Tick(g.clk.Now())
		}
	}
	defrost(0, 10*time.Minute, 2)
	defrost(1, 25*time.Minute, 9) // a defrost: warm, suspended
	defrost(0, 3*time.Minute, 6)  // pulling down after it, under the on-delay
	defrost(0, 10*time.Minute, 2)
	g.want()
	// A defrost relay stuck on: suspended for 45 minutes, no longer.
	defrost(1, 2*time.Hour, 9)
	g.want("raised high cr1@1h38m10s") // 48m10s + 45m + 5m
}

func TestAckLifecycle(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(6*time.Minute, map[string]float64{"cr1": 9})
	a := g.active(contract.AlarmHigh, "cr1")
	for _, tc := range []struct {
		id, by string
		want   error
	}{
		{"tw01.cr1.high.nope", "王芳", ErrNotFound},
		{a.ID, " ", ErrInvalid},
		{a.ID, strings.Repeat("x", 65), ErrInvalid},
	} {
		if err := g.e.Ack(tc.id, tc.by, "", g.clk.Now()); !errors.Is(err, tc.want) {
			t.Errorf("Ack(%q, %q) = %v, want %v", tc.id, tc.by, err, tc.want)
		}
	}
	if err := g.e.Ack(a.ID, "王芳", "已通知站长", g.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := g.e.Ack(a.ID, "李强", "", g.clk.Now()); !errors.Is(err, ErrAcknowledged) || !strings.Contains(err.Error(), "王芳") {
		t.Errorf("second ack: %v", err)
	}
	got, ok := g.e.Get(a.ID)
	if !ok || got.State != StateAcknowledged || got.Acked.By != "王芳" || got.Acked.Comment != "已通知站长" {
		t.Errorf("acknowledged alarm %+v", got)
	}
	g.run(2*time.Minute, map[string]float64{"cr1": 2})
	if err := g.e.Ack(a.ID, "李强", "", g.clk.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ack after clear: %v", err)
	}
	h := g.log.History(a.ID)
	var trans []Transition
	for _, ev := range h {
		trans = append(trans, ev.Transition)
	}
	if !slices.Equal(trans, []Transition{Raised, Acknowledged, Cleared}) {
		t.Errorf("history %v", trans)
	}
	if last := h[len(h)-1].Alarm; last.State != StateCleared || last.Acked == nil || last.Cleared.IsZero() {
		t.Errorf("cleared alarm %+v", last)
	}
	if !h[0].Notify() || h[1].Notify() || h[2].Notify() {
		t.Error("only the raise notifies")
	}
}

func TestOneAlarmPerSourceAndKind(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(6*time.Minute, map[string]float64{"cr1": 5})
	g.run(time.Minute, map[string]float64{"cr1": 5.5})
	g.run(time.Minute, map[string]float64{"cr1": 6.2}) // 1 °C worse than at the raise
	g.run(time.Minute, map[string]float64{"cr1": 6.5})
	g.run(time.Minute, map[string]float64{"cr1": 7.3})
	g.want("raised high cr1@5m10s", "updated high cr1@7m10s", "updated high cr1@9m10s")
	// An edited rule updates the alarm rather than raising another.
	r := testRule("cr1")
	r.Severity = contract.SeverityWarning
	if err := g.e.SetRules([]contract.RoomRule{r}); err != nil {
		t.Fatal(err)
	}
	g.run(time.Minute, map[string]float64{"cr1": 7})
	g.want("updated high cr1@10m0s")
	active := g.e.Active()
	if len(active) != 1 || active[0].Severity != contract.SeverityWarning || *active[0].Peak != 7.3 || *active[0].Value != 7 {
		t.Errorf("active %+v", active)
	}
}

func TestRestartKeepsTimers(t *testing.T) {
	rules := []contract.RoomRule{testRule("cr1"), testRule("cr2")}
	g := newRig(t, rules...)
	g.run(10*time.Minute, map[string]float64{"cr1": 2, "cr2": 9})
	g.want("raised high cr2@5m10s")
	g.run(3*time.Minute, map[string]float64{"cr1": 8, "cr2": 9}) // cr1: 3 minutes into its 5-minute on-delay
	snap, err := g.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	before := g.e.Active()

	// The hub is down for 20 minutes; the broker keeps its messages.
	g.clk.set(g.clk.Now().Add(20 * time.Minute))
	g2 := &rig{t: t, clk: g.clk, log: &Log{}}
	g2.e = New(DefaultConfig(), g2.log, g2.clk.Now)
	if err := g2.e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	if err := g2.e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if after := g2.e.Active(); len(after) != 1 || after[0].ID != before[0].ID || after[0].Raised != before[0].Raised {
		t.Fatalf("active after restore %+v, before %+v", after, before)
	}
	g2.e.Tick(g2.clk.Now()) // no no-data alarm for the time the hub was down
	for ts := 13 * time.Minute; ts < g2.at(); ts += 10 * time.Second {
		g2.read("cr1", ts, map[string]float64{contract.FieldTemperature: 8}, nil)
		g2.read("cr2", ts, map[string]float64{contract.FieldTemperature: 9}, nil)
	}
	g2.want("raised high cr1@15m10s") // 5 minutes after the excursion began at 10m10s
	g2.run(3*time.Minute, map[string]float64{"cr1": 8, "cr2": 9})
	g2.want("realarm high cr2@35m10s") // 30 minutes after its raise
	if a := g2.active(contract.AlarmHigh, "cr2"); a.Count != 2 || a.ID != before[0].ID {
		t.Errorf("cr2 after restart: %+v", a)
	}
}

func TestRestartKeepsEdgeOffline(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2"))
	g.run(10*time.Minute, map[string]float64{"cr1": 9, "cr2": 2})
	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.run(10*time.Minute, nil)
	g.want("raised high cr1@5m10s", "raised edge_offline tw01-e1@15m0s", "suppressed high cr1@15m0s")
	snap, err := g.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	before := g.e.Active()

	g.clk.set(g.clk.Now().Add(time.Hour))
	e := New(DefaultConfig(), g.log, g.clk.Now)
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules(g.rules); err != nil {
		t.Fatal(err)
	}
	g.e = e
	after := e.Active()
	if len(after) != 2 || after[0].ID != before[0].ID || !after[0].Suppressed || after[1].ID != before[1].ID {
		t.Fatalf("after restore %+v\nbefore %+v", after, before)
	}
	g.run(time.Hour, nil) // still offline: no storm, no second edge alarm
	g.want()
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.want("cleared edge_offline tw01-e1@2h20m0s", "unsuppressed high cr1@2h20m0s")
	if s := e.Stats(); s.Offline != 0 || s.Active != 1 || s.Suppressed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRestoreRefuses(t *testing.T) {
	e := New(DefaultConfig(), nil, nil)
	for _, b := range []string{`not json`, `{"v":2}`} {
		if err := e.Restore([]byte(b)); err == nil {
			t.Errorf("%s accepted", b)
		}
	}
}

func TestRestartWithoutBacklog(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(10*time.Minute, map[string]float64{"cr1": 2})
	snap, _ := g.e.Snapshot()
	g.clk.set(g.clk.Now().Add(30 * time.Minute)) // down 30 minutes, messages lost
	e := New(DefaultConfig(), g.log, g.clk.Now)
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules([]contract.RoomRule{testRule("cr1")}); err != nil {
		t.Fatal(err)
	}
	g.e = e
	g.run(time.Minute, nil) // the clock resumes: 1 minute without data, not 31
	g.run(20*time.Minute, map[string]float64{"cr1": 2})
	g.want()
}

func TestSetRules(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2"))
	g.run(6*time.Minute, map[string]float64{"cr1": 9, "cr2": 9})
	g.want("raised high cr1@5m10s", "raised high cr2@5m10s")
	bad := testRule("cr1")
	bad.Class, bad.LowC, bad.HighC = contract.ClassCustom, ptr(8), ptr(4)
	err := g.e.SetRules([]contract.RoomRule{bad, testRule("cr3")})
	if err == nil || !strings.Contains(err.Error(), "room rule tw01/cr1: low_c: low_c 8 °C is above high_c 4 °C") ||
		!strings.Contains(err.Error(), "keeps its previous rule") {
		t.Errorf("SetRules: %v", err)
	}
	// cr1 keeps its rule and alarm; cr2's rule is gone, so is its alarm.
	g.want("cleared high cr2@6m0s")
	if a := g.active(contract.AlarmHigh, "cr1"); a == nil {
		t.Error("cr1 lost its alarm")
	}
	if s := g.e.Stats(); s.Rooms != 2 {
		t.Errorf("stats %+v", s)
	}
	g.read("cr2", g.at(), map[string]float64{contract.FieldTemperature: 9}, nil)
	if s := g.e.Stats(); s.Unruled != 1 {
		t.Errorf("stats %+v", s)
	}
	// The probe named in the rule is the one that counts.
	r := testRule("cr3")
	r.Probe, r.OnDelay = "cr3-ctl", 0
	if err := g.e.SetRules([]contract.RoomRule{testRule("cr1"), r}); err != nil {
		t.Fatal(err)
	}
	g.read("cr3", g.at(), map[string]float64{contract.FieldTemperature: 9}, nil) // from cr3-th
	g.want()
	g.e.Reading(&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr3-ctl", Room: "cr3", TS: g.clk.Now(),
		Fields: map[string]float64{contract.FieldTemperature: 9}})
	g.want("raised high cr3@6m0s")
}

func ptr(v float64) *float64 { return &v }

func TestReadingAllocatesNothing(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2"))
	g.run(10*time.Minute, map[string]float64{"cr1": 2, "cr2": 9}) // cr2 in alarm
	r1 := &hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1",
		Fields: map[string]float64{contract.FieldTemperature: 2.1, "humidity": 80, contract.FieldDoor: 0, contract.FieldDefrost: 0}}
	r2 := &hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr2-th", Room: "cr2",
		Fields: map[string]float64{contract.FieldTemperature: 8.5}}
	allocs := testing.AllocsPerRun(1000, func() {
		g.clk.set(g.clk.Now().Add(10 * time.Second))
		r1.TS, r2.TS = g.clk.Now(), g.clk.Now()
		g.e.Reading(r1)
		g.e.Reading(r2)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per reading", allocs/2)
	}
}

func TestConcurrentUse(t *testing.T) {
	var rules []contract.RoomRule
	for i := range 20 {
		rules = append(rules, testRule(fmt.Sprintf("cr%d", i)))
	}
	g := newRig(t, rules...)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				room := fmt.Sprintf("cr%d", (i+w)%20)
				ts := t0.Add(time.Duration(i) * time.Second)
				g.e.Reading(&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: room + "-th", Room: room, TS: ts,
					Fields: map[string]float64{contract.FieldTemperature: float64(i%12) - 2}})
			}
		})
	}
	wg.Go(func() {
		for i := range 500 {
			now := t0.Add(time.Duration(i) * 4 * time.Second)
			g.clk.set(now)
			g.e.Tick(now)
			for _, a := range g.e.Active() {
				_ = g.e.Ack(a.ID, "王芳", "", now)
			}
			if i%100 == 0 {
				g.e.EdgeStatus("tw01", "tw01-e1", i%200 == 0, now)
				if _, err := g.e.Snapshot(); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	// Every alarm's events are in order: raised first, cleared last.
	byID := map[string][]Transition{}
	for _, ev := range g.log.Events() {
		byID[ev.Alarm.ID] = append(byID[ev.Alarm.ID], ev.Transition)
	}
	for id, tr := range byID {
		if tr[0] != Raised || slices.Index(tr, Cleared) >= 0 && slices.Index(tr, Cleared) != len(tr)-1 {
			t.Errorf("%s: %v", id, tr)
		}
	}
}

// TestFirstReadingsReplayed: a room the engine has only ticked over (its
// edge new, or the hub up for a while before the edge's queue arrives) is
// judged at the times its first readings were taken: a queued excursion
// of 8 minutes under a 5-minute on-delay raises, dated minute 5.
func TestFirstReadingsReplayed(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	for i := 1; i <= 30; i++ { // half a minute of ticks at 19:30..20:00, no reading
		g.clk.set(t0.Add(19*time.Minute + 30*time.Second + time.Duration(i)*time.Second))
		g.e.Tick(g.clk.Now())
	}
	for m := 0; m <= 8; m++ { // the edge's queue: minutes 1..9 at 7 °C
		g.read("cr1", time.Duration(m+1)*time.Minute, map[string]float64{"temperature": 7}, nil)
	}
	act := g.e.Active()
	if len(act) != 1 || act[0].Kind != contract.AlarmHigh || !act[0].Raised.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("active %+v, want one high alarm raised at minute 6", act)
	}
}

// TestEdgeFlood: the hub dropping an edge's readings raises one
// edge_flood alarm, updated while it goes on, kept across a restart, and
// cleared after FloodClearAfter without a drop. The rooms behind the edge
// are not suppressed: their readings still come within the rate.
func TestEdgeFlood(t *testing.T) {
	g := newRig(t, testRule("cr1"))
	g.run(time.Minute, map[string]float64{"cr1": 2})
	g.e.EdgeFlood("tw01", "tw01-e1", 4800, g.clk.Now())
	g.run(time.Minute, map[string]float64{"cr1": 2})
	g.e.EdgeFlood("tw01", "tw01-e1", 300, g.clk.Now())
	g.e.EdgeFlood("tw01", "tw01-e1", 0, g.clk.Now()) // nothing new: nothing
	g.want("raised edge_flood tw01-e1@1m0s", "updated edge_flood tw01-e1@2m0s")
	a := g.active(contract.AlarmEdgeFlood, "tw01-e1")
	if a == nil || !strings.Contains(a.Message, "5100") || a.Severity != contract.SeverityWarning || a.Edge != "tw01-e1" {
		t.Fatalf("flood alarm %+v", a)
	}
	snap, err := g.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e := New(DefaultConfig(), g.log, g.clk.Now)
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules(g.rules); err != nil {
		t.Fatal(err)
	}
	g.e = e
	if b := g.active(contract.AlarmEdgeFlood, "tw01-e1"); b == nil || b.ID != a.ID {
		t.Fatalf("after a restart %+v", g.e.Active())
	}
	g.run(4*time.Minute+50*time.Second, map[string]float64{"cr1": 2})
	g.want()
	g.run(20*time.Second, map[string]float64{"cr1": 2})
	g.want("cleared edge_flood tw01-e1@7m0s")
}

// A room follows the edge of its last reading: the edge it left going
// offline says nothing of it, the edge it reads through now suppresses
// its alarm. Edges first heard of in any order are ticked and saved in
// site and edge order.
func TestRoomFollowsItsEdge(t *testing.T) {
	g := newRig(t, testRule("cr1"), testRule("cr2"))
	for _, ed := range []string{"tw01-e3", "tw01-e1", "tw01-e2"} {
		g.e.EdgeStatus("tw01", ed, true, g.clk.Now())
	}
	g.run(10*time.Minute, map[string]float64{"cr1": 9, "cr2": 2}) // through tw01-e1
	g.want("raised high cr1@5m10s")
	g.clk.set(g.clk.Now().Add(10 * time.Second))
	g.e.Reading(&hub.Reading{ID: "moved", Site: "tw01", Edge: "tw01-e2", Device: "cr1-th", Room: "cr1",
		TS: g.clk.Now(), Fields: map[string]float64{contract.FieldTemperature: 9}})

	g.e.EdgeStatus("tw01", "tw01-e1", false, g.clk.Now())
	g.e.EdgeStatus("tw01", "tw01-e2", false, g.clk.Now())
	g.clk.set(g.clk.Now().Add(6 * time.Minute))
	g.e.Tick(g.clk.Now())
	g.want("raised edge_offline tw01-e1@16m10s", "raised edge_offline tw01-e2@16m10s", "suppressed high cr1@16m10s")
	for _, a := range g.e.Active() {
		if a.Kind == contract.AlarmEdgeOffline {
			rooms := map[string]string{"tw01-e1": "1 个冷库", "tw01-e2": "1 个冷库"}[a.Source]
			if !strings.Contains(a.Message, rooms) {
				t.Errorf("%s: %q does not count %q", a.Source, a.Message, rooms)
			}
		}
	}
	g.e.EdgeStatus("tw01", "tw01-e1", true, g.clk.Now())
	g.want("cleared edge_offline tw01-e1@16m10s")
	g.e.EdgeStatus("tw01", "tw01-e2", true, g.clk.Now())
	g.want("cleared edge_offline tw01-e2@16m10s", "unsuppressed high cr1@16m10s")

	b, err := g.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, es := range s.Edges {
		order = append(order, es.Edge)
	}
	if want := []string{"tw01-e1", "tw01-e2", "tw01-e3"}; !slices.Equal(order, want) {
		t.Errorf("edges saved in the order %v, want %v", order, want)
	}
}
