package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/fleet"
)

// BenchmarkEdgeStorm is the profiling harness of a storm of edges coming
// online at once: the hub's wiring runs in this process, so that
// -cpuprofile, -memprofile and STORM_HEAPPROFILE see the hub (and its
// embedded broker) alone, and a fleet of simulated edges runs in a
// fleetsim child process. It reports how long the hub took to show every
// edge online, how many of the commands it sent the edges coming online
// it stopped waiting for, and the heap the hub holds once they are all
// connected.
//
// STORM_EDGES (2000), STORM_BROKER ("embedded", or "mosquitto" for the
// deployed configuration), STORM_CONNECT_RATE (1000 a second) and
// STORM_HEAPPROFILE (a file for the in-use heap at the end) change it.
// Run it with -benchtime=1x.
func BenchmarkEdgeStorm(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("STORM_EDGES"))
	if n <= 0 {
		n = 2000
	}
	rate := os.Getenv("STORM_CONNECT_RATE")
	if rate == "" {
		rate = "1000"
	}
	dir := b.TempDir()
	sitesFile := filepath.Join(dir, "province.yaml")
	if err := os.WriteFile(sitesFile, fleet.ProvinceSitesYAML(n, 1), 0o644); err != nil {
		b.Fatal(err)
	}
	fleetsim := filepath.Join(dir, "fleetsim")
	build := exec.Command("go", "build", "-o", fleetsim, "./edge/cmd/fleetsim")
	build.Dir = testenv.RepoRoot(b)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build fleetsim: %v\n%s", err, out)
	}

	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.SitesFile = "127.0.0.1:0", filepath.Join(dir, "data"), sitesFile
	if os.Getenv("STORM_BROKER") == "mosquitto" {
		mosq := testenv.StartMosquitto(b)
		cfg.MQTT.Broker = mosq.URL()
	} else {
		cfg.MQTT.Embedded, cfg.MQTT.EmbeddedListen = true, "127.0.0.1:0"
	}
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Open(); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for deadline := time.Now().Add(30 * time.Second); !m.Ingest.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the hub did not subscribe within 30 s")
		}
	}
	b.ResetTimer()

	countOnline := func() int {
		online := 0
		for _, s := range m.State.Sites() {
			for _, e := range s.Edges {
				if e.Online {
					online++
				}
			}
		}
		return online
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := exec.CommandContext(ctx, fleetsim, "-edges", strconv.Itoa(n), "-broker", m.BrokerURL, "-connect-rate", rate,
		"-stats-every", "0", "-log-level", "warn")
	sim.Cancel = func() error { return sim.Process.Signal(os.Interrupt) }
	sim.WaitDelay = time.Minute
	var simLog strings.Builder
	sim.Stdout, sim.Stderr = &simLog, &simLog
	start := time.Now()
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cancel()
		sim.Wait()
		b.Logf("fleetsim: %s", strings.TrimSpace(simLog.String()))
		// Each edge said "offline" as it stopped: the hub must see every
		// one, those the fleet stopped waiting for included.
		stopped := time.Now()
		online := countOnline()
		for ; online > 0 && time.Since(stopped) < time.Minute; online = countOnline() {
			time.Sleep(250 * time.Millisecond)
		}
		b.Logf("after the fleet stopped: %d edges online in the hub after %v", online, time.Since(stopped).Round(time.Millisecond))
		if m.Broker != nil {
			b.Logf("broker: %+v", m.Broker.Stats())
		}
	}()
	for online := 0; online < n; online = countOnline() {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d edges online after 5 minutes", online, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	all := time.Since(start)
	// Let the pushes to the edges coming online settle (each waits up to
	// 30 s for its result).
	time.Sleep(35 * time.Second)
	b.StopTimer()
	metric := func(name string) float64 {
		resp, err := http.Get("http://" + m.HTTPAddr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return f
			}
		}
		return -1
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if p := os.Getenv("STORM_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	b.ReportMetric(all.Seconds(), "all-online-s")
	b.ReportMetric(metric("countylink_hub_commands_sent_total"), "commands-sent")
	b.ReportMetric(metric("countylink_hub_command_timeouts_total"), "command-timeouts")
	b.ReportMetric(metric("countylink_hub_command_results_unmatched_total"), "results-unmatched")
	if m.Broker != nil {
		st := m.Broker.Stats()
		b.ReportMetric(float64(st.Held), "broker-held")
		b.ReportMetric(float64(st.HeldTooLong), "broker-held-too-long")
		b.ReportMetric(float64(st.Dropped), "broker-dropped")
	}
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(ms.StackInuse)/(1<<20), "stack-inuse-MB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				b.ReportMetric(kb/1024, "RSS-MB")
			}
		}
	}
	b.Logf("%d edges: all online in the hub after %v; goroutines %d", n, all.Round(time.Millisecond), runtime.NumGoroutine())
}
