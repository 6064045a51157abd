package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/state"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; run without -short")
	}
}

// TestReadingReachesInfluxDB is the foundation's path: a simulated Modbus
// TCP transmitter, the real edge-agent binary, a real Mosquitto with the
// deployed config, the hub's production wiring, and a real InfluxDB 1.8
// written through the v2 API.
func TestReadingReachesInfluxDB(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	influx := testenv.StartInfluxDB(t)
	hub := startHub(t, func(c *server.Config) {
		c.MQTT.Broker = broker.URL()
		c.Influx.URL, c.Influx.Bucket, c.Influx.Token = influx.URL(), influx.Bucket(), influx.Token()
	})

	// Two transmitters behind one gateway: unit 1 answers, unit 2 is broken.
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	bank := sim.NewBank()
	bank.SetHolding(0, 815)     // humidity 81.5 %RH
	bank.SetHoldingInt16(1, 37) // temperature 3.7 °C
	srv.Attach(1, bank)
	srv.Attach(2, sim.NewBank())
	srv.SetFault(2, sim.FaultException)

	cfg := writeAgentConfig(t, "tw01", "tw01-e1", broker.URL(), fmt.Sprintf(
		"  - {id: cr1-th, room: cr1, profile: th-renke, address: %q, unit: 1, interval: 200ms, timeout: 150ms}\n"+
			"  - {id: cr2-th, room: cr2, profile: th-renke, address: %q, unit: 2, interval: 200ms, timeout: 150ms}\n",
		srv.Addr(), srv.Addr()))
	agent := startAgent(t, "", binary(t, "./edge/cmd/edge-agent", "amd64"), cfg)

	rows := influx.WaitRows(t, `SELECT temperature, humidity FROM telemetry WHERE site='tw01' GROUP BY *`, 1, 20*time.Second)
	r := rows[0]
	if r.Tags["edge"] != "tw01-e1" || r.Tags["device"] != "cr1-th" || r.Tags["room"] != "cr1" {
		t.Errorf("tags %v", r.Tags)
	}
	if num(r.Values["temperature"]) != 3.7 || num(r.Values["humidity"]) != 81.5 {
		t.Errorf("values %v, want temperature 3.7 humidity 81.5", r.Values)
	}
	if age := time.Since(r.Time); age < 0 || age > time.Minute {
		t.Errorf("reading time %v is not the edge's recent timestamp", r.Time)
	}

	// The live picture: the room, the site online, the broken device reported.
	waitFor(t, 5*time.Second, "cold room in the API", func() error {
		v, err := coldRoom(t, hub, "tw01", "cr1")
		if err != nil || v.Temperature == nil || *v.Temperature != 3.7 || v.State != state.RoomOK {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	waitFor(t, 5*time.Second, "site online with the failing device reported", func() error {
		s, err := siteView(t, hub, "tw01")
		if err != nil || !s.Online || len(s.Edges) != 1 {
			return fmt.Errorf("%+v %v", s, err)
		}
		return nil
	})
	if !strings.Contains(agent.log.String(), "device failing") || !strings.Contains(agent.log.String(), "cr2-th") {
		t.Errorf("agent did not report the failing device:\n%s", agent.log.String())
	}

	// From a sensor change to the dashboard's live stream.
	events := subscribeSSE(t, "http://"+hub.HTTPAddr+"/api/v1/stream")
	var delays []time.Duration
	for i, raw := range []int16{52, -18, 61, 44, 29} {
		changed := time.Now()
		bank.SetHoldingInt16(1, raw)
		want := float64(raw) / 10
		delays = append(delays, waitRoomEvent(t, events, "tw01", "cr1", want, changed))
		if i == 0 && delays[0] > 2*time.Second {
			t.Errorf("live update took %v, the dashboard promises 2 s", delays[0])
		}
	}
	t.Logf("sensor change to dashboard event (200 ms poll interval): %v", delays)

	// Bad input beside valid traffic: each rejected and counted, nothing else lost.
	pub := mqttClient(t, broker.URL(), "bad-actor")
	bad := map[string]string{
		"countylink/tw01/tw01-e1/telemetry/cr1-th": `{not json`,
		"countylink/tw02/tw02-e1/telemetry/cr1-th": `{"v":1,"id":"x1","site":"tw01","edge":"tw02-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":1}}`,
		"countylink/tw03/tw03-e1/telemetry/cr1-th": `{"v":9,"id":"x2","site":"tw03","edge":"tw03-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":1}}`,
		"countylink/tw99/tw99-e1/telemetry/cr1-th": `{"v":1,"id":"x3","site":"tw99","edge":"tw99-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":1}}`,
		"countylink/tw04/tw04-e1/telemetry/cr1-th": `{"v":1,"id":"x4","pad":"` + strings.Repeat("x", 70000) + `","site":"tw04","edge":"tw04-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":1}}`,
	}
	for topic, payload := range bad {
		if tok := pub.Publish(topic, 1, false, payload); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// The 70 KB message is over the contract's limit: the deployed broker
	// config (message_size_limit) drops it before the hub; the hub's own
	// check for brokers without that limit is tested in hub/ingest.
	waitFor(t, 5*time.Second, "rejections counted by reason", func() error {
		st := hub.Ingest.Stats()
		for r, n := range map[contract.Reason]uint64{contract.ReasonMalformed: 1, contract.ReasonIdentity: 1, contract.ReasonVersion: 1, "unknown_site": 1} {
			if st.Rejected[r] < n {
				return fmt.Errorf("%s: %d, stats %+v", r, st.Rejected[r], st)
			}
		}
		return nil
	})
	if n := hub.Ingest.Stats().Rejected[contract.ReasonTooLarge]; n != 0 {
		t.Errorf("the oversize message reached the hub (%d); the deployed broker should drop it", n)
	}
	metrics := httpGet(t, "http://"+hub.HTTPAddr+"/metrics")
	for _, want := range []string{`countylink_hub_messages_rejected_total{reason="malformed"} 1`, `countylink_hub_messages_rejected_total{reason="identity"} 1`, "countylink_hub_store_write_seconds_count"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	before := len(influx.Query(t, `SELECT temperature FROM telemetry WHERE site='tw01'`))
	bank.SetHoldingInt16(1, 33)
	waitFor(t, 10*time.Second, "valid readings keep arriving after the bad ones", func() error {
		if n := len(influx.Query(t, `SELECT temperature FROM telemetry WHERE site='tw01' AND temperature = 3.3`)); n == 0 {
			return fmt.Errorf("no 3.3 yet (rows before: %d)", before)
		}
		return nil
	})

	// A clean stop says offline itself; a killed agent is declared offline
	// by the broker through its last will.
	if err := agent.stop(os.Interrupt); err != nil {
		t.Errorf("agent exit after SIGINT: %v", err)
	}
	waitFor(t, 10*time.Second, "offline after a clean stop", func() error {
		if s, _ := siteView(t, hub, "tw01"); s.Online {
			return fmt.Errorf("still online")
		}
		return nil
	})
	agent = startAgent(t, "", binary(t, "./edge/cmd/edge-agent", "amd64"), cfg)
	waitFor(t, 10*time.Second, "online again", func() error {
		if s, _ := siteView(t, hub, "tw01"); !s.Online {
			return fmt.Errorf("offline")
		}
		return nil
	})
	agent.stop(syscall.SIGKILL)
	waitFor(t, 15*time.Second, "offline through the last will after SIGKILL", func() error {
		if s, _ := siteView(t, hub, "tw01"); s.Online {
			return fmt.Errorf("still online")
		}
		return nil
	})
	st := hub.Ingest.Stats()
	t.Logf("hub counters: received %d, stored %d, duplicates %d, write errors %d, rejected %v", st.Received, st.Stored, st.Duplicates, st.WriteErrors, st.Rejected)
}

// TestContractPageExample runs the mosquitto_pub command from the contract
// page, as printed there, against a real broker and the hub.
func TestContractPageExample(t *testing.T) {
	skipShort(t)
	mosquittoPub := testenv.RequireBinary(t, "mosquitto_pub", "/usr/bin/mosquitto_pub")
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })

	page, err := os.ReadFile(testenv.RepoRoot(t) + "/contract/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- e2e:[^>]*-->\\s*```sh\\n(.*?)```").FindSubmatch(page)
	if m == nil {
		t.Fatal("contract/README.md has no marked mosquitto_pub example")
	}
	cmdline := strings.Replace(string(m[1]), "mosquitto_pub -h 127.0.0.1 -p 18830", mosquittoPub+" -h 127.0.0.1 -p "+strconv.Itoa(broker.Port()), 1)
	for i := 0; i < 2; i++ { // twice: stored once
		if out, err := exec.Command("sh", "-c", cmdline).CombinedOutput(); err != nil {
			t.Fatalf("%s\n%v: %s", cmdline, err, out)
		}
	}
	waitFor(t, 5*time.Second, "the example's reading on the wall screen's API", func() error {
		v, err := coldRoom(t, hub, "tw04", "cr1")
		if err != nil || v.Temperature == nil || *v.Temperature != 3.2 || v.Humidity == nil || *v.Humidity != 84 {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
	waitFor(t, 5*time.Second, "the second copy counted as a duplicate", func() error {
		if st := hub.Ingest.Stats(); st.Duplicates != 1 {
			return fmt.Errorf("duplicates %d", st.Duplicates)
		}
		return nil
	})
	// The page's warning holds: another site in the payload is refused.
	wrong := strings.Replace(cmdline, `"site":"tw04"`, `"site":"tw05"`, 1)
	wrong = strings.Replace(wrong, "tw04-manual-1", "tw04-manual-2", 1)
	if out, err := exec.Command("sh", "-c", wrong).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	waitFor(t, 5*time.Second, "identity rejection", func() error {
		if n := hub.Ingest.Stats().Rejected[contract.ReasonIdentity]; n != 1 {
			return fmt.Errorf("identity rejections %d", n)
		}
		return nil
	})
}

// TestArm64AgentUnderQemu runs the arm64 build of the edge agent, as a
// Raspberry Pi would, under qemu-aarch64-static, and sees its reading
// reach the hub.
func TestArm64AgentUnderQemu(t *testing.T) {
	skipShort(t)
	qemu := testenv.RequireBinary(t, "qemu-aarch64-static", "/usr/bin/qemu-aarch64-static")
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	bank := sim.NewBank()
	bank.SetHolding(0, 702)
	bank.SetHoldingInt16(1, -183)
	srv.Attach(1, bank)

	bin := binary(t, "./edge/cmd/edge-agent", "arm64")
	if out, err := exec.Command("file", bin).CombinedOutput(); err == nil && !strings.Contains(string(out), "aarch64") {
		t.Fatalf("not an arm64 binary: %s", out)
	}
	if out, err := exec.Command(qemu, bin, "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "edge-agent ") {
		t.Fatalf("arm64 edge-agent --version under qemu: %v %s", err, out)
	}
	cfg := writeAgentConfig(t, "tw06", "tw06-e1", broker.URL(),
		fmt.Sprintf("  - {id: cr2-th, room: cr2, profile: th-renke, address: %q, unit: 1, interval: 500ms, timeout: 400ms}\n", srv.Addr()))
	startAgent(t, qemu, bin, cfg)
	waitFor(t, 60*time.Second, "arm64 agent's reading at the hub", func() error {
		v, err := coldRoom(t, hub, "tw06", "cr2")
		if err != nil || v.Temperature == nil || *v.Temperature != -18.3 || v.Edge != "tw06-e1" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	})
}

// waitRoomEvent waits for a coldroom event of site/room showing want and
// returns how long after changed it arrived.
func waitRoomEvent(t *testing.T, events <-chan sseEvent, site, room string, want float64, changed time.Time) time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if ev.typ != "coldroom" {
				continue
			}
			var v state.RoomView
			if json.Unmarshal([]byte(ev.data), &v) != nil || v.Site != site || v.Room != room || v.Temperature == nil {
				continue
			}
			if math.Abs(*v.Temperature-want) < 1e-9 {
				return ev.at.Sub(changed)
			}
		case <-deadline:
			t.Fatalf("no coldroom event with %v for %s/%s", want, site, room)
		}
	}
}

func mqttClient(t testing.TB, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	out, err := exec.Command("curl", "-sf", url).Output()
	if err == nil {
		return string(out)
	}
	// curl may be missing; fall back to net/http.
	var sb strings.Builder
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		sb.WriteString(sc.Text() + "\n")
	}
	return sb.String()
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return math.NaN()
}
