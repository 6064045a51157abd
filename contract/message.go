package contract

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Header is the part every payload shares.
type Header struct {
	V    int       `json:"v"`    // schema version, SchemaVersion
	ID   string    `json:"id"`   // unique for the producer, see MessageID
	Site string    `json:"site"` // must equal the topic's site
	Edge string    `json:"edge"` // must equal the topic's edge
	TS   time.Time `json:"ts"`   // when the value was read or the state observed, edge clock
	Sent time.Time `json:"sent"` // when the message left the edge, edge clock; zero means TS
}

// Telemetry carries the readings of one device taken at one time.
type Telemetry struct {
	Header
	Device string             `json:"device"`           // must equal the topic's name level
	Room   string             `json:"room,omitempty"`   // cold room the device belongs to, if any
	Fields map[string]float64 `json:"fields"`           // field name to value, in Units
	Units  map[string]string  `json:"units,omitempty"`  // field name to unit (UCUM-like: "Cel", "%RH", "kg")
	Faults map[string]string  `json:"faults,omitempty"` // field name to why it has no value
}

// Parcel event kinds: a parcel's timeline, as the sites scan it. A farm
// product lot going up has its own kinds (EventLot...) in the same message,
// its lot label standing in for the waybill: one timeline model for both.
const (
	EventReceived  = "received"  // scanned in at the township's inbound dock
	EventSorted    = "sorted"    // scanned at a station, decided, bin lamp lit
	EventConfirmed = "confirmed" // staff pressed the confirm button: the parcel is in its bin
	EventLoaded    = "loaded"    // scanned onto a run's vehicle (Run names it)
	EventArrived   = "arrived"   // scanned in at a village point
	EventPickedUp  = "picked_up" // handed to its consignee at the village point
	EventDamaged   = "damaged"   // found damaged (Note says how)
	EventReturned  = "returned"  // refused or not collected, going back

	EventLotWeighed  = "lot_weighed"  // weighed and labelled at a village point or township
	EventLotReceived = "lot_received" // received at the township
	EventLotPacked   = "lot_packed"   // packed for shipping
	EventLotShipped  = "lot_shipped"  // left the township (Run names the shipment)
)

// EventKinds are every kind a ParcelEvent may carry.
var EventKinds = []string{EventReceived, EventSorted, EventConfirmed, EventLoaded, EventArrived,
	EventPickedUp, EventDamaged, EventReturned, EventLotWeighed, EventLotReceived, EventLotPacked, EventLotShipped}

// IsLotEvent reports whether kind is a farm product lot's.
func IsLotEvent(kind string) bool { return strings.HasPrefix(kind, "lot_") }

// ParcelEvent is what a scanner station or a village point records of a
// parcel (or of a farm product lot). A township station takes the sort
// decision itself, from the plan it holds, so events are produced and
// queued with the uplink down and arrive later in order.
type ParcelEvent struct {
	Header
	Kind    string `json:"kind"`              // one of EventKinds
	Station string `json:"station"`           // must equal the topic's name level
	Waybill string `json:"waybill"`           // as scanned, normalised (upper case, no AIM prefix); a lot's label
	Carrier string `json:"carrier,omitempty"` // SF, JD, YTO, ZTO, JT, YUNDA, POST; empty when not recognised
	// The decision, as SortPlan.Decide gave it at the station (sorted and
	// confirmed events; the bin is required for them).
	Route       string `json:"route,omitempty"` // empty for the exception bin
	Bin         string `json:"bin,omitempty"`
	Rule        string `json:"rule,omitempty"`      // manifest, sort_code, keyword, none
	Exception   string `json:"exception,omitempty"` // why it went to the exception bin
	PlanVersion string `json:"plan_version,omitempty"`
	// The stable weight taken at the station, when there was one.
	WeightKg   *float64 `json:"weight_kg,omitempty"`
	WeighError string   `json:"weigh_error,omitempty"`

	Run  string `json:"run,omitempty"`  // the run (loaded) or shipment (lot_shipped)
	By   string `json:"by,omitempty"`   // staff who scanned, when the device knows
	Note string `json:"note,omitempty"` // damage, reason of a return

	// A farm product lot's description (lot_weighed; later events may
	// leave it out).
	Producer string `json:"producer,omitempty"`
	Product  string `json:"product,omitempty"`
	Grade    string `json:"grade,omitempty"`
}

