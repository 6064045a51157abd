package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/state"
)

// startHub starts the hub's wiring with its embedded broker on free ports.
func startHub(t *testing.T, dataDir string) *Main {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.TimeZone = "127.0.0.1:0", dataDir, "Asia/Shanghai"
	cfg.MQTT.Embedded, cfg.MQTT.EmbeddedListen = true, "127.0.0.1:0"
	cfg.FlushInterval = 20 * time.Millisecond
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Demo: true}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	// The demo's API token (a county coordinator) for the test's requests.
	hubTokens.Store(m.HTTPAddr, readToken(t, dataDir))
	poll(t, "the hub subscribed", func() error {
		if !m.Ingest.Ready() {
			return fmt.Errorf("not subscribed")
		}
		return nil
	})
	return m
}

func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startEdge connects a client acting as edge tw01-e1: it answers the
// commands "write" (reading back what it wrote) and refuses any other.
func startEdge(t *testing.T, brokerURL string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("tw01-e1"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	tok := c.Subscribe(contract.CommandFilter(contract.DefaultPrefix, "tw01", "tw01-e1"), 1, func(c mqtt.Client, m mqtt.Message) {
		tp, err := contract.ParseTopic(contract.DefaultPrefix, m.Topic())
		if err != nil {
			t.Error(err)
			return
		}
		cmd, err := contract.DecodeCommand(tp, m.Payload())
		if err != nil {
			t.Error(err)
			return
		}
		now := time.Now().UTC()
		r := contract.Result{Header: contract.Header{V: 1, ID: "tw01-e1-1-" + cmd.ID, Site: "tw01", Edge: "tw01-e1", TS: now}, Command: cmd.ID}
		if cmd.Name == "write" {
			r.OK, r.Data = true, cmd.Args
		} else {
			r.Error = "unknown command " + cmd.Name
		}
		b, _ := contract.Encode(r)
		go c.Publish(contract.ResultTopic(contract.DefaultPrefix, "tw01", "tw01-e1"), 1, false, b)
	})
	if tok.Wait(); tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return c
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func tw01(t *testing.T, m *Main) state.SiteView {
	t.Helper()
	var sites []state.SiteView
	getJSON(t, "http://"+m.HTTPAddr+"/api/v1/sites", &sites)
	for _, s := range sites {
		if s.ID == "tw01" {
			return s
		}
	}
	t.Fatal("no site tw01")
	return state.SiteView{}
}

// TestCommandsAndEventsOverMQTT runs a command and parcel events through
// the real wiring and the embedded broker: the API publishes the command,
// the edge's result comes back through ingest; an event the edge publishes
// is stored, counted on the site, listed by the API, and still counted
// after a restart.
func TestCommandsAndEventsOverMQTT(t *testing.T) {
	dir := t.TempDir()
	m := startHub(t, dir)
	edge := startEdge(t, m.BrokerURL)
	base := "http://" + m.HTTPAddr + "/api/v1"

	resp, err := http.Post(base+"/sites/tw01/edges/tw01-e1/commands/write", "application/json",
		strings.NewReader(`{"device":"cr1-ctl","field":"setpoint","value":-1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		command.Command
		Error string
	}
	json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if resp.StatusCode != 200 || reply.State != command.StateOK || string(reply.Result.Data) != `{"device":"cr1-ctl","field":"setpoint","value":-1.5}` {
		t.Fatalf("write: %d %+v", resp.StatusCode, reply)
	}
	resp, err = http.Post(base+"/sites/tw01/edges/tw01-e1/commands/reboot?wait=5s", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(reply.Error, "unknown command reboot") {
		t.Fatalf("reboot: %d %+v", resp.StatusCode, reply)
	}

	now := time.Now().UTC()
	w := 2.5
	b, _ := contract.Encode(contract.ParcelEvent{
		Header: contract.Header{V: 1, ID: "tw01-e1-1-100", Site: "tw01", Edge: "tw01-e1", TS: now, Sent: now},
		Kind:   contract.EventSorted, Station: "st1", Waybill: "SF1234567890123", Carrier: "sf", Route: "r3", Bin: "b3",
		Rule: "manifest", PlanVersion: "1", WeightKg: &w})
	topic := contract.EventTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "st1")
	for range 2 { // at least once: the second is a duplicate
		if tok := edge.Publish(topic, 1, false, b); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	poll(t, "the event counted on tw01", func() error {
		if p := tw01(t, m).Parcels; p.Sorted != 1 || p.WeightKg != 2.5 {
			return fmt.Errorf("parcels %+v", p)
		}
		return nil
	})
	var evs []map[string]any
	if code := getJSON(t, base+"/parcels/events?site=tw01", &evs); code != 200 || len(evs) != 1 || evs[0]["waybill"] != "SF1234567890123" {
		t.Fatalf("events: %d %v", code, evs)
	}
	resp, err = http.Get("http://" + m.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`countylink_hub_parcel_events_received_total{kind="sorted"} 2`,
		`countylink_hub_parcel_events_stored_total{kind="sorted"} 1`,
		`countylink_hub_duplicates_total 1`,
		`countylink_hub_commands_sent_total 2`,
		`countylink_hub_command_results_total{outcome="ok"} 1`,
		`countylink_hub_command_results_total{outcome="failed"} 1`,
	} {
		if !strings.Contains(string(metrics), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}

	// A restart keeps the day's counts, and the event sent again is not counted twice.
	m.Close()
	m = startHub(t, dir)
	base = "http://" + m.HTTPAddr + "/api/v1"
	if p := tw01(t, m).Parcels; p.Sorted != 1 {
		t.Fatalf("after a restart: %+v", p)
	}
	edge = startEdge(t, m.BrokerURL)
	if tok := edge.Publish(topic, 1, false, b); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	time.Sleep(200 * time.Millisecond) // ten flush intervals
	if p := tw01(t, m).Parcels; p.Sorted != 1 {
		t.Fatalf("the event sent again after a restart counted twice: %+v", p)
	}

	// Without a broker connection the command API answers 503 at once (a
	// command sent as the connection drops is not acknowledged: 504).
	m.Broker.Close()
	m.Broker = nil // closed here, not again by Close
	poll(t, "503 while the broker is gone", func() error {
		resp, err := http.Post(base+"/sites/tw01/edges/tw01-e1/commands/write?wait=500ms", "application/json",
			strings.NewReader(`{"device":"cr1-ctl","field":"setpoint","value":-1.5}`))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	})
}
