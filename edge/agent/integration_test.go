package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/queue"
	"github.com/countylink/countylink/edge/sim"
)

// recorder subscribes to everything under the prefix and keeps the last
// payload per topic and every telemetry message.
type recorder struct {
	mu        sync.Mutex
	last      map[string][]byte
	telemetry []*contract.Telemetry
	retained  map[string]bool
}

func record(t *testing.T, url string) (*recorder, mqtt.Client) {
	t.Helper()
	r := &recorder{last: map[string][]byte{}, retained: map[string]bool{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("recorder-" + t.Name()))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	tok := c.Subscribe(contract.DefaultPrefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.last[m.Topic()] = m.Payload()
		r.retained[m.Topic()] = m.Retained()
		if tp, err := contract.ParseTopic(contract.DefaultPrefix, m.Topic()); err == nil && tp.Kind == contract.KindTelemetry {
			if tm, err := contract.DecodeTelemetry(tp, m.Payload()); err == nil {
				r.telemetry = append(r.telemetry, tm)
			}
		}
	})
	tok.Wait()
	t.Cleanup(func() { c.Disconnect(100) })
	return r, c
}

func (r *recorder) status(t *testing.T, topic string) *contract.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.last[topic]
	if p == nil {
		return nil
	}
	tp, _ := contract.ParseTopic(contract.DefaultPrefix, topic)
	s, err := contract.DecodeStatus(tp, p)
	if err != nil {
		t.Errorf("agent published an invalid status: %v", err)
		return nil
	}
	return s
}

func poll(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentAgainstMosquitto: a working and a failing device behind one
// gateway; the working one keeps publishing valid telemetry, the failing
// one is reported in the retained status and comes back when it answers;
// a ping command is answered; a bad command is counted.
func TestAgentAgainstMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	good, bad := sim.NewBank(), sim.NewBank()
	good.SetHolding(0, 800)
	good.SetHoldingInt16(1, 21)
	bad.SetHolding(0, 700)
	bad.SetHoldingInt16(1, 15)
	srv.Attach(1, good)
	srv.Attach(2, bad)
	srv.SetFault(2, sim.FaultTimeout)

	rec, client := record(t, broker.URL())

	cfg := config.Default()
	cfg.Site, cfg.Edge, cfg.StateDir = "tw01", "tw01-e1", t.TempDir()
	cfg.MQTT.Broker = broker.URL()
	cfg.Devices = []config.Device{
		{ID: "cr1-th", Room: "cr1", Profile: "th-renke", Address: srv.Addr(), Unit: 1, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond},
		{ID: "cr2-th", Room: "cr2", Profile: "th-renke", Address: srv.Addr(), Unit: 2, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Retries: 1},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	statusTopic := contract.StatusTopic(contract.DefaultPrefix, "tw01", "tw01-e1")
	poll(t, 10*time.Second, "status shows cr2 failing and cr1 fine", func() bool {
		s := rec.status(t, statusTopic)
		if s == nil || s.State != contract.StateOnline || len(s.Devices) != 2 {
			return false
		}
		return s.Devices[0].OK && !s.Devices[1].OK && strings.Contains(s.Devices[1].Error, "slave 2")
	})
	poll(t, 5*time.Second, "ten readings of cr1 while cr2 fails", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, m := range rec.telemetry {
			if m.Device == "cr2-th" {
				t.Fatalf("telemetry from the failing device: %+v", m)
			}
			if m.Device == "cr1-th" && m.Fields["temperature"] == 2.1 && m.Fields["humidity"] == 80 && m.Room == "cr1" {
				n++
			}
		}
		return n >= 10
	})
	// Ids are unique and carry the boot number; sent is stamped.
	rec.mu.Lock()
	ids := map[string]bool{}
	for _, m := range rec.telemetry {
		if ids[m.ID] || !strings.HasPrefix(m.ID, "tw01-e1-1-") || m.Sent.Before(m.TS) {
			t.Errorf("bad id or sent: %s ts %v sent %v", m.ID, m.TS, m.Sent)
		}
		ids[m.ID] = true
	}
	rec.mu.Unlock()

	// The device recovers.
	srv.SetFault(2, sim.FaultNone)
	poll(t, 5*time.Second, "cr2 back", func() bool {
		s := rec.status(t, statusTopic)
		return s != nil && len(s.Devices) == 2 && s.Devices[1].OK
	})

	// Commands: ping answered, garbage counted.
	cmd, _ := json.Marshal(contract.Command{V: 1, ID: "hub-1", TS: time.Now(), Name: "ping"})
	client.Publish(contract.CommandTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "ping"), 1, false, cmd).Wait()
	client.Publish(contract.CommandTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "ping"), 1, false, "garbage").Wait()
	resultTopic := contract.ResultTopic(contract.DefaultPrefix, "tw01", "tw01-e1")
	poll(t, 5*time.Second, "ping result", func() bool {
		rec.mu.Lock()
		p := rec.last[resultTopic]
		rec.mu.Unlock()
		tp, _ := contract.ParseTopic(contract.DefaultPrefix, resultTopic)
		r, err := contract.DecodeResult(tp, p)
		return err == nil && r.Command == "hub-1" && r.OK && strings.Contains(string(r.Data), `"boot":1`)
	})
	poll(t, 5*time.Second, "bad command counted", func() bool { return a.Stats().BadCommands == 1 })

	// A clean stop leaves a retained offline status.
	cancel()
	<-done
	poll(t, 5*time.Second, "offline status", func() bool {
		s := rec.status(t, statusTopic)
		return s != nil && s.State == contract.StateOffline
	})
	if st := a.Stats(); st.Queue.DroppedTelemetry != 0 || st.Published < 10 {
		t.Errorf("stats %+v", st)
	}
}

