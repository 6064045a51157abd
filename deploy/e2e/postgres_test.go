package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/server"
)

// pgCounty is a county of one township, tw07, with a chilled room (0 to 4
// °C, on-delay 5m). The readings' own times are the clock, behind the
// hub's: the no-data check, which runs on the hub's clock, is off.
const pgCounty = `sites:
  - {id: county, name: 县中心, kind: county}
  - id: tw07
    name: 柳林镇
    kind: township
    parent: county
    rooms: [{id: cr1, name: 1号冷库, class: chilled, alarm: {no_data_after: -1s}}]
`

// pgServices are the services a hub on PostgreSQL runs against: Mosquitto,
// InfluxDB for the time series and a fresh PostgreSQL database.
type pgServices struct {
	broker    *testenv.Mosquitto
	influx    *testenv.InfluxDB
	dsn       string
	sitesFile string
}

func startPgServices(t *testing.T) *pgServices {
	t.Helper()
	s := &pgServices{dsn: testenv.PostgresDatabase(t), broker: testenv.StartMosquitto(t), influx: testenv.StartInfluxDB(t)}
	s.sitesFile = filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(s.sitesFile, []byte(pgCounty), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// config sets a hub up on the services, as replica name.
func (s *pgServices) config(name string) func(*server.Config) {
	return func(c *server.Config) {
		c.Store = server.StoreConfig{Driver: server.DriverPostgres, DSN: s.dsn}
		c.Influx.URL, c.Influx.Bucket, c.Influx.Token = s.influx.URL(), s.influx.Bucket(), s.influx.Token()
		c.MQTT.Broker, c.MQTT.ClientID = s.broker.URL(), c.MQTT.ClientID+"-"+name
		c.SitesFile = s.sitesFile
	}
}

// leaderGauge is the hub's countylink_hub_alarm_leader as /metrics shows it.
func leaderGauge(t *testing.T, m *server.Main) string {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "countylink_hub_alarm_leader "); ok {
			return v
		}
	}
	t.Fatal("/metrics lacks countylink_hub_alarm_leader")
	return ""
}

// warmSpell publishes tw07's edge online and six minutes at 6 °C (minutes
// 0 to 5 after t0), which raise one high-temperature alarm at minute 5.
func warmSpell(t *testing.T, pub mqtt.Client, t0 time.Time) {
	t.Helper()
	publishStatus(t, pub, "tw07", "tw07-e1", contract.StateOnline, 0)
	for i := range 6 {
		publishReading(t, pub, "tw07", "cr1", t0.Add(time.Duration(i)*time.Minute), map[string]float64{"temperature": 6 + float64(i)/10}, nil)
	}
}

// storedAlarms is the alarms of site in the store (state=all), each with
// its stored transitions.
func storedAlarms(t *testing.T, m *server.Main, site string) (map[string][]string, error) {
	base := "http://" + m.HTTPAddr + "/api/v1/alarms"
	var rows []alarm.Alarm
	if err := getJSON(t, base+"?site="+site+"&state=all", &rows); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, a := range rows {
		var hist []struct{ Event string }
		if err := getJSON(t, base+"/"+a.ID+"/history", &hist); err != nil {
			return nil, err
		}
		out[a.ID] = []string{}
		for _, h := range hist {
			out[a.ID] = append(out[a.ID], h.Event)
		}
	}
	return out, nil
}

