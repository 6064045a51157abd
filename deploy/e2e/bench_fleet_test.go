package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/fleet"
	"github.com/countylink/countylink/hub/state"
)

// fleetBench are the figures of one run: a hub, its broker, a fleet.
type fleetBench struct {
	edges       int
	connectAll  time.Duration // Run's start to the last edge's CONNACK
	hubAll      time.Duration // Run's start to the hub showing every edge online
	connect     fleet.Percentiles
	hubRSSMB    float64 // at the end of the steady window
	hubCPU      float64 // % of one core over the steady window
	brokerRSSMB float64 // Mosquitto's; 0 for the embedded broker (inside the hub)
	brokerCPU   float64
	rate        float64         // messages/s the fleet published over the window
	hubRate     float64         // messages/s the hub received over the window
	delays      []time.Duration // live updates: publish to coldroom event, sorted
	cutoffs     int             // times the hub cut the event stream off for being slow
	// The hub's pushes to the edges coming online (room rules): commands
	// it published, and those it stopped waiting for.
	cmdSent, cmdTimeouts uint64
	stats                fleet.Stats
}

// benchEnv reads a benchmark parameter from the environment.
func benchEnv[T any](name string, def T, parse func(string) (T, error)) T {
	if s := os.Getenv(name); s != "" {
		if v, err := parse(s); err == nil {
			return v
		}
	}
	return def
}

// raiseNoFile makes the soft limit on open files at least need, raising
// the hard one too where allowed (root), or skips the benchmark. Setting
// it explicitly also makes the children (Mosquitto) inherit it: Go
// restores the limit it found at start for children unless the program
// set one itself.
func raiseNoFile(b *testing.B, need uint64) syscall.Rlimit {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("open files limit unreadable: %v", err)
	}
	was := lim
	if lim.Cur < need {
		lim.Cur = need
	}
	if lim.Max < lim.Cur {
		lim.Max = lim.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("needs %d open files per process (the fleet's sockets here, the broker's there); the limit is soft %d, hard %d and cannot be raised: %v (ulimit -n)",
			need, was.Cur, was.Max, err)
	}
	return lim
}

