package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
)

// Acknowledgements across hubs. A coordinator acknowledges an alarm on
// whichever hub the dashboard reached; each hub's engine numbers its
// alarms itself, so a follower's id for an alarm is not the leader's. The
// follower stores the acknowledgement under the leader's id, found in the
// store by the alarm's site, source, kind and room (and its raise time,
// which is the readings' and so the same on every hub, when several
// match); the leader looks for stored acknowledgements its engine has not
// seen every adoptEvery, and acknowledges those alarms in its engine with
// the same person, comment and time, which notifies as an
// acknowledgement taken on the leader does, without storing it twice.

// adoptEvery is how often the leader looks for acknowledgements taken on
// other hubs.
const adoptEvery = 2 * time.Second

// asLeaders rewrites c, an acknowledgement taken while another hub led,
// to the id the leader stored the alarm under; it is left as it is when
// the store holds no such alarm (the leader has not stored it yet).
func (a *Alarms) asLeaders(ctx context.Context, c *hub.AlarmChange) {
	rows, err := a.db.Alarms(ctx, hub.AlarmFilter{Site: c.Alarm.Site,
		States: []string{string(alarm.StateActive), string(alarm.StateAcknowledged)}, Limit: 1000})
	if err != nil {
		a.log.Warn("acknowledgement stored under this hub's alarm id: the leader's not found", "alarm", c.Alarm.ID, "err", err)
		return
	}
	var same []hub.AlarmRow
	for _, r := range rows {
		if r.Source == c.Alarm.Source && r.Kind == c.Alarm.Kind && r.Room == c.Alarm.Room {
			same = append(same, r)
		}
	}
	id := ""
	for _, r := range same {
		if r.Raised.Equal(c.Alarm.Raised.Truncate(time.Millisecond)) {
			id = r.ID
		}
	}
	if id == "" && len(same) == 1 {
		id = same[0].ID
	}
	if id == "" || id == c.Alarm.ID {
		return
	}
	var rec alarm.Alarm
	if err := json.Unmarshal(c.Alarm.Record, &rec); err != nil {
		return
	}
	rec.ID = id
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	a.log.Info("acknowledgement taken here stored for the leader's alarm", "alarm", c.Alarm.ID, "leader_alarm", id, "by", c.By)
	c.Alarm.ID, c.Alarm.Record = id, b
}

// adoptAcks acknowledges in the leader's engine the alarms acknowledged
// in the store (by another hub) that the engine holds as unacknowledged,
// or acknowledged earlier than the store says.
func (a *Alarms) adoptAcks() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := a.db.Alarms(ctx, hub.AlarmFilter{States: []string{string(alarm.StateAcknowledged)}, Limit: 1000})
	if err != nil {
		a.log.Warn("acknowledgements taken on other hubs not read", "err", err)
		return
	}
	for _, r := range rows {
		cur, ok := a.Engine.Get(r.ID)
		if !ok || cur.State != alarm.StateActive {
			continue
		}
		var rec alarm.Alarm
		if err := json.Unmarshal(r.Record, &rec); err != nil || rec.Acked == nil {
			continue
		}
		if cur.Acked != nil && !rec.Acked.At.After(cur.Acked.At) {
			continue // an acknowledgement the engine had, before a re-alarm
		}
		if err := a.ackTakenElsewhere(r.ID, rec.Acked.By, rec.Acked.Comment, rec.Acked.At); err != nil {
			a.log.Warn("acknowledgement taken on another hub not applied", "alarm", r.ID, "err", err)
			continue
		}
		a.log.Info("acknowledgement taken on another hub applied", "alarm", r.ID, "by", rec.Acked.By)
	}
}

// ackTakenElsewhere acknowledges id in the engine for an acknowledgement
// another hub took and stored: the sink shows and notifies it but does
// not store it again. The engine calls the sink before Ack returns, so a
// mark the sink did not take (no transition) does not outlive the call.
func (a *Alarms) ackTakenElsewhere(id, by, comment string, at time.Time) error {
	a.adoptMu.Lock()
	a.adopted[id] = true
	a.adoptMu.Unlock()
	defer a.takeAdopted(id)
	return a.Engine.Ack(id, by, comment, at)
}

// takeAdopted reports whether the leader took id's acknowledgement over
// from the store, and forgets it.
func (a *Alarms) takeAdopted(id string) bool {
	a.adoptMu.Lock()
	defer a.adoptMu.Unlock()
	if !a.adopted[id] {
		return false
	}
	delete(a.adopted, id)
	return true
}