// TestAgentBuffersWhileBrokerDown: readings taken while the broker is
// stopped are held and delivered, in order, after it comes back.
func TestAgentBuffersWhileBrokerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	bank := sim.NewBank()
	bank.SetHolding(0, 800, 20)
	srv.Attach(1, bank)

	cfg := config.Default()
	cfg.Site, cfg.Edge, cfg.StateDir = "tw02", "tw02-e1", t.TempDir()
	cfg.MQTT.Broker = broker.URL()
	cfg.MQTT.MaxReconnectInterval = 500 * time.Millisecond
	cfg.Queue.Window = 1 // the backlog of the outage fills it: a replay, and the live lane opens
	cfg.Devices = []config.Device{{ID: "cr1-th", Room: "cr1", Profile: "th-renke", Address: srv.Addr(), Unit: 1, Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond}}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	poll(t, 10*time.Second, "publishing", func() bool { return a.Stats().Published > 3 })

	broker.Stop()
	poll(t, 20*time.Second, "backlog grows while the broker is down", func() bool { return a.Stats().Backlog >= 300 })
	held := a.Stats().Backlog
	rec, _ := func() (*recorder, mqtt.Client) { broker.Start(); return record(t, broker.URL()) }()
	// Readings keep coming at 100/s, a group commit (200 ms) at a time, so
	// "drained" is the outage's backlog gone, not an empty queue.
	poll(t, 30*time.Second, "backlog drained after the broker returns", func() bool { return a.Stats().Backlog < 50 })
	// Then stop the device, so the queue empties and every queued copy has
	// arrived before order is judged.
	srv.SetFault(1, sim.FaultTimeout)
	poll(t, 30*time.Second, "queue empty", func() bool { return a.Stats().Backlog == 0 })
	poll(t, 5*time.Second, "held readings delivered", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return int64(len(rec.telemetry)) >= held
	})
	// The queued copies arrive in order. Readings taken during the replay
	// are also sent at once (the live lane) and arrive twice with one id:
	// order is judged on each id's last arrival, the queued copy.
	rec.mu.Lock()
	last := map[string]int{}
	for i, m := range rec.telemetry {
		last[m.ID] = i
	}
	var prev time.Time
	for i, m := range rec.telemetry {
		if last[m.ID] != i {
			continue
		}
		if m.TS.Before(prev) {
			t.Errorf("queued copy out of order: %v after %v", m.TS, prev)
		}
		prev = m.TS
	}
	rec.mu.Unlock()
	if a.Stats().LivePublished == 0 {
		t.Error("no reading was sent live during the replay")
	}
	if st := a.Stats(); st.Queue.DroppedTelemetry != 0 {
		t.Errorf("dropped %d", st.Queue.DroppedTelemetry)
	}
}

// TestAgentQueueBudget: with the uplink down and the queue's budget
// exhausted, the agent keeps polling, thins and then drops old telemetry,
// and says so in its status; a command result (status class) is still
// accepted.
func TestAgentQueueBudget(t *testing.T) {
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := config.Default()
	cfg.Site, cfg.Edge, cfg.StateDir = "tw03", "tw03-e1", t.TempDir()
	cfg.MQTT.Broker = "tcp://127.0.0.1:1" // nothing listens: the uplink stays down
	cfg.Queue.MaxBytes = 64 << 10
	for u := 1; u <= 8; u++ {
		b := sim.NewBank()
		b.SetHolding(0, uint16(700+u), uint16(20+u))
		srv.Attach(byte(u), b)
		cfg.Devices = append(cfg.Devices, config.Device{ID: "d" + string(rune('0'+u)), Room: "cr1", Profile: "th-renke",
			Address: srv.Addr(), Unit: u, Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	poll(t, 60*time.Second, "telemetry thinned or dropped to fit the budget", func() bool {
		q := a.Stats().Queue
		return q.Thinned+q.DroppedTelemetry > 0
	})
	st := a.Stats()
	if st.Queue.Bytes > 2*cfg.Queue.MaxBytes {
		t.Errorf("queue holds %d bytes, budget %d", st.Queue.Bytes, cfg.Queue.MaxBytes)
	}
	polls := st.Polls
	poll(t, 5*time.Second, "still polling", func() bool { return a.Stats().Polls > polls+50 })
	s := a.status(contract.StateOnline)
	if s.Queue == nil || s.Queue.Thinned+s.Queue.Dropped == 0 || s.Backlog == 0 {
		t.Errorf("status does not say the queue is over budget: %+v backlog %d", s.Queue, s.Backlog)
	}
	if err := a.appendQueue(queue.Message{Class: queue.Status, Topic: "countylink/tw03/tw03-e1/result", Payload: []byte(`{}`)}); err != nil {
		t.Errorf("a result was refused while telemetry could still be dropped: %v", err)
	}
	t.Logf("queue %d bytes, thinned %d, dropped %d, pending %v", st.Queue.Bytes, st.Queue.Thinned, st.Queue.DroppedTelemetry, st.Queue.Pending)
}
