package relay

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// Version is the relay messages' schema version.
const Version = 1

// MaxMessageBytes is the largest relay message a replica sends or accepts:
// the contract's payload limit, which the broker enforces (Mosquitto's
// message_size_limit drops a larger message without a word). A batch
// larger than that goes out as several messages.
const MaxMessageBytes = contract.MaxPayloadBytes

// envelopeBytes is what a message's own members take at most beside its
// updates: the budget left for the updates is MaxMessageBytes less this.
const envelopeBytes = 1024

// Message is what one replica applied since its previous message.
type Message struct {
	V       int    `json:"v"`
	Replica string `json:"replica"` // the sender; equal to the topic's replica level
	// Boot is when the sender started (Unix nanoseconds) and Seq its
	// message number since, from 1: a message sent again is applied once.
	Boot int64     `json:"boot"`
	Seq  uint64    `json:"seq"`
	Sent time.Time `json:"sent"`
	// Oldest is when the sender applied the oldest update in the message:
	// Sent less Oldest is the batching's part of the relay's lag.
	Oldest time.Time `json:"oldest,omitzero"`
	// Leaving says the sender is stopping: it no longer counts as a
	// replica that takes a share of the edges' messages.
	Leaving bool `json:"leaving,omitempty"`

	Seen     []Seen             `json:"seen,omitempty"`
	Readings []Reading          `json:"readings,omitempty"`
	Edges    []Edge             `json:"edges,omitempty"`
	Events   []*hub.ParcelEvent `json:"events,omitempty"`
	Acks     []Ack              `json:"acks,omitempty"`
}

// Seen is the last time the sender heard from an edge (its readings and
// parcel events prove it online).
type Seen struct {
	Site string    `json:"site"`
	Edge string    `json:"edge"`
	At   time.Time `json:"at"`
}

// Reading is a device's latest reading as the sender applied it: what the
// dashboards and the alarm engine use of a hub.Reading.
type Reading struct {
	ID     string             `json:"id"`
	Site   string             `json:"site"`
	Edge   string             `json:"edge"`
	Device string             `json:"device"`
	Room   string             `json:"room,omitempty"`
	TS     time.Time          `json:"ts"`
	Fields map[string]float64 `json:"fields,omitempty"`
	Faults map[string]string  `json:"faults,omitempty"`
}

func fromReading(r *hub.Reading) Reading {
	return Reading{ID: r.ID, Site: r.Site, Edge: r.Edge, Device: r.Device, Room: r.Room, TS: r.TS, Fields: r.Fields, Faults: r.Faults}
}

func (r *Reading) reading() *hub.Reading {
	return &hub.Reading{ID: r.ID, Site: r.Site, Edge: r.Edge, Device: r.Device, Room: r.Room, TS: r.TS, Fields: r.Fields, Faults: r.Faults}
}

// Edge is an edge's state after a status the sender received at At.
type Edge struct {
	hub.EdgeState
	At time.Time `json:"at"`
}

// Ack is an alarm acknowledged through the sender's API. Each replica's
// engine numbers its alarms itself, so the receiver finds its own alarm by
// site, room, source and kind.
type Ack struct {
	Alarm   string             `json:"alarm"` // the sender's id, for the logs
	Site    string             `json:"site"`
	Room    string             `json:"room,omitempty"`
	Source  string             `json:"source"`
	Kind    contract.AlarmKind `json:"kind"`
	Raised  time.Time          `json:"raised"`
	By      string             `json:"by"`
	Comment string             `json:"comment,omitempty"`
	At      time.Time          `json:"at"`
}

