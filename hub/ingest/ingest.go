// Package ingest takes the edges' messages from the broker, checks them
// against the contract, drops duplicates, corrects clock skew, and hands
// readings to the stores in batches and to the live state at once. Parcel
// events take the same path to their store and reach the live state once
// stored; command results go to the hub's command tracker. The ingest's
// broker connection is the hub's only one (a hub has one broker identity):
// it also carries the hub's commands to the edges (Publish) and the live
// relay between hub replicas (Config.Extra, Publish).
package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/state"
)

// Config is the ingest's broker connection and batching.
type Config struct {
	Broker      string // tcp://host:1883
	ClientID    string // fixed, so the broker keeps the session while the hub is down
	Username    string
	Password    string
	TopicPrefix string
	// SharedGroup, when set, subscribes through $share/<group>/ so that
	// several hubs split the messages between them.
	SharedGroup string

	BatchSize     int           // readings per store write
	FlushInterval time.Duration // longest a reading waits for its batch
	QueueSize     int           // readings waiting for the writer before the handler blocks
	// MaxSkew is the clock difference between an edge and the hub beyond
	// which the edge's timestamps are corrected by the difference.
	MaxSkew time.Duration
	// AutoAck acknowledges each message to the broker on receipt, as paho
	// does by default. Off (the default), a message is acknowledged only
	// once what it carries is stored, so a hub crash or a store outage
	// leaves it with the broker rather than losing it in memory.
	AutoAck bool
	// SeenStore, when set, keeps the ids of stored messages, so that
	// de-duplication survives a restart.
	SeenStore hub.SeenStore
	// Results, when set, takes every command result received.
	Results ResultHandler
	// Watcher, when set, sees every accepted reading and edge status as it
	// arrives, before it is stored: the cold-chain alarms.
	Watcher Watcher
	// OnEvent, when set, sees each parcel event as it arrives, before it
	// is stored (the sort corrector, which must answer while staff still
	// stand at the station). It must not block or change the event.
	OnEvent func(ev *hub.ParcelEvent)
	// EdgeRate is the live readings an edge may send a second, EdgeBurst
	// how many more in a burst (see traffic.go): those over are dropped and
	// reported to OnFlood. Zero takes the defaults (100 a second, a burst
	// of ten seconds' worth); a negative rate turns the limit off.
	EdgeRate  float64
	EdgeBurst int
	// OnFlood, when set, is told every few seconds of the live readings
	// dropped per edge since it was last told.
	OnFlood func(site, edge string, dropped uint64, at time.Time)
	// OnSubscribed, when set, is called each time the ingest has
	// (re)subscribed after connecting: the moment to publish retained
	// messages again.
	OnSubscribed func()
	// OnStored, when set, sees the parcel events just stored and counted
	// in the state (not those the store had already): the relay to the
	// other hub replicas. It must not block or change them.
	OnStored func(evs []*hub.ParcelEvent)
	// HandOver, when set with SharedGroup, is asked as the ingest stops
	// whether another replica takes over this one's share of the edges'
	// messages. If so, the shared subscriptions are dropped before
	// disconnecting: a broker such as Mosquitto otherwise keeps queueing
	// the share of a disconnected persistent session until it is back.
	// If not, they are kept, so the share waits for this replica rather
	// than being dropped for want of a subscriber.
	HandOver func() bool
	// TLS, when set, is the broker connection's TLS (an ssl:// broker):
	// the broker's CA and the hub's client certificate (pki.ClientTLS).
	TLS *tls.Config
	// Extra are other parts of the hub's subscriptions on this connection,
	// never shared (the live relay between replicas): a hub has one
	// identity, and the brokers name a session by it
	// (use_username_as_clientid), so a second connection would take over
	// this one's session. They are subscribed with the ingest's own
	// filters on every (re)connect, before OnSubscribed, and dropped at a
	// clean stop, so the persistent session keeps none of their messages
	// while the hub is down. Their messages go to their Handle, are
	// acknowledged at once and never reach the ingest's decoding or
	// counters.
	Extra []Subscription
	// BeforeDisconnect, when set, is called as the ingest stops, after
	// HandOver and after the writer stored what was accepted (OnStored),
	// just before the connection closes: the relay's last message.
	BeforeDisconnect func()
}

// Subscription is an Extra subscription: Filter at QoS, whose messages go
// to Handle (called in arrival order; it must not block).
type Subscription struct {
	Filter string
	QoS    byte
	Handle func(topic string, payload []byte)
}