// BenchmarkFleet10k connects a province of 10,000 simulated edge agents
// (edge/fleet, ramped 1,000 connections a second) to one hub's broker,
// the hub's embedded one and then Mosquitto with the deployed
// configuration, the real hub binary running with the province's sites
// file. At a province's steady rate (a reading per edge a minute, about
// 167 messages a second, and a parcel event per edge every 15 minutes),
// it reports the time for every edge to connect, the hub's resident
// memory and CPU (and Mosquitto's), and the dashboard's live-update
// delay: a reading published for a room no simulated edge reads, to its
// coldroom event on /api/v1/stream. The baseline, in the same run, is
// the same with 100 edges (the same sites file, so only the connected
// edges differ). It also reports how long the hub took to show every
// edge online, and how often it cut the event stream off for being slow
// (the stream then reconnects as a dashboard does, and the delay of that
// update includes the reconnection).
//
// BENCH_FLEET_EDGES, BENCH_FLEET_BASELINE, BENCH_FLEET_CONNECT_RATE,
// BENCH_FLEET_READING_EVERY, BENCH_FLEET_SCAN_EVERY, BENCH_FLEET_STEADY
// and BENCH_FLEET_ONLINE_WITHIN change the figures. It needs 10,000 open
// files per process and more (it raises the soft limit, and skips when
// it cannot), and takes about 5 minutes.
func BenchmarkFleet10k(b *testing.B) {
	atoi := func(s string) (int, error) { return strconv.Atoi(s) }
	n := benchEnv("BENCH_FLEET_EDGES", 10_000, atoi)
	base := benchEnv("BENCH_FLEET_BASELINE", 100, atoi)
	p := fleetParams{
		rate:         benchEnv("BENCH_FLEET_CONNECT_RATE", 1000.0, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }),
		every:        benchEnv("BENCH_FLEET_READING_EVERY", time.Minute, time.ParseDuration),
		scans:        benchEnv("BENCH_FLEET_SCAN_EVERY", 15*time.Minute, time.ParseDuration),
		steady:       benchEnv("BENCH_FLEET_STEADY", 30*time.Second, time.ParseDuration),
		probes:       20,
		onlineWithin: benchEnv("BENCH_FLEET_ONLINE_WITHIN", 4*time.Minute, time.ParseDuration),
	}
	// Each process holds a socket per edge: this one the fleet's, the
	// broker (the hub's embedded one, or Mosquitto) the other ends.
	lim := raiseNoFile(b, uint64(n)+1024)
	hubBin := binary(b, "./hub/cmd/hub", "amd64")
	p.hubBin = hubBin
	p.sitesFile = filepath.Join(b.TempDir(), "province.yaml")
	// One site more than the fleet has edges: the probe's, which no
	// simulated edge reads, so its room's events are the probe's alone.
	if err := os.WriteFile(p.sitesFile, fleet.ProvinceSitesYAML(n+1, 1), 0o644); err != nil {
		b.Fatal(err)
	}
	p.probe = fleet.Province(n+1, 1)[n]
	b.Logf("province: %d edges (baseline %d), %.0f connections/s, a reading per edge every %v (%.0f msg/s), a parcel event per edge every %v; steady window %v; open files soft %d hard %d",
		n, base, p.rate, p.every, float64(n)/p.every.Seconds(), p.scans, p.steady, lim.Cur, lim.Max)

	b.ResetTimer()
	for _, kind := range []string{"embedded", "mosquitto"} {
		small := p.run(b, kind, base)
		big := p.run(b, kind, n)
		pct := func(d []time.Duration, q int) float64 { return float64(percentile(d, q).Microseconds()) / 1000 }
		b.ReportMetric(big.connectAll.Seconds(), kind+"-connect-all-s")
		b.ReportMetric(float64(big.connect.P99.Microseconds())/1000, kind+"-connect-p99-ms")
		b.ReportMetric(big.hubRSSMB, kind+"-hub-RSS-MB")
		b.ReportMetric(small.hubRSSMB, kind+"-base-hub-RSS-MB")
		b.ReportMetric(big.hubCPU, kind+"-hub-cpu-%")
		b.ReportMetric(small.hubCPU, kind+"-base-hub-cpu-%")
		if kind == "mosquitto" {
			b.ReportMetric(big.brokerRSSMB, kind+"-broker-RSS-MB")
			b.ReportMetric(big.brokerCPU, kind+"-broker-cpu-%")
		}
		b.ReportMetric(pct(big.delays, 50), kind+"-live-p50-ms")
		b.ReportMetric(pct(big.delays, 99), kind+"-live-p99-ms")
		b.ReportMetric(pct(small.delays, 99), kind+"-base-live-p99-ms")
		b.ReportMetric(float64(big.cutoffs), kind+"-stream-cutoffs")
		b.ReportMetric(big.hubAll.Seconds(), kind+"-hub-all-online-s")
		b.ReportMetric(big.hubRSSMB/small.hubRSSMB, kind+"-ratio-RSS")
		b.ReportMetric(pct(big.delays, 99)/pct(small.delays, 99), kind+"-ratio-live-p99")
		for _, r := range []fleetBench{small, big} {
			b.Logf("%s broker, %d edges: all connected in %v (connect p50 %v, p99 %v, max %v), hub showed all online after %v; "+
				"steady: fleet %.0f msg/s, hub received %.0f msg/s; hub RSS %.1f MB, CPU %.1f%% of a core; broker RSS %.1f MB, CPU %.1f%%; "+
				"live update p50 %v, p99 %v, max %v (%d probes, stream cut off %d times)",
				kind, r.edges, r.connectAll.Round(time.Millisecond), r.connect.P50.Round(10*time.Microsecond), r.connect.P99.Round(10*time.Microsecond),
				r.connect.Max.Round(10*time.Microsecond), r.hubAll.Round(time.Millisecond), r.rate, r.hubRate, r.hubRSSMB, r.hubCPU,
				r.brokerRSSMB, r.brokerCPU, percentile(r.delays, 50).Round(10*time.Microsecond), percentile(r.delays, 99).Round(10*time.Microsecond),
				percentile(r.delays, 100).Round(10*time.Microsecond), len(r.delays), r.cutoffs)
			b.Logf("%s broker, %d edges: hub commands to edges coming online: %d sent, %d timed out; fleet %s",
				kind, r.edges, r.cmdSent, r.cmdTimeouts, r.stats)
		}
	}
}

