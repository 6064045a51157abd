package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/coldlog"
	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
	"github.com/countylink/countylink/hub/server"
)

// TestColdChainAlarms drives the hub's cold-chain alarms through real MQTT
// readings, their edge timestamps acting as the simulated clock (as a
// backlog replayed after an outage does): a warm spell shorter than the
// on-delay raises nothing; a longer one raises one alarm, notified through
// a signed webhook; a coordinator acknowledges it over the API; back in
// range it clears; its audit trail and the room's temperature log (CSV and
// JSON, with the excursion) are served. An edge that goes offline raises
// one alarm for the edge, not one per room.
func TestColdChainAlarms(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	hook := notifytest.NewWebhookReceiver("s3cret")
	defer hook.Close()
	hub := startHub(t, func(c *server.Config) {
		c.MQTT.Broker = broker.URL()
		c.PublicURL = "https://coldchain.county.example.cn"
		c.Alarm.EdgeOfflineAfter = time.Second
		c.Notify.Channels = map[string]notify.ChannelConfig{"duty": {Type: "webhook", URL: hook.URL(), Secret: "s3cret"}}
		c.Notify.Groups = map[string][]string{"county": {"duty"}}
		c.Notify.Routes = []notify.Route{{Sites: []string{"*"}, Group: "county"}}
	})
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "coldchain-edge")

	const site, room = "tw02", "cr1" // chilled: 0 to 4 °C, on-delay 5m, off-delay 1m, deadband 0.5
	// The hub has been up a while, ticking over rooms that have not
	// reported yet; the edge's queue then arrives: its readings are still
	// judged at the times they were taken.
	time.Sleep(1500 * time.Millisecond)
	publishStatus(t, pub, site, site+"-e1", contract.StateOnline, 0)
	t0 := time.Now().Add(-40 * time.Minute).Truncate(time.Minute)
	temps := []float64{
		2.1, 2.0, 2.2, 6.0, 6.2, 6.1, 2.3, 2.2, // 3 minutes warm: under the on-delay, nothing
		2.1, 5.5, 6.8, 7.4, 7.9, 8.3, 8.0, 7.1, 6.0, // 8 minutes warm from 00:09: raised at 00:14
		3.2, 3.0, 2.8, 2.6, 2.4, 2.5, // back inside by the deadband at 00:17, cleared after the off-delay
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	var raisedSent time.Time
	for i, v := range temps {
		if i == 14 {
			raisedSent = time.Now()
		}
		publishReading(t, pub, site, room, at(i), map[string]float64{"temperature": v, "humidity": 80}, nil)
		if i == 14 {
			break // the ack comes before the temperature falls
		}
	}

	d := nextDelivery(t, hook, "the raise")
	if d.Err != nil {
		t.Fatalf("webhook signature refused: %v", d.Err)
	}
	a := d.Alarm
	if a.Event != notify.EventRaised || a.Kind != notify.KindHigh || a.Site != site || a.Room != room || a.SiteName != "东关镇" ||
		a.Value == nil || *a.Value != 8.0 || a.Limit == nil || *a.Limit != 4 || !strings.HasPrefix(a.URL, "https://coldchain.county.example.cn/#alarm=") {
		t.Fatalf("raised notification %+v (value %v limit %v)", a, deref(a.Value), deref(a.Limit))
	}
	t.Logf("notification: %q; webhook received %v after the reading that completed the on-delay was published",
		d.Text, d.Received.Sub(raisedSent).Round(time.Millisecond))
	if !a.Raised.Equal(at(14)) {
		t.Errorf("raised at %v, want %v: the excursion began at %v, the on-delay is 5 minutes", a.Raised, at(14), at(9))
	}

	var active []alarm.Alarm
	if err := getJSON(t, base+"/api/v1/alarms?site="+site, &active); err != nil || len(active) != 1 || active[0].ID != a.ID {
		t.Fatalf("active alarms %+v %v (want only %s: the 3-minute spell raised nothing)", active, err, a.ID)
	}
	resp := postJSONAs(t, hub, "王芳", base+"/api/v1/alarms/"+a.ID+"/ack", `{"comment":"冷机除霜后复位, 观察中"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %s", resp.Status)
	}
	if d := nextDelivery(t, hook, "the acknowledgement"); d.Alarm.Event != notify.EventAcknowledged || d.Alarm.AckedBy != "王芳" {
		t.Fatalf("ack notification %+v", d.Alarm)
	}
	if resp := postJSON(t, base+"/api/v1/alarms/"+a.ID+"/ack", `{"by":"李明","comment":"again"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("second ack: %s, want 409", resp.Status)
	}

	for i := 15; i < len(temps); i++ {
		publishReading(t, pub, site, room, at(i), map[string]float64{"temperature": temps[i], "humidity": 80}, nil)
	}
	// The backlog is through; the edge's live readings follow.
	publishReading(t, pub, site, room, time.Now(), map[string]float64{"temperature": 2.4, "humidity": 80}, nil)
	if d := nextDelivery(t, hook, "the clear"); d.Alarm.Event != notify.EventCleared || d.Alarm.ID != a.ID {
		t.Fatalf("clear notification %+v", d.Alarm)
	}
	var hist []struct{ Event, By string }
	waitFor(t, 5*time.Second, "audit trail", func() error {
		if err := getJSON(t, base+"/api/v1/alarms/"+a.ID+"/history", &hist); err != nil {
			return err
		}
		var evs []string
		for _, h := range hist {
			evs = append(evs, h.Event)
		}
		if got := strings.Join(evs, ","); got != "raised,acknowledged,cleared" {
			return fmt.Errorf("history %s", got)
		}
		return nil
	})
	if hist[1].By != "王芳" {
		t.Errorf("acknowledged by %q", hist[1].By)
	}

	// The temperature log of the period, as an auditor gets it.
	from, to := at(0).Format(time.RFC3339), at(len(temps)).Format(time.RFC3339)
	var lg coldlog.Log
	waitFor(t, 5*time.Second, "temperature log with every reading", func() error {
		if err := getJSON(t, base+"/api/v1/coldrooms/"+site+"/"+room+"/log?format=json&from="+from+"&to="+to, &lg); err != nil {
			return err
		}
		// The log keeps a reading every 5 minutes in range and every
		// minute out of it: the last reading marks it complete.
		if n := len(lg.Probes); n != 1 || len(lg.Probes[0].Log) == 0 || !lg.Probes[0].Log[len(lg.Probes[0].Log)-1].TS.Equal(at(len(temps)-1)) {
			return fmt.Errorf("log of %d probes, not complete yet", n)
		}
		return nil
	})
	rep := lg.Probes[0].Report
	if rep.Max.Value != 8.3 || rep.Min.Value != 2.0 || len(rep.Excursions) != 2 || rep.Compliant {
		t.Errorf("report: min %v max %v excursions %+v compliant %v", rep.Min, rep.Max, rep.Excursions, rep.Compliant)
	}
	if rep.MKT <= rep.Mean {
		t.Errorf("MKT %v should exceed the mean %v for a varying temperature", rep.MKT, rep.Mean)
	}
	res, err := http.Get(base + "/api/v1/coldrooms/" + site + "/" + room + "/log?format=csv&from=" + from + "&to=" + to)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(csv, []byte("8.3")) || !strings.Contains(res.Header.Get("Content-Disposition"), ".csv") {
		t.Errorf("csv export: %s %s\n%.400s", res.Status, res.Header, csv)
	}
	if res, err := http.Get(base + "/api/v1/coldrooms/" + site + "/" + room + "/log?from=2026-13-01"); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad date: %v %v", res.Status, err)
	}

	// An edge with two rooms goes offline: one alarm, for the edge.
	publishStatus(t, pub, "tw01", "tw01-e1", contract.StateOnline, 0)
	for _, r := range []string{"cr1", "cr2"} {
		v := 2.0
		if r == "cr2" {
			v = -20
		}
		publishReading(t, pub, "tw01", r, time.Now(), map[string]float64{"temperature": v}, nil)
	}
	publishStatus(t, pub, "tw01", "tw01-e1", contract.StateOffline, 0)
	d = nextDelivery(t, hook, "the edge-offline alarm")
	if d.Alarm.Kind != notify.KindEdgeOffline || d.Alarm.Site != "tw01" {
		t.Fatalf("edge offline notification %+v", d.Alarm)
	}
	select {
	case extra := <-hook.Deliveries:
		t.Errorf("a second notification after the edge went offline: %+v", extra.Alarm)
	case <-time.After(2 * time.Second):
	}
}