// Watcher follows readings and edge states as they arrive. Its methods
// are called from the ingest's handler and must not block.
type Watcher interface {
	Reading(r *hub.Reading)
	EdgeStatus(site, edge string, online bool, at time.Time)
}

// Store is what the ingest keeps beside the time series: the latest
// readings and edge states, and the parcel events.
type Store interface {
	hub.StateStore
	hub.EventWriter
}

// ResultHandler takes the edges' command results (command.Tracker does).
type ResultHandler interface {
	HandleResult(r *contract.Result, recv time.Time) bool
}

// item is one message on its way through the writer: the reading or the
// parcel event to store, if any, and the acknowledgement to send once it
// is stored. Every message passes through in arrival order, even those
// with nothing to store, so acknowledgements leave in the order the broker
// sent them.
type item struct {
	r   *hub.Reading
	ev  *hub.ParcelEvent
	ack func()
}

// ClockFault is the fault key of a reading whose edge clock was not to be
// trusted; the reading is stored at the hub's receive time.
const ClockFault = "clock"

// Reasons the hub adds to the contract's rejection reasons.
const (
	ReasonUnknownSite contract.Reason = "unknown_site"
)

// Ingest is one hub's consumer of the edges' messages.
type Ingest struct {
	cfg    Config
	series hub.SeriesWriter
	store  Store
	state  *state.State
	log    *slog.Logger

	dedup    *dedup
	queue    chan item
	flushReq chan chan struct{} // the writer stores what it holds and closes the channel
	clientMu sync.Mutex
	client   mqtt.Client
	ready    atomic.Bool

	traffic *traffic

	edgesMu    sync.Mutex
	edgesDirty map[[2]string]hub.EdgeState // edge states to save

	skewLogMu sync.Mutex
	skewLog   map[string]time.Time // edge -> last time its skew was logged
	clocks    clocks               // what the hub learned of each edge's clock

	received, duplicates, stored, writeErrors, corrected, clockFlagged, storeRejected, flooded *metrics.Counter
	rejected                                                                                   *metrics.CounterVec
	writeLatency                                                                               *metrics.Histogram

	eventsReceived, eventsStored, eventExceptions *metrics.CounterVec
	eventWriteErrors, eventsRefused               *metrics.Counter
}

// exceptionLabels are the exception reasons counted by name; any other
// reason an edge sends is counted as "other", so the label stays bounded.
var exceptionLabels = []string{contract.ExceptionUnknown, contract.ExceptionNoBin, contract.ExceptionStation, "other"}

// New prepares an ingest; Run connects it.
func New(cfg Config, series hub.SeriesWriter, store Store, st *state.State, reg *metrics.Registry, log *slog.Logger) *Ingest {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4 * cfg.BatchSize
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = time.Minute
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = contract.DefaultPrefix
	}
	if cfg.EdgeRate == 0 {
		cfg.EdgeRate = 100
	}
	if cfg.EdgeBurst <= 0 {
		cfg.EdgeBurst = int(max(10*cfg.EdgeRate, 1))
	}
	reasons := make([]string, 0, len(contract.Reasons)+1)
	for _, r := range append(contract.Reasons, ReasonUnknownSite) {
		reasons = append(reasons, string(r))
	}
	in := &Ingest{cfg: cfg, series: series, store: store, state: st, log: log, traffic: newTraffic(), edgesDirty: map[[2]string]hub.EdgeState{},
		dedup: newDedup(200_000), queue: make(chan item, cfg.QueueSize), flushReq: make(chan chan struct{}), skewLog: map[string]time.Time{},
		received:      reg.NewCounter("countylink_hub_messages_received_total", "Messages received from the broker."),
		rejected:      reg.NewCounterVec("countylink_hub_messages_rejected_total", "Messages rejected, by reason.", "reason", reasons...),
		duplicates:    reg.NewCounter("countylink_hub_duplicates_total", "Messages dropped because their id was already seen."),
		stored:        reg.NewCounter("countylink_hub_readings_stored_total", "Readings written to the series store."),
		writeErrors:   reg.NewCounter("countylink_hub_store_write_errors_total", "Failed series store writes (each is retried)."),
		clockFlagged:  reg.NewCounter("countylink_hub_clock_flagged_total", "Readings and parcel events whose time stayed implausible after skew correction: stored at receive time with a clock fault."),
		storeRejected: reg.NewCounter("countylink_hub_readings_refused_by_store_total", "Readings the series store refused for their content (dropped, logged)."),
		corrected:     reg.NewCounter("countylink_hub_clock_corrected_total", "Messages whose timestamps were corrected for edge clock skew."),
		flooded:       reg.NewCounter("countylink_hub_readings_dropped_over_rate_total", "Live readings dropped because their edge sent over its rate (per edge: /api/v1/edges/traffic)."),
		writeLatency:  reg.NewHistogram("countylink_hub_store_write_seconds", "Series store write latency per batch.", .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5),
		eventsReceived: reg.NewCounterVec("countylink_hub_parcel_events_received_total", "Valid parcel events received, duplicates included, by kind.",
			"kind", contract.EventSorted, contract.EventConfirmed),
		eventsStored: reg.NewCounterVec("countylink_hub_parcel_events_stored_total", "Parcel events stored (each id once), by kind.",
			"kind", contract.EventSorted, contract.EventConfirmed),
		eventExceptions: reg.NewCounterVec("countylink_hub_parcel_exceptions_total", "Stored parcel events sorted to the exception bin, by reason.",
			"exception", exceptionLabels...),
		eventWriteErrors: reg.NewCounter("countylink_hub_event_store_write_errors_total", "Failed parcel event store writes (each is retried)."),
		eventsRefused:    reg.NewCounter("countylink_hub_parcel_events_refused_by_store_total", "Parcel events the store refused for their content (dropped, logged)."),
	}
	reg.NewGaugeFunc("countylink_hub_ingest_queue", "Messages waiting for the store writer.", func() float64 { return float64(len(in.queue)) })
	return in
}

