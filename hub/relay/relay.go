package relay

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/metrics"
)

// Config is the relay's topic and pace. The relay has no broker
// connection of its own: it rides on the ingest's (Publisher, Filter,
// Receive, Subscribed).
type Config struct {
	TopicPrefix string
	// Replica names this replica on its topic: a contract id, unique
	// among the replicas.
	Replica string
	// Interval is the shortest time between two messages, and so the
	// longest an update waits before it leaves: an update after a quiet
	// spell leaves at once, those that follow it within the interval
	// leave together at its end. Default 250 ms.
	Interval time.Duration
	// Heartbeat is the longest the replica stays silent: with nothing
	// to relay for that long it sends an empty message, so the others
	// know it is there (HandOver) and the lag is measured. Default 5 s.
	Heartbeat time.Duration
	// MaxEvents is the most parcel events held for the next message,
	// while the broker is away; those beyond are not relayed (counted).
	// Default 20,000.
	MaxEvents int
}

// Publisher is the hub's one broker connection (*ingest.Ingest): Publish
// sends at QoS 1, not retained, and waits for the broker's
// acknowledgement; Connected reports whether the connection is up.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
	Connected() bool
}

// State is the replica's live picture that relayed updates go to
// (*state.State).
type State interface {
	ApplyReading(r *hub.Reading) bool
	ApplyEdge(e hub.EdgeState)
	ApplyEvents(evs []*hub.ParcelEvent)
	Seen(site, edge string, t time.Time)
	Edge(site, edge string) (hub.EdgeState, bool)
}

// Watcher follows the relayed readings and edge states: the alarm engine
// (ingest.Watcher has the same methods). Its methods must not block.
type Watcher interface {
	Reading(r *hub.Reading)
	EdgeStatus(site, edge string, online bool, at time.Time)
}

// Alarms is the engine that relayed acknowledgements go to (*alarm.Engine).
type Alarms interface {
	Active() []alarm.Alarm
	Ack(id, by, comment string, now time.Time) error
}

var _ Alarms = (*alarm.Engine)(nil)

// ackWait is how long a relayed acknowledgement waits for its alarm: the
// receiver's engine may raise it a tick (a second) after the sender's.
const ackWait = 30 * time.Second

// ackGrace is how much later than the acknowledgement the receiver's alarm
// may have been raised and still be the one acknowledged, not a new one.
const ackGrace = 5 * time.Second

// handOverWait is how long HandOver waits for other replicas' leaving
// notices before it decides: two replicas stopping together both hear
// the other and both keep their subscriptions.
const handOverWait = 500 * time.Millisecond

type edgeKey struct{ site, edge string }
type deviceKey struct{ site, device string }

// pending is what was applied here since the last message.
type pending struct {
	oldest   time.Time
	seen     map[edgeKey]time.Time
	readings map[deviceKey]*hub.Reading
	edges    map[edgeKey]Edge
	events   []*hub.ParcelEvent
	acks     []Ack
}

func newPending() *pending {
	return &pending{seen: map[edgeKey]time.Time{}, readings: map[deviceKey]*hub.Reading{}, edges: map[edgeKey]Edge{}}
}

func (p *pending) empty() bool {
	return len(p.seen) == 0 && len(p.readings) == 0 && len(p.edges) == 0 && len(p.events) == 0 && len(p.acks) == 0
}

