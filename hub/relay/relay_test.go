package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/broker"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/sites"
	"github.com/countylink/countylink/hub/state"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// replica is one hub's parts the relay touches: the real state, live hub
// and alarm engine, and the relay itself.
type replica struct {
	*Relay
	state  *state.State
	live   *live.Hub
	engine *alarm.Engine
	reg    *metrics.Registry
	broker string
}

func newReplica(t *testing.T, brokerURL, id string) *replica {
	t.Helper()
	list := sites.Demo()
	rp := &replica{live: live.New(), reg: new(metrics.Registry), broker: brokerURL}
	rp.state = state.New(list, rp.live)
	cfg := alarm.DefaultConfig()
	cfg.EdgeOfflineAfter = time.Millisecond
	rp.engine = alarm.New(cfg, nil, nil)
	if err := rp.engine.SetRules(sites.Rules(list)); err != nil {
		t.Fatal(err)
	}
	rp.Relay = New(Config{Replica: id, Interval: 50 * time.Millisecond, Heartbeat: time.Hour},
		rp.state, rp.engine, rp.engine, rp.reg, quiet())
	return rp
}

// conn stands for the hub's one broker connection (the ingest) in these
// tests: a client that subscribes the relay's Filter on every connect,
// hands its messages to Receive, tells Subscribed, and publishes for the
// relay at QoS 1, not retained.
type conn struct{ c mqtt.Client }

func (c conn) Publish(ctx context.Context, topic string, payload []byte) error {
	t := c.c.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c conn) Connected() bool { return c.c.IsConnectionOpen() }