// Ready reports whether the ingest is subscribed to the broker.
func (in *Ingest) Ready() bool { return in.ready.Load() }

// Run connects to the broker and ingests until ctx is done, then flushes
// what it holds and disconnects.
func (in *Ingest) Run(ctx context.Context) error {
	in.loadSeen()
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); in.writeLoop(wctx) }()

	filters := map[string]byte{}
	results := contract.ResultTopic(in.cfg.TopicPrefix, "+", "+")
	for _, f := range contract.UpstreamFilters(in.cfg.TopicPrefix) {
		// Every hub takes every result, unshared: the result of a command
		// must reach the hub that sent it and waits for it. The others
		// find no such command and ignore it.
		if in.cfg.SharedGroup != "" && f != results {
			f = "$share/" + in.cfg.SharedGroup + "/" + f
		}
		filters[f] = 1
	}
	for _, x := range in.cfg.Extra {
		filters[x.Filter] = x.QoS
	}
	o := mqtt.NewClientOptions().AddBroker(in.cfg.Broker).SetClientID(in.cfg.ClientID).
		SetUsername(in.cfg.Username).SetPassword(in.cfg.Password).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true).SetAutoAckDisabled(true).
		// Bounded waits: the TCP and MQTT handshake, and a write the broker
		// does not take (a subscription's or publication's token otherwise
		// waits until the keepalive notices a dead broker).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second).SetPingTimeout(10 * time.Second)
	if in.cfg.TLS != nil {
		o.SetTLSConfig(in.cfg.TLS)
	}
	if in.cfg.OnFlood != nil {
		go func() {
			tick := time.NewTicker(5 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					in.traffic.report(now, in.cfg.OnFlood)
				}
			}
		}()
	}
	handle := func(_ mqtt.Client, m mqtt.Message) {
		in.Handle(m.Topic(), m.Payload(), m.Retained(), time.Now(), m.Ack)
	}
	// The broker sends what it kept for the session right after CONNACK,
	// before the subscription below is renewed. paho hands a message no
	// route matches to the default handler, and without one leaves it
	// unacknowledged and unhandled: the broker counts it in flight and
	// sends it again only on the next connection, so until then it is
	// missing. The default handler is the same handler, which also hands
	// an Extra subscription's messages to theirs.
	o.SetDefaultPublishHandler(handle)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		// The handler must not wait on a token; subscribe from a goroutine.
		go func() {
			t := c.SubscribeMultiple(filters, handle)
			t.Wait()
			if err := t.Error(); err != nil {
				in.log.Error("subscribe failed", "err", err)
				return
			}
			in.ready.Store(true)
			in.log.Info("ingest subscribed", "broker", logURL(in.cfg.Broker), "filters", len(filters))
			if in.cfg.OnSubscribed != nil {
				in.cfg.OnSubscribed()
			}
		}()
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		in.ready.Store(false)
		in.log.Warn("ingest lost the broker", "err", err)
	})
	client := mqtt.NewClient(o)
	in.clientMu.Lock()
	in.client = client
	in.clientMu.Unlock()
	client.Connect()
	<-ctx.Done()
	in.ready.Store(false)
	handOver := in.cfg.SharedGroup != "" && in.cfg.HandOver != nil && in.cfg.HandOver()
	// The writer stores and acknowledges what was accepted while the
	// connection is open, before unsubscribing (the embedded broker refuses
	// an UNSUBSCRIBE whose packet id a message it sent and awaits the
	// acknowledgement of holds) and again after it, so that
	// BeforeDisconnect sees the parcel events of the messages that were
	// still coming (OnStored).
	in.flushWriter()
	in.unsubscribe(client, filters, handOver)
	if in.cfg.BeforeDisconnect != nil {
		in.flushWriter()
		in.cfg.BeforeDisconnect()
	}
	client.Disconnect(250)
	stopWriter()
	<-writerDone
	return nil
}

