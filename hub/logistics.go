package hub

import (
	"context"
	"errors"
	"time"
)

// Event kinds the hub records itself, beside the sites' (contract.EventKinds).
const (
	EventAnnounced  = "announced"  // in a courier manifest (derived from the manifest, not stored as an event)
	EventDispatched = "dispatched" // its run left the township
	EventUnloaded   = "unloaded"   // taken off a run before it left
	EventCorrected  = "corrected"  // the hub re-lit the right bin for a late manifest
)

// Item states: where a parcel or a farm product lot is, derived from its
// events (the latest one counts).
const (
	StateAnnounced  = "announced"  // in a manifest, not scanned yet
	StateReceived   = "received"   // at the township, not sorted yet
	StateSorted     = "sorted"     // lit into its route's bin
	StateConfirmed  = "confirmed"  // confirmed in its bin
	StateException  = "exception"  // in the exception bin: no route for it
	StateLoaded     = "loaded"     // on a run that has not left
	StateDispatched = "dispatched" // on a run on the road
	StateArrived    = "arrived"    // at the village point
	StatePickedUp   = "picked_up"  // delivered to its consignee
	StateDamaged    = "damaged"
	StateReturned   = "returned"

	StateLotWeighed  = "lot_weighed"
	StateLotReceived = "lot_received"
	StateLotPacked   = "lot_packed"
	StateLotShipped  = "lot_shipped"
)

// WaitingStates are the states of a parcel waiting in a township's bins
// for a run.
var WaitingStates = []string{StateSorted, StateConfirmed}

// Item flags: what a coordinator must look at.
const (
	FlagUnannounced  = "unannounced"   // scanned, in no manifest
	FlagOtherSite    = "other_site"    // scanned at a township its manifest does not send it to
	FlagScannedTwice = "scanned_twice" // sorted more than once
	FlagWrongBin     = "wrong_bin"     // picked from a bin other than the one it was lit into
	FlagWrongRoute   = "wrong_route"   // loaded on a run of another route
	FlagWrongVillage = "wrong_village" // scanned in at a village point that is not its destination
	FlagOverweight   = "overweight"    // heavier than the parcel limit
	FlagCorrected    = "corrected"     // the hub changed the station's decision
)

// Item is the current state of a parcel or a farm product lot, derived
// from its events.
type Item struct {
	ID       string   `json:"id"` // waybill, or the lot's label
	Lot      bool     `json:"lot"`
	Township string   `json:"township"` // the township handling it ("" until known)
	Site     string   `json:"site"`     // where it was last scanned
	Village  string   `json:"village"`  // a parcel's destination village point, a lot's origin
	Carrier  string   `json:"carrier,omitempty"`
	Route    string   `json:"route,omitempty"`
	Bin      string   `json:"bin,omitempty"`
	Run      string   `json:"run,omitempty"`
	State    string   `json:"state"`
	Flags    []string `json:"flags"`
	WeightKg *float64 `json:"weight_kg"`
	Producer string   `json:"producer,omitempty"`
	Product  string   `json:"product,omitempty"`
	Grade    string   `json:"grade,omitempty"`
	// Arrived is when it was first scanned at the township (received or
	// sorted); zero before.
	Arrived    time.Time `json:"arrived,omitzero"`
	Dispatched time.Time `json:"dispatched,omitzero"` // when its run left
	Delivered  time.Time `json:"delivered,omitzero"`  // picked up at the village point
	Last       time.Time `json:"last,omitzero"`       // the latest event
	Events     int       `json:"events"`
}

// Has reports whether the item carries flag f.
func (it *Item) Has(f string) bool {
	for _, x := range it.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// Announcement is what a courier manifest said of a parcel.
type Announcement struct {
	Waybill  string
	Site     string // township
	Village  string
	Carrier  string
	WeightKg *float64
}

// Run states.
const (
	RunOpen     = "open"     // being loaded
	RunDeparted = "departed" // on the road
	RunClosed   = "closed"   // back; what was not delivered is listed
)

// Run is a vehicle's trip along one route of a township.
type Run struct {
	ID              string    `json:"id"`
	Site            string    `json:"site"` // township
	Route           string    `json:"route"`
	Vehicle         string    `json:"vehicle"`
	Driver          string    `json:"driver"`
	CapacityKg      float64   `json:"capacity_kg"`      // 0 for no limit
	CapacityParcels int       `json:"capacity_parcels"` // 0 for no limit
	State           string    `json:"state"`
	Opened          time.Time `json:"opened"`
	Departed        time.Time `json:"departed,omitzero"`
	Closed          time.Time `json:"closed,omitzero"`
	By              string    `json:"by"` // who opened it
	Parcels         int       `json:"parcels"`
	WeightKg        float64   `json:"weight_kg"` // of the parcels with a weight
	Delivered       int       `json:"delivered"` // parcels scanned in at a village point or picked up
	Stops           []Stop    `json:"stops"`
}

// Stop is a village point of a run's route.
type Stop struct {
	Village string    `json:"village"`
	Parcels int       `json:"parcels"`          // loaded for this village
	Arrived int       `json:"arrived"`          // of those, scanned in there
	First   time.Time `json:"first,omitzero"`   // first scan-in there from this run
	Visited bool      `json:"visited,omitzero"` // some parcel of the run was scanned in there
}

// LoadRequest loads parcels onto an open run: by waybill (each scanned at
// the vehicle), or every parcel waiting in a bin.
type LoadRequest struct {
	Run      string
	Waybills []string
	Bin      string // load every parcel waiting in this bin of the run's route (a station's)
	FromBin  string // the bin the scanned waybills were taken from, when known
	By       string
	// Over lets a load past the run's capacity through, with a warning;
	// without it the parcels that do not fit are refused.
	Over bool
	At   time.Time
}

// LoadResult says what a load did, parcel by parcel.
type LoadResult struct {
	Run      *Run      `json:"run"`
	Loaded   []string  `json:"loaded"`
	Refused  []Refusal `json:"refused"`
	Warnings []string  `json:"warnings"`
}

// Refusal is a parcel a load or an action did not take, and why.
type Refusal struct {
	Waybill string `json:"waybill"`
	Reason  string `json:"reason"` // one of the Refuse... codes
	Detail  string `json:"detail"`
}

// Refusal reasons.
const (
	RefuseUnknown    = "unknown"     // no such parcel at this township
	RefuseState      = "state"       // not waiting in a bin (delivered, on another run, ...)
	RefuseOtherRun   = "other_run"   // loaded on another run
	RefuseCapacity   = "capacity"    // the run is full
	RefuseWrongRoute = "wrong_route" // its route is another (loaded anyway with Over, flagged)
)

// Errors of run actions.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("conflicts with the current state")
	ErrInvalidIn = errors.New("invalid")
)

