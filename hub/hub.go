// Package hub holds the county hub's domain types and the interfaces its
// parts meet at: sites and their cold rooms, stored readings, parcel events
// and edge states, and the stores that keep them. Implementations live in
// sub-packages named after what they wrap (influx, sqlite, mqtt, ...), and
// cmd/hub wires them together, as in Ben Johnson's wtf layout.
package hub

import (
	"context"
	"errors"
	"time"

	"github.com/countylink/countylink/contract"
)

// ErrOtherSite marks something sent for one site that names another (a
// sort plan saved for tw01 that says tw02).
var ErrOtherSite = errors.New("it names another site")

// ErrRejected marks a store write refused for its content (InfluxDB's field
// type conflict, for one): writing the same batch again cannot succeed.
var ErrRejected = errors.New("store rejected the write")

// ErrNotConnected is returned when a message for the edges cannot be sent
// because the hub has no connection to the broker.
var ErrNotConnected = errors.New("not connected to the broker")

// SiteKind is a level of the county network.
type SiteKind string

// Site kinds.
const (
	County   SiteKind = "county"
	Township SiteKind = "township"
	Village  SiteKind = "village"
)

// Site is one place in the network: the county service centre, a township
// service station with its warehouse, or a village service point.
type Site struct {
	ID     string   `yaml:"id" json:"id"`
	Name   string   `yaml:"name" json:"name"` // Chinese name, shown by default
	NameEN string   `yaml:"name_en" json:"name_en"`
	Kind   SiteKind `yaml:"kind" json:"kind"`
	Parent string   `yaml:"parent" json:"parent,omitempty"`
	// Phase is the rollout phase a village point joined in (1, 2, 3...);
	// zero for sites that were there from the start.
	Phase int    `yaml:"phase" json:"phase,omitempty"`
	Rooms []Room `yaml:"rooms" json:"-"`
}

// Room is a cold room at a site, with the limits of its product class.
type Room struct {
	ID     string  `yaml:"id" json:"room"`
	Name   string  `yaml:"name" json:"name"`
	NameEN string  `yaml:"name_en" json:"name_en"`
	Class  string  `yaml:"class" json:"class"` // chilled, frozen, medicine, custom
	MinC   float64 `yaml:"min_c" json:"min_c"`
	MaxC   float64 `yaml:"max_c" json:"max_c"`
	// Alarm tunes the room's alarm rule; what it leaves out takes the
	// defaults of contract.DefaultRoomRule, and the limits are MinC, MaxC.
	Alarm RoomAlarm `yaml:"alarm" json:"-"`
}

// RoomAlarm overrides parts of a room's alarm rule in the sites file.
// Zero values keep the defaults; a negative duration turns a check off.
type RoomAlarm struct {
	Probe         string        `yaml:"probe"` // device whose temperature counts; empty for any of the room
	DeadbandC     *float64      `yaml:"deadband_c"`
	OnDelay       time.Duration `yaml:"on_delay"`
	OffDelay      time.Duration `yaml:"off_delay"`
	ReAlarm       time.Duration `yaml:"re_alarm"`
	Severity      string        `yaml:"severity"`
	DoorOpenAfter time.Duration `yaml:"door_open_after"`
	NoDataAfter   time.Duration `yaml:"no_data_after"`
	FrozenAfter   time.Duration `yaml:"frozen_after"`
	DefrostMax    time.Duration `yaml:"defrost_max"`
}

// Product class defaults in °C.
var ClassLimits = map[string][2]float64{
	"chilled":  {0, 4},
	"frozen":   {-30, -18},
	"medicine": {2, 8},
}

// Reading is one telemetry message as stored: the values of one device at
// one time, with the identities and times the hub checked.
type Reading struct {
	ID     string // the producer's message id
	Site   string
	Edge   string
	Device string
	Room   string
	TS     time.Time          // reading time, corrected for clock skew when detected
	Fields map[string]float64 // values
	Faults map[string]string  // fields without a valid value
}

// EdgeState is the last known state of an edge agent.
type EdgeState struct {
	Site     string    `json:"site"`
	Edge     string    `json:"edge"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen"`
	Agent    string    `json:"agent,omitempty"`
	Backlog  int64     `json:"backlog"`
	// Devices is the health of the devices behind the edge as its last
	// status gave it, and SortPlan the plan version its stations run;
	// kept in memory (the edge's retained status brings them back after a
	// hub restart).
	Devices  []contract.DeviceStatus `json:"devices,omitempty"`
	SortPlan string                  `json:"sort_plan,omitempty"`
}