// unsubscribe drops the Extra subscriptions among filters and, with
// leaveGroup, the shared ones, so the broker sends the group's messages to
// the other replicas from now on. Messages already sent here and not yet
// acknowledged stay in the session and come again when this replica is
// back (de-duplicated).
func (in *Ingest) unsubscribe(c mqtt.Client, filters map[string]byte, leaveGroup bool) {
	var drop []string
	shared := 0
	for f := range filters {
		switch {
		case strings.HasPrefix(f, "$share/"):
			if leaveGroup {
				drop = append(drop, f)
				shared++
			}
		default:
			for _, x := range in.cfg.Extra {
				if x.Filter == f {
					drop = append(drop, f)
					break
				}
			}
		}
	}
	if len(drop) == 0 {
		return
	}
	t := c.Unsubscribe(drop...)
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		if shared > 0 {
			in.log.Warn("shared subscriptions not dropped; the broker keeps this replica's share until it is back", "err", t.Error())
		}
		return
	}
	if shared > 0 {
		in.log.Info("shared subscriptions handed over to the other replicas", "group", in.cfg.SharedGroup, "filters", shared)
	}
}

// extra returns the Extra subscription whose filter matches topic, if any.
func (in *Ingest) extra(topic string) *Subscription {
	for i := range in.cfg.Extra {
		if matches(in.cfg.Extra[i].Filter, topic) {
			return &in.cfg.Extra[i]
		}
	}
	return nil
}

// matches is MQTT topic matching with + and # (a filter matches itself).
func matches(filter, topic string) bool {
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			return fmore == tmore || frest == "#" // a/# matches a
		}
		filter, topic = frest, trest
	}
}

