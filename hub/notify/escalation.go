package notify

import (
	"cmp"
	"slices"
	"time"
)

// escalations tracks, for each alarm ID and escalation group, when an
// unacknowledged alarm is to be escalated, and whether it was. Entries go
// when the alarm is cleared (or, before escalation, acknowledged); the
// dispatcher relies on the alarm service clearing every alarm it raises.
type escalations struct {
	byID map[string]map[string]*escEntry // alarm ID -> escalation group -> entry
}

type escEntry struct {
	alarm Alarm     // the latest update
	due   time.Time // when to escalate
	fired bool      // escalated: later updates go to the group too
}

// escalation is an escalated alarm due to its group.
type escalation struct {
	group string
	alarm Alarm
}

func newEscalations() *escalations {
	return &escalations{byID: map[string]map[string]*escEntry{}}
}

// observe updates the tracker with a, which routes matched, at now. It
// returns the escalation groups that must receive a as well (the alarm was
// escalated to them), and whether a new escalation is now scheduled.
func (e *escalations) observe(a Alarm, routes []*Route, now time.Time) (alsoTo []string, scheduled bool) {
	ends := a.Event == EventCleared || a.State == Cleared
	stops := ends || a.Event == EventAcknowledged || a.State == Acknowledged
	entries := e.byID[a.ID]
	if stops {
		for group, en := range entries {
			if en.fired {
				alsoTo = append(alsoTo, group)
			}
			if ends || !en.fired {
				delete(entries, group)
			} else {
				en.alarm = a
			}
		}
		if len(entries) == 0 {
			delete(e.byID, a.ID)
		}
		return alsoTo, false
	}
	for _, r := range routes {
		if r.EscalateTo == "" || r.EscalateAfter <= 0 {
			continue
		}
		if entries == nil {
			entries = map[string]*escEntry{}
			e.byID[a.ID] = entries
		}
		due := now.Add(r.EscalateAfter)
		en, ok := entries[r.EscalateTo]
		switch {
		case !ok || (en.fired && a.Event == EventRaised):
			// New, or raised anew: the clock starts now.
			entries[r.EscalateTo] = &escEntry{alarm: a, due: due}
			scheduled = true
		case en.fired:
			en.alarm = a
			alsoTo = append(alsoTo, r.EscalateTo)
		default:
			en.alarm = a
			if due.Before(en.due) { // two routes to one group: the sooner wins
				en.due = due
				scheduled = true
			}
		}
	}
	return dedupe(alsoTo), scheduled
}

// due marks and returns the escalations due at now.
func (e *escalations) due(now time.Time) []escalation {
	type fired struct {
		escalation
		due time.Time
	}
	var all []fired
	for _, entries := range e.byID {
		for group, en := range entries {
			if en.fired || en.due.After(now) {
				continue
			}
			en.fired = true
			a := en.alarm
			a.Event = EventEscalated
			a.Updated = now
			all = append(all, fired{escalation{group: group, alarm: a}, en.due})
		}
	}
	// In the order they fell due, so a channel sends them in that order.
	slices.SortFunc(all, func(x, y fired) int {
		return cmp.Or(x.due.Compare(y.due), cmp.Compare(x.alarm.ID, y.alarm.ID), cmp.Compare(x.group, y.group))
	})
	out := make([]escalation, len(all))
	for i, f := range all {
		out[i] = f.escalation
	}
	return out
}

// next is the earliest time an escalation is due.
func (e *escalations) next() (time.Time, bool) {
	var t time.Time
	for _, entries := range e.byID {
		for _, en := range entries {
			if !en.fired && (t.IsZero() || en.due.Before(t)) {
				t = en.due
			}
		}
	}
	return t, !t.IsZero()
}

func (e *escalations) len() int {
	n := 0
	for _, entries := range e.byID {
		n += len(entries)
	}
	return n
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
