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
// maxInflight unacknowledged ones. Its default queue, 8,192 slots, was
// 64 KiB a client: 640 MB for 10,000 edges that receive a command now
// and then. The one client that receives much is the hub's ingest, whose
// persistent session takes every edge's messages. Rather than give
// everyone its queue, flowControl holds the publishers back while that
// client has holdAt messages waiting in its queue, or holdInflight
// unacknowledged: neither is reached while it keeps up. The ingest
// acknowledges a message once stored, up to some 25,000 at once (its
// queue and batch), more than maxInflight (mochi's default, 8,192): past
// holdInflight the publishers are held, where before this hook mochi
// dropped. (32,768 held fewer in a storm, but with it mochi left the
// relay's subscription in place at a clean stop, TestExtraOverBroker in
// hub/ingest: an UNSUBSCRIBE refused for a packet id in flight, which
// paho takes for success.) Held publishers are let go one at a time and counted in at once,
// so the queue does not pass holdAt by their doing; the slots between
// holdAt and writesPending are for what mochi sends that no publisher
// waits for (retained messages at a subscription, QoS 0).
var (
	writesPending = 1024 // per client: 8 KiB
	holdAt        = 768  // messages waiting in a subscriber's write queue
	maxInflight   = 8192 // unacknowledged messages mochi keeps for a client (its default)
	holdInflight  = maxInflight - 1024
	// holdFor is the longest a publisher waits. Its connection's other
	// packets wait too, its pings included: this stays under the edges'
	// ping timeout (half their 30 s keepalive, plus a second).
	holdFor = 10 * time.Second
)

// flowControl is a mochi hook: a publisher waits while a subscriber of its
// topic that keeps its session (the hub's ingest) is too far behind (see
// holdAt), as TCP or MQTT 5's receive maximum would hold it, so that a hub
// catching up after a storm slows the edges down instead of losing their
// messages. Waiting publishers go on one for each message the subscriber
// takes, in the order they came, each counted in the subscriber's queue
// as it is let go: thousands of edges waiting at once must not all go
// when the first slot frees. A publisher is held at most holdFor: a
// subscriber that stopped reading for longer (its store down) is given
// the messages, as before, and mochi drops what overflows its write
// queue. Every message mochi drops is logged and counted: none is dropped
// silently.
type flowControl struct {
	mqtt.HookBase
	srv *mqtt.Server
	log *slog.Logger

	// queued maps a client id to its QoS 1 and 2 messages waiting in its
	// write queue, or let go to it (*atomic.Int64). Keyed by id, not
	// *mqtt.Client, so that an entry a race leaves behind holds no
	// disconnected client.
	queued sync.Map

	mu         sync.Mutex
	backlogged map[string]*mqtt.Client // subscribers that were too far behind: publishers to them check
	waiters    []*waiter               // publishers held, oldest first
	// reserved counts, by publisher and subscriber id, messages let go
	// and already counted in the subscriber's queue, until mochi puts
	// them there (OnQosPublish) or the publish ends (OnPublished).
	reserved  map[[2]string]int
	nBacklog  atomic.Int32 // len(backlogged), read without the lock
	nReserved atomic.Int32 // sum of reserved
	sessions  atomic.Int32 // clients connected that keep their session: while none, publishers go on unchecked
	inSession sync.Map     // those clients (*mqtt.Client), so that each is counted out once

	held, heldTooLong, dropped atomic.Uint64
}

// waiter is a held publisher: wake is closed when it may try again.
type waiter struct {
	wake chan struct{}
	gone bool // it stopped waiting: the next in line is woken instead
}

var _ mqtt.Hook = (*flowControl)(nil)

func newFlowControl(srv *mqtt.Server, log *slog.Logger) *flowControl {
	return &flowControl{srv: srv, log: log, backlogged: map[string]*mqtt.Client{}, reserved: map[[2]string]int{}}
}

func (f *flowControl) ID() string { return "countylink-flow-control" }

func (f *flowControl) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnPublished, mqtt.OnWill, mqtt.OnWillSent, mqtt.OnQosPublish, mqtt.OnPacketSent, mqtt.OnQosComplete, mqtt.OnPublishDropped,
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

// add adds n to cl's count of queued messages, if it has one (create: or
// starts it).
func (f *flowControl) add(cl *mqtt.Client, n int64, create bool) {
	c, ok := f.queued.Load(cl.ID)
	if !ok && create {
		c, _ = f.queued.LoadOrStore(cl.ID, new(atomic.Int64))
		ok = true
	}
	if ok {
		c.(*atomic.Int64).Add(n)
	}
}