// flushWriter has the writer store and acknowledge what it holds now, and
// waits for it, a few seconds at most: at a stop, so that BeforeDisconnect
// sees those messages' parcel events (OnStored) and their acknowledgements
// leave while the connection is open.
func (in *Ingest) flushWriter() {
	done := make(chan struct{})
	select {
	case in.flushReq <- done:
	case <-time.After(5 * time.Second):
		return // the writer is retrying a failed write
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// Client is the ingest's broker connection; nil before Run.
func (in *Ingest) Client() mqtt.Client {
	in.clientMu.Lock()
	defer in.clientMu.Unlock()
	return in.client
}

// Connected reports whether the broker connection is up (subscribed or
// not yet).
func (in *Ingest) Connected() bool {
	c := in.Client()
	return c != nil && c.IsConnectionOpen()
}

// Publish sends payload on topic at QoS 1, not retained, over the ingest's
// broker connection, and waits for the broker's acknowledgement until ctx
// ends. While the connection is down it returns hub.ErrNotConnected at
// once, rather than leave the message queued for a later connection (a
// command the caller gave up on must not run an hour later).
func (in *Ingest) Publish(ctx context.Context, topic string, payload []byte) error {
	return in.publish(ctx, topic, payload, false)
}

// PublishRetained is Publish with the message retained by the broker: the
// townships' sort plans, which an edge gets as it subscribes.
func (in *Ingest) PublishRetained(ctx context.Context, topic string, payload []byte) error {
	return in.publish(ctx, topic, payload, true)
}

func (in *Ingest) publish(ctx context.Context, topic string, payload []byte, retained bool) error {
	c := in.Client()
	if c == nil || !c.IsConnectionOpen() {
		return hub.ErrNotConnected
	}
	tok := c.Publish(topic, 1, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			if !c.IsConnectionOpen() {
				return fmt.Errorf("publish %s: %w: %v", topic, hub.ErrNotConnected, err)
			}
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: no acknowledgement from the broker: %w", topic, ctx.Err())
	}
}

// Handle processes one message received at recv; ack (may be nil)
// acknowledges it to the broker and is called once the message is dealt
// with: stored, or found to need no storing. It is what the MQTT
// subscription calls, exported for tests and benchmarks. It blocks while
// the writer's queue is full, which holds back the broker.
func (in *Ingest) Handle(topic string, payload []byte, retained bool, recv time.Time, ack func()) {
	if len(in.cfg.Extra) > 0 {
		if x := in.extra(topic); x != nil {
			x.Handle(topic, payload)
			if ack != nil {
				ack()
			}
			return
		}
	}
	in.received.Inc()
	if in.cfg.AutoAck && ack != nil {
		ack()
		ack = nil
	}
	var r *hub.Reading
	var ev *hub.ParcelEvent
	defer func() {
		if r != nil || ev != nil || ack != nil {
			in.queue <- item{r: r, ev: ev, ack: ack}
		}
	}()
	var tc *edgeCount // the sending edge's counts, when it is at a known site
	if t, err := contract.ParseTopic(in.cfg.TopicPrefix, topic); err == nil && in.state.KnownSite(t.Site) {
		tc = in.traffic.of(t.Site, t.Edge)
		tc.received.Add(1)
	}
	t, msg, err := contract.Decode(in.cfg.TopicPrefix, topic, payload)
	if err != nil {
		if tc != nil {
			tc.rejected.Add(1)
		}
		in.reject(contract.ReasonOf(err), topic, err)
		return
	}
	if !in.state.KnownSite(t.Site) {
		in.reject(ReasonUnknownSite, topic, fmt.Errorf("site %q is not in the sites file", t.Site))
		return
	}
	switch m := msg.(type) {
	case *contract.Telemetry:
		if in.dedup.seen(m.ID) {
			in.duplicates.Inc()
			return
		}
		if tc != nil && in.cfg.EdgeRate > 0 && recv.Sub(m.TS) < liveWindow && !tc.allow(m.TS, in.cfg.EdgeRate, float64(in.cfg.EdgeBurst)) {
			tc.dropped.Add(1)
			in.flooded.Inc()
			return
		}
		reported := m.TS
		plausible := in.correct(&m.Header, recv, true)
		r = &hub.Reading{ID: m.ID, Site: m.Site, Edge: m.Edge, Device: m.Device, Room: m.Room, TS: m.TS, Fields: m.Fields, Faults: m.Faults}
		if !plausible {
			r.TS = recv
			if r.Faults == nil {
				r.Faults = map[string]string{}
			}
			r.Faults[ClockFault] = "edge clock unsynchronised: reported " + reported.UTC().Format(time.RFC3339)
		}
		in.state.Seen(m.Site, m.Edge, recv)
		in.state.ApplyReading(r)
		if in.cfg.Watcher != nil {
			in.cfg.Watcher.Reading(r)
		}
	case *contract.Status:
		if !in.correct(&m.Header, recv, !retained) {
			m.TS = recv
		}
		seen := recv
		if retained && m.TS.Before(recv) {
			// A retained status replayed at subscribe time is as old as it says.
			seen = m.TS
		}
		e := hub.EdgeState{Site: m.Site, Edge: m.Edge, Online: m.State == contract.StateOnline, LastSeen: seen, Agent: m.Agent, Backlog: m.Backlog,
			Devices: m.Devices, SortPlan: m.SortPlan}
		in.state.ApplyEdge(e)
		if in.cfg.Watcher != nil {
			in.cfg.Watcher.EdgeStatus(m.Site, m.Edge, e.Online, seen)
		}
		if cur, ok := in.state.Edge(m.Site, m.Edge); ok {
			// Saved with the writer's next flush, the latest per edge: a
			// storm of thousands of edges coming online is one write, not
			// thousands in the broker's delivery path.
			in.edgesMu.Lock()
			in.edgesDirty[[2]string{m.Site, m.Edge}] = cur
			in.edgesMu.Unlock()
		}
	case *contract.ParcelEvent:
		in.eventsReceived.Inc(m.Kind)
		if in.dedup.seen(m.ID) {
			in.duplicates.Inc()
			return
		}
		reported := m.TS
		plausible := in.correct(&m.Header, recv, true)
		ev = &hub.ParcelEvent{ID: m.ID, Site: m.Site, Edge: m.Edge, Station: m.Station, Kind: m.Kind, Waybill: m.Waybill,
			Carrier: m.Carrier, Route: m.Route, Bin: m.Bin, Rule: m.Rule, Exception: m.Exception, PlanVersion: m.PlanVersion,
			WeightKg: m.WeightKg, WeighError: m.WeighError, TS: m.TS, Recv: recv,
			Run: m.Run, By: m.By, Note: m.Note, Producer: m.Producer, Product: m.Product, Grade: m.Grade}
		if !plausible {
			ev.TS = recv
			ev.ClockFault = "edge clock unsynchronised: reported " + reported.UTC().Format(time.RFC3339)
		}
		in.state.Seen(m.Site, m.Edge, recv)
		if in.cfg.OnEvent != nil {
			in.cfg.OnEvent(ev)
		}
	case *contract.Result:
		in.state.Seen(m.Site, m.Edge, recv)
		taken := in.cfg.Results != nil && in.cfg.Results.HandleResult(m, recv)
		in.log.Info("command result", "site", m.Site, "edge", m.Edge, "command", m.Command, "ok", m.OK, "error", m.Error, "ours", taken)
	}
}

func (in *Ingest) reject(r contract.Reason, topic string, err error) {
	in.rejected.Inc(string(r))
	in.log.Debug("message rejected", "reason", r, "topic", clip(topic), "err", err)
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// clockFloor is the earliest reading time the hub believes: a box without
// a real-time clock boots in 1970 (or at its last fake-hwclock save), and
// this software did not exist before this date.
var clockFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// correct shifts the edge's timestamps by its clock's offset from the
// hub's when that exceeds MaxSkew. The offset is learned from the edge's
// flow (see clocks), never from one message alone, whose recv−sent may be
// time it waited at the broker; a message whose sent time is MaxSkew
// ahead of the hub's clock is corrected at once, since no wait puts it
// there. A message that waited in the edge's queue keeps its reading time
// because sent is stamped at the moment of sending. sample is false for a
// message known to be old (a retained status), which teaches nothing of
// the clock.
//
// A reading or event time still implausible after that (before
// clockFloor, or after the hub's own clock: the edge's clock was stepped
// between reading and sending, across an agent restart) is not stored as
// if true: it reports false and the caller flags the message.
func (in *Ingest) correct(h *contract.Header, recv time.Time, sample bool) bool {
	skew := recv.Sub(h.Sent)
	var offset time.Duration
	known := false
	if sample {
		offset, known = in.clocks.observe(h.Site+"/"+h.Edge, h.Sent, recv)
	}
	shift := time.Duration(0)
	switch {
	case known && (offset >= in.cfg.MaxSkew || offset <= -in.cfg.MaxSkew):
		shift = offset
	case skew <= -in.cfg.MaxSkew:
		shift = skew
	}
	if shift != 0 {
		h.TS = h.TS.Add(shift)
		h.Sent = h.Sent.Add(shift)
		in.corrected.Inc()
		in.logSkew(h, recv, "edge clock is off; correcting its timestamps", shift)
	}
	if h.TS.Before(clockFloor) || h.TS.After(recv.Add(in.cfg.MaxSkew)) {
		in.clockFlagged.Inc()
		in.logSkew(h, recv, "message time implausible even after skew correction; stored at receive time and flagged", h.TS.Sub(recv))
		return false
	}
	return true
}

func (in *Ingest) logSkew(h *contract.Header, recv time.Time, msg string, skew time.Duration) {
	in.skewLogMu.Lock()
	last := in.skewLog[h.Edge]
	logIt := recv.Sub(last) > 10*time.Minute
	if logIt {
		in.skewLog[h.Edge] = recv
	}
	in.skewLogMu.Unlock()
	if logIt {
		in.log.Warn(msg, "site", h.Site, "edge", h.Edge, "skew", skew.Round(time.Second))
	}
}

// writeLoop batches readings into the stores. A failed write is retried
// with backoff and never discarded; while it retries the queue fills and
// Handle blocks, and no acknowledgement leaves, which holds back the broker.
func (in *Ingest) writeLoop(ctx context.Context) {
	batch := make([]item, 0, in.cfg.BatchSize)
	timer := time.NewTimer(in.cfg.FlushInterval)
	defer timer.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	flush := func(ctx context.Context) {
		if len(batch) > 0 {
			in.write(ctx, batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case it := <-in.queue:
			batch = append(batch, it)
			if len(batch) >= in.cfg.BatchSize {
				flush(ctx)
			}
		case <-timer.C:
			flush(ctx)
			in.saveEdges(ctx)
			timer.Reset(in.cfg.FlushInterval)
		case <-prune.C:
			in.pruneSeen(ctx)
		case done := <-in.flushReq:
			for more := true; more; {
				select {
				case it := <-in.queue:
					batch = append(batch, it)
				default:
					more = false
				}
			}
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			flush(fctx)
			in.saveEdges(fctx)
			cancel()
			close(done)
		case <-ctx.Done():
			// Store what was already accepted, with a last bounded try;
			// what fails is not acknowledged and the broker sends it again.
			for more := true; more; {
				select {
				case it := <-in.queue:
					batch = append(batch, it)
				default:
					more = false
				}
			}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flush(fctx)
			in.saveEdges(fctx)
			cancel()
			return
		}
	}
}

// write stores a batch and then acknowledges its messages in order.
func (in *Ingest) write(ctx context.Context, batch []item) {
	readings := make([]*hub.Reading, 0, len(batch))
	var events []*hub.ParcelEvent
	for _, it := range batch {
		if it.r != nil {
			readings = append(readings, it.r)
		}
		if it.ev != nil {
			events = append(events, it.ev)
		}
	}
	var ids []string
	if len(readings) > 0 {
		if !in.storeSeries(ctx, readings) {
			return // abandoned at shutdown: unacknowledged, so redelivered
		}
		if err := in.store.SaveLatest(ctx, latestPerDevice(readings)); err != nil {
			in.log.Warn("save latest readings", "err", err)
		}
		for _, r := range readings {
			ids = append(ids, r.ID)
		}
	}
	if len(events) > 0 {
		stored, ok := in.storeEvents(ctx, events)
		if !ok {
			return // as above: the readings stored are harmless to store again
		}
		for _, ev := range stored {
			in.eventsStored.Inc(ev.Kind)
			if ev.Exception != "" {
				in.eventExceptions.Inc(exceptionLabel(ev.Exception))
			}
		}
		in.state.ApplyEvents(stored)
		if in.cfg.OnStored != nil && len(stored) > 0 {
			in.cfg.OnStored(stored)
		}
		for _, ev := range events {
			ids = append(ids, ev.ID)
		}
	}
	if in.cfg.SeenStore != nil && len(ids) > 0 {
		if err := in.cfg.SeenStore.SaveSeen(ctx, ids, time.Now()); err != nil {
			in.log.Warn("save seen ids", "err", err)
		}
	}
	for _, it := range batch {
		if it.ack != nil {
			it.ack()
		}
	}
}

// seenWindow is how long stored ids are kept for de-duplication after a
// restart: far longer than a broker keeps a hub's unacknowledged messages
// in practice, far shorter than it takes the table to grow large.
const seenWindow = 7 * 24 * time.Hour

// loadSeen fills the de-duplication set with the most recently stored ids.
func (in *Ingest) loadSeen() {
	if in.cfg.SeenStore == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := in.cfg.SeenStore.RecentSeen(ctx, time.Now().Add(-seenWindow), in.dedup.size)
	if err != nil {
		in.log.Warn("load seen ids; duplicates after this restart are stored again (harmlessly: stores overwrite)", "err", err)
		return
	}
	for i := len(ids) - 1; i >= 0; i-- { // oldest first
		in.dedup.seen(ids[i])
	}
	in.log.Info("de-duplication restored", "ids", len(ids))
}

func (in *Ingest) pruneSeen(ctx context.Context) {
	if in.cfg.SeenStore == nil {
		return
	}
	if _, err := in.cfg.SeenStore.PruneSeen(ctx, time.Now().Add(-seenWindow)); err != nil {
		in.log.Warn("prune seen ids", "err", err)
	}
}

// storeSeries writes batch, retrying transient failures with backoff until
// ctx ends. A batch the store refuses for its content is halved until the
// offending readings are isolated: the rest is stored, and each refused
// reading is logged and counted. It reports whether the batch was handled.
func (in *Ingest) storeSeries(ctx context.Context, batch []*hub.Reading) bool {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := in.series.WriteReadings(ctx, batch)
		if err == nil {
			in.writeLatency.Observe(time.Since(start))
			in.stored.Add(uint64(len(batch)))
			return true
		}
		if errors.Is(err, hub.ErrRejected) {
			if len(batch) == 1 {
				r := batch[0]
				in.storeRejected.Inc()
				in.log.Error("store refused a reading; dropped", "site", r.Site, "edge", r.Edge, "device", r.Device, "id", r.ID, "err", err)
				return true
			}
			h := len(batch) / 2
			return in.storeSeries(ctx, batch[:h]) && in.storeSeries(ctx, batch[h:])
		}
		in.writeErrors.Inc()
		if ctx.Err() != nil {
			in.log.Error("store write abandoned at shutdown", "readings", len(batch), "err", err)
			return false
		}
		in.log.Warn("store write failed; retrying", "readings", len(batch), "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// storeEvents writes batch to the event store, retrying transient failures
// with backoff until ctx ends, and isolating events the store refuses for
// their content as storeSeries does. It returns the events stored now
// (leaving out those the store had already) and whether the batch was
// handled.
func (in *Ingest) storeEvents(ctx context.Context, batch []*hub.ParcelEvent) ([]*hub.ParcelEvent, bool) {
	backoff := 100 * time.Millisecond
	for {
		stored, err := in.store.SaveEvents(ctx, batch)
		if err == nil {
			return stored, true
		}
		if errors.Is(err, hub.ErrRejected) {
			if len(batch) == 1 {
				ev := batch[0]
				in.eventsRefused.Inc()
				in.log.Error("store refused a parcel event; dropped", "site", ev.Site, "edge", ev.Edge, "station", ev.Station, "id", ev.ID, "err", err)
				return nil, true
			}
			h := len(batch) / 2
			a, ok := in.storeEvents(ctx, batch[:h])
			if !ok {
				return nil, false
			}
			b, ok := in.storeEvents(ctx, batch[h:])
			return append(a, b...), ok
		}
		in.eventWriteErrors.Inc()
		if ctx.Err() != nil {
			in.log.Error("event store write abandoned at shutdown", "events", len(batch), "err", err)
			return nil, false
		}
		in.log.Warn("event store write failed; retrying", "events", len(batch), "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func exceptionLabel(reason string) string {
	for _, l := range exceptionLabels {
		if l == reason {
			return l
		}
	}
	return "other"
}

// latestPerDevice keeps the newest reading of each site and device.
func latestPerDevice(batch []*hub.Reading) []*hub.Reading {
	type key struct{ site, device string }
	m := make(map[key]*hub.Reading, 64)
	for _, r := range batch {
		k := key{r.Site, r.Device}
		if cur := m[k]; cur == nil || r.TS.After(cur.TS) {
			m[k] = r
		}
	}
	out := make([]*hub.Reading, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}

// Stats are the ingest's counters, for tests and the benchmark table.
type Stats struct {
	Received, Duplicates, Stored, WriteErrors, Corrected, ClockFlagged uint64
	Rejected                                                           map[contract.Reason]uint64
	// EventsStored counts parcel events stored, EventWriteErrors failed
	// event store writes; Stored and WriteErrors count readings only.
	EventsStored, EventWriteErrors uint64
}

// Stats returns the current counters.
func (in *Ingest) Stats() Stats {
	s := Stats{Received: in.received.Value(), Duplicates: in.duplicates.Value(), Stored: in.stored.Value(),
		WriteErrors: in.writeErrors.Value(), Corrected: in.corrected.Value(), ClockFlagged: in.clockFlagged.Value(), Rejected: map[contract.Reason]uint64{},
		EventWriteErrors: in.eventWriteErrors.Value()}
	for _, k := range contract.EventKinds {
		s.EventsStored += in.eventsStored.Value(k)
	}
	for _, r := range append(contract.Reasons, ReasonUnknownSite) {
		s.Rejected[r] = in.rejected.Value(string(r))
	}
	return s
}

// edgesSaver is a store that saves many edge states in one write.
type edgesSaver interface {
	SaveEdges(ctx context.Context, es []hub.EdgeState) error
}

// saveEdges saves the edge states changed since the last call.
func (in *Ingest) saveEdges(ctx context.Context) {
	in.edgesMu.Lock()
	if len(in.edgesDirty) == 0 {
		in.edgesMu.Unlock()
		return
	}
	es := make([]hub.EdgeState, 0, len(in.edgesDirty))
	for _, e := range in.edgesDirty {
		es = append(es, e)
	}
	clear(in.edgesDirty)
	in.edgesMu.Unlock()
	var err error
	if s, ok := in.store.(edgesSaver); ok {
		err = s.SaveEdges(ctx, es)
	} else {
		for _, e := range es {
			if err = in.store.SaveEdge(ctx, e); err != nil {
				break
			}
		}
	}
	if err != nil {
		in.log.Warn("save edge states", "edges", len(es), "err", err)
	}
}

// logURL is u as the log may show it: no password, no query (a token may
// ride in either).
func logURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery, p.Fragment = "", ""
	return p.Redacted()
}
