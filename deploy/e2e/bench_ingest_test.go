package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/influx"
	"github.com/countylink/countylink/hub/server"
)

// The hub's sustained ingest is measured as the drain of a backlog the
// broker holds for the consumer's persistent session: the consumer is the
// only thing running while it is timed, it never waits for input, and on
// two shared cores no publisher takes CPU from it (a publishing fleet
// would make the figure as much about the publishers as about the hub).
// It is also the hub's hardest hour in the field: back after a restart or
// an outage, with the broker handing over everything it kept.
//
// Both sides are timed from their connect to the last reading stored. The
// hub cannot know which reading is the last: its final partial batch waits
// for the flush interval (200 ms), where the bare pipeline flushes as soon
// as it has counted the last one. Over the default 1,000,000 readings that
// is under 1 %; a quick look with BENCH_MESSAGES=40000 (a drain of about a
// second) understates the hub, by up to a fifth.

// The fleet the ingest benchmarks replay: edges in ten townships, each
// with three temperature and humidity transmitters, two in a cold room and
// one on the dock, read once a second.
const ingestEdges = 20

var ingestDevices = []struct{ id, room string }{{"cr1-th1", "cr1"}, {"cr1-th2", "cr1"}, {"dock-th", ""}}

// ingestGzip is whether the hub and the bare pipeline alike compress their
// InfluxDB write bodies: on, as the ingest figure asks (batches of
// about 5,000 lines, gzip). The hub's default (influx.gzip) is off: on a
// LAN to the database compression costs CPU and saves nothing.
const ingestGzip = true

// publishFleetBacklog publishes n readings from the ingestEdges edges of
// run (edges "<run>-e00"...), each edge a paho QoS 1 client of its own
// sending its devices' readings in the order they were taken, encoded as
// the agent encodes them and stamped "sent" as they leave. The readings
// are a second apart per device and end a minute ago: a backlog of hours,
// its newest readings live.
func publishFleetBacklog(b *testing.B, url, run string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	now := time.Now()
	for e := 0; e < ingestEdges; e++ {
		count := n / ingestEdges
		if e < n%ingestEdges {
			count++
		}
		site, edge := fmt.Sprintf("tw%02d", e%10+1), fmt.Sprintf("%s-e%02d", run, e)
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("edge-" + edge))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Disconnect(100)
			slots := make(chan mqtt.Token, 100)
			done := make(chan struct{})
			go func() {
				for tok := range slots {
					if tok.Wait(); tok.Error() != nil {
						failed.Add(1)
					}
				}
				close(done)
			}()
			perDevice := (count + len(ingestDevices) - 1) / len(ingestDevices)
			first := now.Add(-time.Minute - time.Duration(perDevice)*time.Second).Truncate(time.Second)
			for i := 0; i < count; i++ {
				d := ingestDevices[i%len(ingestDevices)]
				step := i / len(ingestDevices)
				m := contract.Telemetry{
					Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, 1, uint64(i+1)), Site: site, Edge: edge,
						TS: first.Add(time.Duration(step) * time.Second).UTC()},
					Device: d.id, Room: d.room,
					Fields: map[string]float64{"temperature": 3 + float64(step%40)/10, "humidity": 70 + float64(step%200)/10},
					Units:  map[string]string{"temperature": "Cel", "humidity": "%RH"},
				}
				p, err := json.Marshal(m)
				if err != nil {
					failed.Add(1)
					continue
				}
				slots <- c.Publish(contract.TelemetryTopic(contract.DefaultPrefix, site, edge, d.id), 1, false, stampSent(p, time.Now()))
			}
			close(slots)
			<-done
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("publishing the backlog: %d messages failed", failed.Load())
	}
}

// stampSent sets the "sent" member of a message encoded with a zero Sent,
// as the agent does when the message leaves.
func stampSent(payload []byte, at time.Time) []byte {
	ts, _ := at.UTC().MarshalJSON()
	return bytes.Replace(payload, []byte(`"sent":"0001-01-01T00:00:00Z"`), append([]byte(`"sent":`), ts...), 1)
}

