package alarm

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// Config tunes the Engine. Zero members take DefaultConfig's values,
// except EdgeReAlarm, where zero means never.
type Config struct {
	// EdgeOfflineAfter is how long an edge must be offline before its
	// alarm is raised: rural uplinks drop for a minute now and then.
	EdgeOfflineAfter time.Duration `yaml:"edge_offline_after"`
	// EdgeReAlarm is the re-alarm interval of an edge_offline alarm; 0 never.
	EdgeReAlarm time.Duration `yaml:"edge_re_alarm"`
	// MaxFuture is how far ahead of the hub's clock a reading's time may
	// be before the reading is refused as a sensor fault.
	MaxFuture time.Duration `yaml:"max_future"`
	// PeakStepC is by how much, in °C, a high or low alarm's peak must
	// worsen to send an update.
	PeakStepC float64 `yaml:"peak_step_c"`
	// CatchUp is how long after an edge reconnects, or the hub restarts,
	// the readings queued meanwhile may take to arrive. During it the
	// timers of the rooms concerned follow their readings' times, so no
	// door or no-data alarm is raised that a queued reading would refute.
	CatchUp time.Duration `yaml:"catch_up"`
	// FloodClearAfter is how long an edge must go without the hub
	// dropping its readings before its edge_flood alarm clears.
	FloodClearAfter time.Duration `yaml:"flood_clear_after"`
}

// DefaultConfig returns the defaults: an edge alarm after 5 minutes
// offline and no edge re-alarm, readings up to 2 minutes in the future,
// updates for every 1 °C worse, 5 minutes to catch up, a flood alarm
// cleared after 5 minutes without drops.
func DefaultConfig() Config {
	return Config{EdgeOfflineAfter: 5 * time.Minute, MaxFuture: 2 * time.Minute, PeakStepC: 1, CatchUp: 5 * time.Minute,
		FloodClearAfter: 5 * time.Minute}
}

// Validate names the first member out of its range.
func (c Config) Validate() error {
	switch {
	case c.EdgeOfflineAfter < 0 || c.EdgeOfflineAfter > contract.MaxRuleDuration:
		return fmt.Errorf("edge_offline_after: %v must be 0 to %v", c.EdgeOfflineAfter, contract.MaxRuleDuration)
	case c.FloodClearAfter < time.Second || c.FloodClearAfter > contract.MaxRuleDuration:
		return fmt.Errorf("flood_clear_after: %v must be 1s to %v", c.FloodClearAfter, contract.MaxRuleDuration)
	case c.EdgeReAlarm < 0 || c.EdgeReAlarm > 7*24*time.Hour:
		return fmt.Errorf("edge_re_alarm: %v must be 0 to 168h", c.EdgeReAlarm)
	case c.MaxFuture < 0 || c.MaxFuture > time.Hour:
		return fmt.Errorf("max_future: %v must be 0 to 1h", c.MaxFuture)
	case !(c.PeakStepC >= 0 && c.PeakStepC <= 50):
		return fmt.Errorf("peak_step_c: %v must be 0 to 50", c.PeakStepC)
	case c.CatchUp < 0 || c.CatchUp > time.Hour:
		return fmt.Errorf("catch_up: %v must be 0 to 1h", c.CatchUp)
	}
	return nil
}

// Stats are the Engine's counters, for metrics.
type Stats struct {
	Readings   uint64 // readings of rooms with a rule
	Unruled    uint64 // readings of rooms without a rule, ignored
	Future     uint64 // readings refused for a time in the future
	Rooms      int    // rooms with a rule
	Edges      int    // edges with a known status
	Offline    int    // of which offline
	Active     int    // alarms not cleared
	Suppressed int    // of which suppressed
}

// Engine evaluates the cold rooms' rules and keeps their alarms. It is
// safe for concurrent use.
type Engine struct {
	cfg  Config
	sink Sink
	now  func() time.Time

	mu        sync.Mutex
	rules     map[roomKey]*contract.RoomRule
	rulesSet  bool
	rooms     map[roomKey]*room
	order     []*room // by site and room, so that a Tick is deterministic
	edges     map[edgeKey]*edge
	edgeOrder []*edge // by site and edge once sortEdges ran: see addEdge
	// edgesUnsorted says edges were appended to edgeOrder since it was
	// last sorted.
	edgesUnsorted bool
	// behindEdge lists the rooms whose last reading came through each
	// edge, in room order: what an edge going offline or coming back
	// concerns, found without a walk through every room.
	behindEdge map[edgeKey][]*room
	byID       map[string]*entry // alarms not cleared
	seq        uint64            // alarm id sequence
	stats      Stats
	pending    []Event // transitions not yet handed to the sink

	sinkMu sync.Mutex // held while the sink runs, so events go out in order
}