// touch notes that an update was added at now; the first of a batch
// kicks the relay, which sends it at once if the last message went out
// an interval ago or more.
func (p *pending) touch(now time.Time, kick chan<- struct{}) {
	if p.oldest.IsZero() {
		p.oldest = now
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// peer is another replica as heard on the relay.
type peer struct {
	boot    int64
	seq     uint64
	heard   time.Time
	leaving bool
}

// waitingAck is a relayed acknowledgement whose alarm this replica's
// engine has not raised yet.
type waitingAck struct {
	Ack
	until time.Time
}

// Relay is one replica's end of the live relay: it sends what this replica
// applied and applies what the others sent. Safe for concurrent use.
type Relay struct {
	cfg    Config
	state  State
	watch  Watcher
	alarms Alarms
	log    *slog.Logger
	boot   int64
	now    func() time.Time

	pubMu sync.Mutex
	pub   Publisher // set by Run
	ready atomic.Bool

	kick     chan struct{} // an update after a quiet spell
	mu       sync.Mutex
	pend     *pending
	leaving  bool                  // a leaving notice went out: every later message says so
	statusAt map[edgeKey]time.Time // the newest status applied per edge, here or relayed
	peers    map[string]*peer      // by replica
	waiting  []waitingAck

	// announce asks the next tick for a heartbeat at once: after this
	// replica subscribed, or heard a replica new to it, so that replicas
	// know each other within an interval or two.
	announce atomic.Bool

	flushMu  sync.Mutex // one flush at a time: the sequence and the heartbeat
	seq      uint64
	lastSent time.Time

	sent, received, duplicates, missed, publishErrors, dropped, acked *metrics.Counter
	bad                                                               *metrics.CounterVec
	lag                                                               *metrics.Histogram
}

// New prepares a relay that applies the others' updates to st, w and al
// (each may be nil); Run sends through the hub's connection.
func New(cfg Config, st State, w Watcher, al Alarms, reg *metrics.Registry, log *slog.Logger) *Relay {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 20000
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = contract.DefaultPrefix
	}
	reasons := make([]string, 0, len(contract.Reasons))
	for _, r := range []contract.Reason{contract.ReasonTooLarge, contract.ReasonMalformed, contract.ReasonVersion, contract.ReasonTopic, contract.ReasonInvalid} {
		reasons = append(reasons, string(r))
	}
	r := &Relay{cfg: cfg, state: st, watch: w, alarms: al, log: log, boot: time.Now().UnixNano(), now: time.Now,
		pend: newPending(), kick: make(chan struct{}, 1), statusAt: map[edgeKey]time.Time{}, peers: map[string]*peer{},
		sent:          reg.NewCounter("countylink_hub_relay_messages_sent_total", "Live relay messages this replica sent to the other replicas."),
		received:      reg.NewCounter("countylink_hub_relay_messages_received_total", "Live relay messages from the other replicas applied here."),
		bad:           reg.NewCounterVec("countylink_hub_relay_messages_bad_total", "Live relay messages dropped as bad (oversize, not JSON, wrong version, topic or content), by reason.", "reason", reasons...),
		duplicates:    reg.NewCounter("countylink_hub_relay_messages_duplicate_total", "Live relay messages received again (QoS 1), from a replica's earlier run or sent before this replica started (its stores had them), dropped."),
		missed:        reg.NewCounter("countylink_hub_relay_messages_missed_total", "Live relay messages of other replicas that never arrived (gaps in their sequence)."),
		publishErrors: reg.NewCounter("countylink_hub_relay_publish_errors_total", "Live relay messages the broker did not acknowledge (lost for the other replicas' live picture)."),
		dropped:       reg.NewCounter("countylink_hub_relay_updates_dropped_total", "Updates not relayed: over the held parcel events while the broker was away, or too large for a message."),
		acked:         reg.NewCounter("countylink_hub_relay_acks_applied_total", "Alarm acknowledgements of other replicas applied to this replica's engine."),
		lag: reg.NewHistogram("countylink_hub_relay_lag_seconds", "From when another replica applied the oldest update of a relay message to when this replica received it (batching, broker and the replicas' clock difference).",
			.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
	}
	reg.NewGaugeFunc("countylink_hub_relay_replicas", "Other hub replicas heard on the live relay lately and not leaving.", func() float64 { return float64(len(r.Others())) })
	return r
}

// Filter is the subscription the hub's connection makes for the relay,
// unshared, at QoS 1 (ingest.Config.Extra); its messages go to Receive.
func (r *Relay) Filter() string { return contract.HubLiveFilter(r.cfg.TopicPrefix) }

// Receive applies a message on Filter as it arrives.
func (r *Relay) Receive(topic string, payload []byte) { r.Handle(topic, payload, r.now()) }

// Subscribed is told each time the hub's connection has (re)subscribed,
// Filter with the rest (the ingest's OnSubscribed): the relay announces
// itself at its next tick.
func (r *Relay) Subscribed() {
	r.ready.Store(true)
	r.announce.Store(true)
	r.log.Info("relay subscribed", "replica", r.cfg.Replica, "filter", r.Filter())
}

// Ready reports whether the relay is subscribed to the other replicas: the
// hub's connection subscribed Filter once and is up.
func (r *Relay) Ready() bool {
	p := r.publisher()
	return r.ready.Load() && p != nil && p.Connected()
}

// Run relays through pub, the hub's connection, until ctx is done. It
// sends nothing after that: the last message goes out from HandOver and
// Leave, which the ingest calls before it disconnects.
func (r *Relay) Run(ctx context.Context, pub Publisher) {
	r.pubMu.Lock()
	r.pub = pub
	r.pubMu.Unlock()
	// Messages go at least an interval apart: at the timer, or at once
	// for an update after a quiet spell.
	timer := time.NewTimer(r.cfg.Interval)
	defer timer.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			if time.Since(last) < r.cfg.Interval {
				continue // the timer sends it with what follows
			}
		case <-timer.C:
			r.retryAcks()
		}
		if r.flush(false) {
			last = time.Now()
		}
		timer.Reset(r.cfg.Interval)
	}
}