// Edge states carried by Status.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Status is an edge's retained state. The edge publishes it on connect and
// when something changes, and registers an "offline" Status as its last will.
type Status struct {
	Header
	State   string         `json:"state"`             // StateOnline or StateOffline
	Agent   string         `json:"agent,omitempty"`   // agent name and version
	Backlog int64          `json:"backlog,omitempty"` // messages waiting to be sent
	Queue   *QueueStatus   `json:"queue,omitempty"`
	Devices []DeviceStatus `json:"devices,omitempty"`
	// SortPlan is the version of the sort plan the edge's stations decide
	// from; empty when it has none (or no station).
	SortPlan string `json:"sort_plan,omitempty"`
	// Rules is the version of the room alarm rules the edge signals on
	// site from (the rules command); empty when it has none.
	Rules string `json:"rules,omitempty"`
}

// QueueStatus describes the edge's store-and-forward queue.
type QueueStatus struct {
	Bytes   int64  `json:"bytes"`             // on disk
	Thinned uint64 `json:"thinned,omitempty"` // telemetry thinned to one reading a minute to fit the budget
	Dropped uint64 `json:"dropped,omitempty"` // oldest telemetry dropped to fit the budget
	Refused uint64 `json:"refused,omitempty"` // events refused because the queue was full of events
	Error   string `json:"error,omitempty"`   // the last write error (a full disk), empty when writing works
}

// DeviceStatus is the health of one device behind an edge.
type DeviceStatus struct {
	ID     string    `json:"id"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	LastOK time.Time `json:"last_ok,omitzero"`
}

// Command is sent by the hub to one edge on CommandTopic.
type Command struct {
	V    int             `json:"v"`
	ID   string          `json:"id"` // unique for the hub; echoed in Result.Command
	TS   time.Time       `json:"ts"`
	Name string          `json:"name"` // must equal the topic's name level
	Args json.RawMessage `json:"args,omitempty"`
}

// Result is an edge's answer to a Command.
type Result struct {
	Header
	Command string          `json:"command"` // the Command's id
	OK      bool            `json:"ok"`
	Error   string          `json:"error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Encode marshals v (a payload type of this package) and checks the size limit.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "encode", Err: err}
	}
	if len(b) > MaxPayloadBytes {
		return nil, reject(ReasonTooLarge, "encoded payload is %d bytes, limit %d", len(b), MaxPayloadBytes)
	}
	return b, nil
}