// RunQuery selects runs, newest first.
type RunQuery struct {
	Site   string   // township; empty for all
	Route  string   // empty for all
	States []string // empty for all
	Since  time.Time
	Limit  int
}

// ItemQuery selects items, most recent event first.
type ItemQuery struct {
	Township string
	Site     string
	Route    string
	Bin      string
	Run      string
	States   []string
	Flag     string
	Lot      *bool
	Limit    int
}

// BoardRoute is one route on a township's dispatch board.
type BoardRoute struct {
	Site      string    `json:"site"`
	Route     string    `json:"route"`
	Waiting   int       `json:"waiting"`    // parcels in its bins
	WaitingKg float64   `json:"waiting_kg"` // their known weight
	Oldest    time.Time `json:"oldest,omitzero"`
	Runs      []*Run    `json:"runs"` // open and on the road
}

// Board is a township's (or the county's) dispatch board.
type Board struct {
	Routes     []BoardRoute `json:"routes"`
	Exceptions int          `json:"exceptions"` // parcels in an exception state at these townships
}

// DayFigures are a township's figures for one day (in the county's time zone).
type DayFigures struct {
	Day          string  `json:"day"` // 2006-01-02
	Township     string  `json:"township"`
	Received     int     `json:"received"`   // parcels first scanned at the township that day
	Sorted       int     `json:"sorted"`     // sorted to a route's bin (not the exception bin)
	Dispatched   int     `json:"dispatched"` // left on a run
	Delivered    int     `json:"delivered"`  // picked up at a village point
	Exceptions   int     `json:"exceptions"` // exception bin, damaged, returned, wrong village
	AvgDispatchH float64 `json:"avg_dispatch_h"`
	// Farm products.
	LotsCollected int     `json:"lots_collected"`
	KgCollected   float64 `json:"kg_collected"`
	LotsShipped   int     `json:"lots_shipped"`
	KgShipped     float64 `json:"kg_shipped"`
}

// ProduceTotal is the farm product weighed at one village point in a day.
type ProduceTotal struct {
	Day      string  `json:"day"`
	Village  string  `json:"village"`
	Township string  `json:"township"`
	Product  string  `json:"product"`
	Lots     int     `json:"lots"`
	Kg       float64 `json:"kg"`
}

// AuditEntry records who changed what.
type AuditEntry struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Action string    `json:"action"` // site.put, sortplan.put, run.open, run.load, ...
	Site   string    `json:"site"`
	Target string    `json:"target"` // what was changed: a site id, a run id, ...
	Detail string    `json:"detail"` // JSON of the change
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Site   string
	Action string
	Before int64 // seq; 0 for the newest
	Limit  int
}

// LogisticsStore keeps parcels, lots and runs: the events (EventStore),
// the items derived from them, the runs, the figures and the audit log.
type LogisticsStore interface {
	EventStore
	Item(ctx context.Context, id string) (*Item, error) // nil when unknown
	Items(ctx context.Context, q ItemQuery) ([]*Item, error)

	OpenRun(ctx context.Context, r *Run) (*Run, error)
	Run(ctx context.Context, id string) (*Run, error) // ErrNotFound
	Runs(ctx context.Context, q RunQuery) ([]*Run, error)
	LoadRun(ctx context.Context, req LoadRequest) (*LoadResult, error)
	UnloadRun(ctx context.Context, run string, waybills []string, by string, at time.Time) (*LoadResult, error)
	DepartRun(ctx context.Context, run, by string, at time.Time) (*Run, []*Item, error) // the parcels left behind
	CloseRun(ctx context.Context, run, by string, at time.Time) (*Run, []*Item, error)  // the parcels not delivered

	Board(ctx context.Context, township string) (*Board, error)
	Figures(ctx context.Context, from, to time.Time, loc *time.Location) ([]DayFigures, error)
	Produce(ctx context.Context, from, to time.Time, loc *time.Location) ([]ProduceTotal, error)

	Audit(ctx context.Context, e AuditEntry) error
	AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}
