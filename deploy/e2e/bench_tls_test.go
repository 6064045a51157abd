package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/provision/provisiontest"
	"github.com/countylink/countylink/hub/server"
)

// tlsBenchEdges publish at once, each on its own connection with 100
// messages in flight, as the agent's queue sends.
const (
	tlsBenchEdges  = 20
	tlsBenchWindow = 100
)

// ingestMode is one way the edges and the hub reach the broker.
type ingestMode struct {
	name string
	// edge and hub are the broker URL and TLS of an edge and of the hub
	// (nil TLS: plain TCP).
	edgeURL, hubURL string
	edgeTLS         func(i int) *tls.Config
	hubTLS          *tls.Config
}

// BenchmarkIngestTLS measures the cost of the security on ingest: 20 edges
// publish readings at once, each on its own connection with 100 in flight,
// through Mosquitto to the hub storing them in InfluxDB, timed from the
// first publish until the hub has stored the last. Secured: the deployed
// configuration with its TLS listener, client certificates from "hub
// provision" (edges and hub) and the ACL checked on every publish and
// delivery. Plain: the same configuration's open test variant (plain TCP,
// anonymous, no ACL). Both brokers run in the same run; the modes
// alternate, twice each, and each keeps its best. The same is measured
// without the hub (a bare QoS 1 subscriber instead), which shows what TLS
// and the ACL cost the broker alone.
func BenchmarkIngestTLS(b *testing.B) {
	n := benchMessages(200_000)
	n -= n % tlsBenchEdges
	county := provisiontest.New(b)
	edges := make([]contract.Identity, tlsBenchEdges)
	for i := range edges {
		edges[i] = contract.EdgeIdentity("tw01", fmt.Sprintf("tw01-b%02d", i))
		county.Issue(b, edges[i], provision.IssueOptions{})
	}
	hubID := contract.HubIdentity("hub")
	county.Issue(b, hubID, provision.IssueOptions{})
	secure := testenv.StartSecureMosquitto(b, county.Dir)
	plain := testenv.StartMosquitto(b)
	influx := testenv.StartInfluxDB(b)

	edgeTLS := make([]*tls.Config, len(edges))
	for i, id := range edges {
		edgeTLS[i] = county.TLS(b, id)
	}
	modes := []ingestMode{
		{name: "tcp", edgeURL: plain.URL(), hubURL: plain.URL(), edgeTLS: func(int) *tls.Config { return nil }},
		{name: "tls+acl", edgeURL: secure.TLSURL(), hubURL: secure.TLSURL(), edgeTLS: func(i int) *tls.Config { return edgeTLS[i] }, hubTLS: county.TLS(b, hubID)},
	}

	// The payloads are made before the clock starts; each round has its
	// own message ids.
	payloads := func(round int) [][][]byte {
		out := make([][][]byte, len(edges))
		ts := time.Now().Add(-time.Hour)
		sent := `"sent":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"`
		for e, id := range edges {
			out[e] = make([][]byte, n/len(edges))
			for i := range out[e] {
				p := telemetryPayload(id.Edge, uint64(round+1), uint64(i+1), ts.Add(time.Duration(i)*time.Millisecond))
				out[e][i] = []byte(strings.Replace(string(p), `"sent":"0001-01-01T00:00:00Z"`, sent, 1))
			}
		}
		return out
	}

	hubRate := func(m ingestMode, round int) float64 {
		cfg := server.DefaultConfig()
		cfg.Listen, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", b.TempDir(), "warn"
		cfg.MQTT.Broker, cfg.MQTT.ClientID = m.hubURL, fmt.Sprintf("hub-tls-bench-%s-%d", m.name, round)
		cfg.Influx.URL, cfg.Influx.Bucket, cfg.Influx.Token = influx.URL(), influx.Bucket(), influx.Token()
		cfg.EdgeRate = -1 // the flood limit is not what is measured
		main := &server.Main{Config: cfg, Log: quietLogger()}
		if m.hubTLS != nil {
			// server.Main builds its TLS from files; give it the hub's.
			f := county.ClientFiles(hubID)
			main.Config.MQTT.TLS = server.TLSConfig{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName}
		}
		if err := main.Open(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			main.Close()
			// The hub's persistent session would go on queueing what the
			// next rounds publish (the secured broker names it by the
			// hub's identity, so the next round would even resume it
			// with its backlog): end it.
			forgetSession(b, m.hubURL, cfg.MQTT.ClientID, m.hubTLS)
		}()
		waitForB(b, 20*time.Second, func() bool { return main.Ingest.Ready() })
		ps := payloads(round)
		start := time.Now()
		publishEdges(b, m, edges, ps)
		waitForB(b, 5*time.Minute, func() bool { return main.Ingest.Stats().Stored >= uint64(n) })
		return float64(n) / time.Since(start).Seconds()
	}

	brokerRate := func(m ingestMode, round int) float64 {
		var got atomic.Int64
		o := mqtt.NewClientOptions().AddBroker(m.hubURL).SetClientID(fmt.Sprintf("bare-%s-%d", m.name, round)).
			SetOrderMatters(false).SetMaxResumePubInFlight(tlsBenchWindow)
		if m.hubTLS != nil {
			o.SetTLSConfig(m.hubTLS)
		}
		sub := mqtt.NewClient(o)
		if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer sub.Disconnect(100)
		if tok := sub.Subscribe(contract.DefaultPrefix+"/+/+/telemetry/+", 1, func(mqtt.Client, mqtt.Message) { got.Add(1) }); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		ps := payloads(round)
		start := time.Now()
		publishEdges(b, m, edges, ps)
		waitForB(b, 5*time.Minute, func() bool { return got.Load() >= int64(n) })
		return float64(n) / time.Since(start).Seconds()
	}

	b.ResetTimer()
	best := map[string]float64{}
	for round := 0; round < 2; round++ {
		for _, m := range modes {
			best["hub "+m.name] = max(best["hub "+m.name], hubRate(m, round))
			best["broker "+m.name] = max(best["broker "+m.name], brokerRate(m, round))
		}
	}
	b.StopTimer()
	ingestRatio := best["hub tls+acl"] / best["hub tcp"]
	brokerRatio := best["broker tls+acl"] / best["broker tcp"]
	b.ReportMetric(best["hub tls+acl"], "tls-acl-msg/s")
	b.ReportMetric(best["hub tcp"], "tcp-msg/s")
	b.ReportMetric(ingestRatio, "ratio")
	b.ReportMetric(brokerRatio, "broker-only-ratio")
	b.Logf("%d readings from %d edges (window %d each) into the hub and InfluxDB: TLS with client certificates and the ACL %.0f msg/s, plain TCP %.0f msg/s, ratio %.2f (goal at least 0.8); broker alone (bare QoS 1 subscriber): %.0f against %.0f msg/s, ratio %.2f",
		n, len(edges), tlsBenchWindow, best["hub tls+acl"], best["hub tcp"], ingestRatio, best["broker tls+acl"], best["broker tcp"], brokerRatio)
}