// queue is cl's count of queued messages.
func (f *flowControl) queue(cl *mqtt.Client) int64 {
	if c, ok := f.queued.Load(cl.ID); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// behind reports whether cl is too far behind for publishers to go on.
func (f *flowControl) behind(cl *mqtt.Client) bool {
	return f.queue(cl) >= int64(holdAt) || cl.State.Inflight.Len() >= holdInflight
}

// OnQosPublish is called for each QoS 1 or 2 message put in flight to a
// client, before mochi puts it in the client's write queue.
func (f *flowControl) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish || resends > 0 || cl.Net.Inline || cl.Closed() {
		return // a publisher's own acknowledgement, a resend written at once, or kept for a client away
	}
	counted := false
	if f.nReserved.Load() > 0 {
		f.mu.Lock()
		k := [2]string{pk.Origin, cl.ID}
		if f.reserved[k] > 0 {
			f.unreserve(k)
			counted = true
		}
		f.mu.Unlock()
	}
	if !keepsSession(cl) {
		if !counted {
			f.add(cl, 1, true)
		}
		return
	}
	if counted {
		f.add(cl, -1, false) // counted again as it takes its slot
	}
	f.slot(cl)
	if !f.behind(cl) {
		return
	}
	f.mu.Lock()
	if f.backlogged[cl.ID] != cl {
		f.backlogged[cl.ID] = cl
		f.nBacklog.Store(int32(len(f.backlogged)))
	}
	f.mu.Unlock()
}

// slot counts a message in cl's write queue once the queue has room for
// it, or after holdFor. Held publishers leave it well short of full; what
// no publisher was held for can fill it: the retained messages sent at a
// subscription (10,000 edges' statuses when the ingest subscribes again)
// from the subscriber's own goroutine. Rare: polled.
func (f *flowControl) slot(cl *mqtt.Client) {
	c, _ := f.queued.LoadOrStore(cl.ID, new(atomic.Int64))
	n := c.(*atomic.Int64)
	limit := int64(writesPending - 8) // 8 for QoS 0 messages, uncounted
	var deadline time.Time
	for {
		// Counted as the check passes, so that two waiting cannot both
		// take the last slot.
		if v := n.Load(); v < limit {
			if n.CompareAndSwap(v, v+1) {
				return
			}
			continue
		}
		if deadline.IsZero() {
			f.held.Add(1)
			deadline = time.Now().Add(holdFor)
		}
		if cl.Closed() || !time.Now().Before(deadline) {
			if !cl.Closed() {
				f.heldTooLong.Add(1)
			}
			n.Add(1)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// unreserve takes one message off reserved; called with f.mu held.
func (f *flowControl) unreserve(k [2]string) {
	if f.reserved[k]--; f.reserved[k] <= 0 {
		delete(f.reserved, k)
	}
	f.nReserved.Add(-1)
}

// endPublish gives back what was reserved for pub's last publish and did
// not reach the subscriber.
func (f *flowControl) endPublish(pub *mqtt.Client) {
	if f.nReserved.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, n := range f.reserved {
		if k[0] != pub.ID {
			continue
		}
		for range n {
			f.unreserve(k)
		}
		if sub, ok := f.srv.Clients.Get(k[1]); ok {
			f.add(sub, -int64(n), false)
		}
	}
}

// OnPublished is called once mochi has handed a publish to its
// subscribers.
func (f *flowControl) OnPublished(cl *mqtt.Client, _ packets.Packet) { f.endPublish(cl) }

// OnPacketSent is called for each packet written to a client's connection.
func (f *flowControl) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || cl.Net.Inline {
		return
	}
	f.add(cl, -1, false)
	if f.nBacklog.Load() > 0 {
		f.caughtUp(cl, false)
	}
}

// OnQosComplete is called for each acknowledgement a client sends.
func (f *flowControl) OnQosComplete(cl *mqtt.Client, _ packets.Packet) {
	if f.nBacklog.Load() > 0 {
		f.caughtUp(cl, false)
	}
}

// caughtUp wakes the next held publisher if cl has room again (all of
// them if it left), and takes cl off the backlogged subscribers once no
// publisher waits.
func (f *flowControl) caughtUp(cl *mqtt.Client, left bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.backlogged[cl.ID] != cl || (!left && f.behind(cl)) {
		return
	}
	for len(f.waiters) > 0 {
		w := f.waiters[0]
		f.waiters = f.waiters[1:]
		if !w.gone {
			close(w.wake)
			if !left {
				return // one slot freed: one publisher goes (it counts itself in)
			}
		}
	}
	delete(f.backlogged, cl.ID)
	f.nBacklog.Store(int32(len(f.backlogged)))
}

// OnSessionEstablished is called once a client connected and was sent
// what its session held: those were written at once, past the queue.
func (f *flowControl) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	f.queued.Store(cl.ID, new(atomic.Int64))
	if keepsSession(cl) {
		f.inSession.Store(cl, true)
		f.sessions.Add(1)
	}
}

// OnDisconnect is called when a client's connection ended (and for every
// client when the broker stops).
func (f *flowControl) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if _, ok := f.inSession.LoadAndDelete(cl); ok {
		f.sessions.Add(-1)
	}
	f.endPublish(cl)
	if !cl.IsTakenOver() { // else the id's count is its new connection's
		f.queued.Delete(cl.ID)
	}
	if f.nBacklog.Load() > 0 {
		f.caughtUp(cl, true)
	}
}

