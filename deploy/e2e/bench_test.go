package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/queue"
)

// benchMessages is the backlog the replay benchmark drains: the issue's
// figure is for 1,000,000; BENCH_MESSAGES overrides it for a quick run.
func benchMessages(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return def
}

// telemetryPayload is a realistic reading as the agent encodes it.
func telemetryPayload(edge string, boot, seq uint64, ts time.Time) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"id":"%s","site":"tw01","edge":"%s","ts":%q,"sent":"0001-01-01T00:00:00Z","device":"cr1-th","room":"cr1","fields":{"temperature":%.1f,"humidity":%.1f},"units":{"temperature":"Cel","humidity":"%%RH"}}`,
		contract.MessageID(edge, boot, seq), edge, ts.UTC().Format(time.RFC3339Nano), float64(seq%80)/10, 70+float64(seq%200)/10))
}

// barePublish is the baseline: a paho QoS 1 publisher with window
// messages in flight and nothing else, to the same broker.
func barePublish(b *testing.B, url string, n, window int) time.Duration {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bare-" + strconv.Itoa(int(time.Now().UnixNano()%1e6))).SetMaxResumePubInFlight(window))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	topic := contract.TelemetryTopic(contract.DefaultPrefix, "tw01", "tw01-bare", "cr1-th")
	slots := make(chan mqtt.Token, window)
	var failed atomic.Int64
	done := make(chan struct{})
	go func() {
		for tok := range slots {
			if tok.Wait(); tok.Error() != nil {
				failed.Add(1)
			}
		}
		close(done)
	}()
	ts := time.Now()
	start := time.Now()
	for i := 0; i < n; i++ {
		slots <- c.Publish(topic, 1, false, telemetryPayload("tw01-bare", 1, uint64(i+1), ts.Add(time.Duration(i)*time.Millisecond)))
	}
	close(slots)
	<-done
	if failed.Load() > 0 {
		b.Fatalf("bare publisher: %d failed", failed.Load())
	}
	return time.Since(start)
}

// BenchmarkReplay1M fills an edge's queue with a backlog of telemetry, as
// after a long outage, starts the real edge-agent binary on it and times
// the drain into Mosquitto, against a bare paho publisher with the same
// window in the same run. It reports the agent's peak resident memory and
// the queue's disk use.
func BenchmarkReplay1M(b *testing.B) {
	n := benchMessages(1_000_000)
	const window = 100
	broker := testenv.StartMosquitto(b)
	agentBin := binary(b, "./edge/cmd/edge-agent", "amd64")

	dir := b.TempDir()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "state", "queue"), MaxBytes: 1 << 30, SyncEvery: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	topic := contract.TelemetryTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "cr1-th")
	ts := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		t := ts.Add(time.Duration(i) * time.Second / 100)
		if err := q.Append(queue.Message{Class: queue.Telemetry, Topic: topic, Payload: telemetryPayload("tw01-e1", 1, uint64(i+1), t), Series: "cr1-th", Time: t}); err != nil {
			b.Fatal(err)
		}
	}
	qs := q.Stats()
	q.Close()
	diskMB := float64(qs.Bytes) / (1 << 20)

	bare := barePublish(b, broker.URL(), n, window)

	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("site: tw01\nedge: tw01-e1\nstate_dir: %s\nlog_level: warn\nstatus_interval: 1s\nmqtt:\n  broker: %s\nqueue:\n  max_bytes: 1073741824\n  window: %d\n",
		filepath.Join(dir, "state"), broker.URL(), window)), 0o600)

	// Watch the agent's retained status for its backlog reaching zero.
	empty := make(chan time.Time, 1)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("bench-watch"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	statusTopic := contract.StatusTopic(contract.DefaultPrefix, "tw01", "tw01-e1")
	var sawBacklog atomic.Bool
	sub.Subscribe(statusTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, _ := contract.ParseTopic(contract.DefaultPrefix, m.Topic())
		s, err := contract.DecodeStatus(tp, m.Payload())
		if err != nil || s.State != contract.StateOnline {
			return
		}
		if s.Backlog > 0 {
			sawBacklog.Store(true)
		} else if sawBacklog.Load() {
			select {
			case empty <- time.Now():
			default:
			}
		}
	}).Wait()

	b.ResetTimer()
	start := time.Now()
	agent := startAgent(b, "", agentBin, cfg)
	var peakKB int64
	var end time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case end = <-empty:
			break wait
		case <-tick.C:
			if kb := vmHWM(agent.cmd.Process.Pid); kb > peakKB {
				peakKB = kb
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatal("replay did not finish in 10 minutes")
			}
		}
	}
	if kb := vmHWM(agent.cmd.Process.Pid); kb > peakKB {
		peakKB = kb
	}
	b.StopTimer()
	// The status comes once a second: the drain ended at most a second
	// before it said so, and the agent's start-up is inside the time.
	took := end.Sub(start)
	agentRate := float64(n) / took.Seconds()
	bareRate := float64(n) / bare.Seconds()
	b.ReportMetric(agentRate, "replay-msg/s")
	b.ReportMetric(bareRate, "bare-msg/s")
	b.ReportMetric(agentRate/bareRate, "ratio")
	b.ReportMetric(float64(peakKB)/1024, "agent-peak-RSS-MB")
	b.ReportMetric(diskMB, "queue-disk-MB")
	b.Logf("replay of %d queued messages: agent %.0f msg/s (%v), bare paho publisher window %d: %.0f msg/s (%v), ratio %.2f; agent peak RSS %.1f MB; queue on disk %.1f MB",
		n, agentRate, took.Round(time.Millisecond), window, bareRate, bare.Round(time.Millisecond), agentRate/bareRate, float64(peakKB)/1024, diskMB)
}

func waitForB(b *testing.B, timeout time.Duration, f func() bool) {
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			b.Fatalf("not within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
