package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/state"
)

// wallHub is the real hub binary with the demo county (322 sites) on an
// embedded broker, fed a reading for every cold room and an online status
// for every township's edge.
type wallHub struct {
	proc  *agentProc
	base  string
	kiosk string // the wall screen's path with the demo's kiosk token
	// The demo's broker takes each edge's identity only (its certificate
	// in the demo's PKI directory, over TLS): a publisher per site.
	pki, tlsAddr string
	pubs         map[string]mqtt.Client
	rooms        []state.RoomView
	seq          uint64
}

func startWallHub(b *testing.B) *wallHub {
	b.Helper()
	bin := binary(b, "./hub/cmd/hub", "amd64")
	httpAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
	brokerAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
	tlsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
	dir := b.TempDir()
	h := &wallHub{base: "http://" + httpAddr, pki: filepath.Join(dir, "data", "pki"), tlsAddr: tlsAddr, pubs: map[string]mqtt.Client{}}
	h.proc = startProc(b, dir, bin, "-demo", "-listen", httpAddr, "-broker-listen", brokerAddr, "-broker-tls-listen", tlsAddr)
	waitHealthy(b, httpAddr)
	// The demo's API token for the requests, its kiosk token for the
	// browser (the wall screen signs in with it as a TV does).
	authorizeFile(b, httpAddr, filepath.Join(dir, "data", "demo-api-token"))
	kb, err := os.ReadFile(filepath.Join(dir, "data", "demo-kiosk-token"))
	if err != nil {
		b.Fatal(err)
	}
	h.kiosk = "/#kiosk=" + strings.TrimSpace(string(kb))
	if err := getJSON(b, h.base+"/api/v1/coldrooms", &h.rooms); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for _, r := range h.rooms {
		h.publishStatus(b, r.Site)
		h.publishReading(b, r.Site, r.Room, 2.5)
	}
	waitFor(b, 20*time.Second, "every room has a reading", func() error {
		var rs []state.RoomView
		if err := getJSON(b, h.base+"/api/v1/coldrooms", &rs); err != nil {
			return err
		}
		for _, r := range rs {
			if r.TS == nil || r.TS.Before(now.Add(-time.Second)) {
				return fmt.Errorf("%s/%s has no reading", r.Site, r.Room)
			}
		}
		return nil
	})
	return h
}

func (h *wallHub) publishStatus(b *testing.B, site string) {
	edge := site + "-e1"
	h.seq++
	now := time.Now().UTC()
	p, err := contract.Encode(contract.Status{Header: contract.Header{V: contract.SchemaVersion,
		ID: contract.MessageID(edge, 1, h.seq), Site: site, Edge: edge, TS: now, Sent: now},
		State: contract.StateOnline, Agent: "edge-agent bench"})
	if err != nil {
		b.Fatal(err)
	}
	h.publish(b, site, contract.StatusTopic(contract.DefaultPrefix, site, edge), true, p)
}

func (h *wallHub) publishReading(b *testing.B, site, room string, temp float64) {
	edge, device := site+"-e1", room+"-th"
	h.seq++
	now := time.Now().UTC()
	p, err := contract.Encode(contract.Telemetry{Header: contract.Header{V: contract.SchemaVersion,
		ID: contract.MessageID(edge, 1, h.seq), Site: site, Edge: edge, TS: now, Sent: now},
		Device: device, Room: room, Fields: map[string]float64{"temperature": temp, "humidity": 85}})
	if err != nil {
		b.Fatal(err)
	}
	h.publish(b, site, contract.TelemetryTopic(contract.DefaultPrefix, site, edge, device), false, p)
}