func nextDelivery(t *testing.T, r *notifytest.WebhookReceiver, what string) notifytest.Delivery {
	t.Helper()
	select {
	case d := <-r.Deliveries:
		return d
	case <-time.After(15 * time.Second):
		t.Fatalf("webhook: no notification of %s within 15 s", what)
	}
	return notifytest.Delivery{}
}

func postJSON(t *testing.T, url, body string) *http.Response {
	t.Helper()
	return postJSONAs(t, nil, "", url, body)
}

// postJSONAs posts body to url as the person name at hub m (asPerson),
// or with the test's API token when m is nil.
func postJSONAs(t *testing.T, m *server.Main, name, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if m != nil {
		asPerson(t, m, req, name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestColdChainRulesOverMQTT drives the other rules with timestamped
// readings over MQTT, each at a township of its own: a low excursion past
// its on-delay, a door left open past 10 minutes, a probe the edge reports
// open, a value frozen for over two hours; each raises its alarm kind and
// no other.
func TestColdChainRulesOverMQTT(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "rules-edge")
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	min := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for _, s := range []string{"tw03", "tw04", "tw05", "tw06"} {
		publishStatus(t, pub, s, s+"-e1", contract.StateOnline, 0)
	}
	// tw03: 2 °C, then -1.5 °C for 7 minutes (chilled low limit 0, on-delay 5m).
	for i, v := range []float64{2, 2, -1.5, -1.5, -1.6, -1.4, -1.5, -1.5, -1.5, -1.3} {
		publishReading(t, pub, "tw03", "cr1", min(i), map[string]float64{"temperature": v}, nil)
	}
	// tw04: the door open at minute 0 and still open at minute 11 (door_open_after 10m).
	for i := range 12 {
		publishReading(t, pub, "tw04", "cr1", min(i), map[string]float64{"temperature": 2.5 + float64(i%3)/10, "door_open": 1}, nil)
	}
	// tw05: the edge reports the probe open.
	publishReading(t, pub, "tw05", "cr1", min(0), map[string]float64{"humidity": 80}, map[string]string{"temperature": "probe open (raw 32767)"})
	// tw06: exactly 2.5 °C every 10 minutes for 2 h 30 (frozen_after 2h).
	for i := 0; i <= 15; i++ {
		publishReading(t, pub, "tw06", "cr1", min(10*i), map[string]float64{"temperature": 2.5}, nil)
	}
	want := map[string]string{"tw03": "low", "tw04": "door_open", "tw05": "sensor_fault", "tw06": "sensor_fault"}
	waitFor(t, 10*time.Second, "one alarm of the right kind per township", func() error {
		var active []alarm.Alarm
		if err := getJSON(t, base+"/api/v1/alarms", &active); err != nil {
			return err
		}
		got := map[string]string{}
		for _, a := range active {
			if _, ok := want[a.Site]; !ok {
				continue
			}
			if got[a.Site] != "" {
				return fmt.Errorf("%s has two alarms: %s and %s", a.Site, got[a.Site], a.Kind)
			}
			got[a.Site] = a.Kind.String()
		}
		for s, k := range want {
			if got[s] != k {
				return fmt.Errorf("alarms %v, want %v", got, want)
			}
		}
		return nil
	})
}

// TestColdChainSurvivesRestart: a hub stopped three minutes into a warm
// spell with a five-minute on-delay raises the alarm two minutes of
// readings after it starts again, not five: the delay's timer was kept.
func TestColdChainSurvivesRestart(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	dir := t.TempDir()
	// The readings' own times are the clock here, hours behind the hub's:
	// the no-data check, which runs on the hub's clock, is turned off.
	sitesFile := filepath.Join(dir, "sites.yaml")
	os.WriteFile(sitesFile, []byte(`sites:
  - {id: county, name: 县中心, kind: county}
  - id: tw07
    name: 柳林镇
    kind: township
    parent: county
    rooms: [{id: cr1, name: 1号冷库, class: chilled, alarm: {no_data_after: -1s}}]
`), 0o600)
	cfg := func(c *server.Config) { c.MQTT.Broker = broker.URL(); c.DataDir = dir; c.SitesFile = sitesFile }
	hub := startHub(t, cfg)
	pub := mqttClient(t, broker.URL(), "restart-edge")
	publishStatus(t, pub, "tw07", "tw07-e1", contract.StateOnline, 0)
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for i := 0; i <= 3; i++ { // 6 °C from minute 0 to minute 3
		publishReading(t, pub, "tw07", "cr1", at(i), map[string]float64{"temperature": 6}, nil)
	}
	waitFor(t, 5*time.Second, "the readings through the engine", func() error {
		var rooms []struct {
			Site, Room string
			TS         *time.Time
		}
		if err := getJSON(t, "http://"+hub.HTTPAddr+"/api/v1/coldrooms", &rooms); err != nil {
			return err
		}
		for _, r := range rooms {
			if r.Site == "tw07" && r.TS != nil && r.TS.Equal(at(3)) {
				return nil
			}
		}
		return fmt.Errorf("tw07 not at minute 3 yet")
	})
	hub.Close()

	hub = startHub(t, cfg)
	base := "http://" + hub.HTTPAddr
	var active []alarm.Alarm
	if err := getJSON(t, base+"/api/v1/alarms?site=tw07", &active); err != nil || len(active) != 0 {
		t.Fatalf("alarms before the delay ran out: %+v %v", active, err)
	}
	publishReading(t, pub, "tw07", "cr1", at(4), map[string]float64{"temperature": 6.1}, nil)
	publishReading(t, pub, "tw07", "cr1", at(5), map[string]float64{"temperature": 6.2}, nil)
	waitFor(t, 10*time.Second, "the alarm raised at minute 5", func() error {
		if err := getJSON(t, base+"/api/v1/alarms?site=tw07", &active); err != nil {
			return err
		}
		if len(active) != 1 || active[0].Kind != contract.AlarmHigh || !active[0].Raised.Equal(at(5)) {
			return fmt.Errorf("alarms %+v", active)
		}
		return nil
	})
}