// run connects the replica's relay until the test ends and waits until it
// is subscribed.
func (rp *replica) run(t *testing.T) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(rp.broker).SetClientID(rp.cfg.Replica).SetCleanSession(true).SetOrderMatters(true)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		go func() {
			tok := c.Subscribe(rp.Filter(), 1, func(_ mqtt.Client, m mqtt.Message) { rp.Receive(m.Topic(), m.Payload()) })
			if tok.Wait() && tok.Error() == nil {
				rp.Subscribed()
			}
		}()
	})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rp.Run(ctx, conn{c}); close(done) }()
	t.Cleanup(func() { cancel(); <-done; c.Disconnect(0) })
	waitFor(t, 5*time.Second, "relay subscribed", func() error {
		if !rp.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
}

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start("127.0.0.1:0", quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func waitFor(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
}

func room(st *state.State, site, id string) state.RoomView {
	for _, r := range st.ColdRooms() {
		if r.Site == site && r.Room == id {
			return r
		}
	}
	return state.RoomView{}
}

// TestRelayBetweenReplicas: what replica A applied reaches replica B's
// state, live stream and alarm engine over a real (embedded) broker, and
// nothing B applied from A is relayed again.
func TestRelayBetweenReplicas(t *testing.T) {
	b := startBroker(t)
	a, bb := newReplica(t, b.URL(), "hub-a"), newReplica(t, b.URL(), "hub-b")
	a.run(t)
	bb.run(t)
	sub := bb.live.Subscribe(256)
	defer bb.live.Unsubscribe(sub)
	// What B sends, as any replica would receive it.
	var fromB []*Message
	var fromBMu sync.Mutex
	tap := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("tap"))
	if tok := tap.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer tap.Disconnect(0)
	if tok := tap.Subscribe(contract.HubLiveTopic(contract.DefaultPrefix, "hub-b"), 1, func(_ mqtt.Client, msg mqtt.Message) {
		m, err := Decode(contract.DefaultPrefix, msg.Topic(), msg.Payload())
		if err != nil {
			t.Errorf("B sent a bad message: %v", err)
			return
		}
		fromBMu.Lock()
		fromB = append(fromB, m)
		fromBMu.Unlock()
	}); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	// The edge comes online at A and sends two readings of one device
	// within one interval: the latest goes out.
	a.state.ApplyEdge(hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: true, LastSeen: now, Agent: "edge-agent 1.0"})
	a.EdgeStatus("tw01", "tw01-e1", true, now)
	for i, v := range []float64{2.5, 3.1} {
		r := &hub.Reading{ID: fmt.Sprint("tw01-e1-1-", i), Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1",
			TS: now.Add(time.Duration(i) * time.Second), Fields: map[string]float64{"temperature": v, "humidity": 80}}
		a.state.ApplyReading(r)
		a.Reading(r)
	}
	w := 1.5
	evs := []*hub.ParcelEvent{
		{ID: "tw01-e1-1-9", Site: "tw01", Edge: "tw01-e1", Station: "s1", Kind: contract.EventSorted, Waybill: "SF1", Route: "r01", Bin: "b1", WeightKg: &w, TS: now, Recv: now},
		{ID: "tw01-e1-1-10", Site: "tw01", Edge: "tw01-e1", Station: "s1", Kind: contract.EventSorted, Waybill: "SF2", Bin: "x", Exception: "unknown", TS: now, Recv: now},
	}
	a.state.ApplyEvents(evs)
	a.Events(evs)

	waitFor(t, 5*time.Second, "B shows A's reading, edge and parcels", func() error {
		v := room(bb.state, "tw01", "cr1")
		if v.Temperature == nil || *v.Temperature != 3.1 {
			return fmt.Errorf("room %+v", v)
		}
		e, ok := bb.state.Edge("tw01", "tw01-e1")
		if !ok || !e.Online || e.Agent != "edge-agent 1.0" {
			return fmt.Errorf("edge %+v %v", e, ok)
		}
		if p := bb.state.Parcels("tw01"); p.Sorted != 2 || p.Exceptions != 1 || p.WeightKg != 1.5 {
			return fmt.Errorf("parcels %+v", p)
		}
		return nil
	})
	got := map[string]int{}
	for len(sub.C) > 0 {
		got[(<-sub.C).Type]++
	}
	if got["coldroom"] == 0 || got["site"] == 0 || got["parcel"] != 2 {
		t.Errorf("B's live stream carried %v; want coldroom, site and 2 parcel events", got)
	}
	if s := bb.engine.Stats(); s.Readings != 1 || s.Edges != 1 {
		t.Errorf("B's engine saw %d readings of rooms with a rule and %d edges; want 1 and 1", s.Readings, s.Edges)
	}

	// The edge goes offline at A: both engines raise an edge alarm; a
	// coordinator acknowledges A's; B's is acknowledged too.
	off := time.Now()
	a.state.ApplyEdge(hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: false, LastSeen: off})
	a.engine.EdgeStatus("tw01", "tw01-e1", false, off)
	a.EdgeStatus("tw01", "tw01-e1", false, off)
	waitFor(t, 5*time.Second, "B has the edge offline", func() error {
		if e, _ := bb.state.Edge("tw01", "tw01-e1"); e.Online {
			return fmt.Errorf("edge online")
		}
		return nil
	})
	tick := time.Now().Add(time.Second)
	a.engine.Tick(tick)
	bb.engine.Tick(tick)
	theirs, ours := a.engine.Active(), bb.engine.Active()
	if len(theirs) != 1 || len(ours) != 1 || ours[0].Kind != contract.AlarmEdgeOffline || theirs[0].ID == ours[0].ID {
		t.Fatalf("active: A %+v B %+v; want one edge_offline each, numbered apart", theirs, ours)
	}
	if err := a.engine.Ack(theirs[0].ID, "王芳", "去现场看", time.Now()); err != nil {
		t.Fatal(err)
	}
	acked, _ := a.engine.Get(theirs[0].ID)
	a.Acked(acked)
	waitFor(t, 5*time.Second, "B's alarm acknowledged", func() error {
		al, _ := bb.engine.Get(ours[0].ID)
		if al.State != alarm.StateAcknowledged || al.Acked.By != "王芳" || al.Acked.Comment != "去现场看" || !al.Acked.At.Equal(acked.Acked.At) {
			return fmt.Errorf("%+v", al)
		}
		return nil
	})

	// B relayed nothing of it: what it applied came from A. It only said
	// it was there.
	time.Sleep(3 * bb.cfg.Interval)
	fromBMu.Lock()
	for _, m := range fromB {
		if len(m.Seen)+len(m.Readings)+len(m.Edges)+len(m.Events)+len(m.Acks) > 0 {
			t.Errorf("B relayed what it got from A: %+v", m)
		}
	}
	fromBMu.Unlock()
	if bb.received.Value() == 0 || bb.bad.Value(string(contract.ReasonMalformed)) != 0 {
		t.Errorf("B received %d", bb.received.Value())
	}
	if bb.lag.Count() == 0 {
		t.Error("B's lag not measured")
	}
}

