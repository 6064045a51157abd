package e2e

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/server"
)

// TestFloodingEdge: through real Mosquitto, one edge publishes 5,000
// readings taken within two seconds (a poll interval gone wrong) while
// another township's edge sends its usual readings. Every reading of the
// well-behaved edge is stored, the flooding edge's excess is dropped and
// counted against it alone, and a coordinator sees an edge_flood alarm.
func TestFloodingEdge(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	h := startHub(t, func(c *server.Config) {
		c.MQTT.Broker = broker.URL()
		c.EdgeRate, c.EdgeBurst = 50, 200
	})
	base := "http://" + h.HTTPAddr
	flood := mqttClient(t, broker.URL(), "tw01-flood")
	calm := mqttClient(t, broker.URL(), "tw02-e1")
	send := func(c mqtt.Client, site, edge string, seq int, ts time.Time) mqtt.Token {
		b, err := contract.Encode(contract.Telemetry{Header: contract.Header{V: contract.SchemaVersion,
			ID: contract.MessageID(edge, 1, uint64(seq)), Site: site, Edge: edge, TS: ts, Sent: ts},
			Device: "cr1-th", Room: "cr1", Fields: map[string]float64{"temperature": 2 + float64(seq%10)/10}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Publish(contract.TelemetryTopic(contract.DefaultPrefix, site, edge, "cr1-th"), 1, false, b)
	}
	start := time.Now()
	var toks []mqtt.Token
	for i := range 5000 {
		toks = append(toks, send(flood, "tw01", "tw01-flood", i+1, start.Add(time.Duration(i)*400*time.Microsecond)))
		if i%250 == 0 {
			toks = append(toks, send(calm, "tw02", "tw02-e1", i/250+1, time.Now()))
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	var traffic []ingest.EdgeTraffic
	waitFor(t, 20*time.Second, "every message counted", func() error {
		traffic = nil
		if err := getJSON(t, base+"/api/v1/edges/traffic", &traffic); err != nil {
			return err
		}
		n := uint64(0)
		for _, e := range traffic {
			n += e.Received
		}
		if n < 5020 {
			return fmt.Errorf("%d of 5,020 messages received", n)
		}
		return nil
	})
	if len(traffic) != 2 || traffic[0].Edge != "tw01-flood" || traffic[0].Dropped < 4500 || traffic[0].Dropped > 4800 ||
		traffic[1].Edge != "tw02-e1" || traffic[1].Dropped != 0 || traffic[1].Received != 20 {
		t.Errorf("traffic %+v", traffic)
	}
	waitFor(t, 20*time.Second, "the well-behaved edge's 20 readings stored", func() error {
		n, err := h.SQLite.Query(t.Context(), "tw02", "cr1-th", "temperature", start.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return err
		}
		if len(n) != 20 {
			return fmt.Errorf("%d stored", len(n))
		}
		return nil
	})
	waitFor(t, 20*time.Second, "an edge_flood alarm for the coordinator", func() error {
		var active []alarm.Alarm
		if err := getJSON(t, base+"/api/v1/alarms?site=tw01", &active); err != nil {
			return err
		}
		for _, a := range active {
			if a.Kind == contract.AlarmEdgeFlood && a.Edge == "tw01-flood" {
				return nil
			}
		}
		return fmt.Errorf("active alarms %+v", active)
	})
}
