package alarm

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
)

// State is where an alarm is in its lifecycle.
type State string

// Alarm states.
const (
	StateActive       State = "active"       // raised (or re-alarmed) and not acknowledged
	StateAcknowledged State = "acknowledged" // someone took it on
	StateCleared      State = "cleared"      // the condition is over
)

// Transition is what happened to an alarm.
type Transition string

// Transitions, as Event.Transition.
const (
	Raised       Transition = "raised"       // a new alarm
	Updated      Transition = "updated"      // worse value, other fault, edited rule: same alarm
	Realarm      Transition = "realarm"      // still active after the re-alarm interval: notify again
	Acknowledged Transition = "acknowledged" // Ack
	Cleared      Transition = "cleared"      // over; the alarm leaves the active list
	Suppressed   Transition = "suppressed"   // its edge is offline: the edge's alarm stands for it
	Unsuppressed Transition = "unsuppressed" // its edge is back
)

// Ack says who acknowledged an alarm, when and why.
type Ack struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Alarm is one alarm, from raise to clear.
type Alarm struct {
	ID   string `json:"id"` // stable for the alarm's life and unique: site.source.kind.sequence
	Site string `json:"site"`
	Room string `json:"room,omitempty"` // empty for edge_offline
	Edge string `json:"edge,omitempty"` // the edge the room's readings came through
	// Source is what the alarm is about: the room for high, low,
	// door_open and no_data, the probe's device for sensor_fault, the edge
	// for edge_offline.
	Source     string             `json:"source"`
	Kind       contract.AlarmKind `json:"kind"`
	Severity   string             `json:"severity"` // contract.SeverityInfo, SeverityWarning, SeverityCritical
	State      State              `json:"state"`
	Suppressed bool               `json:"suppressed,omitempty"` // its edge is offline (the edge's alarm stands for it)

	// Value is the latest temperature and Peak the worst, Limit the limit
	// passed, all in °C, for high and low alarms; nil otherwise.
	Value *float64 `json:"value_c,omitempty"`
	Peak  *float64 `json:"peak_c,omitempty"`
	Limit *float64 `json:"limit_c,omitempty"`

	Message string `json:"message"` // Chinese first, then English: "冷库 cr1 温度高于上限 4 °C / Room cr1: …"

	// Times are the room's (see the package doc), the edge alarm's and
	// Ack's the hub's.
	Raised   time.Time `json:"raised"`
	Updated  time.Time `json:"updated"`
	Notified time.Time `json:"notified"` // the raise or the last re-alarm
	Acked    *Ack      `json:"acked,omitempty"`
	Cleared  time.Time `json:"cleared,omitzero"`
	Count    int       `json:"count"` // notices: 1 at the raise, one more per re-alarm
}

// clone returns a copy that shares no memory with a.
func (a *Alarm) clone() Alarm {
	c := *a
	c.Value, c.Peak, c.Limit = clonef(a.Value), clonef(a.Peak), clonef(a.Limit)
	if a.Acked != nil {
		ack := *a.Acked
		c.Acked = &ack
	}
	return c
}

func clonef(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Event is one transition of an alarm, with the alarm as it is after it.
type Event struct {
	Transition Transition `json:"transition"`
	At         time.Time  `json:"at"`
	Alarm      Alarm      `json:"alarm"`
}

// Notify reports whether the event should reach people (SMS, WeChat, the
// wall screen's sound): a raise or a re-alarm that no offline edge
// suppresses.
func (ev *Event) Notify() bool {
	return (ev.Transition == Raised || ev.Transition == Realarm) && !ev.Alarm.Suppressed
}

// Sink receives every transition, in order, one at a time. OnAlarm is
// called outside the Engine's lock but must not call the Engine; a slow
// sink holds back the next transition (not readings that change nothing),
// so one that does I/O should queue.
type Sink interface {
	OnAlarm(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// OnAlarm calls f.
func (f SinkFunc) OnAlarm(ev Event) { f(ev) }

// Sinks hands every event to each of its sinks in turn.
type Sinks []Sink

// OnAlarm calls each sink.
func (s Sinks) OnAlarm(ev Event) {
	for _, k := range s {
		k.OnAlarm(ev)
	}
}

// Log is an in-memory Sink that keeps every event: the history for tests
// and for a hub without a database.
type Log struct {
	mu     sync.Mutex
	events []Event
}

var (
	_ Sink = (*Log)(nil)
	_ Sink = SinkFunc(nil)
	_ Sink = Sinks(nil)
)

// OnAlarm records ev.
func (l *Log) OnAlarm(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// Events returns every event so far, oldest first.
func (l *Log) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// History returns the events of one alarm, oldest first.
func (l *Log) History(id string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h []Event
	for _, ev := range l.events {
		if ev.Alarm.ID == id {
			h = append(h, ev)
		}
	}
	return h
}

// Errors of Ack, to be told apart with errors.Is (the HTTP API maps them
// to 404, 409 and 400).
var (
	ErrNotFound     = errors.New("no such active alarm")
	ErrAcknowledged = errors.New("alarm already acknowledged")
	ErrInvalid      = errors.New("invalid acknowledgement")
)

// Limits on an acknowledgement.
const (
	MaxByLen      = 64
	MaxCommentLen = 512
)