type roomKey struct{ site, room string }
type edgeKey struct{ site, edge string }

type room struct {
	key  roomKey
	rule *contract.RoomRule // nil for a room restored before its rule was set
	st   contract.RoomState

	edge      string  // the edge of the last reading
	device    string  // the device of the last temperature
	faultText string  // the edge's words for the last reported fault
	badValue  float64 // the last implausible temperature

	// While catching up (until catchUntil, wall time) the room's clock is
	// anchorTS at wall time anchorWall, running on with the wall clock
	// and moved on by readings; otherwise it is the wall clock.
	anchorTS, anchorWall, catchUntil time.Time

	alarms [contract.NumAlarmKinds]*entry
}

// clock is the room's time at wall time wall.
func (rm *room) clock(wall time.Time) time.Time {
	if rm.anchorWall.IsZero() || !wall.Before(rm.catchUntil) {
		return wall
	}
	return rm.anchorTS.Add(wall.Sub(rm.anchorWall))
}

// anchor moves the catching-up clock to a reading's time ts received at
// wall, if that is later.
func (rm *room) anchor(ts, wall time.Time) {
	c := ts
	if !rm.anchorWall.IsZero() {
		c = rm.anchorTS.Add(wall.Sub(rm.anchorWall))
		if ts.After(c) {
			c = ts
		}
	}
	rm.anchorTS, rm.anchorWall = c, wall
}

// catchUp makes the room's clock follow its readings from its last one
// for the next d.
func (rm *room) catchUp(wall time.Time, d time.Duration) {
	if !rm.anchorWall.IsZero() {
		rm.anchorWall, rm.catchUntil = wall, wall.Add(d)
	}
}

type edge struct {
	key    edgeKey
	online bool
	since  time.Time // offline since
	alarm  *entry

	flood     *entry    // the edge_flood alarm, while the hub drops the edge's readings
	floodLast time.Time // the last drop
	dropped   uint64    // readings dropped since the flood alarm was raised
}

// entry is an alarm and what the Engine needs to know about its last event.
type entry struct {
	Alarm
	shownPeak float64        // the peak at the last event
	fault     contract.Fault // the sensor fault the message describes
	text      string         // and the edge's words for it
}

// New returns an Engine that hands transitions to sink (nil for none) and
// reads the wall clock from now (nil for time.Now). It has no rules until
// SetRules.
func New(cfg Config, sink Sink, now func() time.Time) *Engine {
	def := DefaultConfig()
	if cfg.EdgeOfflineAfter == 0 {
		cfg.EdgeOfflineAfter = def.EdgeOfflineAfter
	}
	if cfg.MaxFuture == 0 {
		cfg.MaxFuture = def.MaxFuture
	}
	if cfg.PeakStepC == 0 {
		cfg.PeakStepC = def.PeakStepC
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = def.CatchUp
	}
	if sink == nil {
		sink = SinkFunc(func(Event) {})
	}
	if now == nil {
		now = time.Now
	}
	return &Engine{
		cfg: cfg, sink: sink, now: now,
		rules: map[roomKey]*contract.RoomRule{}, rooms: map[roomKey]*room{},
		edges: map[edgeKey]*edge{}, byID: map[string]*entry{}, behindEdge: map[edgeKey][]*room{},
		// Ids stay unique across a restart whose snapshot was lost.
		seq: uint64(now().UnixMicro()),
	}
}

