package ingest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/broker"
)

// relayFilter and relayTopic are an Extra subscription as the hub makes
// one for the live relay between replicas.
var (
	relayFilter = contract.HubLiveFilter(contract.DefaultPrefix)
	relayTopic  = contract.HubLiveTopic(contract.DefaultPrefix, "hub-b")
)

// extraLog records what an Extra subscription's handler got.
type extraLog struct {
	mu     sync.Mutex
	topics []string
}

func (l *extraLog) handle(topic string, _ []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topics = append(l.topics, topic)
}

func (l *extraLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.topics)
}

// TestExtraSubscription: a message on an Extra filter goes to its handler
// and is acknowledged at once, as the ingest's handler gets it whether on
// its subscription or, before the subscription is renewed, as paho's
// default; it is never decoded, counted or stored as an edge's message,
// and an edge's message still is.
func TestExtraSubscription(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	var got extraLog
	in.cfg.Extra = []Subscription{{Filter: relayFilter, QoS: 1, Handle: got.handle}}
	runWriter(t, in)
	var acked atomic.Int64
	now := time.Now()
	in.Handle(relayTopic, []byte(`{"v":1,"replica":"hub-b"}`), false, now, func() { acked.Add(1) })
	if got.count() != 1 || got.topics[0] != relayTopic {
		t.Fatalf("extra handler got %v", got.topics)
	}
	if acked.Load() != 1 {
		t.Fatal("the extra subscription's message was not acknowledged at once")
	}
	in.Handle("countylink/tw01/tw01-e1/telemetry/cr1-th", []byte(telemetry("r1", "tw01", now, now, 1)), false, now, nil)
	waitCount(t, st, 1)
	s := in.Stats()
	var rejected uint64
	for _, n := range s.Rejected {
		rejected += n
	}
	if s.Received != 1 || rejected != 0 || got.count() != 1 {
		t.Errorf("received %d rejected %d extra %d; want the edge's message alone counted", s.Received, rejected, got.count())
	}
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true}, {"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "a/b", true},
		{"a/+", "a", false}, {"a/+/c", "a/b", false}, {"a/b", "a/b/c", false}, {"a/_hub/+/live", "a/tw01/e1/live", false},
	} {
		if matches(c.filter, c.topic) != c.want {
			t.Errorf("matches(%q, %q) = %v", c.filter, c.topic, !c.want)
		}
	}
}

// TestExtraOverBroker: over a real broker the Extra subscription is made
// with the ingest's own, before OnSubscribed; its messages reach its
// handler only. At a stop, after HandOver, the writer stores what was
// accepted before BeforeDisconnect runs, which can still publish; the
// Extra subscription is dropped, so the persistent session keeps none of
// its messages while the hub is down (it does keep the edges').
func TestExtraOverBroker(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Start("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tap := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("tap"))
	if tok := tap.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer tap.Disconnect(0)
	var tapped atomic.Int64
	if tok := tap.Subscribe(contract.HubLiveTopic(contract.DefaultPrefix, "hub-a"), 1, func(mqtt.Client, mqtt.Message) { tapped.Add(1) }); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish := func(topic, payload string) {
		t.Helper()
		if tok := tap.Publish(topic, 1, false, payload); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}

	st := &memStore{}
	var got extraLog
	var steps []string
	var stepsMu sync.Mutex
	step := func(s string) {
		stepsMu.Lock()
		defer stepsMu.Unlock()
		steps = append(steps, s)
	}
	start := func() (*Ingest, func()) {
		in, _ := newTestIngest(t, st)
		in.cfg.Broker, in.cfg.ClientID, in.cfg.SharedGroup = b.URL(), "hub-a", "hubs"
		in.cfg.BatchSize, in.cfg.FlushInterval = 1000, time.Hour // stored only when the stop asks
		in.cfg.Extra = []Subscription{{Filter: relayFilter, QoS: 1, Handle: got.handle}}
		in.cfg.OnSubscribed = func() { step("subscribed") }
		in.cfg.HandOver = func() bool { step("hand over"); return true }
		in.cfg.BeforeDisconnect = func() {
			step("before disconnect")
			if n := st.eventCount(); n != 1 {
				t.Errorf("%d parcel events stored before BeforeDisconnect; want the one accepted", n)
			}
			if err := in.Publish(context.Background(), contract.HubLiveTopic(contract.DefaultPrefix, "hub-a"), []byte(`{}`)); err != nil {
				t.Errorf("BeforeDisconnect could not publish: %v", err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { in.Run(ctx); close(done) }()
		waitFor(t, "ingest subscribed", in.Ready)
		return in, func() { cancel(); <-done }
	}

	in, stop := start()
	publish(relayTopic, `{"v":1}`)
	now := time.Now()
	publish(eventTopic, string(event("tw01-e1-1-1", "st1", contract.EventSorted, now, now, 1)))
	waitFor(t, "both messages handled", func() bool { return got.count() == 1 && in.Stats().Received == 1 })
	stop()
	stepsMu.Lock()
	if want := "subscribed,hand over,before disconnect"; strings.Join(steps, ",") != want {
		t.Errorf("steps %s; want %s", strings.Join(steps, ","), want)
	}
	stepsMu.Unlock()
	waitFor(t, "BeforeDisconnect's message published", func() bool { return tapped.Load() == 1 })

	// While the hub is down: the relay's message is not kept for it, an
	// edge's on an unshared subscription (a command result; the shared
	// ones were handed over) is.
	publish(relayTopic, `{"v":1}`)
	publish(contract.ResultTopic(contract.DefaultPrefix, "tw01", "tw01-e1"), `{}`)
	in, stop = start()
	defer stop()
	waitFor(t, "the edge's message kept by the session", func() bool { return in.Stats().Received == 1 })
	time.Sleep(100 * time.Millisecond)
	if got.count() != 1 {
		t.Errorf("extra handler got %v; the one sent while the hub was down was kept for it", got.topics)
	}
}