// admit lets a publisher to the subscribers ids go, counting its message
// in the queue of each that keeps its session, or if one of those is
// behind, queues it to wait and returns that subscriber and its waiter.
func (f *flowControl) admit(pub *mqtt.Client, ids []string) (*mqtt.Client, *waiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var subs []*mqtt.Client
	for _, id := range ids {
		cl, ok := f.srv.Clients.Get(id)
		if !ok || cl == pub || cl.Net.Inline || cl.Closed() || !keepsSession(cl) {
			continue
		}
		if f.behind(cl) {
			if f.backlogged[cl.ID] != cl {
				f.backlogged[cl.ID] = cl
				f.nBacklog.Store(int32(len(f.backlogged)))
			}
			w := &waiter{wake: make(chan struct{})}
			f.waiters = append(f.waiters, w)
			return cl, w
		}
		subs = append(subs, cl)
	}
	for _, cl := range subs {
		f.add(cl, 1, true)
		f.reserved[[2]string{pub.ID, cl.ID}]++
		f.nReserved.Add(1)
	}
	return nil, nil
}

// OnPublish holds a publisher back while a subscriber of its topic is
// backlogged (see flowControl). Every publish is counted in, not only
// those after a subscriber fell behind: edges reconnecting at once would
// all pass before the first of their messages is counted.
func (f *flowControl) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	f.hold(cl, pk.TopicName)
	return pk, nil
}

// OnWill is called before mochi publishes a client's last will: held as
// a publish, or the wills of thousands of edges losing power at once
// would overflow the hub's queue.
func (f *flowControl) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	f.hold(cl, will.TopicName)
	return will, nil
}

// OnWillSent is called once the will was handed to its subscribers.
func (f *flowControl) OnWillSent(cl *mqtt.Client, _ packets.Packet) { f.endPublish(cl) }

// hold returns once cl may publish on topic (see flowControl).
func (f *flowControl) hold(cl *mqtt.Client, topic string) {
	if cl.Net.Inline || f.sessions.Load() == 0 {
		return
	}
	f.endPublish(cl) // a publish of cl that ended before mochi's OnPublished
	subs := f.srv.Topics.Subscribers(topic)
	ids := make([]string, 0, len(subs.Subscriptions))
	for id := range subs.Subscriptions {
		ids = append(ids, id)
	}
	for _, group := range subs.Shared {
		for id := range group {
			ids = append(ids, id)
		}
	}
	sub, w := f.admit(cl, ids)
	if sub == nil {
		return
	}
	f.held.Add(1)
	deadline := time.NewTimer(holdFor)
	defer deadline.Stop()
	recheck := time.NewTicker(time.Second) // a disconnection unseen
	defer recheck.Stop()
	for sub != nil {
		select {
		case <-w.wake:
		case <-recheck.C:
		case <-deadline.C:
			f.mu.Lock()
			w.gone = true
			f.mu.Unlock()
			if n := f.heldTooLong.Add(1); n == 1 || n%1000 == 0 {
				f.log.Warn("a subscriber keeping its session is too far behind: publishers are no longer held for it, and what overflows its write queue is dropped",
					"subscriber", sub.ID, "queued", f.queue(sub), "unacknowledged", sub.State.Inflight.Len(),
					"publisher", cl.ID, "topic", topic, "held_too_long", n)
			}
			return
		}
		f.mu.Lock()
		w.gone = true // if it was not woken: a recheck
		f.mu.Unlock()
		sub, w = f.admit(cl, ids)
	}
}

// OnPublishDropped is called for a message mochi dropped because the
// subscriber's write queue was full.
func (f *flowControl) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos > 0 {
		f.add(cl, -1, false) // counted in OnQosPublish, never queued
	}
	if n := f.dropped.Add(1); n == 1 || n%1000 == 0 {
		f.log.Error("message dropped: the subscriber's write queue is full",
			"subscriber", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "dropped", n)
	}
}