// dropSession ends the persistent session of clientID at the broker, so
// that the backlogs of later rounds are not also queued for it.
func dropSession(b *testing.B, url, clientID string) {
	b.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	c.Disconnect(100)
}

// storedPoints is the number of readings InfluxDB holds from run's edges.
func storedPoints(b *testing.B, db *testenv.InfluxDB, run string) int {
	b.Helper()
	rows := db.Query(b, fmt.Sprintf(`SELECT count("temperature") FROM %q WHERE "edge" =~ /^%s-e/`, influx.Measurement, run))
	if len(rows) == 0 {
		return 0
	}
	n, _ := rows[0].Values["count"].(float64)
	return int(n)
}

// ingestDrain is one consumer set under test: prime makes the broker keep
// a session for each of its consumers, drain starts them on the backlog
// and returns when all n readings are stored, with the time from the
// start and what each consumer stored.
type ingestDrain interface {
	prime(b *testing.B, run string)
	drain(b *testing.B, run string, n int) (time.Duration, []uint64)
}

// hubDrain is the hub's production wiring (server.Main), replicas of it
// when there are several, on the shared subscription group when set.
type hubDrain struct {
	broker   string
	influx   *testenv.InfluxDB
	autoAck  bool
	replicas int
	group    string
	dsn      string            // PostgreSQL, for a shared group
	dataDirs map[string]string // by client id
}

func (h *hubDrain) config(b *testing.B, run string, replica int) server.Config {
	cfg := server.DefaultConfig()
	cfg.MQTT.Broker, cfg.MQTT.ClientID, cfg.MQTT.AutoAck, cfg.MQTT.SharedGroup = h.broker, fmt.Sprintf("hub-%s-%d", run, replica), h.autoAck, h.group
	if h.dataDirs == nil {
		h.dataDirs = map[string]string{}
	}
	if h.dataDirs[cfg.MQTT.ClientID] == "" {
		h.dataDirs[cfg.MQTT.ClientID] = b.TempDir()
	}
	cfg.Listen, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", h.dataDirs[cfg.MQTT.ClientID], "warn"
	cfg.Influx.URL, cfg.Influx.Bucket, cfg.Influx.Token, cfg.Influx.Gzip = h.influx.URL(), h.influx.Bucket(), h.influx.Token(), ingestGzip
	if h.dsn != "" {
		// Replicas in a shared group share their state in PostgreSQL.
		cfg.Store = server.StoreConfig{Driver: server.DriverPostgres, DSN: h.dsn}
	}
	return cfg
}

func (h *hubDrain) prime(b *testing.B, run string) {
	for r := 0; r < h.replicas; r++ {
		m := &server.Main{Config: h.config(b, run, r), Log: quietLogger()}
		if err := m.Open(); err != nil {
			b.Fatal(err)
		}
		waitForB(b, 10*time.Second, func() bool { return m.Ingest.Ready() })
		m.Close()
	}
}

