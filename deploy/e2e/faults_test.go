package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/sim"
)

// faultEnv is the zero-loss tests' system: a counting device (every read
// returns the next number), the real edge-agent binary polling it, real
// Mosquitto, the real hub binary, and real InfluxDB. The device records
// every number it served; at the end every served number must be in
// InfluxDB exactly once.
type faultEnv struct {
	t                  *testing.T
	broker             *testenv.Mosquitto
	influx             *testenv.InfluxDB
	dev                *sim.ModbusTCPServer
	bank               *sim.Bank
	hubBin             string
	hubCfg             string
	hubAddr            string
	hub                *agentProc
	agentBin, agentCfg string
	agent              *agentProc
	agents             []*agentProc // every run of the agent, for their logs

	mu     sync.Mutex
	served []uint16
}

const faultProfile = `model: counter
name: test device that counts its reads
registers:
  - {field: seq, table: input, address: 0, type: uint16}
`

// newFaultEnv starts everything; brokerURL, when set, is what the agent
// dials instead of the broker (a proxy).
func newFaultEnv(t *testing.T, agentBroker func(*testenv.Mosquitto) string) *faultEnv {
	t.Helper()
	e := &faultEnv{t: t}
	e.broker = testenv.StartMosquitto(t)
	e.influx = testenv.StartInfluxDB(t)
	e.hubBin = binary(t, "./hub/cmd/hub", "amd64")
	e.agentBin = binary(t, "./edge/cmd/edge-agent", "amd64")

	var err error
	e.dev, err = sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.dev.Close() })
	e.bank = sim.NewBank()
	e.bank.SetInput(0, 0)
	e.dev.Attach(1, e.bank)
	e.dev.OnRead(func(unit byte, table sim.Table, addr, qty uint16) {
		e.mu.Lock()
		defer e.mu.Unlock()
		v, _ := e.bank.Input(0)
		v++
		e.bank.SetInput(0, v)
		e.served = append(e.served, v)
	})

	dir := t.TempDir()
	e.hubAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	e.hubCfg = filepath.Join(dir, "hub.yaml")
	writeFile(t, e.hubCfg, fmt.Sprintf(`listen: %s
data_dir: %s
log_level: warn
flush_interval: 50ms
mqtt:
  broker: %s
  client_id: hub-%s
influx:
  url: %s
  bucket: %s
  token: %s
  timeout: 2s
`, e.hubAddr, filepath.Join(dir, "hub-data"), e.broker.URL(), sanitize(t.Name()), e.influx.URL(), e.influx.Bucket(), e.influx.Token()))
	profiles := filepath.Join(dir, "profiles")
	os.MkdirAll(profiles, 0o755)
	writeFile(t, filepath.Join(profiles, "counter.yaml"), faultProfile)
	brokerURL := e.broker.URL()
	if agentBroker != nil {
		brokerURL = agentBroker(e.broker)
	}
	e.agentCfg = filepath.Join(dir, "edge.yaml")
	writeFile(t, e.agentCfg, fmt.Sprintf(`site: tw01
edge: tw01-e1
state_dir: %s
profile_dir: %s
log_level: debug
mqtt:
  broker: %s
  keepalive: 2s
  max_reconnect_interval: 1s
  publish_timeout: 3s
queue:
  sync: 0s
devices:
  - {id: counter, room: cr1, profile: counter, address: %q, unit: 1, interval: 20ms, timeout: 20ms}
`, filepath.Join(dir, "edge-state"), profiles, brokerURL, e.dev.Addr()))
	// The hub's first subscription creates its session at the broker;
	// what is published before it reaches no one, so wait for it.
	e.startHub()
	waitHealthy(t, e.hubAddr)
	e.startAgent()
	return e
}

func (e *faultEnv) startHub() {
	e.hub = startAgent(e.t, "", e.hubBin, e.hubCfg)
}

func (e *faultEnv) startAgent() {
	e.agent = startAgent(e.t, "", e.agentBin, e.agentCfg)
	e.agents = append(e.agents, e.agent)
}

// deviceTimeouts counts the polls the agents logged as failed: a number
// the device handed out in a poll the agent gave up on never reached the
// agent, so it is not the pipeline's to lose.
func (e *faultEnv) deviceTimeouts() int {
	n := 0
	for _, a := range e.agents {
		n += strings.Count(a.log.String(), "poll failed")
	}
	return n
}

// lastServed is the newest number the device handed out.
func (e *faultEnv) lastServed() uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.served) == 0 {
		return 0
	}
	return e.served[len(e.served)-1]
}