// SetRules replaces every room rule. A rule that fails Validate is not
// applied (its room keeps its previous rule, if it had one) and is
// reported in the error, which joins one error per refused rule; the
// others apply. An edited rule keeps the room's timers; a room whose rule
// is gone has its alarms cleared.
func (e *Engine) SetRules(rules []contract.RoomRule) error {
	e.mu.Lock()
	var errs []error
	next := make(map[roomKey]*contract.RoomRule, len(rules))
	given := make(map[roomKey]bool, len(rules))
	for i := range rules {
		r := cloneRule(&rules[i])
		k := roomKey{r.Site, r.Room}
		if given[k] {
			errs = append(errs, fmt.Errorf("room rule %s/%s: given twice, the first applies", r.Site, r.Room))
			continue
		}
		given[k] = true
		if err := r.Validate(); err != nil {
			if old := e.rules[k]; old != nil {
				next[k] = old
				err = fmt.Errorf("%w (the room keeps its previous rule)", err)
			}
			errs = append(errs, err)
			continue
		}
		next[k] = r
	}
	wall := e.now()
	e.rules, e.rulesSet = next, true
	for k, r := range next {
		rm := e.rooms[k]
		if rm == nil {
			rm = &room{key: k}
			e.rooms[k] = rm
		}
		old := rm.rule
		rm.rule = r
		if old != nil && old != r {
			e.ruleChanged(rm, rm.clock(wall))
		}
	}
	e.dropUnruled(wall)
	e.reorder()
	e.unlockFlush()
	return errors.Join(errs...)
}

func cloneRule(r *contract.RoomRule) *contract.RoomRule {
	c := *r
	c.LowC, c.HighC = clonef(r.LowC), clonef(r.HighC)
	return &c
}

// ruleChanged updates the active alarms of a room whose rule was edited.
func (e *Engine) ruleChanged(rm *room, at time.Time) {
	lo, hi, _, _ := rm.rule.Limits()
	for _, en := range rm.alarms {
		if en == nil {
			continue
		}
		sev, lim := rm.rule.SeverityOrDefault(), en.Limit
		switch en.Kind {
		case contract.AlarmHigh:
			lim = &hi
		case contract.AlarmLow:
			lim = &lo
		}
		msg := e.message(rm, en.Kind)
		if sev == en.Severity && msg == en.Message && (lim == nil || en.Limit == nil || *lim == *en.Limit) {
			continue
		}
		en.Severity, en.Message, en.Updated = sev, msg, at
		if lim != nil {
			en.Limit = clonef(lim)
		}
		e.emit(Updated, at, en)
	}
}

// dropUnruled clears the alarms of rooms without a rule and forgets them.
func (e *Engine) dropUnruled(wall time.Time) {
	for k, rm := range e.rooms {
		if e.rules[k] != nil {
			continue
		}
		at := rm.clock(wall)
		for kind := range rm.alarms {
			if rm.alarms[kind] != nil {
				e.clear(rm, contract.AlarmKind(kind), at, " [规则已删除 / rule removed]")
			}
		}
		delete(e.rooms, k)
	}
}

// reorder rebuilds the orders of rooms and edges and the rooms behind
// each edge after the rooms or edges were replaced (rules set, state
// restored). It sorts everything: a single new edge takes addEdge.
func (e *Engine) reorder() {
	e.order = e.order[:0]
	clear(e.behindEdge)
	for _, rm := range e.rooms {
		e.order = append(e.order, rm)
	}
	slices.SortFunc(e.order, func(a, b *room) int {
		return cmp.Or(strings.Compare(a.key.site, b.key.site), strings.Compare(a.key.room, b.key.room))
	})
	for _, rm := range e.order {
		if rm.edge != "" {
			k := edgeKey{rm.key.site, rm.edge}
			e.behindEdge[k] = append(e.behindEdge[k], rm)
		}
	}
	e.edgeOrder = e.edgeOrder[:0]
	for _, ed := range e.edges {
		e.edgeOrder = append(e.edgeOrder, ed)
	}
	e.edgesUnsorted = true
	e.sortEdges()
}

// addEdge adds an edge first heard of. It is appended to edgeOrder, which
// the next Tick or Snapshot sorts: sorting every edge for each new one
// made a storm of n edges appearing cost n² log n under the lock that the
// ingest's handler waits for.
func (e *Engine) addEdge(k edgeKey) *edge {
	ed := &edge{key: k, online: true}
	e.edges[k] = ed
	e.edgeOrder = append(e.edgeOrder, ed)
	e.edgesUnsorted = true
	return ed
}

// sortEdges puts edgeOrder in site and edge order if edges were added.
func (e *Engine) sortEdges() {
	if !e.edgesUnsorted {
		return
	}
	slices.SortFunc(e.edgeOrder, func(a, b *edge) int {
		return cmp.Or(strings.Compare(a.key.site, b.key.site), strings.Compare(a.key.edge, b.key.edge))
	})
	e.edgesUnsorted = false
}