type fleetParams struct {
	hubBin, sitesFile string
	rate              float64
	every, scans      time.Duration
	steady            time.Duration
	probes            int
	onlineWithin      time.Duration // longest wait for the hub to show every edge online
	probe             fleet.Edge    // a site and room of the sites file the fleet does not run
}

// run starts a hub (and, for kind "mosquitto", a broker) afresh, connects
// n edges, waits until the hub shows them all online, measures the steady
// window, and stops everything.
func (p fleetParams) run(b *testing.B, kind string, n int) fleetBench {
	dir := b.TempDir()
	httpAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
	conf := fmt.Sprintf("listen: %s\ndata_dir: %s\nsites_file: %s\nlog_level: warn\n", httpAddr, filepath.Join(dir, "data"), p.sitesFile)
	var brokerURL string
	var mosq *testenv.Mosquitto
	brokerPID := 0
	if kind == "embedded" {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
		brokerURL = "tcp://" + addr
		conf += "mqtt:\n  embedded: true\n  embedded_listen: " + addr + "\n"
	} else {
		mosq = testenv.StartMosquitto(b)
		defer mosq.Stop()
		brokerURL = mosq.URL()
		brokerPID = pidOf(mosq.ConfigFile())
		conf += fmt.Sprintf("mqtt:\n  broker: %s\n  client_id: hub-fleet-%d\n", brokerURL, n)
	}
	confPath := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	seedToken(b, httpAddr, filepath.Join(dir, "data"))
	hub := startProc(b, dir, p.hubBin, "-config", confPath)
	defer hub.stop(os.Interrupt)
	waitHealthy(b, httpAddr)
	base := "http://" + httpAddr
	hubPID := hub.cmd.Process.Pid

	cfg := fleet.DefaultConfig()
	cfg.Broker, cfg.Edges = brokerURL, fleet.Province(n, 1)
	cfg.ConnectRate, cfg.ReadingEvery, cfg.ScanEvery = p.rate, p.every, p.scans
	f, err := fleet.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	stopFleet := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Errorf("%s, %d edges: the fleet did not stop within 2 minutes", kind, n)
		}
	}
	defer stopFleet()
	start := time.Now()
	select {
	case <-f.AllConnected():
	case <-time.After(time.Duration(float64(n)/p.rate*float64(time.Second)) + 2*time.Minute):
		b.Fatalf("%s, %d edges: not all connected: %s\nhub log:\n%s", kind, n, f.Stats(), tail(hub.log.String(), 20))
	}
	r := fleetBench{edges: n}
	st := f.Stats()
	r.connectAll, r.connect = st.AllConnectedAfter, st.ConnectLatency
	// Polled gently: listing 10,000 sites is work for the hub too.
	for online := 0; online < n; {
		if time.Since(start) > p.onlineWithin {
			b.Fatalf("%s, %d edges: the hub shows %d edges online %v after the start", kind, n, online, p.onlineWithin)
		}
		time.Sleep(time.Second)
		online = hubOnline(base)
	}
	r.hubAll = time.Since(start)

	// The steady window: the hub's and the broker's CPU and memory, the
	// fleet's and the hub's message rates, and the probes' delays.
	live := &liveStream{b: b, base: base}
	live.open()
	probe := mqttClient(b, brokerURL, "bench-fleet-probe")
	hubCPU0, brokerCPU0, t0 := procCPU(hubPID), procCPU(brokerPID), time.Now()
	pub0, recv0 := f.Stats().Published, hubMetric(base, "countylink_hub_messages_received_total")
	site, edge, room := p.probe.Site, p.probe.Edge, p.probe.Rooms[0]
	for i := range p.probes {
		v := math.Round((2+float64(i)/1000+float64(n%1000)/1e6)*1e6) / 1e6 // unique, and no simulated value (one decimal)
		now := time.Now().UTC()
		msg, err := contract.Encode(contract.Telemetry{Header: contract.Header{V: contract.SchemaVersion,
			ID: contract.MessageID(fleet.Edge{Site: site, Edge: edge}.Producer(), uint64(t0.UnixMilli()), uint64(i+1)), Site: site, Edge: edge, TS: now, Sent: now},
			Device: room.Device(), Room: room.ID, Fields: map[string]float64{"temperature": v, "humidity": 80}})
		if err != nil {
			b.Fatal(err)
		}
		live.drain()
		sent := time.Now()
		if tok := probe.Publish(contract.TelemetryTopic(contract.DefaultPrefix, site, edge, room.Device()), 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("probe publish: %v", tok.Error())
		}
		if at, ok := live.wait(site, room.ID, v, 15*time.Second); ok {
			r.delays = append(r.delays, at.Sub(sent))
		} else {
			b.Errorf("%s, %d edges: probe %d (%v) never reached the stream", kind, n, i, v)
		}
		time.Sleep(time.Until(t0.Add(time.Duration(i+1) * p.steady / time.Duration(p.probes))))
	}
	took := time.Since(t0)
	r.hubCPU = float64(procCPU(hubPID)-hubCPU0) / float64(took) * 100
	r.hubRSSMB = float64(vmRSS(hubPID)) / 1024
	if brokerPID != 0 {
		r.brokerCPU = float64(procCPU(brokerPID)-brokerCPU0) / float64(took) * 100
		r.brokerRSSMB = float64(vmRSS(brokerPID)) / 1024
	}
	r.rate = float64(f.Stats().Published-pub0) / took.Seconds()
	r.hubRate = float64(hubMetric(base, "countylink_hub_messages_received_total")-recv0) / took.Seconds()
	r.cmdSent, r.cmdTimeouts = hubMetric(base, "countylink_hub_commands_sent_total"), hubMetric(base, "countylink_hub_command_timeouts_total")
	slices.Sort(r.delays)
	r.cutoffs = live.cutoffs
	r.stats = f.Stats()
	if e := r.stats.Errors(); e > 0 {
		b.Errorf("%s, %d edges: %d fleet errors: %s", kind, n, e, r.stats)
	}
	return r
}

