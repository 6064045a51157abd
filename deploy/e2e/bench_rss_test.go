package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
)

// BenchmarkEdgeAgentRSS measures the resident memory of an edge-agent
// process reading a busy warehouse: 20 Modbus devices at 1 Hz (19 room
// transmitters behind a TCP gateway and a cold-room controller on an
// RS-485 line, a pseudo-terminal), 2 scanner stations with streaming
// scales (XK3190 and Toledo) and a parcel about every second at each, and
// 41 GPIO lines (19 door contacts, 18 bin lamps, 2 buzzers, 2 confirm
// buttons). The simulators run in a devsim process. The baseline, in the
// same run, is an edge-agent with no devices at all: what the runtime, the
// MQTT client and the queue cost by themselves.
func BenchmarkEdgeAgentRSS(b *testing.B) {
	dur := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("BENCH_RSS_FOR")); err == nil {
		dur = d
	}
	broker := testenv.StartMosquitto(b)
	agentBin := binary(b, "./edge/cmd/edge-agent", "amd64")
	simBin := binary(b, "./edge/cmd/devsim", "amd64")
	dir := b.TempDir()
	cfg := filepath.Join(dir, "edge.yaml")
	sim := startProc(b, dir, simBin, "-warehouse", "tw01", "-rooms", "19", "-stations", "2", "-interval", "1s",
		"-parcel-every", "1s", "-broker", broker.URL(), "-state", filepath.Join(dir, "state"), "-write-config", cfg)
	waitForB(b, 30*time.Second, func() bool { return strings.Contains(sim.log.String(), "agent configuration in") })

	idleCfg := filepath.Join(dir, "idle.yaml")
	os.WriteFile(idleCfg, []byte(fmt.Sprintf("site: tw02\nedge: tw02-e1\nstate_dir: %s\nmqtt: {broker: %s}\n", filepath.Join(dir, "idle"), broker.URL())), 0o600)

	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("rss-watch"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(contract.DefaultPrefix+"/tw01/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := contract.ParseTopic(contract.DefaultPrefix, m.Topic())
		if err == nil {
			mu.Lock()
			counts[string(tp.Kind)]++
			mu.Unlock()
		}
	}).Wait()

	for i := 0; i < b.N; i++ {
		loaded := startAgent(b, "", agentBin, cfg)
		idle := startAgent(b, "", agentBin, idleCfg)
		var lastLoaded, lastIdle int64
		end := time.Now().Add(dur)
		for time.Now().Before(end) {
			time.Sleep(time.Second)
			lastLoaded, lastIdle = vmRSS(loaded.cmd.Process.Pid), vmRSS(idle.cmd.Process.Pid)
		}
		peakLoaded, peakIdle := vmHWM(loaded.cmd.Process.Pid), vmHWM(idle.cmd.Process.Pid)
		mu.Lock()
		tel, ev := counts["telemetry"], counts["event"]
		mu.Unlock()
		if tel < int(dur.Seconds())*10 || ev < int(dur.Seconds())/2 {
			b.Fatalf("the warehouse was not busy: %d readings, %d parcel events in %v\n%s", tel, ev, dur, loaded.log.String())
		}
		b.ReportMetric(float64(lastLoaded)/1024, "agent-RSS-MB")
		b.ReportMetric(float64(peakLoaded)/1024, "agent-peak-RSS-MB")
		b.ReportMetric(float64(lastIdle)/1024, "idle-agent-RSS-MB")
		b.ReportMetric(float64(lastLoaded)/float64(lastIdle), "ratio-to-idle")
		b.Logf("edge-agent over %v: 20 Modbus devices at 1 Hz, 2 stations, 41 GPIO lines: RSS %.1f MB (peak %.1f MB); "+
			"idle agent RSS %.1f MB (peak %.1f MB); ratio %.2f; %d readings and %d parcel events published",
			dur, float64(lastLoaded)/1024, float64(peakLoaded)/1024, float64(lastIdle)/1024, float64(peakIdle)/1024,
			float64(lastLoaded)/float64(lastIdle), tel, ev)
		loaded.stop(os.Interrupt)
		idle.stop(os.Interrupt)
	}
}

// vmRSS reads a process's resident set size in kB.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