// setEdge records that the room's last reading came through edge, moving
// it between the edges' lists of rooms behind them.
func (e *Engine) setEdge(rm *room, edge string) {
	if rm.edge == edge {
		return
	}
	if rm.edge != "" {
		k := edgeKey{rm.key.site, rm.edge}
		if rs := slices.DeleteFunc(e.behindEdge[k], func(r *room) bool { return r == rm }); len(rs) > 0 {
			e.behindEdge[k] = rs
		} else {
			delete(e.behindEdge, k)
		}
	}
	rm.edge = edge
	if edge != "" {
		k := edgeKey{rm.key.site, edge}
		rs := e.behindEdge[k]
		i, _ := slices.BinarySearchFunc(rs, rm.key.room, func(r *room, id string) int { return strings.Compare(r.key.room, id) })
		e.behindEdge[k] = slices.Insert(rs, i, rm)
	}
}

// Reading evaluates one stored reading: a room's temperature, door and
// defrost fields and the temperature's fault. Readings of rooms without a
// rule, or of no room, are ignored. It allocates nothing unless an alarm
// changes.
func (e *Engine) Reading(r *hub.Reading) {
	if r == nil || r.Room == "" {
		return
	}
	wall := e.now()
	e.mu.Lock()
	rm := e.rooms[roomKey{r.Site, r.Room}]
	if rm == nil || rm.rule == nil {
		e.stats.Unruled++
		e.mu.Unlock()
		return
	}
	e.stats.Readings++
	rule := rm.rule
	before := rm.st.Active
	e.setEdge(rm, r.Edge)
	at := r.TS
	if at.IsZero() {
		at = wall
	}
	future := at.Sub(wall) > e.cfg.MaxFuture
	if future {
		e.stats.Future++
		at = rm.clock(wall)
	} else {
		if rm.anchorWall.IsZero() && !rm.st.HasValue && rm.st.Fault == contract.FaultNone && rm.st.Active == 0 {
			// The room's first reading since the engine has known it:
			// only ticks have moved its clock, so start it at this
			// reading and let it follow the readings for CatchUp, as
			// after a reconnection. A new edge replaying its queue is
			// judged at the times it measured.
			if at.Before(rm.st.At) {
				rm.st.At = at
				rm.st.LastData = at
			}
			rm.anchor(at, wall)
			rm.catchUp(wall, e.cfg.CatchUp)
		}
		rm.anchor(at, wall)
		if v, ok := r.Fields[contract.FieldDefrost]; ok {
			rm.st.Defrost(rule, at, v != 0)
		}
		if v, ok := r.Fields[contract.FieldDoorOpen]; ok {
			rm.st.Door(rule, at, v != 0)
		} else if v, ok := r.Fields[contract.FieldDoor]; ok {
			rm.st.Door(rule, at, v != 0)
		}
	}
	if rule.Probe == "" || rule.Probe == r.Device {
		v, hasV := r.Fields[contract.FieldTemperature]
		why, hasF := r.Faults[contract.FieldTemperature]
		if hasV || hasF {
			fault := contract.FaultNone
			switch {
			case future:
				fault = contract.FaultFuture
			case r.Fields[contract.FieldProbeAlarm] != 0:
				fault = contract.FaultController
			case hasF:
				fault, rm.faultText = contract.FaultReported, why
			case contract.CheckTemperature(v) != contract.FaultNone:
				rm.badValue = v
			}
			rm.device = r.Device
			rm.st.Update(rule, at, v, fault)
		}
	}
	e.sync(rm, before^rm.st.Active)
	e.unlockFlush()
}

// sync turns the room's changed conditions into raises and clears, and
// brings its other alarms up to date.
func (e *Engine) sync(rm *room, changed contract.AlarmSet) {
	at := rm.st.At
	for k := contract.AlarmHigh; k <= contract.AlarmNoData; k++ {
		switch {
		case changed.Has(k) && rm.st.Active.Has(k):
			e.raise(rm, k, at)
		case changed.Has(k):
			e.clear(rm, k, at, "")
		case rm.alarms[k] != nil:
			e.refresh(rm, rm.alarms[k], at)
		}
	}
}

