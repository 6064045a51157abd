package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Queue sizes of the embedded broker. mochi gives every client a write
// queue of writesPending packets, allocated when it connects (8 bytes a
// slot), and drops a message for a client whose queue is full, QoS 1
// included; it also drops a message for a client already holding
// MaximumInflight (8,192) unacknowledged ones. Its default queue, 8,192
// slots, was 64 KiB a client: 640 MB for 10,000 edges that receive a
// command now and then. The one client that receives much is the hub's
// ingest, whose persistent session takes every edge's messages. Rather
// than give everyone its queue, flowControl holds the publishers back
// while that client has holdAt messages waiting in its queue, or
// holdInflight unacknowledged: neither limit is reached while it keeps
// up, and the slots between holdAt and writesPending are the margin for
// publishers that passed the check at the same moment.
var (
	writesPending = 1024 // per client: 8 KiB
	holdAt        = 768  // messages waiting in a subscriber's write queue
	holdInflight  = 8192 - 1024
	// holdFor is the longest a publisher waits. Its connection's other
	// packets wait too, its pings included: this stays under the edges'
	// ping timeout (half their 30 s keepalive, plus a second).
	holdFor = 10 * time.Second
)

// flowControl is a mochi hook: a publisher waits while a subscriber of its
// topic that keeps its session (the hub's ingest) is too far behind (see
// holdAt), as TCP or MQTT 5's receive maximum would hold it, so that a hub
// catching up after a storm slows the edges down instead of losing their
// messages. A publisher is held at most holdFor: a subscriber that stopped
// reading for longer (its store down) is given the messages, as before,
// and mochi drops what overflows its write queue. Every message mochi
// drops is logged and counted: none is dropped silently.
type flowControl struct {
	mqtt.HookBase
	srv *mqtt.Server
	log *slog.Logger

	queued sync.Map // *mqtt.Client to *atomic.Int64: QoS 1 and 2 messages in its write queue

	mu         sync.Mutex
	backlogged map[string]*mqtt.Client // subscribers too far behind
	wake       chan struct{}           // closed when one caught up
	nBacklog   atomic.Int32            // len(backlogged), read without the lock

	held, heldTooLong, dropped atomic.Uint64
}

var _ mqtt.Hook = (*flowControl)(nil)

func newFlowControl(srv *mqtt.Server, log *slog.Logger) *flowControl {
	return &flowControl{srv: srv, log: log, backlogged: map[string]*mqtt.Client{}, wake: make(chan struct{})}
}

func (f *flowControl) ID() string { return "countylink-flow-control" }

func (f *flowControl) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnQosPublish, mqtt.OnPacketSent, mqtt.OnQosComplete, mqtt.OnPublishDropped,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect:
		return true
	}
	return false
}

// keepsSession reports whether cl's session outlives its connection: its
// messages are kept while it is away and must not be lost.
func keepsSession(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func (f *flowControl) counter(cl *mqtt.Client) *atomic.Int64 {
	if c, ok := f.queued.Load(cl); ok {
		return c.(*atomic.Int64)
	}
	c, _ := f.queued.LoadOrStore(cl, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// behind reports whether cl is too far behind for publishers to go on.
func (f *flowControl) behind(cl *mqtt.Client) bool {
	return f.counter(cl).Load() >= int64(holdAt) || cl.State.Inflight.Len() >= holdInflight
}

// OnQosPublish is called for each QoS 1 or 2 message put in flight to a
// client, before mochi puts it in the client's write queue.
func (f *flowControl) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish || resends > 0 || cl.Net.Inline {
		return // a publisher's own acknowledgement, or a resend written at once
	}
	f.counter(cl).Add(1)
	if !keepsSession(cl) || !f.behind(cl) {
		return
	}
	f.mu.Lock()
	if f.backlogged[cl.ID] != cl {
		f.backlogged[cl.ID] = cl
		f.nBacklog.Store(int32(len(f.backlogged)))
	}
	f.mu.Unlock()
}

// OnPacketSent is called for each packet written to a client's connection.
func (f *flowControl) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || cl.Net.Inline {
		return
	}
	f.counter(cl).Add(-1)
	if f.nBacklog.Load() > 0 && !f.behind(cl) {
		f.release(cl)
	}
}

// OnQosComplete is called for each acknowledgement a client sends.
func (f *flowControl) OnQosComplete(cl *mqtt.Client, _ packets.Packet) {
	if f.nBacklog.Load() > 0 && !f.behind(cl) {
		f.release(cl)
	}
}

// OnSessionEstablished is called once a client connected and was sent
// what its session held: those were written at once, past the queue.
func (f *flowControl) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	f.counter(cl).Store(0)
}

func (f *flowControl) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	f.queued.Delete(cl)
	if f.nBacklog.Load() > 0 {
		f.release(cl)
	}
}

// release takes cl off the backlogged subscribers and wakes the waiting
// publishers.
func (f *flowControl) release(cl *mqtt.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.backlogged[cl.ID] != cl {
		return
	}
	delete(f.backlogged, cl.ID)
	f.nBacklog.Store(int32(len(f.backlogged)))
	close(f.wake)
	f.wake = make(chan struct{})
}

// waitFor returns a backlogged, connected subscriber of topic other than
// the publisher, or nil; and the channel closed at the next release.
func (f *flowControl) waitFor(pub *mqtt.Client, topic string) (*mqtt.Client, chan struct{}) {
	subs := f.srv.Topics.Subscribers(topic)
	f.mu.Lock()
	defer f.mu.Unlock()
	check := func(id string) *mqtt.Client {
		cl := f.backlogged[id]
		if cl == nil || cl == pub || cl.Closed() || !f.behind(cl) {
			return nil
		}
		return cl
	}
	for id := range subs.Subscriptions {
		if cl := check(id); cl != nil {
			return cl, f.wake
		}
	}
	for _, group := range subs.Shared {
		for id := range group {
			if cl := check(id); cl != nil {
				return cl, f.wake
			}
		}
	}
	return nil, nil
}

// OnPublish holds a publisher back while a subscriber of its topic is
// backlogged (see flowControl).
func (f *flowControl) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || f.nBacklog.Load() == 0 {
		return pk, nil
	}
	sub, wake := f.waitFor(cl, pk.TopicName)
	if sub == nil {
		return pk, nil
	}
	f.held.Add(1)
	deadline := time.NewTimer(holdFor)
	defer deadline.Stop()
	recheck := time.NewTicker(100 * time.Millisecond) // a disconnection unseen, a release missed
	defer recheck.Stop()
	for sub != nil {
		select {
		case <-wake:
		case <-recheck.C:
		case <-deadline.C:
			if n := f.heldTooLong.Add(1); n == 1 || n%1000 == 0 {
				f.log.Warn("a subscriber keeping its session is too far behind: publishers are no longer held for it, and what overflows its write queue is dropped",
					"subscriber", sub.ID, "queued", f.counter(sub).Load(), "unacknowledged", sub.State.Inflight.Len(),
					"publisher", cl.ID, "topic", pk.TopicName, "held_too_long", n)
			}
			return pk, nil
		}
		sub, wake = f.waitFor(cl, pk.TopicName)
	}
	return pk, nil
}

// OnPublishDropped is called for a message mochi dropped because the
// subscriber's write queue was full.
func (f *flowControl) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos > 0 {
		f.counter(cl).Add(-1) // counted in OnQosPublish, never queued
	}
	if n := f.dropped.Add(1); n == 1 || n%1000 == 0 {
		f.log.Error("message dropped: the subscriber's write queue is full",
			"subscriber", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "dropped", n)
	}
}