func (h *hubDrain) drain(b *testing.B, run string, n int) (time.Duration, []uint64) {
	hubs := make([]*server.Main, h.replicas)
	stored := func() uint64 {
		var sum uint64
		for _, m := range hubs {
			sum += m.Ingest.Stats().Stored
		}
		return sum
	}
	start := time.Now()
	for r := range hubs {
		hubs[r] = &server.Main{Config: h.config(b, run, r), Log: quietLogger()}
		if err := hubs[r].Open(); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for stored() < uint64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d of %d readings stored in 10 minutes", run, stored(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	// Anything handled twice would show up by now.
	time.Sleep(time.Second)
	per := make([]uint64, len(hubs))
	for r, m := range hubs {
		s := m.Ingest.Stats()
		per[r] = s.Stored
		if s.Duplicates > 0 || s.Received != s.Stored {
			b.Errorf("%s replica %d: received %d, stored %d, duplicates %d", run, r, s.Received, s.Stored, s.Duplicates)
		}
		m.Close()
		dropSession(b, h.broker, m.Config.MQTT.ClientID)
	}
	return took, per
}

// bareDrain is the baseline: a paho subscriber on the same broker with the
// same QoS 1 subscription and persistent session, acknowledging on
// receipt, that decodes each payload and writes the point through the
// InfluxDB client's own batching (WriteAPI, 5,000 points a batch, the
// hub's precision and compression), and nothing else.
type bareDrain struct {
	broker string
	influx *testenv.InfluxDB
}

func (d *bareDrain) options(run string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker(d.broker).SetClientID("bare-" + run).SetCleanSession(false)
}

func (d *bareDrain) prime(b *testing.B, run string) {
	c := mqtt.NewClient(d.options(run))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	if tok := c.Subscribe(contract.UpstreamFilters(contract.DefaultPrefix)[1], 1, nil); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	c.Disconnect(100)
}

func (d *bareDrain) drain(b *testing.B, run string, n int) (time.Duration, []uint64) {
	start := time.Now()
	client := influxdb2.NewClientWithOptions(d.influx.URL(), d.influx.Token(),
		influxdb2.DefaultOptions().SetBatchSize(5000).SetUseGZip(ingestGzip).SetPrecision(time.Millisecond))
	defer client.Close()
	w := client.WriteAPI(d.influx.Org(), d.influx.Bucket())
	var writeErrs atomic.Int64
	go func() {
		for range w.Errors() {
			writeErrs.Add(1)
		}
	}()
	var handled, bad atomic.Int64
	all := make(chan struct{})
	handle := func(_ mqtt.Client, msg mqtt.Message) {
		var m struct {
			Site, Edge, Device, Room string
			TS                       time.Time
			Fields                   map[string]float64
		}
		if err := json.Unmarshal(msg.Payload(), &m); err != nil {
			bad.Add(1)
			return
		}
		tags := map[string]string{"device": m.Device, "edge": m.Edge, "site": m.Site}
		if m.Room != "" {
			tags["room"] = m.Room
		}
		fields := make(map[string]any, len(m.Fields))
		for k, v := range m.Fields {
			fields[k] = v
		}
		w.WritePoint(influxdb2.NewPoint(influx.Measurement, tags, fields, m.TS))
		if handled.Add(1) == int64(n) {
			close(all)
		}
	}
	filter := contract.UpstreamFilters(contract.DefaultPrefix)[1]
	// As the hub does: what the broker kept arrives before the
	// subscription is renewed, and goes to the default handler.
	o := d.options(run).SetDefaultPublishHandler(handle).SetOnConnectHandler(func(c mqtt.Client) {
		go c.Subscribe(filter, 1, handle)
	})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("bare: %d of %d readings in 10 minutes", handled.Load(), n)
	}
	w.Flush()
	took := time.Since(start)
	c.Disconnect(100)
	dropSession(b, d.broker, "bare-"+run)
	if bad.Load() > 0 || writeErrs.Load() > 0 {
		b.Errorf("bare: %d payloads undecodable, %d InfluxDB write errors", bad.Load(), writeErrs.Load())
	}
	return took, []uint64{uint64(handled.Load())}
}

// ingestRound primes d, publishes a backlog of n readings for it, drains
// it and checks InfluxDB holds every reading once. It returns the rate.
func ingestRound(b *testing.B, broker string, db *testenv.InfluxDB, d ingestDrain, run string, n int) (float64, []uint64) {
	b.Helper()
	d.prime(b, run)
	publishFleetBacklog(b, broker, run, n)
	took, per := d.drain(b, run, n)
	var sum uint64
	for _, s := range per {
		sum += s
	}
	if got := storedPoints(b, db, run); sum != uint64(n) || got != n {
		b.Fatalf("%s: %d readings published, %d stored by the consumers, %d in InfluxDB", run, n, sum, got)
	}
	return float64(n) / took.Seconds(), per
}