// Reading notes a reading this replica ingested (an ingest.Watcher
// method): the latest of each device is relayed. A reading of no room
// only says its edge was heard from: neither the state nor the engine
// uses more of it.
func (r *Relay) Reading(rd *hub.Reading) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pend
	p.touch(now, r.kick)
	p.seen[edgeKey{rd.Site, rd.Edge}] = now
	if rd.Room == "" {
		return
	}
	k := deviceKey{rd.Site, rd.Device}
	if cur := p.readings[k]; cur == nil || !rd.TS.Before(cur.TS) {
		p.readings[k] = rd
	}
}

// EdgeStatus notes an edge status this replica ingested at at (an
// ingest.Watcher method): the edge's state, as the State holds it now, is
// relayed.
func (r *Relay) EdgeStatus(site, edge string, online bool, at time.Time) {
	if r.state == nil {
		return
	}
	e, ok := r.state.Edge(site, edge)
	if !ok {
		return
	}
	e.Online = online
	k := edgeKey{site, edge}
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.After(r.statusAt[k]) {
		r.statusAt[k] = at
	}
	r.pend.touch(r.now(), r.kick)
	r.pend.edges[k] = Edge{EdgeState: e, At: at}
}

// Events notes parcel events this replica stored and counted in its state
// (the ingest's OnStored).
func (r *Relay) Events(evs []*hub.ParcelEvent) {
	if len(evs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pend
	p.touch(r.now(), r.kick)
	for _, ev := range evs {
		k := edgeKey{ev.Site, ev.Edge}
		if ev.Recv.After(p.seen[k]) {
			p.seen[k] = ev.Recv
		}
	}
	room := r.cfg.MaxEvents - len(p.events)
	if room < len(evs) {
		r.dropped.Add(uint64(len(evs) - max(room, 0)))
		evs = evs[:max(room, 0)]
	}
	p.events = append(p.events, evs...)
}

// Acked notes an alarm acknowledged through this replica's API.
func (r *Relay) Acked(a alarm.Alarm) {
	if a.Acked == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pend.touch(r.now(), r.kick)
	if len(r.pend.acks) >= 1000 {
		r.dropped.Inc()
		return
	}
	r.pend.acks = append(r.pend.acks, Ack{Alarm: a.ID, Site: a.Site, Room: a.Room, Source: a.Source, Kind: a.Kind, Raised: a.Raised,
		By: a.Acked.By, Comment: a.Acked.Comment, At: a.Acked.At})
}

func (r *Relay) publisher() Publisher {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	return r.pub
}

// flush sends what is pending, or a heartbeat when nothing was for
// Config.Heartbeat; leaving marks this and every later message as the
// replica's last. While the broker is away what is pending waits. It
// reports whether it sent anything.
func (r *Relay) flush(leaving bool) bool {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	pub := r.publisher()
	if pub == nil || !pub.Connected() {
		return false
	}
	now := r.now()
	r.mu.Lock()
	r.leaving = r.leaving || leaving
	p := r.pend
	announce := r.announce.Swap(false)
	if p.empty() && !leaving && !announce && now.Sub(r.lastSent) < r.cfg.Heartbeat {
		r.mu.Unlock()
		return false
	}
	r.pend = newPending()
	hdr := Message{V: Version, Replica: r.cfg.Replica, Boot: r.boot, Sent: now.UTC(), Leaving: r.leaving}
	r.mu.Unlock()
	if !p.oldest.IsZero() {
		hdr.Oldest = p.oldest.UTC()
	}
	msgs := r.split(hdr, p)
	topic := contract.HubLiveTopic(r.cfg.TopicPrefix, r.cfg.Replica)
	for i := range msgs {
		r.seq++
		msgs[i].Seq = r.seq
		b, err := json.Marshal(&msgs[i])
		if err != nil {
			r.log.Error("relay message not encoded", "err", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = pub.Publish(ctx, topic, b)
		cancel()
		if err != nil {
			r.publishErrors.Inc()
			r.log.Warn("relay message not acknowledged by the broker; the other replicas miss it", "err", err)
			continue
		}
		r.sent.Inc()
	}
	r.lastSent = now
	return true
}

// split encodes what is pending as messages that fit MaxMessageBytes.
func (r *Relay) split(hdr Message, p *pending) []Message {
	s := newSplitter(hdr, MaxMessageBytes)
	for k, at := range p.seen {
		v := Seen{Site: k.site, Edge: k.edge, At: at.UTC()}
		s.add(v, func(m *Message) { m.Seen = append(m.Seen, v) })
	}
	for _, rd := range p.readings {
		v := fromReading(rd)
		s.add(v, func(m *Message) { m.Readings = append(m.Readings, v) })
	}
	for _, e := range p.edges {
		s.add(e, func(m *Message) { m.Edges = append(m.Edges, e) })
	}
	for _, ev := range p.events {
		s.add(ev, func(m *Message) { m.Events = append(m.Events, ev) })
	}
	for _, a := range p.acks {
		s.add(a, func(m *Message) { m.Acks = append(m.Acks, a) })
	}
	msgs := s.messages()
	if s.dropped > 0 {
		r.dropped.Add(uint64(s.dropped))
		r.log.Warn("relay updates too large for a message; not relayed", "count", s.dropped)
	}
	return msgs
}

// Handle applies one relay message received at recv. It is what the
// subscription calls, exported for tests. This replica's own messages are
// ignored.
func (r *Relay) Handle(topic string, payload []byte, recv time.Time) {
	if replica, ok := replicaOf(r.cfg.TopicPrefix, topic); ok && replica == r.cfg.Replica {
		return
	}
	m, err := Decode(r.cfg.TopicPrefix, topic, payload)
	if err != nil {
		r.bad.Inc(string(contract.ReasonOf(err)))
		r.log.Warn("relay message dropped", "topic", clip(topic), "bytes", len(payload), "err", err)
		return
	}
	if m.Sent.UnixNano() < r.boot {
		// Kept for the hub's persistent session while it was down (it
		// stopped without dropping the relay's subscription): what it
		// carries was stored, and this replica restored it at start.
		r.duplicates.Inc()
		return
	}
	if !r.admit(m, recv) {
		r.duplicates.Inc()
		return
	}
	r.received.Inc()
	oldest := m.Oldest
	if oldest.IsZero() {
		oldest = m.Sent
	}
	r.lag.Observe(max(recv.Sub(oldest), 0))
	r.apply(m, recv)
}

// admit records m's sender as heard and reports whether m is new: not one
// applied already, nor from the sender's earlier run.
func (r *Relay) admit(m *Message, recv time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[m.Replica]
	switch {
	case p == nil || m.Boot > p.boot:
		// A replica heard for the first time, or started again: what it
		// sent before is not this replica's to miss.
		p = &peer{boot: m.Boot}
		r.peers[m.Replica] = p
		r.announce.Store(true)
	case m.Boot < p.boot || m.Seq <= p.seq:
		return false
	case m.Seq > p.seq+1:
		r.missed.Add(m.Seq - p.seq - 1)
	}
	p.seq, p.heard, p.leaving = m.Seq, recv, m.Leaving
	return true
}

// apply hands a relayed message's updates to the state and the engine, in
// the order they depend on each other: edges heard from, readings, edge
// states (an offline status after the readings that preceded it), parcel
// events, acknowledgements.
func (r *Relay) apply(m *Message, recv time.Time) {
	if r.state != nil {
		for _, s := range m.Seen {
			// A relay is late by its interval: an edge this replica knows
			// went offline since must not come back online by it.
			if e, ok := r.state.Edge(s.Site, s.Edge); ok && !e.Online && !s.At.After(e.LastSeen) {
				continue
			}
			r.state.Seen(s.Site, s.Edge, s.At)
		}
	}
	for i := range m.Readings {
		rd := m.Readings[i].reading()
		if r.state != nil {
			r.state.ApplyReading(rd)
		}
		if r.watch != nil {
			r.watch.Reading(rd)
		}
	}
	for _, e := range m.Edges {
		k := edgeKey{e.Site, e.Edge}
		r.mu.Lock()
		stale := e.At.Before(r.statusAt[k])
		if !stale {
			r.statusAt[k] = e.At
		}
		r.mu.Unlock()
		if stale {
			continue // a newer status was applied here meanwhile
		}
		if r.state != nil {
			r.state.ApplyEdge(e.EdgeState)
		}
		if r.watch != nil {
			r.watch.EdgeStatus(e.Site, e.Edge, e.Online, e.At)
		}
	}
	if r.state != nil && len(m.Events) > 0 {
		r.state.ApplyEvents(m.Events)
	}
	for _, a := range m.Acks {
		if !r.ack(a) {
			r.mu.Lock()
			r.waiting = append(r.waiting, waitingAck{Ack: a, until: recv.Add(ackWait)})
			r.mu.Unlock()
		}
	}
}

// ack acknowledges this replica's alarm that a relayed acknowledgement is
// about, and reports whether it is done with it: acknowledged now or
// before. It is not while the engine has no such alarm (yet).
func (r *Relay) ack(a Ack) bool {
	if r.alarms == nil {
		return true
	}
	for _, al := range r.alarms.Active() {
		if al.Site != a.Site || al.Room != a.Room || al.Source != a.Source || al.Kind != a.Kind || al.Raised.After(a.At.Add(ackGrace)) {
			continue
		}
		err := r.alarms.Ack(al.ID, a.By, a.Comment, a.At)
		switch {
		case err == nil:
			r.acked.Inc()
			r.log.Info("alarm acknowledged on another replica", "alarm", al.ID, "theirs", a.Alarm, "by", a.By)
			return true
		case errors.Is(err, alarm.ErrAcknowledged):
			return true
		case errors.Is(err, alarm.ErrNotFound):
			continue // cleared meanwhile
		default:
			r.log.Warn("relayed acknowledgement refused", "alarm", al.ID, "theirs", a.Alarm, "err", err)
			return true
		}
	}
	return false
}

// retryAcks tries the acknowledgements still waiting for their alarm and
// gives up on those waiting longer than ackWait.
func (r *Relay) retryAcks() {
	r.mu.Lock()
	w := r.waiting
	r.waiting = nil
	r.mu.Unlock()
	if len(w) == 0 {
		return
	}
	now := r.now()
	var keep []waitingAck
	for _, a := range w {
		switch {
		case r.ack(a.Ack):
		case now.After(a.until):
			r.log.Info("relayed acknowledgement matches no alarm here; dropped", "theirs", a.Alarm, "site", a.Site, "source", a.Source, "kind", a.Kind)
		default:
			keep = append(keep, a)
		}
	}
	r.mu.Lock()
	r.waiting = append(keep, r.waiting...)
	r.mu.Unlock()
}

// Others lists the other replicas heard on the relay within three
// heartbeats and not leaving.
func (r *Relay) Others() []string {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, p := range r.peers {
		if !p.leaving && now.Sub(p.heard) <= 3*r.cfg.Heartbeat {
			out = append(out, id)
		}
	}
	return out
}

// HandOver is called as the hub stops, before the ingest leaves the shared
// group and disconnects (its Config.HandOver). It sends what is pending with a leaving notice, waits
// for the notices of replicas stopping at the same time, and reports
// whether another replica is still there to take this one's share of the
// edges' messages: then the ingest drops its shared subscriptions. When
// none is, the ingest keeps them, and the broker keeps this replica's
// share for it until it is back rather than dropping it.
func (r *Relay) HandOver() bool {
	before := len(r.Others())
	r.mu.Lock()
	r.leaving = true
	r.mu.Unlock()
	r.flush(true)
	if before == 0 {
		return false
	}
	time.Sleep(max(handOverWait, 2*r.cfg.Interval))
	others := r.Others()
	r.log.Info("relay hand-over", "replica", r.cfg.Replica, "others", others)
	return len(others) > 0
}

// Leave sends what is pending, marked leaving, as the last message before
// the hub's connection closes (the ingest's Config.BeforeDisconnect, after
// HandOver and after the ingest stored what it had accepted).
func (r *Relay) Leave() {
	r.mu.Lock()
	empty := r.pend.empty()
	r.mu.Unlock()
	if !empty {
		r.flush(true)
	}
}
