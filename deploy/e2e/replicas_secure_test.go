package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/provision/provisiontest"
	"github.com/countylink/countylink/hub/server"
)

// TestSecureReplicasRelay: two hub replicas on the deployed Mosquitto in
// its secure mode, each logged in with its own certificate (_hub.a,
// _hub.b), share the edges' messages and relay to each other over that
// one connection: Mosquitto names a session by the identity
// (use_username_as_clientid), so a second connection of a hub would take
// the first's session over. Each hub connects once and stays connected,
// and each shows the reading the other ingested.
func TestSecureReplicasRelay(t *testing.T) {
	skipShort(t)
	c := provisiontest.New(t)
	hubs := []contract.Identity{contract.HubIdentity("a"), contract.HubIdentity("b")}
	for _, id := range hubs {
		c.Issue(t, id, provision.IssueOptions{})
	}
	sites := []string{"tw01", "tw02", "tw03", "tw04"}
	edges := map[string]contract.Identity{}
	for _, s := range sites {
		edges[s] = contract.EdgeIdentity(s, s+"-e1")
		c.Issue(t, edges[s], provision.IssueOptions{})
	}
	mosq := testenv.StartSecureMosquitto(t, c.Dir)
	influx, dsn := testenv.StartInfluxDB(t), testenv.PostgresDatabase(t)
	var replicas []*server.Main
	for i, id := range hubs {
		f := c.ClientFiles(id)
		replicas = append(replicas, startHub(t, func(cfg *server.Config) {
			cfg.MQTT.Broker = mosq.TLSURL()
			cfg.MQTT.ClientID = []string{"hub-a", "hub-b"}[i]
			cfg.MQTT.TLS = server.TLSConfig{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName}
			cfg.MQTT.SharedGroup = "hubs"
			cfg.Store = server.StoreConfig{Driver: server.DriverPostgres, DSN: dsn}
			cfg.Influx.URL, cfg.Influx.Bucket, cfg.Influx.Token = influx.URL(), influx.Bucket(), influx.Token()
		}))
	}
	a, b := replicas[0], replicas[1]
	waitFor(t, 10*time.Second, "the replicas know each other", func() error {
		if len(a.Relay.Others()) != 1 || len(b.Relay.Others()) != 1 {
			return fmt.Errorf("A knows %v, B knows %v\n%s", a.Relay.Others(), b.Relay.Others(), mosq.Log())
		}
		return nil
	})

	// Each edge publishes a reading, the broker hands it to one replica;
	// both show every one.
	for j, s := range sites {
		cl, err := tryConnect(t, c.Options(t, edges[s], mosq.TLSURL()))
		if err != nil {
			t.Fatalf("edge %s: %v", s, err)
		}
		defer cl.Disconnect(50)
		publishReading(t, cl, s, "cr1", time.Now().Add(-time.Second), map[string]float64{"temperature": 2 + float64(j)/10, "humidity": 80}, nil)
	}
	for _, m := range replicas {
		waitFor(t, 10*time.Second, m.Config.MQTT.ClientID+" shows every site's reading", func() error {
			for j, s := range sites {
				want := 2 + float64(j)/10
				found := false
				for _, r := range m.State.ColdRooms() {
					if r.Site == s && r.Room == "cr1" && r.Temperature != nil && *r.Temperature == want {
						found = true
					}
				}
				if !found {
					return fmt.Errorf("%s: no reading %v", s, want)
				}
			}
			return nil
		})
	}
	if a.Ingest.Stats().Received == 0 || b.Ingest.Stats().Received == 0 {
		t.Errorf("one replica took every message (A %d, B %d): the test shows no relay", a.Ingest.Stats().Received, b.Ingest.Stats().Received)
	}
	log := mosq.Log()
	for _, id := range hubs {
		if n := strings.Count(log, " as "+id.String()+" "); n != 1 {
			t.Errorf("%s connected %d times; want once (one connection, never taken over)\n%s", id, n, log)
		}
	}
	if strings.Contains(log, "already connected") {
		t.Errorf("a session was taken over:\n%s", log)
	}
}