// ParcelEvent is a scanner station's parcel event as stored: what the
// station decided for a scanned parcel (kind "sorted") or that staff
// confirmed it in its bin (kind "confirmed"), with the identities and times
// the hub checked.
type ParcelEvent struct {
	ID          string    `json:"id"` // the producer's message id
	Site        string    `json:"site"`
	Edge        string    `json:"edge"`
	Station     string    `json:"station"`
	Kind        string    `json:"kind"` // one of contract.EventKinds, or a hub event kind (EventAnnounced...)
	Waybill     string    `json:"waybill"`
	Carrier     string    `json:"carrier"`
	Route       string    `json:"route"` // empty for the exception bin
	Bin         string    `json:"bin"`
	Rule        string    `json:"rule"`
	Exception   string    `json:"exception"` // why the parcel went to the exception bin; empty otherwise
	PlanVersion string    `json:"plan_version"`
	WeightKg    *float64  `json:"weight_kg"` // nil when the station had no stable weight
	WeighError  string    `json:"weigh_error"`
	TS          time.Time `json:"ts"`   // event time, corrected for clock skew when detected
	Recv        time.Time `json:"recv"` // when the hub received it
	// ClockFault says why TS is the receive time rather than the edge's:
	// the edge's clock was not to be trusted. Empty normally.
	ClockFault string `json:"clock_fault"`

	Run      string `json:"run,omitempty"`  // the run (loaded, dispatched) or shipment (lot_shipped)
	By       string `json:"by,omitempty"`   // who scanned or acted, when known
	Note     string `json:"note,omitempty"` // damage, reason of a return or a correction
	Producer string `json:"producer,omitempty"`
	Product  string `json:"product,omitempty"`
	Grade    string `json:"grade,omitempty"`
}

// ParcelTotals are a site's parcel counts over a period (the wall screen
// shows today's). Each event counts: a parcel scanned twice is sorted twice.
type ParcelTotals struct {
	Sorted     int       `json:"sorted"`     // "sorted" events, the exception bin included
	Confirmed  int       `json:"confirmed"`  // "confirmed" events
	Exceptions int       `json:"exceptions"` // "sorted" events to the exception bin
	WeightKg   float64   `json:"weight_kg"`  // weights of the "sorted" events
	Last       time.Time `json:"last_event,omitzero"`
}

// Add counts ev.
func (t *ParcelTotals) Add(ev *ParcelEvent) {
	switch ev.Kind {
	case contract.EventSorted:
		t.Sorted++
		if ev.Exception != "" {
			t.Exceptions++
		}
		if ev.WeightKg != nil {
			t.WeightKg += *ev.WeightKg
		}
	case contract.EventConfirmed:
		t.Confirmed++
	}
	if ev.TS.After(t.Last) {
		t.Last = ev.TS
	}
}

// EventQuery selects stored parcel events, newest first.
type EventQuery struct {
	Site    string    // empty for every site
	Waybill string    // empty for every waybill
	Before  time.Time // only events before this time; zero for no bound
	Limit   int       // at most this many; the store may cap it
}

// EventWriter stores parcel events. An event whose id is stored already is
// left as it is, so a re-sent event is stored once. SaveEvents returns the
// events it stored now, in their order, leaving out those it had.
type EventWriter interface {
	SaveEvents(ctx context.Context, evs []*ParcelEvent) (stored []*ParcelEvent, err error)
}

// EventStore keeps parcel events and answers questions about them.
type EventStore interface {
	EventWriter
	// Events returns the events q selects, newest first.
	Events(ctx context.Context, q EventQuery) ([]*ParcelEvent, error)
	// ParcelTotals counts the events of each site with from <= ts < to.
	ParcelTotals(ctx context.Context, from, to time.Time) (map[string]ParcelTotals, error)
}

// SeriesWriter stores readings as time series. Writing the same reading
// twice (same site, device, field and time) must leave one value, so that
// a re-sent message is harmless.
type SeriesWriter interface {
	WriteReadings(ctx context.Context, rs []*Reading) error
}

// StateStore keeps what the hub must remember across restarts: the latest
// reading of each device and the state of each edge.
type StateStore interface {
	SaveLatest(ctx context.Context, rs []*Reading) error
	Latest(ctx context.Context) ([]*Reading, error)
	SaveEdge(ctx context.Context, e EdgeState) error
	Edges(ctx context.Context) ([]EdgeState, error)
}

// SeenStore remembers which message ids were stored, so that a message the
// broker delivers again after a hub restart is recognised.
type SeenStore interface {
	SaveSeen(ctx context.Context, ids []string, at time.Time) error
	RecentSeen(ctx context.Context, since time.Time, limit int) ([]string, error)
	PruneSeen(ctx context.Context, before time.Time) (int64, error)
}
