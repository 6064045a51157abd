package notify

import "time"

// Kind is what an alarm is about.
type Kind string

// Alarm kinds.
const (
	KindHigh        Kind = "high"         // temperature above the room's high limit
	KindLow         Kind = "low"          // temperature below the room's low limit
	KindDoorOpen    Kind = "door_open"    // cold-room door left open
	KindSensorFault Kind = "sensor_fault" // a probe reports no valid value
	KindNoData      Kind = "no_data"      // no reading from the room for too long
	KindEdgeOffline Kind = "edge_offline" // the site's edge agent is offline
	KindEdgeFlood   Kind = "edge_flood"   // an edge sends far too fast; the hub drops some readings
)

// Severity is how urgent an alarm is. Severities are ordered: minor <
// major < critical.
type Severity string

// Severities.
const (
	Minor    Severity = "minor"
	Major    Severity = "major"
	Critical Severity = "critical"
)

// Rank orders severities: 1 for minor, 2 for major, 3 for critical and 0
// for anything else.
func (s Severity) Rank() int {
	switch s {
	case Minor:
		return 1
	case Major:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// State is an alarm's state after its event.
type State string

// Alarm states.
const (
	Active       State = "active"
	Acknowledged State = "acknowledged"
	Cleared      State = "cleared"
)

// Event is what happened to an alarm that is worth a notification.
type Event string

// Alarm events. The alarm service sends raised, realarm, acknowledged and
// cleared; the dispatcher itself makes escalated.
const (
	EventRaised       Event = "raised"       // the alarm began
	EventRealarm      Event = "realarm"      // still active, reminded
	EventAcknowledged Event = "acknowledged" // someone took it on
	EventCleared      Event = "cleared"      // the condition ended
	EventEscalated    Event = "escalated"    // unacknowledged for too long; sent to the second group
)

// Alarm is this package's view of one cold-chain alarm at one event: what
// the notification channels show. It is also the JSON a Webhook posts (see
// the package documentation), so its field names are part of that format.
//
// Site and room names are Chinese, shown first; the English names are
// optional, and the English line falls back to the site and room IDs.
type Alarm struct {
	ID         string   `json:"id"`
	Site       string   `json:"site"`
	SiteName   string   `json:"site_name"`
	SiteNameEN string   `json:"site_name_en,omitempty"`
	Room       string   `json:"room,omitempty"` // empty for a site-wide alarm such as edge_offline
	RoomName   string   `json:"room_name,omitempty"`
	RoomNameEN string   `json:"room_name_en,omitempty"`
	Kind       Kind     `json:"kind"`
	Severity   Severity `json:"severity"`
	State      State    `json:"state"`
	Event      Event    `json:"event"`
	Value      *float64 `json:"value"` // the measured value; nil when there is none (door, fault, no data)
	Limit      *float64 `json:"limit"` // the limit crossed; nil when there is none
	Unit       string   `json:"unit,omitempty"`
	// Message and MessageEN describe the condition ("温度超上限",
	// "temperature above high limit"); empty means the kind's default.
	Message    string    `json:"message,omitempty"`
	MessageEN  string    `json:"message_en,omitempty"`
	Raised     time.Time `json:"raised"`  // when the condition began
	Updated    time.Time `json:"updated"` // when this event happened
	AckedBy    string    `json:"acked_by,omitempty"`
	AckComment string    `json:"ack_comment,omitempty"`
	Count      int       `json:"count"`         // notifications of this alarm so far, realarms included
	URL        string    `json:"url,omitempty"` // the alarm on the hub's dashboard
}

// mustDeliver reports whether a is never dropped from a full queue: the
// first news of a critical alarm, or of its escalation.
func (a *Alarm) mustDeliver() bool {
	return a.Severity == Critical && (a.Event == EventRaised || a.Event == EventEscalated)
}