func (e *Engine) raise(rm *room, k contract.AlarmKind, at time.Time) {
	if en := rm.alarms[k]; en != nil {
		e.refresh(rm, en, at)
		return
	}
	source := rm.key.room
	if k == contract.AlarmSensorFault && rm.device != "" {
		source = rm.device
	}
	en := &entry{Alarm: Alarm{
		ID: e.newID(rm.key.site, source, k), Site: rm.key.site, Room: rm.key.room, Edge: rm.edge,
		Source: source, Kind: k, Severity: rm.rule.SeverityOrDefault(), State: StateActive,
		Suppressed: e.suppressed(rm),
		Raised:     at, Updated: at, Notified: at, Count: 1,
	}}
	lo, hi, _, _ := rm.rule.Limits()
	switch k {
	case contract.AlarmHigh, contract.AlarmLow:
		v := rm.st.Value
		lim := hi
		if k == contract.AlarmLow {
			lim = lo
		}
		en.Value, en.Peak, en.Limit, en.shownPeak = &v, clonef(&v), &lim, v
	case contract.AlarmSensorFault:
		en.fault, en.text = rm.st.Fault, rm.faultText
	}
	en.Message = e.message(rm, k)
	rm.alarms[k] = en
	e.byID[en.ID] = en
	e.emit(Raised, at, en)
}

// refresh keeps an active alarm's value, peak and fault up to date,
// sending an update when the peak is worse by PeakStepC or the fault is
// another.
func (e *Engine) refresh(rm *room, en *entry, at time.Time) {
	switch en.Kind {
	case contract.AlarmHigh, contract.AlarmLow:
		if !rm.st.HasValue || rm.st.Fault != contract.FaultNone || !rm.st.At.Equal(rm.st.LastData) {
			return // only a valid temperature of this very evaluation
		}
		v := rm.st.Value
		if en.Value == nil {
			en.Value, en.Peak = clonef(&v), clonef(&v)
		}
		*en.Value = v
		if (en.Kind == contract.AlarmHigh) == (v > *en.Peak) && v != *en.Peak {
			*en.Peak = v
			if math.Abs(v-en.shownPeak) >= e.cfg.PeakStepC {
				en.shownPeak, en.Updated = v, at
				e.emit(Updated, at, en)
			}
		}
	case contract.AlarmSensorFault:
		f := rm.st.Fault
		if f == contract.FaultNone || (f == en.fault && rm.faultText == en.text && (rm.device == en.Source || rm.device == "")) {
			return
		}
		en.fault, en.text, en.Updated = f, rm.faultText, at
		if rm.device != "" {
			en.Source = rm.device
		}
		en.Message = e.message(rm, en.Kind)
		e.emit(Updated, at, en)
	}
}

func (e *Engine) clear(rm *room, k contract.AlarmKind, at time.Time, why string) {
	en := rm.alarms[k]
	if en == nil {
		return
	}
	rm.alarms[k] = nil
	e.closeAlarm(en, at, why)
}

func (e *Engine) closeAlarm(en *entry, at time.Time, why string) {
	delete(e.byID, en.ID)
	en.State, en.Cleared, en.Updated = StateCleared, at, at
	en.Message += why
	e.emit(Cleared, at, en)
}

func (e *Engine) newID(site, source string, k contract.AlarmKind) string {
	e.seq++
	return site + "." + source + "." + k.String() + "." + strconv.FormatUint(e.seq, 36)
}

// held reports whether the room's edge is offline: its timers stop.
func (e *Engine) held(rm *room) bool {
	ed := e.edges[edgeKey{rm.key.site, rm.edge}]
	return ed != nil && !ed.online
}

// suppressed reports whether the room's edge has its offline alarm raised.
func (e *Engine) suppressed(rm *room) bool {
	ed := e.edges[edgeKey{rm.key.site, rm.edge}]
	return ed != nil && ed.alarm != nil
}

// behind calls f for each room whose last reading came through ed, in
// room order.
func (e *Engine) behind(ed *edge, f func(*room)) {
	for _, rm := range e.behindEdge[ed.key] {
		f(rm)
	}
}

