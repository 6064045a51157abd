package hub

import (
	"context"
	"time"
)

// AlarmRow is a cold-chain alarm as a store keeps it: its identity and
// state for queries, and the whole record (alarm.Alarm) as JSON.
type AlarmRow struct {
	ID, Site, Room, Edge, Source, Kind, Severity, State string
	Raised, Updated                                     time.Time
	Record                                              []byte
}

// AlarmChange is one transition of an alarm, for the audit trail. In a
// history (AlarmStore.AlarmHistory) only Alarm.ID and Alarm.Record are set.
type AlarmChange struct {
	Alarm AlarmRow
	At    time.Time
	Event string // raised, updated, realarm, acknowledged, cleared, ...
	By    string // who acknowledged; empty for the engine
}

// AlarmFilter selects alarms: by site, by state (empty for all), raised
// before Before (zero for now), newest first, at most Limit (100 when
// not positive).
type AlarmFilter struct {
	Site   string
	States []string
	Before time.Time
	Limit  int
}

// AlarmStore keeps the cold-chain alarms: the current record of each and
// every transition it went through (the audit trail).
type AlarmStore interface {
	// SaveAlarmChanges replaces each alarm's current record and appends
	// the transition to its history, in one transaction.
	SaveAlarmChanges(ctx context.Context, cs []AlarmChange) error
	// Alarms returns the alarms f selects, newest raised first.
	Alarms(ctx context.Context, f AlarmFilter) ([]AlarmRow, error)
	// AlarmHistory returns the transitions of one alarm, oldest first.
	AlarmHistory(ctx context.Context, id string) ([]AlarmChange, error)
}

// KV keeps small named values the hub must remember: the alarm engine's
// state, the sort plans, each edge's manifest cursor.
type KV interface {
	// Put stores value under name, replacing what was there.
	Put(ctx context.Context, name string, value []byte) error
	// Get returns the value stored under name, or nil if there is none.
	Get(ctx context.Context, name string) ([]byte, error)
}

// SiteStore keeps the sites added or changed through the API, which the
// hub applies over its sites file at start.
type SiteStore interface {
	SaveSite(ctx context.Context, s Site) error
	Sites(ctx context.Context) ([]Site, error)
}

// Leader tells whether this hub is the one, of several sharing a store,
// that does the work only one may do: storing the alarm transitions,
// sending the notifications. Leadership can move between hubs at any
// time; Changed tells when.
type Leader interface {
	// IsLeader reports whether this hub leads now.
	IsLeader() bool
	// Changed returns a channel closed at the next change of IsLeader; a
	// watcher takes a new one after each change.
	Changed() <-chan struct{}
}

// SoleLeader is the leadership of a hub that runs alone (the embedded
// SQLite store): it always leads.
type SoleLeader struct{}

var _ Leader = SoleLeader{}

// IsLeader is always true.
func (SoleLeader) IsLeader() bool { return true }

// Changed is never closed.
func (SoleLeader) Changed() <-chan struct{} { return nil }