// waitServed waits until the device has served n more numbers.
func (e *faultEnv) waitServed(n int) {
	e.t.Helper()
	start := e.lastServed()
	waitFor(e.t, 30*time.Second, fmt.Sprintf("%d more readings", n), func() error {
		if got := int(e.lastServed() - start); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}

// finish stops the device, waits until InfluxDB holds everything it served
// (less the numbers in allowedLost), and reports missing and duplicated.
func (e *faultEnv) finish(allowedLost map[uint16]bool) (missing, duplicated int) {
	e.t.Helper()
	timeouts := e.deviceTimeouts()      // before the polls that fail from here on
	e.dev.SetFault(1, sim.FaultTimeout) // nothing more is produced
	time.Sleep(100 * time.Millisecond)  // let a poll already answered finish
	e.mu.Lock()
	served := append([]uint16(nil), e.served...)
	e.mu.Unlock()
	want := len(served) - len(allowedLost)

	var counts map[uint16]int
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts = map[uint16]int{}
		for _, r := range e.influx.Query(e.t, `SELECT seq FROM telemetry WHERE site='tw01'`) {
			counts[uint16(num(r.Values["seq"]))]++
		}
		if len(counts) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var missingIDs, duplicatedIDs []uint16
	lost := 0
	for _, v := range served {
		switch {
		case counts[v] == 0 && allowedLost[v]:
			lost++
		case counts[v] == 0:
			missingIDs = append(missingIDs, v)
		case counts[v] > 1:
			duplicatedIDs = append(duplicatedIDs, v)
		}
	}
	sort.Slice(missingIDs, func(i, j int) bool { return missingIDs[i] < missingIDs[j] })
	e.t.Logf("%s: produced %d, stored %d, missing %d, duplicated %d (read from the device but not yet queued when the agent was killed: %d; polls the agent gave up on: %d)",
		e.t.Name(), len(served), len(counts), len(missingIDs), len(duplicatedIDs), lost, timeouts)
	if len(missingIDs) > 0 && len(missingIDs) <= timeouts {
		// Each failed poll may have consumed one number the agent never saw.
		e.t.Logf("the %d missing numbers %v are accounted for by %d failed polls (device timeouts under load)", len(missingIDs), head(missingIDs), timeouts)
		missingIDs = nil
	}
	if len(missingIDs) > 0 || len(duplicatedIDs) > 0 {
		e.t.Logf("missing %v, duplicated %v", head(missingIDs), head(duplicatedIDs))
	}
	return len(missingIDs), len(duplicatedIDs)
}

func head(v []uint16) []uint16 {
	if len(v) > 20 {
		return v[:20]
	}
	return v
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func sanitize(s string) string {
	out := []byte{}
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			out = append(out, c)
		}
	}
	return string(out)
}

// (a) The agent is killed with SIGKILL and restarted, five times. Only the
// reading in hand at each kill (read from the device, not yet queued, so
// never acknowledged to anyone) may be missing.
func TestZeroLossAgentKilled(t *testing.T) {
	skipShort(t)
	e := newFaultEnv(t, nil)
	allowed := map[uint16]bool{}
	for i := 0; i < 5; i++ {
		e.waitServed(40)
		e.agent.stop(syscall.SIGKILL)
		allowed[e.lastServed()] = true
		e.startAgent()
	}
	e.waitServed(40)
	if missing, duplicated := e.finish(allowed); missing+duplicated > 0 {
		t.Fatalf("%d missing, %d duplicated; want none", missing, duplicated)
	}
}

// (b) The broker is stopped for a few seconds and restarted, twice.
func TestZeroLossBrokerRestart(t *testing.T) {
	skipShort(t)
	e := newFaultEnv(t, nil)
	for i := 0; i < 2; i++ {
		e.waitServed(40)
		e.broker.Stop()
		e.waitServed(100) // the agent keeps reading and queueing
		e.broker.Start()
	}
	e.waitServed(40)
	if missing, duplicated := e.finish(nil); missing+duplicated > 0 {
		t.Fatalf("%d missing, %d duplicated; want none", missing, duplicated)
	}
}

// (c) InfluxDB is stopped and restarted: the hub stops acknowledging
// until it can store again.
func TestZeroLossInfluxRestart(t *testing.T) {
	skipShort(t)
	e := newFaultEnv(t, nil)
	e.waitServed(40)
	e.influx.Stop()
	e.waitServed(150)
	e.influx.Start()
	e.waitServed(40)
	if missing, duplicated := e.finish(nil); missing+duplicated > 0 {
		t.Fatalf("%d missing, %d duplicated; want none", missing, duplicated)
	}
}

// (d) The hub is killed with SIGKILL and restarted: what it had not
// stored was not acknowledged, so the broker sends it again.
func TestZeroLossHubKilled(t *testing.T) {
	skipShort(t)
	e := newFaultEnv(t, nil)
	for i := 0; i < 3; i++ {
		e.waitServed(40)
		e.hub.stop(syscall.SIGKILL)
		e.waitServed(50)
		e.startHub()
	}
	e.waitServed(40)
	if missing, duplicated := e.finish(nil); missing+duplicated > 0 {
		t.Fatalf("%d missing, %d duplicated; want none", missing, duplicated)
	}
}

// (e) The agent's connection is cut by a proxy, ten times, once while
// connections are refused for two seconds.
func TestZeroLossConnectionCut(t *testing.T) {
	skipShort(t)
	var proxy *testenv.Proxy
	e := newFaultEnv(t, func(b *testenv.Mosquitto) string {
		proxy = testenv.StartProxy(t, b.Addr())
		return proxy.URL()
	})
	for i := 0; i < 10; i++ {
		e.waitServed(15)
		if i == 5 {
			proxy.Block(true)
			proxy.Cut()
			e.waitServed(100)
			proxy.Block(false)
			continue
		}
		proxy.Cut()
	}
	e.waitServed(40)
	if missing, duplicated := e.finish(nil); missing+duplicated > 0 {
		t.Fatalf("%d missing, %d duplicated; want none", missing, duplicated)
	}
	t.Logf("connection cut %d times", proxy.Cuts())
}