// publish publishes as site's edge agent, with its identity.
func (h *wallHub) publish(b *testing.B, site, topic string, retained bool, p []byte) {
	pub := h.pubs[site]
	if pub == nil {
		id := contract.EdgeIdentity(site, site+"-e1")
		dir := provision.LocalBundle(h.pki, id)
		tc, err := pki.ClientTLS(pki.ClientFiles{CAFile: filepath.Join(dir, provision.CACert),
			CertFile: filepath.Join(dir, provision.EdgeCert), KeyFile: filepath.Join(dir, provision.EdgeKey)})
		if err != nil {
			b.Fatalf("%s's identity from the demo: %v", id, err)
		}
		pub = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ssl://" + h.tlsAddr).SetClientID(id.String()).
			SetTLSConfig(tc).SetAutoReconnect(false))
		if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("%s connecting: %v", id, tok.Error())
		}
		b.Cleanup(func() { pub.Disconnect(100) })
		h.pubs[site] = pub
	}
	if tok := pub.Publish(topic, 1, retained, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// procCPU is the CPU time pid has used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after the command name
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14 of the line
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// BenchmarkWallScreens connects 50 wall screens' event streams to one hub
// (the real binary, the demo county's 322 sites) and publishes a cold-room
// reading ten times a second over MQTT: it reports the delay from the
// publish to each screen's event and the hub's CPU. The baseline, in the
// same run, is the same with one screen.
func BenchmarkWallScreens(b *testing.B) {
	h := startWallHub(b)
	const updates = 200
	one, oneCPU := h.screens(b, 1, updates)
	fifty, fiftyCPU := h.screens(b, 50, updates)
	p := func(d []time.Duration, q int) time.Duration { return percentile(d, q) }
	b.ReportMetric(float64(p(fifty, 99).Microseconds()), "p99-delay-µs")
	b.ReportMetric(float64(p(one, 99).Microseconds()), "one-screen-p99-delay-µs")
	b.ReportMetric(fiftyCPU, "hub-cpu-%")
	b.ReportMetric(oneCPU, "one-screen-hub-cpu-%")
	b.ReportMetric(float64(p(fifty, 99))/float64(p(one, 99)), "ratio-p99-delay")
	b.Logf("live update to 50 screens: p50 %v, p99 %v, max %v, hub CPU %.1f%% of a core; one screen: p50 %v, p99 %v, hub CPU %.1f%%",
		p(fifty, 50), p(fifty, 99), p(fifty, 100), fiftyCPU, p(one, 50), p(one, 99), oneCPU)
}

// screens connects n event streams, publishes updates readings of one
// room 100 ms apart, and returns the delay of every (screen, reading) pair
// and the hub's CPU in percent of one core meanwhile.
func (h *wallHub) screens(b *testing.B, n, updates int) ([]time.Duration, float64) {
	room := h.rooms[0]
	type got struct{ at map[float64]time.Time }
	gots := make([]*got, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range n {
		ch := subscribeSSE(b, h.base+"/api/v1/stream")
		g := &got{at: map[float64]time.Time{}}
		gots[i] = g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-ch:
					if !ok {
						return
					}
					if ev.typ != "coldroom" {
						continue
					}
					var v state.RoomView
					if json.Unmarshal([]byte(ev.data), &v) != nil || v.Site != room.Site || v.Room != room.Room || v.Temperature == nil {
						continue
					}
					mu.Lock()
					g.at[*v.Temperature] = ev.at
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second) // the streams' snapshots pass
	sent := map[float64]time.Time{}
	cpu0, t0 := procCPU(h.proc.cmd.Process.Pid), time.Now()
	for i := range updates {
		v := math.Round((1+float64(i%1000)/1000+float64(n)/100)*1000) / 1000
		sent[v] = time.Now()
		h.publishReading(b, room.Site, room.Room, v)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	cpu := float64(procCPU(h.proc.cmd.Process.Pid)-cpu0) / float64(time.Since(t0)) * 100
	cancel()
	wg.Wait()
	var delays []time.Duration
	missing := 0
	for _, g := range gots {
		for v, at := range sent {
			if r, ok := g.at[v]; ok {
				delays = append(delays, r.Sub(at))
			} else {
				missing++
			}
		}
	}
	if missing > 0 {
		b.Errorf("%d screens: %d of %d updates never arrived", n, missing, n*updates)
	}
	slices.Sort(delays)
	return delays, cpu
}

// BenchmarkWallFirstRender loads the wall screen of the demo county (322
// sites, every cold room with a reading) in headless Chromium with its
// cache disabled, five times, and reports the median time from navigation
// to a complete first render (every room's tile showing its reading and
// the live stream connected) and the bytes transferred. The baseline, in
// the same run, is the browser loading the hub's smallest page
// (/healthz) to its load event.
func BenchmarkWallFirstRender(b *testing.B) {
	exe := testenv.RequireBinary(b, "chromium", "/usr/bin/chromium")
	h := startWallHub(b)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(b.TempDir()), chromedp.WindowSize(1920, 1080))
	defer cancelAlloc()
	ready := fmt.Sprintf(`(() => {
		const check = () => {
			const c = document.getElementById("conn");
			const tiles = document.querySelectorAll(".tile[data-site][data-room][data-state]");
			if (c && c.dataset.state === "live" && tiles.length >= %d && [...tiles].every((e) => e.dataset.state !== "nodata")) {
				window.__ready = performance.now();
				return;
			}
			requestAnimationFrame(check);
		};
		requestAnimationFrame(check);
	})()`, len(h.rooms))
	load := func(url, script, cond string) (ms, bytes float64) {
		ctx, cancel := chromedp.NewContext(actx)
		defer cancel()
		if err := chromedp.Do(ctx); err != nil { // the tab, and the browser the first time
			b.Fatal(err)
		}
		ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
		defer cancelT()
		_, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return cdp.Empty{}, err
			}
			if _, err := cdp.Call(ctx, tg, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
				return cdp.Empty{}, err
			}
			if script != "" {
				if _, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
					return cdp.Empty{}, err
				}
			}
			return cdp.Empty{}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			b.Fatalf("load %s: %v", url, err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			b.Fatalf("%s: %s: %v", url, cond, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
				const r = window.__ready || performance.getEntriesByType("navigation")[0].loadEventEnd;
				const n = performance.getEntriesByType("navigation")[0].transferSize;
				const rs = performance.getEntriesByType("resource").reduce((s, e) => s + e.transferSize, 0);
				return [r, n + rs];
			})()`))
		if err != nil {
			b.Fatal(err)
		}
		return out[0], out[1]
	}
	load(h.base+"/healthz", "", `document.readyState === "complete"`) // the browser warms up
	var wall, base []float64
	var size float64
	for range 5 {
		ms, n := load(h.base+h.kiosk, ready, `window.__ready !== undefined`)
		wall, size = append(wall, ms), n
		ms, _ = load(h.base+"/healthz", "", `document.readyState === "complete" && performance.getEntriesByType("navigation")[0].loadEventEnd > 0`)
		base = append(base, ms)
	}
	slices.Sort(wall)
	slices.Sort(base)
	b.ReportMetric(wall[2], "first-render-ms")
	b.ReportMetric(base[2], "bare-page-ms")
	b.ReportMetric(wall[2]/base[2], "ratio")
	b.ReportMetric(size/1024, "transferred-KiB")
	b.Logf("wall screen, %d cold rooms of 322 sites: first render median %.0f ms (runs %v), %.0f KiB transferred; the hub's smallest page: %.0f ms",
		len(h.rooms), wall[2], wall, size/1024, base[2])
}

// percentile is the p-th percentile of sorted durations (100: the maximum).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