func decode(payload []byte, v any) error {
	if len(payload) > MaxPayloadBytes {
		return reject(ReasonTooLarge, "payload is %d bytes, limit %d", len(payload), MaxPayloadBytes)
	}
	// A well-formed payload of this schema version, nearly every one a
	// consumer gets, is parsed once. Anything else is decoded again from
	// scratch the careful way, so it is rejected exactly as before.
	if json.Unmarshal(payload, v) == nil && version(v) == SchemaVersion {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero()
	return decodeCarefully(payload, v)
}

// version is the schema version a decoded payload says it has; -1 for a
// type that has none.
func version(v any) int {
	switch m := v.(type) {
	case *Telemetry:
		return m.V
	case *Status:
		return m.V
	case *ParcelEvent:
		return m.V
	case *Result:
		return m.V
	case *Command:
		return m.V
	}
	return -1
}

// decodeCarefully decodes payload into v, reporting a schema version other
// than SchemaVersion as such rather than as whatever shape mismatch it
// causes.
func decodeCarefully(payload []byte, v any) error {
	// Peek at the version first so that a future schema is reported as
	// such rather than as whatever shape mismatch it causes.
	var ver struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(payload, &ver); err != nil {
		return &Error{Reason: ReasonMalformed, Msg: "not a JSON object", Err: err}
	}
	if ver.V == nil {
		return reject(ReasonVersion, "missing version field \"v\"")
	}
	if *ver.V != SchemaVersion {
		return reject(ReasonVersion, "schema version %d, this consumer speaks %d", *ver.V, SchemaVersion)
	}
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(v); err != nil {
		return &Error{Reason: ReasonMalformed, Msg: "payload shape", Err: err}
	}
	return nil
}

func (h *Header) check(t Topic) error {
	if h.ID == "" || len(h.ID) > MaxMsgIDLen {
		return reject(ReasonInvalid, "id must be 1 to %d characters", MaxMsgIDLen)
	}
	if h.Site != t.Site || h.Edge != t.Edge {
		return reject(ReasonIdentity, "payload says site %q edge %q, topic says site %q edge %q",
			clip(h.Site), clip(h.Edge), t.Site, t.Edge)
	}
	if h.TS.IsZero() {
		return reject(ReasonInvalid, "ts is missing")
	}
	if h.Sent.IsZero() {
		h.Sent = h.TS
	}
	// A box without a real-time clock may report 1970; that is corrected
	// by the consumer from sent and its receive time. Years outside this
	// window are garbage, and would not even re-encode.
	for _, ts := range [2]time.Time{h.TS, h.Sent} {
		if y := ts.UTC().Year(); y < 1970 || y > 2200 {
			return reject(ReasonInvalid, "timestamp %s is outside 1970..2200", ts.Format(time.RFC3339))
		}
	}
	return nil
}

// DecodeTelemetry decodes and validates a telemetry payload received on t.
func DecodeTelemetry(t Topic, payload []byte) (*Telemetry, error) {
	if t.Kind != KindTelemetry {
		return nil, reject(ReasonTopic, "topic kind %q does not carry telemetry", t.Kind)
	}
	m := new(Telemetry)
	if err := decode(payload, m); err != nil {
		return nil, err
	}
	if err := m.Header.check(t); err != nil {
		return nil, err
	}
	if m.Device != t.Name {
		return nil, reject(ReasonIdentity, "payload device %q, topic device %q", clip(m.Device), t.Name)
	}
	if m.Room != "" && !ValidID(m.Room) {
		return nil, reject(ReasonInvalid, "room %q is not a valid id", clip(m.Room))
	}
	if len(m.Fields)+len(m.Faults) == 0 {
		return nil, reject(ReasonInvalid, "no fields and no faults")
	}
	if len(m.Fields) > MaxFields || len(m.Faults) > MaxFields || len(m.Units) > MaxFields {
		return nil, reject(ReasonInvalid, "more than %d fields", MaxFields)
	}
	for k, v := range m.Fields {
		if !ValidID(k) {
			return nil, reject(ReasonInvalid, "field name %q is not a valid id", clip(k))
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, reject(ReasonInvalid, "field %q is not finite", k)
		}
	}
	for k, why := range m.Faults {
		if !ValidID(k) || len(why) > MaxTextLen {
			return nil, reject(ReasonInvalid, "fault %q is not a valid id or its text is too long", clip(k))
		}
	}
	return m, nil
}

// DecodeStatus decodes and validates a status payload received on t.
func DecodeStatus(t Topic, payload []byte) (*Status, error) {
	if t.Kind != KindStatus {
		return nil, reject(ReasonTopic, "topic kind %q does not carry status", t.Kind)
	}
	m := new(Status)
	if err := decode(payload, m); err != nil {
		return nil, err
	}
	if err := m.Header.check(t); err != nil {
		return nil, err
	}
	if m.State != StateOnline && m.State != StateOffline {
		return nil, reject(ReasonInvalid, "state %q is neither %q nor %q", clip(m.State), StateOnline, StateOffline)
	}
	if len(m.Devices) > MaxDevices {
		return nil, reject(ReasonInvalid, "more than %d devices", MaxDevices)
	}
	for _, d := range m.Devices {
		if !ValidID(d.ID) || len(d.Error) > MaxTextLen {
			return nil, reject(ReasonInvalid, "device %q: invalid id or error text too long", clip(d.ID))
		}
	}
	return m, nil
}

// DecodeEvent decodes and validates a parcel event received on t.
func DecodeEvent(t Topic, payload []byte) (*ParcelEvent, error) {
	if t.Kind != KindEvent {
		return nil, reject(ReasonTopic, "topic kind %q does not carry events", t.Kind)
	}
	m := new(ParcelEvent)
	if err := decode(payload, m); err != nil {
		return nil, err
	}
	if err := m.Header.check(t); err != nil {
		return nil, err
	}
	if m.Station != t.Name {
		return nil, reject(ReasonIdentity, "payload station %q, topic station %q", clip(m.Station), t.Name)
	}
	if !slices.Contains(EventKinds, m.Kind) {
		return nil, reject(ReasonInvalid, "event kind %q is not one of %s", clip(m.Kind), strings.Join(EventKinds, ", "))
	}
	if m.Waybill == "" || len(m.Waybill) > MaxWaybillLen || !printable(m.Waybill) {
		return nil, reject(ReasonInvalid, "waybill must be 1 to %d printable ASCII characters", MaxWaybillLen)
	}
	binNeeded := m.Kind == EventSorted || m.Kind == EventConfirmed
	if (binNeeded || m.Bin != "") && !ValidID(m.Bin) || (m.Route != "" && !ValidID(m.Route)) {
		return nil, reject(ReasonInvalid, "bin %q or route %q is not a valid id", clip(m.Bin), clip(m.Route))
	}
	if (m.Kind == EventLoaded && m.Run == "") || (m.Run != "" && !ValidID(m.Run)) {
		return nil, reject(ReasonInvalid, "run %q is not a valid id (a loaded event needs one)", clip(m.Run))
	}
	if m.Kind == EventLotWeighed && (m.Product == "" || m.WeightKg == nil) {
		return nil, reject(ReasonInvalid, "a lot_weighed event needs a product and a weight")
	}
	if len(m.Carrier) > MaxIDLen || len(m.Rule) > MaxIDLen || len(m.Exception) > MaxIDLen ||
		len(m.PlanVersion) > MaxIDLen || len(m.WeighError) > MaxTextLen || len(m.By) > MaxIDLen ||
		len(m.Note) > MaxTextLen || len(m.Producer) > MaxTextLen || len(m.Product) > MaxTextLen || len(m.Grade) > MaxIDLen {
		return nil, reject(ReasonInvalid, "a text member is too long")
	}
	if w := m.WeightKg; w != nil && (math.IsNaN(*w) || math.IsInf(*w, 0) || *w < -1000 || *w > 100000) {
		return nil, reject(ReasonInvalid, "weight_kg %v is not a plausible weight", *w)
	}
	return m, nil
}

// printable reports whether s is printable ASCII: what a barcode carries.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// DecodeResult decodes and validates a command result received on t.
func DecodeResult(t Topic, payload []byte) (*Result, error) {
	if t.Kind != KindResult {
		return nil, reject(ReasonTopic, "topic kind %q does not carry results", t.Kind)
	}
	m := new(Result)
	if err := decode(payload, m); err != nil {
		return nil, err
	}
	if err := m.Header.check(t); err != nil {
		return nil, err
	}
	if m.Command == "" || len(m.Command) > MaxMsgIDLen {
		return nil, reject(ReasonInvalid, "command id must be 1 to %d characters", MaxMsgIDLen)
	}
	return m, nil
}

// DecodeCommand decodes and validates a command received on t.
func DecodeCommand(t Topic, payload []byte) (*Command, error) {
	if t.Kind != KindCommand {
		return nil, reject(ReasonTopic, "topic kind %q does not carry commands", t.Kind)
	}
	m := new(Command)
	if err := decode(payload, m); err != nil {
		return nil, err
	}
	if m.ID == "" || len(m.ID) > MaxMsgIDLen {
		return nil, reject(ReasonInvalid, "id must be 1 to %d characters", MaxMsgIDLen)
	}
	if m.Name != t.Name {
		return nil, reject(ReasonIdentity, "payload command %q, topic command %q", clip(m.Name), t.Name)
	}
	return m, nil
}

// Decode parses topic under prefix and decodes payload by the topic's kind:
// it returns a *Telemetry, *Status, *ParcelEvent, *Result or *Command. It is what a
// consumer that takes every kind calls; the typed decoders serve those that
// take one.
func Decode(prefix, topic string, payload []byte) (Topic, any, error) {
	t, err := ParseTopic(prefix, topic)
	if err != nil {
		return t, nil, err
	}
	var m any
	switch t.Kind {
	case KindTelemetry:
		m, err = DecodeTelemetry(t, payload)
	case KindStatus:
		m, err = DecodeStatus(t, payload)
	case KindEvent:
		m, err = DecodeEvent(t, payload)
	case KindResult:
		m, err = DecodeResult(t, payload)
	case KindCommand:
		m, err = DecodeCommand(t, payload)
	}
	if err != nil {
		return t, nil, err
	}
	return t, m, nil
}