// message is a valid relay message from hub-a with sequence seq.
func message(seq uint64, mutate func(m *Message)) []byte {
	now := time.Now().UTC()
	m := Message{V: Version, Replica: "hub-a", Boot: 1, Seq: seq, Sent: now,
		Readings: []Reading{{ID: "x", Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1", TS: now, Fields: map[string]float64{"temperature": float64(seq)}}}}
	if mutate != nil {
		mutate(&m)
	}
	b, _ := json.Marshal(m)
	return b
}

// TestHandleRefuses: a malformed, oversize or otherwise bad relay message
// is counted by reason and dropped; its own messages, one received again,
// one from a replica's earlier run and one sent before this replica
// started are dropped; a gap is counted.
func TestHandleRefuses(t *testing.T) {
	rp := newReplica(t, "tcp://127.0.0.1:1", "hub-b")
	topic := contract.HubLiveTopic(contract.DefaultPrefix, "hub-a")
	for _, tt := range []struct {
		name, topic string
		payload     []byte
		reason      contract.Reason
	}{
		{"not json", topic, []byte(`{"v":1,`), contract.ReasonMalformed},
		{"wrong type", topic, []byte(`{"v":1,"replica":"hub-a","boot":"x"}`), contract.ReasonMalformed},
		{"oversize", topic, append(message(1, nil), strings.Repeat(" ", MaxMessageBytes)...), contract.ReasonTooLarge},
		{"version", topic, message(1, func(m *Message) { m.V = 2 }), contract.ReasonVersion},
		{"other replica", topic, message(1, func(m *Message) { m.Replica = "hub-c" }), contract.ReasonTopic},
		{"edge topic", "countylink/tw01/tw01-e1/status", message(1, nil), contract.ReasonTopic},
		{"bad replica level", "countylink/_hub/Hub-A/live", message(1, nil), contract.ReasonTopic},
		{"no sequence", topic, message(0, nil), contract.ReasonInvalid},
		{"bad reading", topic, message(1, func(m *Message) { m.Readings[0].Site = "../x" }), contract.ReasonInvalid},
		{"ack without who", topic, message(1, func(m *Message) {
			m.Acks = []Ack{{Site: "tw01", Source: "tw01-e1", Kind: contract.AlarmEdgeOffline, At: m.Sent}}
		}), contract.ReasonInvalid},
		{"event without id", topic, message(1, func(m *Message) {
			m.Events = []*hub.ParcelEvent{{Site: "tw01", Kind: contract.EventSorted, TS: m.Sent}}
		}), contract.ReasonInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := rp.bad.Value(string(tt.reason))
			rp.Handle(tt.topic, tt.payload, time.Now())
			if got := rp.bad.Value(string(tt.reason)); got != before+1 {
				t.Errorf("bad{%s} went from %d to %d", tt.reason, before, got)
			}
		})
	}
	if rp.received.Value() != 0 || room(rp.state, "tw01", "cr1").Temperature != nil {
		t.Fatalf("a bad message was applied: received %d", rp.received.Value())
	}

	rp.Handle(contract.HubLiveTopic(contract.DefaultPrefix, "hub-b"), message(1, func(m *Message) { m.Replica = "hub-b" }), time.Now())
	if rp.received.Value() != 0 {
		t.Fatal("its own message was applied")
	}
	rp.Handle(topic, message(1, nil), time.Now())
	rp.Handle(topic, message(1, nil), time.Now()) // the broker sent it again
	rp.Handle(topic, message(4, nil), time.Now()) // 2 and 3 lost
	rp.Handle(topic, message(5, func(m *Message) { m.Boot = 0 }), time.Now())
	if rp.received.Value() != 2 || rp.duplicates.Value() != 1 || rp.missed.Value() != 2 || rp.bad.Value(string(contract.ReasonInvalid)) != 5 {
		t.Errorf("received %d duplicates %d missed %d invalid %d; want 2 1 2 5",
			rp.received.Value(), rp.duplicates.Value(), rp.missed.Value(), rp.bad.Value(string(contract.ReasonInvalid)))
	}
	rp.Handle(topic, message(2, func(m *Message) { m.Boot = 2 }), time.Now()) // hub-a restarted
	rp.Handle(topic, message(9, nil), time.Now())                             // from its earlier run, late
	if rp.received.Value() != 3 || rp.duplicates.Value() != 2 {
		t.Errorf("after a restart: received %d duplicates %d; want 3 2", rp.received.Value(), rp.duplicates.Value())
	}
	if v := room(rp.state, "tw01", "cr1"); v.Temperature == nil || *v.Temperature != 2 {
		t.Errorf("room shows %+v; want the restarted replica's reading, 2", v)
	}
	// One the hub's persistent session kept while this replica was down
	// (it crashed with the relay's subscription): sent before this replica
	// started, whose stores had what it carries.
	rp.Handle(topic, message(3, func(m *Message) { m.Boot, m.Sent = 2, time.Unix(0, rp.boot).Add(-time.Second) }), time.Now())
	if rp.received.Value() != 3 || rp.duplicates.Value() != 3 {
		t.Errorf("a message sent before this replica started: received %d duplicates %d; want 3 3", rp.received.Value(), rp.duplicates.Value())
	}
}

// TestLateRelayKeepsNewerEdgeState: a relayed status or sign of life older
// than what this replica applied itself meanwhile does not undo it (an
// edge whose last will came here must not come back online through a
// reading relayed late).
func TestLateRelayKeepsNewerEdgeState(t *testing.T) {
	rp := newReplica(t, "tcp://127.0.0.1:1", "hub-b")
	topic := contract.HubLiveTopic(contract.DefaultPrefix, "hub-a")
	t0 := time.Now().UTC()
	// The edge's last will came here at t0+100ms.
	rp.state.ApplyEdge(hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: false, LastSeen: t0.Add(100 * time.Millisecond)})
	rp.EdgeStatus("tw01", "tw01-e1", false, t0.Add(100*time.Millisecond))
	// A ingested a reading and an online status of the edge just before.
	rp.Handle(topic, message(1, func(m *Message) {
		m.Seen = []Seen{{Site: "tw01", Edge: "tw01-e1", At: t0}}
		m.Edges = []Edge{{EdgeState: hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: true, LastSeen: t0}, At: t0}}
	}), time.Now())
	if e, _ := rp.state.Edge("tw01", "tw01-e1"); e.Online {
		t.Fatalf("edge back online through a late relay: %+v", e)
	}
	// A later sign of life is applied.
	rp.Handle(topic, message(2, func(m *Message) {
		m.Seen = []Seen{{Site: "tw01", Edge: "tw01-e1", At: t0.Add(time.Second)}}
	}), time.Now())
	if e, _ := rp.state.Edge("tw01", "tw01-e1"); !e.Online {
		t.Fatalf("edge heard from after its last will is still offline: %+v", e)
	}
}