// EdgeStatus records that an edge went online or offline at at, the time
// the hub learned it (its receive time: an offline last will carries the
// time the edge connected). Offline holds the rooms behind the edge and,
// after Config.EdgeOfflineAfter (judged by Tick), raises one edge_offline
// alarm that suppresses theirs; online clears it.
func (e *Engine) EdgeStatus(site, edgeID string, online bool, at time.Time) {
	wall := e.now()
	e.mu.Lock()
	k := edgeKey{site, edgeID}
	ed := e.edges[k]
	if ed == nil {
		ed = e.addEdge(k)
	}
	switch {
	case !online && ed.online:
		ed.online, ed.since = false, at
	case online && !ed.online:
		ed.online, ed.since = true, time.Time{}
		if ed.alarm != nil {
			en := ed.alarm
			ed.alarm = nil
			e.closeAlarm(en, at, "")
		}
		e.behind(ed, func(rm *room) {
			// The room's clock resumes from its last reading: the edge's
			// queue brings the readings in between. Data is expected
			// from now on.
			rm.catchUp(wall, e.cfg.CatchUp)
			rm.st.Expect(wall)
			for _, en := range rm.alarms {
				if en != nil && en.Suppressed {
					en.Suppressed = false
					e.emit(Unsuppressed, at, en)
				}
			}
		})
	}
	e.unlockFlush()
}

// Tick evaluates the timers at wall time now: door open, no data,
// re-alarms, edges offline. Call it every few seconds.
func (e *Engine) Tick(now time.Time) {
	e.mu.Lock()
	for _, rm := range e.order {
		if rm.rule == nil || e.held(rm) {
			continue
		}
		before := rm.st.Active
		rm.st.Tick(rm.rule, rm.clock(now))
		if ch := before ^ rm.st.Active; ch != 0 {
			e.sync(rm, ch)
		}
		if rm.rule.ReAlarm > 0 {
			for _, en := range rm.alarms {
				if en != nil {
					e.realarm(en, rm.st.At, rm.rule.ReAlarm)
				}
			}
		}
	}
	e.sortEdges()
	for _, ed := range e.edgeOrder {
		if ed.flood != nil && now.Sub(ed.floodLast) >= e.cfg.FloodClearAfter {
			en := ed.flood
			ed.flood, ed.dropped = nil, 0
			e.closeAlarm(en, now, "")
		}
		switch {
		case ed.online:
		case ed.alarm != nil:
			if e.cfg.EdgeReAlarm > 0 {
				e.realarm(ed.alarm, now, e.cfg.EdgeReAlarm)
			}
		case now.Sub(ed.since) >= e.cfg.EdgeOfflineAfter:
			e.raiseEdge(ed, now)
		}
	}
	e.unlockFlush()
}

// realarm notifies again an alarm that is still there every after its
// last notice or acknowledgement, and makes it active (unacknowledged)
// again. A suppressed alarm waits for its edge.
func (e *Engine) realarm(en *entry, at time.Time, every time.Duration) {
	if en.Suppressed {
		return
	}
	last := en.Notified
	if en.Acked != nil && en.Acked.At.After(last) {
		last = en.Acked.At
	}
	if at.Sub(last) < every {
		return
	}
	en.Count++
	en.Notified, en.Updated = at, at
	en.State, en.Acked = StateActive, nil
	e.emit(Realarm, at, en)
}

func (e *Engine) raiseEdge(ed *edge, at time.Time) {
	var rooms []*room
	sev := contract.SeverityWarning
	e.behind(ed, func(rm *room) {
		rooms = append(rooms, rm)
		if rm.rule != nil && contract.SeverityRank(rm.rule.SeverityOrDefault()) > contract.SeverityRank(sev) {
			sev = rm.rule.SeverityOrDefault()
		}
	})
	en := &entry{Alarm: Alarm{
		ID: e.newID(ed.key.site, ed.key.edge, contract.AlarmEdgeOffline), Site: ed.key.site, Edge: ed.key.edge,
		Source: ed.key.edge, Kind: contract.AlarmEdgeOffline, Severity: sev, State: StateActive,
		Message: edgeMessage(ed.key.edge, ed.since, len(rooms)),
		Raised:  at, Updated: at, Notified: at, Count: 1,
	}}
	ed.alarm = en
	e.byID[en.ID] = en
	e.emit(Raised, at, en)
	for _, rm := range rooms {
		for _, a := range rm.alarms {
			if a != nil && !a.Suppressed {
				a.Suppressed = true
				e.emit(Suppressed, at, a)
			}
		}
	}
}