// TestPostgresHubRestart runs the hub on PostgreSQL (store.driver
// postgres, time series in InfluxDB) through MQTT: a reading, a parcel
// event and an alarm are served by the API; after a restart the latest
// reading, the day's parcel count, the edge, the stored alarm with its
// history and the engine's state (the alarm still active) come back from
// PostgreSQL.
func TestPostgresHubRestart(t *testing.T) {
	skipShort(t)
	svc := startPgServices(t)
	hub := startHub(t, svc.config("a"))
	if hub.SQLite != nil {
		t.Fatal("a hub on PostgreSQL opened SQLite")
	}
	waitFor(t, 3*time.Second+3*time.Second, "the hub alone leads the alarms", func() error {
		if g := leaderGauge(t, hub); g != "1" {
			return fmt.Errorf("countylink_hub_alarm_leader %s", g)
		}
		return nil
	})
	pub := mqttClient(t, svc.broker.URL(), "pg-edge")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	warmSpell(t, pub, t0)
	publishParcel(t, pub, "tw07", "SF1234567890123", "b3", "")

	base := "http://" + hub.HTTPAddr + "/api/v1"
	var raised alarm.Alarm
	waitFor(t, 10*time.Second, "the alarm raised at minute 5", func() error {
		var active []alarm.Alarm
		if err := getJSON(t, base+"/alarms?site=tw07", &active); err != nil {
			return err
		}
		if len(active) != 1 || active[0].Kind != contract.AlarmHigh || !active[0].Raised.Equal(t0.Add(5*time.Minute)) {
			return fmt.Errorf("alarms %+v", active)
		}
		raised = active[0]
		return nil
	})
	waitFor(t, 10*time.Second, "the alarm stored", func() error {
		got, err := storedAlarms(t, hub, "tw07")
		if err != nil {
			return err
		}
		if h := got[raised.ID]; len(got) != 1 || strings.Join(h, ",") != "raised" {
			return fmt.Errorf("stored %v", got)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "the parcel event stored and counted", func() error {
		var evs []map[string]any
		if err := getJSON(t, base+"/parcels/events?site=tw07", &evs); err != nil {
			return err
		}
		if len(evs) != 1 || evs[0]["waybill"] != "SF1234567890123" {
			return fmt.Errorf("events %v", evs)
		}
		if s, err := siteView(t, hub, "tw07"); err != nil || s.Parcels.Sorted != 1 {
			return fmt.Errorf("site %+v, %v", s.Parcels, err)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "the latest reading shown", func() error {
		r, err := coldRoom(t, hub, "tw07", "cr1")
		if err != nil || r.TS == nil || !r.TS.Equal(t0.Add(5*time.Minute)) {
			return fmt.Errorf("room %+v, %v", r, err)
		}
		return nil
	})
	svc.influx.WaitRows(t, `SELECT temperature FROM telemetry WHERE site = 'tw07'`, 6, 10*time.Second)

	hub.Close()
	hub = startHub(t, svc.config("a"))
	base = "http://" + hub.HTTPAddr + "/api/v1"
	r, err := coldRoom(t, hub, "tw07", "cr1")
	if err != nil || r.TS == nil || !r.TS.Equal(t0.Add(5*time.Minute)) || r.Temperature == nil || *r.Temperature != 6.5 {
		t.Errorf("latest reading after a restart %+v, %v", r, err)
	}
	s, err := siteView(t, hub, "tw07")
	if err != nil || s.Parcels.Sorted != 1 {
		t.Errorf("parcels after a restart %+v, %v", s.Parcels, err)
	}
	if len(s.Edges) != 1 || s.Edges[0].Edge != "tw07-e1" || s.Edges[0].LastSeen.IsZero() {
		t.Errorf("edges after a restart %+v", s.Edges)
	}
	var active []alarm.Alarm
	if err := getJSON(t, base+"/alarms?site=tw07", &active); err != nil || len(active) != 1 || active[0].ID != raised.ID {
		t.Errorf("active alarms after a restart %+v, %v; want %s restored", active, err, raised.ID)
	}
	if got, err := storedAlarms(t, hub, "tw07"); err != nil || len(got) != 1 || strings.Join(got[raised.ID], ",") != "raised" {
		t.Errorf("stored alarms after a restart %v, %v", got, err)
	}
}

// TestPostgresTwoHubs runs two hubs on one PostgreSQL database, both
// receiving every message: one is the alarm leader, and the alarm both
// engines raise is stored once; an acknowledgement taken on the other hub
// is stored once, for the leader's alarm, and taken over by the leader's
// engine; when the leader stops, the other takes the lead within seconds
// and stores the alarm's clearing, once.
func TestPostgresTwoHubs(t *testing.T) {
	skipShort(t)
	svc := startPgServices(t)
	a := startHub(t, svc.config("a"))
	b := startHub(t, svc.config("b"))
	waitFor(t, 6*time.Second, "one alarm leader", func() error {
		if a.Alarms.Leading() == b.Alarms.Leading() {
			return fmt.Errorf("a leads %v, b leads %v", a.Alarms.Leading(), b.Alarms.Leading())
		}
		return nil
	})
	leader, follower := a, b
	if b.Alarms.Leading() {
		leader, follower = b, a
	}
	if leaderGauge(t, leader) != "1" || leaderGauge(t, follower) != "0" {
		t.Errorf("countylink_hub_alarm_leader: leader %s, follower %s", leaderGauge(t, leader), leaderGauge(t, follower))
	}

	pub := mqttClient(t, svc.broker.URL(), "pg-edge")
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	warmSpell(t, pub, t0)
	var id, followersID string
	for _, m := range []*server.Main{leader, follower} {
		waitFor(t, 10*time.Second, "the alarm raised on both hubs", func() error {
			var active []alarm.Alarm
			if err := getJSON(t, "http://"+m.HTTPAddr+"/api/v1/alarms?site=tw07", &active); err != nil {
				return err
			}
			if len(active) != 1 || active[0].Kind != contract.AlarmHigh {
				return fmt.Errorf("alarms %+v", active)
			}
			if m == leader {
				id = active[0].ID
			} else {
				followersID = active[0].ID
			}
			return nil
		})
	}
	stored := func(m *server.Main, want string) {
		t.Helper()
		waitFor(t, 10*time.Second, "the alarm stored: "+want, func() error {
			got, err := storedAlarms(t, m, "tw07")
			if err != nil {
				return err
			}
			if len(got) != 1 || strings.Join(got[id], ",") != want {
				return fmt.Errorf("stored %v", got)
			}
			return nil
		})
	}
	stored(follower, "raised")
	time.Sleep(500 * time.Millisecond) // ten flush intervals: the follower stores nothing late
	stored(leader, "raised")

	if resp := postJSONAs(t, follower, "王芳", "http://"+follower.HTTPAddr+"/api/v1/alarms/"+followersID+"/ack", `{"comment":"在处理"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("ack on the follower: %s", resp.Status)
	}
	stored(leader, "raised,acknowledged")
	waitFor(t, 10*time.Second, "the leader's engine taking the acknowledgement over", func() error {
		var active []alarm.Alarm
		if err := getJSON(t, "http://"+leader.HTTPAddr+"/api/v1/alarms?site=tw07", &active); err != nil {
			return err
		}
		if len(active) != 1 || active[0].State != alarm.StateAcknowledged || active[0].Acked == nil || active[0].Acked.By != "王芳" {
			return fmt.Errorf("alarms on the leader %+v", active)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	stored(leader, "raised,acknowledged") // not stored again by the leader

	leader.Close()
	waitFor(t, 10*time.Second, "the other hub taking the lead", func() error {
		if !follower.Alarms.Leading() {
			return fmt.Errorf("not leading")
		}
		return nil
	})
	if g := leaderGauge(t, follower); g != "1" {
		t.Errorf("countylink_hub_alarm_leader of the new leader %s", g)
	}
	// Back in range; the off-delay (1m) runs out on the edge's live reading.
	for i := 6; i < 9; i++ {
		publishReading(t, pub, "tw07", "cr1", t0.Add(time.Duration(i)*time.Minute), map[string]float64{"temperature": 2.5}, nil)
	}
	publishReading(t, pub, "tw07", "cr1", time.Now(), map[string]float64{"temperature": 2.4}, nil)
	stored(follower, "raised,acknowledged,cleared")
}