// TestSplit: a batch larger than a message goes out as several, each
// within MaxMessageBytes, with nothing lost and nothing dropped.
func TestSplit(t *testing.T) {
	rp := newReplica(t, "tcp://127.0.0.1:1", "hub-a")
	p := newPending()
	now := time.Now().UTC()
	for i := range 2000 {
		w := 1.0
		p.events = append(p.events, &hub.ParcelEvent{ID: fmt.Sprint("tw01-e1-1-", i), Site: "tw01", Edge: "tw01-e1", Station: "s1",
			Kind: contract.EventSorted, Waybill: fmt.Sprintf("SF%012d", i), Route: "r01", Bin: "b1", WeightKg: &w, TS: now, Recv: now})
	}
	for i := range 300 {
		r := &hub.Reading{ID: fmt.Sprint("r", i), Site: "tw01", Edge: "tw01-e1", Device: fmt.Sprint("d", i), TS: now, Fields: map[string]float64{"temperature": 1}}
		p.readings[deviceKey{"tw01", r.Device}] = r
	}
	msgs := rp.split(Message{V: Version, Replica: "hub-a", Boot: 1, Sent: now}, p)
	if len(msgs) < 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	events, readings := 0, 0
	for i, m := range msgs {
		m.Seq = uint64(i + 1)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxMessageBytes {
			t.Errorf("message %d is %d bytes", i, len(b))
		}
		d, err := Decode(contract.DefaultPrefix, contract.HubLiveTopic(contract.DefaultPrefix, "hub-a"), b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		events += len(d.Events)
		readings += len(d.Readings)
	}
	if events != 2000 || readings != 300 || rp.dropped.Value() != 0 {
		t.Errorf("%d messages carry %d events and %d readings, %d dropped; want 2000, 300, 0", len(msgs), events, readings, rp.dropped.Value())
	}
	t.Logf("2000 parcel events and 300 readings in %d messages", len(msgs))
}

// TestHandOver: a replica stopping hands its share over only while
// another is there and not stopping too.
func TestHandOver(t *testing.T) {
	// Each case has a broker of its own: the replicas of one are not there
	// for the others.
	start := func(ids ...string) []*replica {
		b := startBroker(t)
		var rs []*replica
		for _, id := range ids {
			rp := newReplica(t, b.URL(), id)
			rp.run(t)
			rs = append(rs, rp)
		}
		// Each announces itself at its first tick (a heartbeat).
		for _, rp := range rs {
			waitFor(t, 5*time.Second, id(rp)+" hears the others", func() error {
				if n := len(rp.Others()); n != len(rs)-1 {
					return fmt.Errorf("%d others", n)
				}
				return nil
			})
		}
		return rs
	}

	if alone := start("hub-a")[0]; alone.HandOver() {
		t.Error("the only replica handed over its share: the broker would drop it")
	}

	pair := start("hub-b", "hub-c")
	if !pair[0].HandOver() {
		t.Error("hub-b did not hand over to hub-c")
	}
	waitFor(t, 5*time.Second, "hub-c hears hub-b leave", func() error {
		if o := pair[1].Others(); len(o) != 0 {
			return fmt.Errorf("others %v", o)
		}
		return nil
	})

	// Two stopping together each hear the other leave: both keep their
	// share rather than both dropping it.
	both := start("hub-d", "hub-e")
	var wg sync.WaitGroup
	got := make([]bool, 2)
	for i, rp := range both {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = rp.HandOver() }()
	}
	wg.Wait()
	if got[0] || got[1] {
		t.Errorf("stopping together, hand-over %v: a group with no subscriber loses messages", got)
	}
}