// Decode parses and checks a relay message received on topic under prefix.
// Its errors are contract errors, with the contract's reasons: too_large,
// malformed, version, topic (not a replica's topic, or another replica
// than the topic's) and invalid.
func Decode(prefix, topic string, payload []byte) (*Message, error) {
	replica, ok := replicaOf(prefix, topic)
	if !ok {
		return nil, bad(contract.ReasonTopic, "topic %q is not a replica's live topic", clip(topic))
	}
	if len(payload) > MaxMessageBytes {
		return nil, bad(contract.ReasonTooLarge, "%d bytes, over %d", len(payload), MaxMessageBytes)
	}
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, &contract.Error{Reason: contract.ReasonMalformed, Msg: "not a relay message", Err: err}
	}
	if m.V != Version {
		return nil, bad(contract.ReasonVersion, "version %d, want %d", m.V, Version)
	}
	if m.Replica != replica {
		return nil, bad(contract.ReasonTopic, "replica %q on the topic of %q", clip(m.Replica), replica)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check refuses a message whose updates lack what applying them needs.
func (m *Message) check() error {
	switch {
	case m.Boot <= 0 || m.Seq == 0:
		return bad(contract.ReasonInvalid, "no boot or sequence")
	case m.Sent.IsZero():
		return bad(contract.ReasonInvalid, "no sent time")
	}
	for _, s := range m.Seen {
		if !contract.ValidID(s.Site) || !contract.ValidID(s.Edge) || s.At.IsZero() {
			return bad(contract.ReasonInvalid, "seen %q/%q at %v", clip(s.Site), clip(s.Edge), s.At)
		}
	}
	for _, r := range m.Readings {
		if !contract.ValidID(r.Site) || !contract.ValidID(r.Edge) || !contract.ValidID(r.Device) || r.TS.IsZero() {
			return bad(contract.ReasonInvalid, "reading of %q/%q/%q at %v", clip(r.Site), clip(r.Edge), clip(r.Device), r.TS)
		}
	}
	for _, e := range m.Edges {
		if !contract.ValidID(e.Site) || !contract.ValidID(e.Edge) || e.At.IsZero() {
			return bad(contract.ReasonInvalid, "edge %q/%q at %v", clip(e.Site), clip(e.Edge), e.At)
		}
	}
	for _, ev := range m.Events {
		if ev == nil || ev.ID == "" || !contract.ValidID(ev.Site) || ev.Kind == "" || ev.TS.IsZero() {
			return bad(contract.ReasonInvalid, "a parcel event without id, site, kind or time")
		}
	}
	for _, a := range m.Acks {
		if !contract.ValidID(a.Site) || a.Source == "" || strings.TrimSpace(a.By) == "" || a.At.IsZero() {
			return bad(contract.ReasonInvalid, "acknowledgement of %q without site, source, who or time", clip(a.Alarm))
		}
	}
	return nil
}

// replicaOf is the replica level of a live topic, <prefix>/_hub/<replica>/live.
func replicaOf(prefix, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/"+contract.HubSite+"/")
	if !ok {
		return "", false
	}
	replica, ok := strings.CutSuffix(rest, "/live")
	return replica, ok && contract.ValidID(replica)
}

func bad(r contract.Reason, format string, args ...any) *contract.Error {
	return &contract.Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// splitter cuts a batch into messages that each fit MaxMessageBytes.
type splitter struct {
	hdr    Message
	cur    Message
	size   int // bytes of the updates in cur, with their commas
	budget int
	out    []Message
	// dropped counts updates too large for any message on their own.
	dropped int
}

func newSplitter(hdr Message, maxBytes int) *splitter {
	return &splitter{hdr: hdr, cur: hdr, budget: maxBytes - envelopeBytes}
}

// add puts the update v into the current message with put, starting a
// new message first when v would not fit; an update too large for any
// message is dropped and counted.
func (s *splitter) add(v any, put func(m *Message)) {
	b, err := json.Marshal(v)
	if err != nil || len(b)+1 > s.budget {
		s.dropped++
		return
	}
	if s.size+len(b)+1 > s.budget {
		s.next()
	}
	put(&s.cur)
	s.size += len(b) + 1
}

func (s *splitter) next() {
	s.out = append(s.out, s.cur)
	s.cur, s.size = s.hdr, 0
}

// messages ends the batch: at least one message, an empty one standing
// for a heartbeat or a leaving notice.
func (s *splitter) messages() []Message {
	if s.size > 0 || len(s.out) == 0 {
		s.next()
	}
	return s.out
}
