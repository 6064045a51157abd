package uplink

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/deploy/testenv"
)

// got records what a handler got, in order.
type got struct {
	mu sync.Mutex
	m  []string // topic=payload
}

func (g *got) add(topic string, payload []byte) {
	g.mu.Lock()
	g.m = append(g.m, topic+"="+string(payload))
	g.mu.Unlock()
}

func (g *got) list() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.m)
}

func (g *got) has(s string) bool { return slices.Contains(g.list(), s) }

func waitFor(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publisher(t *testing.T, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("pub-" + t.Name()))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func pub(t *testing.T, c mqtt.Client, topic string, retained bool, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// TestSubscriptions: a retained message published before the edge
// connects reaches its subscription's handler; every subscription is
// acknowledged before the uplink is up (a message published from
// OnConnect arrives on each); a retained message comes again after a
// reconnection.
func TestSubscriptions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	p := publisher(t, broker.URL())
	pub(t, p, "t/s1/_site/plan", true, "retained-1")

	var cmds, plans, other got
	connected := make(chan struct{}, 4)
	u := New(Config{Broker: broker.URL(), ClientID: "edge-" + t.Name(), MaxReconnectInterval: 200 * time.Millisecond,
		CommandFilter: "t/s1/e1/cmd/+", OnCommand: cmds.add,
		Subscriptions: []Subscription{
			{Filter: "t/s1/_site/plan", QoS: 1, Handler: plans.add},
			{Filter: "t/s1/_site/other", QoS: 1, Handler: other.add},
			{Filter: "t/ignored"}, // no handler: not subscribed
		},
		OnConnect: func(*Client) {
			// Published as the uplink comes up: each must arrive.
			for topic, payload := range map[string]string{"t/s1/e1/cmd/ping": "c", "t/s1/_site/other": "o"} {
				if tok := p.Publish(topic, 1, false, payload); tok.Wait() && tok.Error() != nil {
					t.Error(tok.Error())
				}
			}
			connected <- struct{}{}
		},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer u.Close(100 * time.Millisecond)

	<-connected
	if !u.Connected() {
		t.Error("OnConnect ran before Connected")
	}
	waitFor(t, 5*time.Second, "retained plan, command and live message", func() bool {
		return plans.has("t/s1/_site/plan=retained-1") && cmds.has("t/s1/e1/cmd/ping=c") && other.has("t/s1/_site/other=o")
	})
	pub(t, p, "t/s1/_site/plan", true, "retained-2")
	waitFor(t, 5*time.Second, "live plan", func() bool { return plans.has("t/s1/_site/plan=retained-2") })

	// The broker restarts (keeping its retained messages): the edge
	// subscribes again and gets the retained message anew.
	broker.Stop()
	broker.Start()
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatal("no reconnection")
	}
	waitFor(t, 5*time.Second, "retained plan after reconnecting", func() bool {
		n := 0
		for _, m := range plans.list() {
			if m == "t/s1/_site/plan=retained-2" {
				n++
			}
		}
		return n == 2
	})
	if n := u.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	if got := plans.list(); got[0] != "t/s1/_site/plan=retained-1" {
		t.Errorf("plan handler got %q", got)
	}
}

// TestSubscriptionOrder: a subscription's handler gets its messages one at
// a time in the order sent, even when it blocks; while it blocks, commands
// and the other subscriptions go on being delivered.
func TestSubscriptionOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	p := publisher(t, broker.URL())

	release := make(chan struct{})
	var (
		slow, fast, cmds got
		busy             sync.Mutex // held while the slow handler runs: never two at once
		overlap          atomic.Bool
	)
	up := make(chan struct{}, 1)
	u := New(Config{Broker: broker.URL(), ClientID: "edge-" + t.Name(),
		CommandFilter: "t/s1/e1/cmd/+", OnCommand: cmds.add,
		Subscriptions: []Subscription{
			{Filter: "t/slow", QoS: 1, Handler: func(topic string, payload []byte) {
				if !busy.TryLock() {
					overlap.Store(true)
					return
				}
				defer busy.Unlock()
				if string(payload) == "0" {
					<-release // the first message holds the handler up
				}
				slow.add(topic, payload)
			}},
			{Filter: "t/fast", QoS: 1, Handler: fast.add},
		},
		OnConnect: func(*Client) { up <- struct{}{} },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer u.Close(100 * time.Millisecond)
	<-up

	const n = 50
	for i := range n {
		p.Publish("t/slow", 1, false, fmt.Sprint(i)) // not waited for: all in flight at once
	}
	pub(t, p, "t/fast", false, "f")
	pub(t, p, "t/s1/e1/cmd/ping", false, "c")
	waitFor(t, 5*time.Second, "the other subscription and a command while the slow handler blocks", func() bool {
		return fast.has("t/fast=f") && cmds.has("t/s1/e1/cmd/ping=c")
	})
	if len(slow.list()) != 0 {
		t.Fatalf("slow handler not blocked: %q", slow.list())
	}
	close(release)
	waitFor(t, 5*time.Second, "every slow message", func() bool { return len(slow.list()) == n })
	for i, m := range slow.list() {
		if want := fmt.Sprintf("t/slow=%d", i); m != want {
			t.Fatalf("message %d is %q, want %q (all: %q)", i, m, want, slow.list())
		}
	}
	if overlap.Load() {
		t.Error("the handler ran twice at once")
	}
}