func id(rp *replica) string { return rp.cfg.Replica }

// TestPace: an update after a quiet spell leaves at once; those that
// follow within the interval wait and leave together, an interval later.
func TestPace(t *testing.T) {
	b := startBroker(t)
	a := newReplica(t, b.URL(), "hub-a")
	a.cfg.Interval = time.Second
	arrived := make(chan time.Time, 16)
	tap := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("tap"))
	if tok := tap.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer tap.Disconnect(0)
	if tok := tap.Subscribe(contract.HubLiveTopic(contract.DefaultPrefix, "hub-a"), 1, func(_ mqtt.Client, msg mqtt.Message) {
		if m, err := Decode(contract.DefaultPrefix, msg.Topic(), msg.Payload()); err == nil && len(m.Readings) > 0 {
			arrived <- time.Now()
		}
	}); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	a.run(t)
	waitFor(t, 5*time.Second, "the relay announces itself", func() error {
		if a.sent.Value() == 0 {
			return fmt.Errorf("nothing sent")
		}
		return nil
	})
	time.Sleep(1100 * time.Millisecond) // a quiet spell
	reading := func(v float64) {
		a.Reading(&hub.Reading{ID: fmt.Sprint(v), Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1", TS: time.Now(),
			Fields: map[string]float64{"temperature": v}})
	}
	t0 := time.Now()
	reading(1)
	first := <-arrived
	reading(2)
	reading(3)
	second := <-arrived
	if d := first.Sub(t0); d > 500*time.Millisecond {
		t.Errorf("the first update after a quiet spell left after %v", d)
	}
	if d := second.Sub(first); d < 900*time.Millisecond {
		t.Errorf("the next message came %v after the first; the interval is 1 s", d)
	}
	select {
	case <-arrived:
		t.Error("the two updates that followed went in two messages")
	case <-time.After(1500 * time.Millisecond):
	}
	t.Logf("quiet spell to message %v; next message %v later", first.Sub(t0).Round(time.Millisecond), second.Sub(first).Round(time.Millisecond))
}

// TestContractPageExample: the relay message on the contract's page is
// one Decode accepts and means what the page says.
func TestContractPageExample(t *testing.T) {
	b, err := os.ReadFile("../../contract/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Hub replicas")
	if !ok {
		t.Fatal("no hub replicas section")
	}
	_, block, ok := strings.Cut(sec, "```json\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no example in the hub replicas section")
	}
	m, err := Decode(contract.DefaultPrefix, contract.HubLiveTopic(contract.DefaultPrefix, "hub-a"), []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Seen) != 1 || len(m.Readings) != 1 || len(m.Edges) != 1 || len(m.Events) != 1 || len(m.Acks) != 1 ||
		m.Readings[0].Fields["temperature"] != 3.2 || m.Edges[0].Online || m.Acks[0].Kind != contract.AlarmEdgeOffline || m.Acks[0].By != "王芳" {
		t.Errorf("example decodes as %+v", m)
	}
}