// EdgeFlood records that the hub dropped dropped live readings of an edge
// sending over its rate, at at: one edge_flood alarm per edge, updated
// while the flood goes on and cleared by Tick after Config.FloodClearAfter
// without a drop. The other edges' readings are not held back by it; a
// coordinator must look at the box (a misconfigured poll interval, a
// faulty agent).
func (e *Engine) EdgeFlood(site, edgeID string, dropped uint64, at time.Time) {
	if dropped == 0 {
		return
	}
	e.mu.Lock()
	k := edgeKey{site, edgeID}
	ed := e.edges[k]
	if ed == nil {
		ed = e.addEdge(k)
	}
	ed.floodLast = at
	ed.dropped += dropped
	if en := ed.flood; en != nil {
		en.Message, en.Updated = floodMessage(edgeID, ed.dropped), at
		e.emit(Updated, at, en)
	} else {
		en := &entry{Alarm: Alarm{
			ID: e.newID(site, edgeID, contract.AlarmEdgeFlood), Site: site, Edge: edgeID,
			Source: edgeID, Kind: contract.AlarmEdgeFlood, Severity: contract.SeverityWarning, State: StateActive,
			Message: floodMessage(edgeID, ed.dropped), Raised: at, Updated: at, Notified: at, Count: 1,
		}}
		ed.flood = en
		e.byID[en.ID] = en
		e.emit(Raised, at, en)
	}
	e.unlockFlush()
}

// Ack acknowledges an active alarm: by names who (required), comment says
// why or what is being done. It fails with ErrNotFound for an unknown or
// cleared alarm, ErrAcknowledged for one acknowledged already, ErrInvalid
// for a missing or overlong name or comment.
func (e *Engine) Ack(id, by, comment string, now time.Time) error {
	by = strings.TrimSpace(by)
	if by == "" || len(by) > MaxByLen {
		return fmt.Errorf("%w: who acknowledges must be given in 1 to %d characters", ErrInvalid, MaxByLen)
	}
	if len(comment) > MaxCommentLen {
		return fmt.Errorf("%w: the comment is longer than %d characters", ErrInvalid, MaxCommentLen)
	}
	e.mu.Lock()
	en := e.byID[id]
	if en == nil {
		e.mu.Unlock()
		return fmt.Errorf("alarm %q: %w", id, ErrNotFound)
	}
	if en.State == StateAcknowledged {
		err := fmt.Errorf("alarm %s: %w by %s at %s", id, ErrAcknowledged, en.Acked.By, en.Acked.At.Format(time.RFC3339))
		e.mu.Unlock()
		return err
	}
	en.State, en.Updated = StateAcknowledged, now
	en.Acked = &Ack{By: by, Comment: comment, At: now}
	e.emit(Acknowledged, now, en)
	e.unlockFlush()
	return nil
}

// Active returns the alarms not cleared, the oldest first.
func (e *Engine) Active() []Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active()
}

func (e *Engine) active() []Alarm {
	out := make([]Alarm, 0, len(e.byID))
	for _, en := range e.byID {
		out = append(out, en.clone())
	}
	slices.SortFunc(out, func(a, b Alarm) int { return cmp.Or(a.Raised.Compare(b.Raised), strings.Compare(a.ID, b.ID)) })
	return out
}

// Get returns an alarm not cleared.
func (e *Engine) Get(id string) (Alarm, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.byID[id]
	if en == nil {
		return Alarm{}, false
	}
	return en.clone(), true
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	for _, rm := range e.rooms {
		if rm.rule != nil {
			s.Rooms++
		}
	}
	for _, ed := range e.edges {
		s.Edges++
		if !ed.online {
			s.Offline++
		}
	}
	for _, en := range e.byID {
		s.Active++
		if en.Suppressed {
			s.Suppressed++
		}
	}
	return s
}

func (e *Engine) emit(t Transition, at time.Time, en *entry) {
	e.pending = append(e.pending, Event{Transition: t, At: at, Alarm: en.clone()})
}

// unlockFlush releases the lock and hands the pending events to the sink.
// The sink lock is taken before the engine lock is released, so events of
// different calls reach the sink in the order they happened.
func (e *Engine) unlockFlush() {
	evs := e.pending
	if len(evs) == 0 {
		e.mu.Unlock()
		return
	}
	e.pending = nil
	e.sinkMu.Lock()
	e.mu.Unlock()
	defer e.sinkMu.Unlock()
	for _, ev := range evs {
		e.sink.OnAlarm(ev)
	}
}
