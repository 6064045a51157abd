package notify

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)

func TestLimiter(t *testing.T) {
	l := newLimiter(RateLimit{PerMinute: 6, Burst: 2}, t0) // one every 10 s
	// Step by step, with the time each send would go.
	if w := l.reserve(t0); w != 0 {
		t.Errorf("1st: %v", w)
	}
	if w := l.reserve(t0); w != 0 {
		t.Errorf("2nd: %v", w)
	}
	if w := l.reserve(t0); w != 10*time.Second {
		t.Errorf("3rd: %v", w)
	}
	if w := l.reserve(t0); w != 20*time.Second {
		t.Errorf("4th: %v", w)
	}
	// At +20 s the 4th goes; the 5th waits 10 s more.
	if w := l.reserve(t0.Add(20 * time.Second)); w != 10*time.Second {
		t.Errorf("5th: %v", w)
	}
	// After a quiet hour the burst is back, no more.
	later := t0.Add(time.Hour)
	for i := range 2 {
		if w := l.reserve(later); w != 0 {
			t.Errorf("burst %d after an hour: %v", i, w)
		}
	}
	if w := l.reserve(later); w != 10*time.Second {
		t.Errorf("after the burst: %v", w)
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{Attempts: 6, Backoff: 2 * time.Second, MaxBackoff: 10 * time.Second, RateLimitedBackoff: time.Minute}
	var got []time.Duration
	for attempt := 1; attempt <= 5; attempt++ {
		got = append(got, r.delay(attempt, false))
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	if d := r.delay(1, true); d != time.Minute {
		t.Errorf("rate limited: %v", d)
	}
}

func alarm(id string, sev Severity, ev Event) Alarm {
	st := Active
	switch ev {
	case EventAcknowledged:
		st = Acknowledged
	case EventCleared:
		st = Cleared
	}
	return Alarm{ID: id, Site: "tw01", Severity: sev, Event: ev, State: st, Kind: KindHigh}
}

func TestQueue(t *testing.T) {
	q := newQueue(2)
	push := func(a Alarm) pushResult { r, _ := q.push(&item{alarm: a}); return r }
	if r := push(alarm("a", Minor, EventRaised)); r != pushed {
		t.Errorf("a: %v", r)
	}
	if r := push(alarm("b", Major, EventRaised)); r != pushed {
		t.Errorf("b: %v", r)
	}
	// An update of a waiting alarm replaces it, full queue or not.
	if r := push(alarm("a", Minor, EventCleared)); r != coalesced {
		t.Errorf("a cleared: %v", r)
	}
	if r := push(alarm("c", Major, EventRaised)); r != dropped {
		t.Errorf("c into a full queue: %v", r)
	}
	if r := push(alarm("c", Critical, EventRealarm)); r != dropped {
		t.Errorf("critical realarm into a full queue: %v", r)
	}
	if r := push(alarm("d", Critical, EventRaised)); r != overfull {
		t.Errorf("critical raised into a full queue: %v", r)
	}
	if r := push(alarm("e", Critical, EventEscalated)); r != overfull {
		t.Errorf("critical escalated into a full queue: %v", r)
	}
	if !q.waiting("a") || q.waiting("c") {
		t.Error("waiting")
	}
	var order []string
	for it := q.pop(); it != nil; it = q.pop() {
		order = append(order, it.alarm.ID+"/"+string(it.alarm.Event))
	}
	// a keeps its turn with its latest state.
	if want := []string{"a/cleared", "b/raised", "d/raised", "e/escalated"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if q.len() != 0 || q.waiting("a") {
		t.Error("queue not empty")
	}
}

func TestEscalations(t *testing.T) {
	routes := []*Route{
		{Sites: []string{"tw01"}, Group: "tw01", EscalateTo: "county", EscalateAfter: 10 * time.Minute},
		{Sites: []string{"*"}, Group: "all"}, // no escalation
	}
	e := newEscalations()
	check := func(name string, also []string, wantAlso ...string) {
		t.Helper()
		if !slices.Equal(also, wantAlso) {
			t.Errorf("%s: also to %v, want %v", name, also, wantAlso)
		}
	}

	// a: raised, realarmed, not acknowledged: escalated at +10 min, once.
	also, sched := e.observe(alarm("a", Critical, EventRaised), routes, t0)
	check("a raised", also)
	if !sched {
		t.Error("a raised: not scheduled")
	}
	// b: raised 2 min later and acknowledged: never escalated.
	e.observe(alarm("b", Major, EventRaised), routes, t0.Add(2*time.Minute))
	also, _ = e.observe(alarm("b", Major, EventAcknowledged), routes, t0.Add(3*time.Minute))
	check("b acknowledged before escalation", also)
	// c: raised and cleared by itself.
	e.observe(alarm("c", Major, EventRaised), routes, t0.Add(time.Minute))
	e.observe(alarm("c", Major, EventCleared), routes, t0.Add(4*time.Minute))
	if e.len() != 1 {
		t.Errorf("%d tracked, want only a", e.len())
	}

	realarm := alarm("a", Critical, EventRealarm)
	realarm.Count = 2
	also, sched = e.observe(realarm, routes, t0.Add(5*time.Minute))
	check("a realarm before escalation", also)
	if sched {
		t.Error("a realarm rescheduled the escalation")
	}
	if next, ok := e.next(); !ok || !next.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("next %v %v", next, ok)
	}
	if due := e.due(t0.Add(10*time.Minute - time.Nanosecond)); len(due) != 0 {
		t.Errorf("due early: %v", due)
	}
	due := e.due(t0.Add(10 * time.Minute))
	if len(due) != 1 || due[0].group != "county" || due[0].alarm.ID != "a" || due[0].alarm.Event != EventEscalated ||
		due[0].alarm.Count != 2 || !due[0].alarm.Updated.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("due %+v", due)
	}
	if due := e.due(t0.Add(time.Hour)); len(due) != 0 {
		t.Errorf("escalated twice: %v", due)
	}
	if _, ok := e.next(); ok {
		t.Error("next after the only escalation fired")
	}

	// Once escalated, a's events reach the county group too, until cleared.
	also, _ = e.observe(alarm("a", Critical, EventRealarm), routes, t0.Add(20*time.Minute))
	check("a realarm after escalation", also, "county")
	also, _ = e.observe(alarm("a", Critical, EventAcknowledged), routes, t0.Add(25*time.Minute))
	check("a acknowledged after escalation", also, "county")
	also, _ = e.observe(alarm("a", Critical, EventCleared), routes, t0.Add(30*time.Minute))
	check("a cleared after escalation", also, "county")
	if e.len() != 0 {
		t.Errorf("%d tracked after clearing", e.len())
	}
	also, _ = e.observe(alarm("a", Critical, EventCleared), routes, t0.Add(31*time.Minute))
	check("a cleared again", also)
}

func TestEscalationsTwoRoutesOneGroup(t *testing.T) {
	routes := []*Route{
		{Sites: []string{"tw01"}, Group: "tw01", EscalateTo: "county", EscalateAfter: 30 * time.Minute},
		{Sites: []string{"*"}, Group: "all", EscalateTo: "county", EscalateAfter: 10 * time.Minute},
	}
	e := newEscalations()
	e.observe(alarm("a", Critical, EventRaised), routes, t0)
	if next, _ := e.next(); !next.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("next %v: the sooner route should win", next)
	}
	if due := e.due(t0.Add(time.Hour)); len(due) != 1 {
		t.Errorf("%d escalations to one group", len(due))
	}
}