// forgetSession ends the persistent session of clientID (or, on the
// secured broker, of the identity tlsCfg's certificate names) by
// connecting with a clean session.
func forgetSession(b *testing.B, url, clientID string, tlsCfg *tls.Config) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	c.Disconnect(50)
}

// publishEdges publishes each edge's payloads on its own connection, all
// edges at once, each with tlsBenchWindow messages in flight, and returns
// when the broker has acknowledged every one.
func publishEdges(b *testing.B, m ingestMode, edges []contract.Identity, payloads [][][]byte) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for e, id := range edges {
		o := mqtt.NewClientOptions().AddBroker(m.edgeURL).SetClientID("edge-" + id.Edge).SetMaxResumePubInFlight(tlsBenchWindow)
		if c := m.edgeTLS(e); c != nil {
			o.SetTLSConfig(c)
		}
		cl := mqtt.NewClient(o)
		if tok := cl.Connect(); tok.Wait() && tok.Error() != nil {
			b.Fatalf("%s: %v", id, tok.Error())
		}
		topic := contract.TelemetryTopic(contract.DefaultPrefix, id.Site, id.Edge, "cr1-th")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Disconnect(50)
			slots := make(chan mqtt.Token, tlsBenchWindow)
			done := make(chan struct{})
			go func() {
				for tok := range slots {
					if tok.Wait(); tok.Error() != nil {
						failed.Add(1)
					}
				}
				close(done)
			}()
			for _, p := range payloads[e] {
				slots <- cl.Publish(topic, 1, false, p)
			}
			close(slots)
			<-done
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d publishes failed", failed.Load())
	}
}
