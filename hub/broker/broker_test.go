package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestPubSubRetainedAndPortInUse(t *testing.T) {
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	pub.Publish("countylink/tw01/e1/status", 1, true, `{"state":"online"}`).Wait()

	got := make(chan string, 16)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sub"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) }).Wait()
	pub.Publish("countylink/tw01/e1/telemetry/d", 1, false, `{"v":1}`).Wait()
	// QoS 1 is at least once: the retained status may come more than once.
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for !seen["countylink/tw01/e1/status"] || !seen["countylink/tw01/e1/telemetry/d"] {
		select {
		case m := <-got:
			seen[strings.Fields(m)[0]] = true
		case <-deadline:
			t.Fatalf("got %v, want the retained status and the telemetry", seen)
		}
	}
	if b.Clients() < 2 {
		t.Fatalf("clients %d", b.Clients())
	}

	// A taken port fails at once with a message that says what to do.
	_, err = Start(b.Addr(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "-broker-listen") {
		t.Fatalf("second broker on %s: %v", b.Addr(), err)
	}
}

// TestSlowSubscriberLosesNothing: a subscriber keeping its session (the
// hub's ingest) stops reading for a while, as when its store is slow,
// while an edge publishes more than fits in its write queue and the
// socket's buffers. With flow control the edge is held back and every
// message arrives once the subscriber reads again. Without it (nothing
// held: holdFor 0), or once the edge was held back longer than holdFor,
// mochi drops messages it acknowledged: each drop is counted (and
// logged).
func TestSlowSubscriberLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		holdAt  int
		holdFor time.Duration
		lost    string // acknowledged messages lost: "none", "some", or "any" number
	}{
		{name: "flow control", holdAt: 8, holdFor: time.Minute, lost: "none"},
		{name: "held too long", holdAt: 8, holdFor: 300 * time.Millisecond, lost: "any"},
		{name: "no flow control", holdAt: 1 << 30, holdFor: 0, lost: "some"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(w, h int, d time.Duration) { writesPending, holdAt, holdFor = w, h, d }(writesPending, holdAt, holdFor)
			writesPending, holdAt, holdFor = 16, tc.holdAt, tc.holdFor
			b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()

			release := make(chan struct{})
			got := make(chan string, 1024)
			sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("hub").SetCleanSession(false).SetOrderMatters(true))
			if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer sub.Disconnect(50)
			sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) {
				<-release
				got <- string(m.Payload()[:8])
			}).Wait()

			pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("edge"))
			if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer pub.Disconnect(50)
			// 400 messages of 60 KiB: far more than the loopback socket
			// buffers hold, and the write queue's 16 slots.
			const n = 400
			body := strings.Repeat("x", 60<<10)
			type sent struct {
				id  string
				tok mqtt.Token
			}
			toks := make(chan sent, n)
			go func() {
				defer close(toks)
				// Publish itself blocks while the edge is held back.
				for i := range n {
					id := fmt.Sprintf("%08d", i)
					toks <- sent{id, pub.Publish("countylink/tw01/e1/telemetry/d", 1, false, id+body)}
				}
			}()
			time.Sleep(2 * time.Second) // the subscriber reads nothing meanwhile
			close(release)
			acked := map[string]bool{}
			deadline := time.Now().Add(20 * time.Second)
			for s := range toks {
				if s.tok.WaitTimeout(time.Until(deadline)) && s.tok.Error() == nil {
					acked[s.id] = true
				}
			}
			arrived := map[string]bool{}
			for wait := time.After(5 * time.Second); len(arrived) < len(acked); {
				select {
				case id := <-got:
					arrived[id] = true
				case <-wait:
					goto done
				}
			}
		done:
			lost := 0
			for id := range acked {
				if !arrived[id] {
					lost++
				}
			}
			st := b.Stats()
			t.Logf("%d published, %d acknowledged, %d of those lost; %+v", n, len(acked), lost, st)
			if (lost > 0) != (st.Dropped > 0) || (tc.lost == "none" && lost > 0) || (tc.lost == "some" && lost == 0) {
				t.Errorf("%d acknowledged messages lost (want %s), %d counted dropped", lost, tc.lost, st.Dropped)
			}
			if len(acked) != n {
				t.Errorf("%d of %d acknowledged", len(acked), n)
			}
			if tc.holdFor > 0 && st.Held == 0 {
				t.Errorf("held back: %+v", st)
			}
			if tc.lost == "none" {
				queueEmpties(t, b, "hub")
			}
		})
	}
}

