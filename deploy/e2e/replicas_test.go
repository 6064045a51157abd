package e2e

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/server"
)

// TestReplicasShareAndRelay runs two hub replicas on one real Mosquitto
// (the deployed configuration) in one shared group, each with its own
// store, and several edges publishing statuses, readings and parcel
// events. The broker hands each message to one replica: across the two
// every message is handled exactly once. The live relay makes each
// replica's picture whole: both APIs show every site's latest reading,
// edges and parcel counts; a dashboard on B gets a live update of a
// reading A ingested; an alarm acknowledged on one is acknowledged on the
// other; a malformed relay message is counted and dropped. Then A stops
// and B alone receives every message (the shared subscription's
// failover).
func TestReplicasShareAndRelay(t *testing.T) {
	skipShort(t)
	// Replicas share one PostgreSQL and one InfluxDB, as deploy/scaleout
	// runs them.
	broker, influx, dsn := testenv.StartMosquitto(t), testenv.StartInfluxDB(t), testenv.PostgresDatabase(t)
	start := func(id string) *server.Main {
		return startHub(t, func(c *server.Config) {
			c.MQTT.Broker = broker.URL()
			c.MQTT.ClientID = id
			c.MQTT.SharedGroup = "hubs"
			c.Store = server.StoreConfig{Driver: server.DriverPostgres, DSN: dsn}
			c.Influx.URL, c.Influx.Bucket, c.Influx.Token = influx.URL(), influx.Bucket(), influx.Token()
			c.Alarm.EdgeOfflineAfter = time.Second
		})
	}
	a, b := start("hub-a"), start("hub-b")
	replicas := []*server.Main{a, b}
	waitFor(t, 5*time.Second, "the replicas know each other", func() error {
		if len(a.Relay.Others()) != 1 || len(b.Relay.Others()) != 1 {
			return fmt.Errorf("A knows %v, B knows %v", a.Relay.Others(), b.Relay.Others())
		}
		return nil
	})

	// Six township edges, each its own MQTT client: a status, then rounds
	// of one reading and one parcel event.
	sites := []string{"tw01", "tw02", "tw03", "tw04", "tw05", "tw06"}
	edges := map[string]mqtt.Client{}
	for _, s := range sites {
		edges[s] = mqttClient(t, broker.URL(), s+"-e1")
	}
	const rounds = 8
	published, readings, events := 0, 0, 0
	for _, s := range sites {
		publishStatus(t, edges[s], s, s+"-e1", contract.StateOnline, 0)
		published++
	}
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	lastTemp := map[string]float64{}
	var waybills []string
	for i := range rounds {
		for j, s := range sites {
			v := 1 + float64(i)/10 + float64(j)/100
			publishReading(t, edges[s], s, "cr1", t0.Add(time.Duration(i)*time.Second), map[string]float64{"temperature": v, "humidity": 80}, nil)
			lastTemp[s] = v
			wb := fmt.Sprintf("SF%04d%02d%08d", j, i, testBoot%1e8)
			publishParcel(t, edges[s], s, wb, "b3", "")
			waybills = append(waybills, wb)
			published, readings, events = published+2, readings+1, events+1
		}
	}

	stats := func() (sum ingest.Stats, each []ingest.Stats) {
		for _, m := range replicas {
			s := m.Ingest.Stats()
			each = append(each, s)
			sum.Received += s.Received
			sum.Duplicates += s.Duplicates
			sum.Stored += s.Stored
			sum.EventsStored += s.EventsStored
			for _, n := range s.Rejected {
				sum.Rejected = map[contract.Reason]uint64{"any": sum.Rejected["any"] + n}
			}
		}
		return sum, each
	}
	waitFor(t, 10*time.Second, "every message handled", func() error {
		sum, _ := stats()
		if sum.Received < uint64(published) || sum.Stored < uint64(readings) || sum.EventsStored < uint64(events) {
			return fmt.Errorf("received %d of %d, stored %d of %d readings and %d of %d events",
				sum.Received, published, sum.Stored, readings, sum.EventsStored, events)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a message handled twice would show by now
	sum, each := stats()
	t.Logf("shared subscription: A received %d, B received %d of %d published", each[0].Received, each[1].Received, published)
	if sum.Received != uint64(published) || sum.Duplicates != 0 || sum.Rejected["any"] != 0 ||
		sum.Stored != uint64(readings) || sum.EventsStored != uint64(events) {
		t.Fatalf("across the replicas: received %d, duplicates %d, rejected %d, readings stored %d, events stored %d; want %d, 0, 0, %d, %d",
			sum.Received, sum.Duplicates, sum.Rejected["any"], sum.Stored, sum.EventsStored, published, readings, events)
	}
	if each[0].Received == 0 || each[1].Received == 0 {
		t.Fatalf("one replica took everything (A %d, B %d): the group is not shared", each[0].Received, each[1].Received)
	}
	// Each replica stored its own share of the parcel events in the
	// shared store: every one once; both replicas answer the same.
	for _, m := range replicas {
		var evs []hub.ParcelEvent
		if err := getJSON(t, "http://"+m.HTTPAddr+"/api/v1/parcels/events?limit=500", &evs); err != nil {
			t.Fatal(err)
		}
		stored := map[string]int{}
		for _, ev := range evs {
			stored[ev.Waybill]++
		}
		for _, wb := range waybills {
			if stored[wb] != 1 {
				t.Errorf("%s: parcel %s stored %d times", m.Config.MQTT.ClientID, wb, stored[wb])
			}
		}
	}

	// Both replicas show everything: each site's edge online, its latest
	// reading, its parcel count of the day.
	for _, m := range replicas {
		waitFor(t, 5*time.Second, m.Config.MQTT.ClientID+" shows every site", func() error {
			for _, s := range sites {
				v, err := siteView(t, m, s)
				if err != nil || !v.Online || len(v.Edges) != 1 || v.Edges[0].Agent != "edge-agent test" || v.Parcels.Sorted != rounds {
					return fmt.Errorf("site %s: %+v %v", s, v, err)
				}
				r, err := coldRoom(t, m, s, "cr1")
				if err != nil || r.Temperature == nil || *r.Temperature != lastTemp[s] {
					return fmt.Errorf("room %s/cr1: %+v (want %v) %v", s, r, lastTemp[s], err)
				}
			}
			return nil
		})
	}

	// A dashboard on B: a reading A ingested reaches it live. Which
	// replica takes a message is the broker's choice, so readings go one
	// at a time until A has taken three. Back to back, a reading A takes
	// within an interval of its last relay message waits for the next
	// (up to 250 ms); after a quiet spell it leaves at once.
	events2 := subscribeSSE(t, "http://"+b.HTTPAddr+"/api/v1/stream")
	round := func(ds []time.Duration) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = d.Round(100 * time.Microsecond)
		}
		return out
	}
	seq := 0
	for _, pace := range []struct {
		name string
		gap  time.Duration
	}{{"back to back", 0}, {"after a quiet spell", 400 * time.Millisecond}} {
		var relayed, direct []time.Duration
		for i := 0; len(relayed) < 3 && i < 20; i++ {
			time.Sleep(pace.gap)
			seq++
			before := a.Ingest.Stats().Received
			want := 3 + float64(seq)/10
			sent := time.Now()
			publishReading(t, edges["tw01"], "tw01", "cr1", sent, map[string]float64{"temperature": want, "humidity": 80}, nil)
			d := waitRoomEvent(t, events2, "tw01", "cr1", want, sent)
			if a.Ingest.Stats().Received > before {
				relayed = append(relayed, d)
			} else {
				direct = append(direct, d)
			}
		}
		if len(relayed) < 3 {
			t.Fatalf("%s: A took %d of the readings", pace.name, len(relayed))
		}
		t.Logf("publish to B's live stream, %s: ingested by A and relayed %v, ingested by B itself %v", pace.name, round(relayed), round(direct))
		for _, d := range relayed {
			if d > 2*time.Second {
				t.Errorf("a relayed update took %v; the dashboard promises 2 s", d)
			}
		}
	}
	liveReadings := seq

	// Two edges go offline: both replicas raise their edge alarms. One is
	// acknowledged on A, the other on B; each replica then shows both
	// acknowledged, by whom they were.
	publishStatus(t, edges["tw05"], "tw05", "tw05-e1", contract.StateOffline, 0)
	publishStatus(t, edges["tw06"], "tw06", "tw06-e1", contract.StateOffline, 0)
	edgeAlarm := func(m *server.Main, site string) (alarm.Alarm, error) {
		var active []alarm.Alarm
		if err := getJSON(t, "http://"+m.HTTPAddr+"/api/v1/alarms?site="+site, &active); err != nil {
			return alarm.Alarm{}, err
		}
		for _, al := range active {
			if al.Kind == contract.AlarmEdgeOffline && al.Source == site+"-e1" {
				return al, nil
			}
		}
		return alarm.Alarm{}, fmt.Errorf("no edge_offline alarm for %s among %d", site, len(active))
	}
	for _, m := range replicas {
		for _, s := range []string{"tw05", "tw06"} {
			waitFor(t, 10*time.Second, m.Config.MQTT.ClientID+" raises "+s+"'s edge alarm", func() error {
				_, err := edgeAlarm(m, s)
				return err
			})
		}
	}
	ackOn := func(m *server.Main, site, by string) time.Time {
		al, err := edgeAlarm(m, site)
		if err != nil {
			t.Fatal(err)
		}
		resp := postJSONAs(t, m, by, "http://"+m.HTTPAddr+"/api/v1/alarms/"+al.ID+"/ack", `{"comment":"已联系站点"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ack %s on %s: %s", al.ID, m.Config.MQTT.ClientID, resp.Status)
		}
		return time.Now()
	}
	for _, c := range []struct {
		on, other *server.Main
		site, by  string
	}{{a, b, "tw05", "王芳"}, {b, a, "tw06", "李明"}} {
		at := ackOn(c.on, c.site, c.by)
		waitFor(t, 5*time.Second, c.site+"'s alarm acknowledged on "+c.other.Config.MQTT.ClientID, func() error {
			al, err := edgeAlarm(c.other, c.site)
			if err != nil || al.State != alarm.StateAcknowledged || al.Acked == nil || al.Acked.By != c.by {
				return fmt.Errorf("%+v %v", al, err)
			}
			return nil
		})
		t.Logf("%s's alarm acknowledged on %s shows acknowledged on %s after %v", c.site, c.on.Config.MQTT.ClientID,
			c.other.Config.MQTT.ClientID, time.Since(at).Round(time.Millisecond))
	}

	// The shared store holds each alarm once, raised once and
	// acknowledged once, whichever replica took the acknowledgement.
	for _, site := range []string{"tw05", "tw06"} {
		waitFor(t, 5*time.Second, site+"'s alarm stored once", func() error {
			stored, err := storedAlarms(t, a, site)
			if err != nil {
				return err
			}
			if len(stored) != 1 {
				return fmt.Errorf("%d alarms stored: %v", len(stored), stored)
			}
			for id, evs := range stored {
				n := map[string]int{}
				for _, e := range evs {
					n[e]++
				}
				if n["raised"] != 1 || n["acknowledged"] != 1 {
					return fmt.Errorf("alarm %s stored as %v", id, evs)
				}
			}
			return nil
		})
	}

	// A malformed message on the relay's topic is counted and dropped by
	// both, and no ingest takes it for an edge's.
	intruder := mqttClient(t, broker.URL(), "intruder")
	publish(t, intruder, contract.HubLiveTopic(contract.DefaultPrefix, "evil"), false, []byte(`{"v":1,"replica":"evil",`))
	for _, m := range replicas {
		waitFor(t, 5*time.Second, m.Config.MQTT.ClientID+" counts the bad relay message", func() error {
			if n := metricValue(t, m, `countylink_hub_relay_messages_bad_total{reason="malformed"}`); n != 1 {
				return fmt.Errorf("bad{malformed} %v", n)
			}
			return nil
		})
	}
	// The ingests took the live test's readings and the two statuses,
	// nothing else.
	if sum2, _ := stats(); sum2.Received != sum.Received+uint64(liveReadings+2) || sum2.Rejected["any"] != 0 {
		t.Errorf("the ingests received %d (rejected %d) beside the relay's bad message, want %d (0)",
			sum2.Received, sum2.Rejected["any"], sum.Received+uint64(liveReadings+2))
	}
	for _, m := range replicas {
		sent, recv := metricValue(t, m, "countylink_hub_relay_messages_sent_total"), metricValue(t, m, "countylink_hub_relay_messages_received_total")
		lagN, lagSum := metricValue(t, m, "countylink_hub_relay_lag_seconds_count"), metricValue(t, m, "countylink_hub_relay_lag_seconds_sum")
		if sent == 0 || recv == 0 || lagN == 0 {
			t.Errorf("%s: relay sent %v received %v lag observations %v", m.Config.MQTT.ClientID, sent, recv, lagN)
		}
		t.Logf("%s: relay messages sent %v, received %v, mean lag %v", m.Config.MQTT.ClientID, sent, recv,
			time.Duration(lagSum/lagN*float64(time.Second)).Round(time.Millisecond))
	}

	// A stops: it hands its share over, and B alone receives everything.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "B hears A leave", func() error {
		if o := b.Relay.Others(); len(o) != 0 {
			return fmt.Errorf("B still counts on %v", o)
		}
		return nil
	})
	before := b.Ingest.Stats()
	for i, s := range sites {
		v := 2 + float64(i)/10
		publishReading(t, edges[s], s, "cr1", time.Now(), map[string]float64{"temperature": v, "humidity": 80}, nil)
		lastTemp[s] = v
		publishParcel(t, edges[s], s, fmt.Sprintf("YT%04d%08d", i, testBoot%1e8), "b3", "")
	}
	waitFor(t, 10*time.Second, "B receives every message after A stopped", func() error {
		s := b.Ingest.Stats()
		if s.Received-before.Received != uint64(2*len(sites)) || s.EventsStored-before.EventsStored != uint64(len(sites)) {
			return fmt.Errorf("B received %d of %d, stored %d of %d events", s.Received-before.Received, 2*len(sites),
				s.EventsStored-before.EventsStored, len(sites))
		}
		for _, site := range sites {
			r, err := coldRoom(t, b, site, "cr1")
			if err != nil || r.Temperature == nil || math.Abs(*r.Temperature-lastTemp[site]) > 1e-9 {
				return fmt.Errorf("room %s/cr1: %+v %v", site, r, err)
			}
			v, err := siteView(t, b, site)
			if err != nil || v.Parcels.Sorted != rounds+1 {
				return fmt.Errorf("site %s: %+v %v", site, v.Parcels, err)
			}
		}
		return nil
	})
}

// metricValue is the value of one line of a hub's /metrics: the metric's
// name with its labels as the hub writes them.
func metricValue(t *testing.T, m *server.Main, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