// hubOnline counts the edges the hub shows online.
func hubOnline(base string) int {
	var sites []state.SiteView
	resp, err := http.Get(base + "/api/v1/sites")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if json.NewDecoder(resp.Body).Decode(&sites) != nil {
		return 0
	}
	n := 0
	for _, s := range sites {
		for _, e := range s.Edges {
			if e.Online {
				n++
			}
		}
	}
	return n
}

// hubMetric is the value of an unlabelled metric of the hub's /metrics.
func hubMetric(base, name string) uint64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return uint64(f)
		}
	}
	return 0
}

// liveStream is a dashboard's event stream, which reconnects as the
// dashboard does when the hub cuts it off for being slow.
type liveStream struct {
	b       *testing.B
	base    string
	ch      <-chan sseEvent
	cutoffs int
}

func (s *liveStream) open() { s.ch = subscribeSSE(s.b, s.base+"/api/v1/stream") }

// drain drops the events already waiting, reconnecting if the stream was
// cut off meanwhile.
func (s *liveStream) drain() {
	for {
		select {
		case _, ok := <-s.ch:
			if !ok {
				s.cutoffs++
				s.open()
			}
		default:
			return
		}
	}
}

// wait returns when site/room shows v: the time of its coldroom event, or
// if the hub cuts the stream off meanwhile, the time a dashboard would
// show it: reconnected after the stream's retry delay (2 s), the rooms
// read again.
func (s *liveStream) wait(site, room string, v float64, timeout time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				s.cutoffs++
				time.Sleep(2 * time.Second)
				s.open()
				var rooms []state.RoomView
				if getJSON(s.b, s.base+"/api/v1/coldrooms", &rooms) == nil {
					for _, r := range rooms {
						if r.Site == site && r.Room == room && r.Temperature != nil && math.Abs(*r.Temperature-v) < 1e-9 {
							return time.Now(), true
						}
					}
				}
				continue
			}
			if ev.typ != "coldroom" {
				continue
			}
			var rv state.RoomView
			if json.Unmarshal([]byte(ev.data), &rv) == nil && rv.Site == site && rv.Room == room && rv.Temperature != nil && math.Abs(*rv.Temperature-v) < 1e-9 {
				return ev.at, true
			}
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// pidOf finds the process whose command line holds arg (the broker's
// configuration file: testenv does not expose its pid), 0 if none.
func pidOf(arg string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline")); err == nil && strings.Contains(string(b), arg) {
			return pid
		}
	}
	return 0
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