// TestManyEdgesHeldInTurn: 300 edges publish at once to a subscriber
// keeping its session that reads nothing for a while. Held edges go on
// one for each message the subscriber takes: were they all let go when
// the first slot freed, they would overflow its 16-slot queue.
func TestManyEdgesHeldInTurn(t *testing.T) {
	defer func(w, h int, d time.Duration) { writesPending, holdAt, holdFor = w, h, d }(writesPending, holdAt, holdFor)
	writesPending, holdAt, holdFor = 16, 8, time.Minute
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := make(chan struct{})
	got := make(chan string, 1024)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("hub").SetCleanSession(false))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		<-release
		got <- string(m.Payload()[:8])
	}).Wait()

	const edges, each = 300, 3
	body := strings.Repeat("x", 60<<10)
	var wg sync.WaitGroup
	acked := make(chan string, edges*each)
	for e := range edges {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprint("e", e)))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		defer c.Disconnect(50)
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("%04d%04d", e, i)
				if tok := c.Publish("countylink/tw01/e1/telemetry/d", 1, false, id+body); tok.WaitTimeout(time.Minute) && tok.Error() == nil {
					acked <- id
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // the subscriber reads nothing meanwhile
	close(release)
	wg.Wait()
	close(acked)
	arrived := map[string]bool{}
	lost := 0
	for id := range acked {
		for !arrived[id] {
			select {
			case m := <-got:
				arrived[m] = true
			case <-time.After(5 * time.Second):
				lost++
				arrived[id] = true
			}
		}
	}
	st := b.Stats()
	t.Logf("%d acknowledged messages lost; %+v", lost, st)
	if lost > 0 || st.Dropped > 0 || st.Held == 0 {
		t.Errorf("%d acknowledged messages lost; %+v", lost, st)
	}
	queueEmpties(t, b, "hub")
}

// queueEmpties fails unless the count of client id's queued messages is
// back to 0 once all were delivered: a count that drifts up would hold
// publishers back for good.
func queueEmpties(t *testing.T, b *Broker, id string) {
	t.Helper()
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		t.Fatalf("no client %s", id)
	}
	for deadline := time.Now().Add(5 * time.Second); b.flow.queue(cl) != 0 || b.flow.nReserved.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d messages still counted queued, %d reserved", id, b.flow.queue(cl), b.flow.nReserved.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWillsHeldInTurn: 300 edges lose power at once while the subscriber
// keeping its session reads nothing and its socket is full: their last
// wills wait their turn as publishes do, and all arrive.
func TestWillsHeldInTurn(t *testing.T) {
	defer func(w, h int, d time.Duration) { writesPending, holdAt, holdFor = w, h, d }(writesPending, holdAt, holdFor)
	writesPending, holdAt, holdFor = 16, 8, time.Minute
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := make(chan struct{})
	wills := make(chan string, 1024)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("hub").SetCleanSession(false))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		<-release
		if strings.HasSuffix(m.Topic(), "/status") {
			wills <- string(m.Payload())
		}
	}).Wait()
	// Fill the subscriber's socket and queue.
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("filler"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	body := strings.Repeat("x", 60<<10)
	go func() {
		for range 200 {
			pub.Publish("countylink/tw01/filler/telemetry/d", 1, false, body)
		}
	}()

	const edges = 300
	var conns []net.Conn
	var mu sync.Mutex
	for e := range edges {
		o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprint("e", e)).SetAutoReconnect(false).
			SetWill(fmt.Sprintf("countylink/tw01/e%d/status", e), fmt.Sprint("e", e), 1, false).
			SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
				c, err := net.Dial("tcp", u.Host)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				return c, err
			})
		c := mqtt.NewClient(o)
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	time.Sleep(time.Second)
	for _, c := range conns { // a power cut: no DISCONNECT
		c.Close()
	}
	time.Sleep(time.Second)
	close(release)
	seen := map[string]bool{}
	for deadline := time.After(20 * time.Second); len(seen) < edges; {
		select {
		case w := <-wills:
			seen[w] = true
		case <-deadline:
			t.Fatalf("%d of %d wills arrived; %+v", len(seen), edges, b.Stats())
		}
	}
	if st := b.Stats(); st.Dropped > 0 || st.Held == 0 {
		t.Errorf("%+v", st)
	}
	queueEmpties(t, b, "hub")
}

// TestRetainedAtSubscriptionHeld: the subscriber keeping its session
// subscribes again (its connection was lost) to 300 retained messages,
// far more than its 16-slot queue and socket take while it reads
// nothing: mochi sends them from the subscriber's own goroutine, which
// waits for room; all arrive.
func TestRetainedAtSubscriptionHeld(t *testing.T) {
	defer func(w, h int, d time.Duration) { writesPending, holdAt, holdFor = w, h, d }(writesPending, holdAt, holdFor)
	writesPending, holdAt, holdFor = 16, 8, time.Minute
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("edges"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	const n = 300
	body := strings.Repeat("x", 60<<10)
	for i := range n {
		pub.Publish(fmt.Sprintf("countylink/tw01/e%03d/status", i), 1, true, fmt.Sprintf("%08d", i)+body).Wait()
	}

	release := make(chan struct{})
	got := make(chan string, 1024)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("hub").SetCleanSession(false))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		<-release
		got <- string(m.Payload()[:8])
	})
	time.Sleep(2 * time.Second) // the subscriber reads nothing meanwhile
	close(release)
	seen := map[string]bool{}
	for deadline := time.After(20 * time.Second); len(seen) < n; {
		select {
		case m := <-got:
			seen[m] = true
		case <-deadline:
			t.Fatalf("%d of %d retained messages arrived; %+v", len(seen), n, b.Stats())
		}
	}
	if st := b.Stats(); st.Dropped > 0 || st.Held == 0 {
		t.Errorf("%+v", st)
	}
	queueEmpties(t, b, "hub")
}
