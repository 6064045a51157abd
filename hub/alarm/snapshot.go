package alarm

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/countylink/countylink/contract"
)

// snapshotVersion is the version of Snapshot's JSON.
const snapshotVersion = 1

type snapshot struct {
	V      int        `json:"v"`
	Saved  time.Time  `json:"saved"` // the hub's clock
	Seq    uint64     `json:"seq"`
	Rooms  []roomSnap `json:"rooms"`
	Edges  []edgeSnap `json:"edges"`
	Alarms []Alarm    `json:"alarms"` // not cleared
}

type roomSnap struct {
	Site      string             `json:"site"`
	Room      string             `json:"room"`
	Edge      string             `json:"edge,omitempty"`
	Device    string             `json:"device,omitempty"`
	FaultText string             `json:"fault_text,omitempty"`
	BadValue  float64            `json:"bad_value,omitzero"`
	Clock     time.Time          `json:"clock,omitzero"` // the room's clock when saved; zero before its first reading
	State     contract.RoomState `json:"state"`
}

type edgeSnap struct {
	Site   string    `json:"site"`
	Edge   string    `json:"edge"`
	Online bool      `json:"online"`
	Since  time.Time `json:"since,omitzero"`
}

// Snapshot returns the Engine's state as JSON: the alarms not cleared, each
// room's evaluator with its pending delays, and the edges. Restore takes it
// back. Rules are not in it: they come from the configuration.
func (e *Engine) Snapshot() ([]byte, error) {
	wall := e.now()
	e.mu.Lock()
	e.sortEdges()
	s := snapshot{V: snapshotVersion, Saved: wall, Seq: e.seq,
		Rooms: make([]roomSnap, 0, len(e.order)), Edges: make([]edgeSnap, 0, len(e.edgeOrder))}
	for _, rm := range e.order {
		rs := roomSnap{Site: rm.key.site, Room: rm.key.room, Edge: rm.edge, Device: rm.device,
			FaultText: rm.faultText, BadValue: rm.badValue, State: rm.st}
		if !rm.anchorWall.IsZero() {
			rs.Clock = rm.clock(wall)
		}
		s.Rooms = append(s.Rooms, rs)
	}
	for _, ed := range e.edgeOrder {
		s.Edges = append(s.Edges, edgeSnap{Site: ed.key.site, Edge: ed.key.edge, Online: ed.online, Since: ed.since})
	}
	s.Alarms = e.active()
	e.mu.Unlock()
	return json.Marshal(&s)
}

// Restore replaces the Engine's state with a Snapshot's. Call it at start,
// before the first Reading; rules may be set before or after. The rooms'
// clocks resume where they were saved, so the time the hub was down
// neither fires nor resets a delay: the readings queued meanwhile, at
// their own times, decide.
func (e *Engine) Restore(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alarm snapshot: %w", err)
	}
	if s.V != snapshotVersion {
		return fmt.Errorf("alarm snapshot: version %d, this hub reads %d", s.V, snapshotVersion)
	}
	wall := e.now()
	e.mu.Lock()
	rooms := make(map[roomKey]*room, len(s.Rooms))
	getRoom := func(k roomKey) *room {
		rm := rooms[k]
		if rm == nil {
			rm = &room{key: k, rule: e.rules[k]}
			rooms[k] = rm
		}
		return rm
	}
	for _, rs := range s.Rooms {
		rm := getRoom(roomKey{rs.Site, rs.Room})
		rm.edge, rm.device, rm.faultText, rm.badValue, rm.st = rs.Edge, rs.Device, rs.FaultText, rs.BadValue, rs.State
		if !rs.Clock.IsZero() {
			rm.anchorTS, rm.anchorWall = rs.Clock, wall
			rm.catchUp(wall, e.cfg.CatchUp)
		}
	}
	edges := make(map[edgeKey]*edge, len(s.Edges))
	for _, es := range s.Edges {
		k := edgeKey{es.Site, es.Edge}
		edges[k] = &edge{key: k, online: es.Online, since: es.Since}
	}
	byID := make(map[string]*entry, len(s.Alarms))
	for _, a := range s.Alarms {
		if a.ID == "" || a.State == StateCleared || byID[a.ID] != nil || a.Kind == 0 || int(a.Kind) >= contract.NumAlarmKinds {
			continue
		}
		en := &entry{Alarm: a}
		if a.Peak != nil {
			en.shownPeak = *a.Peak
		}
		if a.Kind == contract.AlarmEdgeFlood {
			k := edgeKey{a.Site, a.Source}
			ed := edges[k]
			if ed == nil {
				ed = &edge{key: k, online: true}
				edges[k] = ed
			}
			if ed.flood != nil {
				continue
			}
			ed.flood, ed.floodLast = en, a.Updated
		} else if a.Kind == contract.AlarmEdgeOffline {
			k := edgeKey{a.Site, a.Source}
			ed := edges[k]
			if ed == nil {
				ed = &edge{key: k, since: a.Raised}
				edges[k] = ed
			}
			if ed.alarm != nil || ed.online {
				continue
			}
			ed.alarm = en
		} else {
			rm := getRoom(roomKey{a.Site, a.Room})
			if rm.alarms[a.Kind] != nil {
				continue
			}
			rm.alarms[a.Kind] = en
			if a.Kind == contract.AlarmSensorFault {
				en.fault, en.text = rm.st.Fault, rm.faultText
			}
		}
		byID[a.ID] = en
	}
	// The alarms are what people saw: the evaluators agree with them.
	for _, rm := range rooms {
		var set contract.AlarmSet
		for k, en := range rm.alarms {
			if en != nil {
				set = set.With(contract.AlarmKind(k))
			}
		}
		rm.st.Active = set
	}
	e.rooms, e.edges, e.byID = rooms, edges, byID
	// Rooms with a rule but no saved state start afresh.
	for k, r := range e.rules {
		if e.rooms[k] == nil {
			e.rooms[k] = &room{key: k, rule: r}
		}
	}
	e.seq = max(e.seq, s.Seq)
	if e.rulesSet {
		e.dropUnruled(wall)
	}
	e.reorder()
	e.unlockFlush()
	return nil
}