// BenchmarkHubIngestVsBare drains a backlog of real telemetry from 20
// edges through the hub into InfluxDB, acknowledging after storage (the
// default) and on receipt, against a bare paho + InfluxDB client pipeline
// draining the same backlog. The three alternate, three rounds each, and
// each keeps its best.
func BenchmarkHubIngestVsBare(b *testing.B) {
	n := benchMessages(1_000_000)
	broker := testenv.StartMosquitto(b)
	db := testenv.StartInfluxDB(b)
	drains := []struct {
		name string
		d    ingestDrain
	}{
		{"bare", &bareDrain{broker: broker.URL(), influx: db}},
		{"hubs", &hubDrain{broker: broker.URL(), influx: db, replicas: 1}},
		{"huba", &hubDrain{broker: broker.URL(), influx: db, replicas: 1, autoAck: true}},
	}
	best := make([]float64, len(drains))
	b.ResetTimer()
	for round := 0; round < 3; round++ {
		for i, d := range drains {
			rate, _ := ingestRound(b, broker.URL(), db, d.d, fmt.Sprintf("r%d%s", round, d.name), n)
			b.Logf("round %d %s: %.0f msg/s", round, d.name, rate)
			best[i] = max(best[i], rate)
		}
	}
	b.StopTimer()
	bare, after, onReceipt := best[0], best[1], best[2]
	b.ReportMetric(after, "hub-msg/s")
	b.ReportMetric(onReceipt, "hub-auto-ack-msg/s")
	b.ReportMetric(bare, "bare-msg/s")
	b.ReportMetric(after/bare, "ratio")
	// What acknowledging after storage (no message lost in a crash) costs
	// against acknowledging on receipt.
	b.ReportMetric(after/onReceipt, "ack-after-store-ratio")
	b.Logf("hub draining %d readings of %d edges into InfluxDB: acknowledged after storage %.0f msg/s, on receipt %.0f msg/s; bare paho + InfluxDB WriteAPI pipeline %.0f msg/s; ratio %.2f (after storage), %.2f (on receipt); after storage against on receipt %.2f; InfluxDB holds all %d of each",
		n, ingestEdges, after, onReceipt, bare, after/bare, onReceipt/bare, after/onReceipt, n)
}

// BenchmarkHubIngestReplicas drains the same backlog through two hub
// replicas sharing the work on a shared subscription, against one hub on
// the same shared subscription, alternating, and checks that no reading
// was handled twice: the replicas' stored counts add up to the backlog
// exactly, and so does InfluxDB's count.
func BenchmarkHubIngestReplicas(b *testing.B) {
	n := benchMessages(1_000_000)
	broker := testenv.StartMosquitto(b)
	db := testenv.StartInfluxDB(b)
	dsn := testenv.PostgresDatabase(b)
	one := &hubDrain{broker: broker.URL(), influx: db, replicas: 1, group: "bench", dsn: dsn}
	two := &hubDrain{broker: broker.URL(), influx: db, replicas: 2, group: "bench", dsn: dsn}
	var oneRate, twoRate float64
	var split []uint64
	b.ResetTimer()
	for round := 0; round < 2; round++ {
		rate, _ := ingestRound(b, broker.URL(), db, one, fmt.Sprintf("r%done", round), n)
		b.Logf("round %d one hub: %.0f msg/s", round, rate)
		oneRate = max(oneRate, rate)
		rate, per := ingestRound(b, broker.URL(), db, two, fmt.Sprintf("r%dtwo", round), n)
		b.Logf("round %d two replicas: %.0f msg/s, stored %d + %d", round, rate, per[0], per[1])
		if rate > twoRate {
			twoRate, split = rate, per
		}
	}
	b.StopTimer()
	b.ReportMetric(twoRate, "two-replicas-msg/s")
	b.ReportMetric(oneRate, "one-hub-msg/s")
	b.ReportMetric(twoRate/oneRate, "ratio")
	b.Logf("two hub replicas on a shared subscription draining %d readings into InfluxDB: %.0f msg/s combined (stored %d + %d = %d, InfluxDB %d, none twice); one hub: %.0f msg/s; ratio %.2f",
		n, twoRate, split[0], split[1], split[0]+split[1], n, oneRate, twoRate/oneRate)
}
