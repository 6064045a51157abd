package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/sim"
)

// warehouse is a township warehouse of simulated devices wired to one
// edge agent's configuration, every device on its real transport: an
// RS-485 line (a pseudo-terminal) with a transmitter and a cold-room
// controller, a streaming scale and a fixed-mount scanner on TCP sockets,
// GPIO lines for a door, a confirm button, the bin lamps and a buzzer.
type warehouse struct {
	cfg     config.Config
	plan    *contract.SortPlan
	parcels []sim.Parcel
	ctrl    *sim.ColdRoomController
	th      *sim.Bank // the transmitter's registers
	scale   *sim.Scale
	scan    *sim.ScannerServer
	pins    string // prefix of this warehouse's simulated pin names
}

func (w *warehouse) pin(name string) *gpio.SimPin { return gpio.Sim(w.pins + name) }

func newWarehouse(t testing.TB, broker string) *warehouse {
	t.Helper()
	w := &warehouse{pins: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-"}
	const site = "tw03"

	// The RS-485 line: a transmitter (unit 1) and a controller (unit 2).
	master, slave := openPTY(t)
	rtu := sim.NewRTUServer(master)
	t.Cleanup(func() { rtu.Close() })
	room, err := sim.NewColdRoom(sim.DefaultColdRoomConfig())
	if err != nil {
		t.Fatal(err)
	}
	th := sim.NewBank()
	room.WriteTo(th, sim.LayoutRenke)
	rtu.Attach(1, th)
	w.th = th
	w.ctrl, err = sim.NewColdRoomController(room, sim.DefaultColdRoomControllerConfig())
	if err != nil {
		t.Fatal(err)
	}
	w.ctrl.Update()
	rtu.Attach(2, w.ctrl.Bank())

	// The scale behind a serial server, the scanner on its own port.
	sc := sim.DefaultScaleConfig()
	sc.Interval = 20 * time.Millisecond
	w.scale, err = sim.NewScale(sc)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := sim.NewStreamServer("127.0.0.1:0", w.scale.Run)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	w.scan, err = sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.scan.Close() })

	// The plan and the manifest of the parcels to come.
	w.plan, err = sim.DemoSortPlan(site)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := sim.NewParcels(w.plan, sim.ParcelsConfig{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	var manifest strings.Builder
	for range 1000 {
		p := gen.Next()
		w.parcels = append(w.parcels, p)
		if p.Village != "" {
			fmt.Fprintf(&manifest, "%s,%s\n", p.Waybill, p.Village)
		}
	}
	planJSON, _ := json.Marshal(w.plan)
	if err := os.WriteFile(filepath.Join(state, "sortplan.json"), planJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "manifest.csv"), []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	yaml := fmt.Sprintf(`site: %[1]s
edge: %[1]s-e1
state_dir: %[2]s
log_level: debug
status_interval: 1s
mqtt: {broker: %[3]q}
buses:
  - {id: rs485-1, device: %[4]s, baud: 115200, timeout: 300ms}
devices:
  - {id: cr1-th, room: cr1, profile: th-renke, transport: rtu, bus: rs485-1, unit: 1, interval: 200ms}
  - {id: cr1-ctl, room: cr1, profile: coldroom-ctrl, transport: rtu, bus: rs485-1, unit: 2, interval: 200ms}
scales:
  - {id: s1-scale, address: %[5]q, division_kg: 0.005, stable_for: 100ms}
scanners:
  - {id: s1-scan, kind: tcp, address: %[6]q}
inputs:
  - {id: cr1-door, pin: "sim:%[7]sdoor", kind: door, room: cr1}
  - {id: s1-ok, pin: "sim:%[7]sok", kind: button, active_low: true}
  - {id: mute, pin: "sim:%[7]smute", kind: button, active_low: true}
outputs:
  - {id: s1-buzz, pin: "sim:%[7]sbuzz"}
  - {id: red, pin: "sim:%[7]sred"}
  - {id: amber, pin: "sim:%[7]samber"}
  - {id: green, pin: "sim:%[7]sgreen"}
  - {id: tower-buzz, pin: "sim:%[7]stower-buzz"}
stack_light: {red: red, amber: amber, green: green, buzzer: tower-buzz}
alarm_silence: mute
stations:
  - id: s1
    scanner: s1-scan
    scale: s1-scale
    buzzer: s1-buzz
    confirm: s1-ok
    weigh_for: 1s
    lamps:
`, site, state, broker, slave.Name(), ss.Addr(), w.scan.Addr(), w.pins)
	var outs strings.Builder
	for _, bin := range w.plan.Stations[sim.DemoStation1] {
		yaml += fmt.Sprintf("      %s: %s-lamp\n", bin, bin)
		fmt.Fprintf(&outs, "  - {id: %s-lamp, pin: \"sim:%s%s\"}\n", bin, w.pins, bin)
	}
	xbin := w.plan.ExceptionBin[sim.DemoStation1]
	yaml += fmt.Sprintf("      %s: %s-lamp\n", xbin, xbin)
	fmt.Fprintf(&outs, "  - {id: %s-lamp, pin: \"sim:%s%s\"}\n", xbin, w.pins, xbin)
	yaml = strings.Replace(yaml, "outputs:\n", "outputs:\n"+outs.String(), 1)

	// The door is shut and the button up before the agent looks.
	w.pin("door").Drive(pgpio.Low)
	w.pin("ok").Drive(pgpio.High)
	w.pin("mute").Drive(pgpio.High)

	w.cfg, err = config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return w
}

// openPTY returns the two sides of a new pseudo-terminal (sim.OpenPTY).
func openPTY(tb testing.TB) (master, slave *os.File) {
	tb.Helper()
	master, slave, err := sim.OpenPTY()
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	tb.Cleanup(func() { slave.Close() })
	return master, slave
}

// events collects the parcel events and results the agent publishes.
type events struct {
	mu      sync.Mutex
	parcels []*contract.ParcelEvent
	results []*contract.Result
	tel     []*contract.Telemetry
}

func collect(t *testing.T, url string) *events {
	t.Helper()
	ev := &events{}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("collect-" + t.Name()).SetConnectRetry(true).SetAutoReconnect(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(contract.DefaultPrefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
				tp, msg, err := contract.Decode(contract.DefaultPrefix, m.Topic(), m.Payload())
				if err != nil {
					if tp.Kind != contract.KindCommand {
						t.Errorf("agent published an invalid message on %s: %v", m.Topic(), err)
					}
					return
				}
				ev.mu.Lock()
				defer ev.mu.Unlock()
				switch x := msg.(type) {
				case *contract.ParcelEvent:
					ev.parcels = append(ev.parcels, x)
				case *contract.Result:
					ev.results = append(ev.results, x)
				case *contract.Telemetry:
					ev.tel = append(ev.tel, x)
				}
			})
		}))
	c.Connect()
	t.Cleanup(func() { c.Disconnect(100) })
	return ev
}

func (e *events) parcel(kind, waybill string) *contract.ParcelEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.parcels {
		if p.Kind == kind && p.Waybill == waybill {
			return p
		}
	}
	return nil
}

func (e *events) result(id string) *contract.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.results {
		if r.Command == id {
			return r
		}
	}
	return nil
}

func (e *events) lastField(device, field string) (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.tel) - 1; i >= 0; i-- {
		if v, ok := e.tel[i].Fields[field]; ok && e.tel[i].Device == device {
			return v, true
		}
	}
	return 0, false
}

func startAgent(t testing.TB, cfg config.Config) *Agent {
	t.Helper()
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func waitPin(t *testing.T, p *gpio.SimPin, what string, cond func(gpio.SimState) bool) gpio.SimState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := p.Wait(ctx, cond)
	if err != nil {
		t.Fatalf("%s: %v (pin state %+v)", what, err, st)
	}
	return st
}

func high(s gpio.SimState) bool { return s.Level == pgpio.High }

// TestWarehouse runs a township warehouse through one agent and a real
// Mosquitto: a parcel is scanned, weighed and lit into its bin, the
// confirm button is pressed; an unknown code goes to the blinking
// exception bin with the buzzer; the controller's setpoint is written by
// a hub command and read back; the door contact becomes a reading.
func TestWarehouse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	w := newWarehouse(t, broker.URL())
	ev := collect(t, broker.URL())
	a := startAgent(t, w.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.scan.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin("green"), "stack light green once connected", high)

	// A known parcel: weighed, lit into its route's bin, confirmed.
	var p sim.Parcel
	for _, x := range w.parcels {
		if x.Route != "" && x.Carrier.String() != "NONE" {
			p = x
			break
		}
	}
	bin := p.Bin(w.plan, sim.DemoStation1)
	w.scale.Set(1.25)
	if err := w.scan.Send(p.Waybill); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin(bin), "lamp of bin "+bin, high)
	poll(t, 10*time.Second, "sorted event", func() bool { return ev.parcel(contract.EventSorted, p.Waybill) != nil })
	got := ev.parcel(contract.EventSorted, p.Waybill)
	if got.Bin != bin || got.Route != p.Route || got.Rule != "manifest" || got.WeightKg == nil || *got.WeightKg != 1.25 ||
		got.Carrier != p.Carrier.String() || got.PlanVersion != w.plan.Version || got.Station != sim.DemoStation1 {
		t.Errorf("sorted event %+v (weight %v), want bin %s route %s 1.25 kg carrier %s", got, deref(got.WeightKg), bin, p.Route, p.Carrier)
	}
	if err := w.pin("ok").Pulse(ctx, pgpio.Low, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "confirmed event", func() bool { return ev.parcel(contract.EventConfirmed, p.Waybill) != nil })
	waitPin(t, w.pin(bin), "lamp off after confirm", func(s gpio.SimState) bool { return s.Level == pgpio.Low })

	// An unknown code: exception bin blinking, three beeps.
	xbin := w.plan.ExceptionBin[sim.DemoStation1]
	before, xbefore := w.pin("buzz").State().Highs, w.pin(xbin).State().Highs
	if err := w.scan.Send("NOTAWAYBILL42"); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin(xbin), "exception bin blinking", func(s gpio.SimState) bool { return s.Highs >= xbefore+2 })
	waitPin(t, w.pin("buzz"), "three beeps", func(s gpio.SimState) bool { return s.Highs >= before+3 })
	poll(t, 10*time.Second, "exception event", func() bool { return ev.parcel(contract.EventSorted, "NOTAWAYBILL42") != nil })
	if x := ev.parcel(contract.EventSorted, "NOTAWAYBILL42"); x.Exception != contract.ExceptionUnknown || x.Bin != xbin || x.Carrier != "" {
		t.Errorf("exception event %+v", x)
	}

	// A scale that stays in motion: the parcel is sorted, without a weight.
	w.scale.Shake(true)
	poll(t, 5*time.Second, "the indicator reports motion", func() bool { return a.scales[0].last().Motion || !a.scales[0].last().Settled })
	shaken := w.parcels[1].Waybill
	if err := w.scan.Send(shaken); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "unweighed event", func() bool { return ev.parcel(contract.EventSorted, shaken) != nil })
	if x := ev.parcel(contract.EventSorted, shaken); x.WeightKg != nil || !strings.Contains(x.WeighError, "not stable") {
		t.Errorf("event of a parcel on a shaking scale: %+v (weight %v)", x, deref(x.WeightKg))
	}
	w.scale.Shake(false)

	// The hub writes the controller's setpoint; the result carries the value read back.
	cmd := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("hub-" + t.Name()))
	if tok := cmd.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cmd.Disconnect(100)
	send := func(id, name, args string) {
		b := fmt.Sprintf(`{"v":1,"id":%q,"ts":%q,"name":%q,"args":%s}`, id, time.Now().UTC().Format(time.RFC3339Nano), name, args)
		cmd.Publish(contract.CommandTopic(contract.DefaultPrefix, "tw03", "tw03-e1", name), 1, false, b).Wait()
	}
	send("hub-1", "write", `{"device":"cr1-ctl","field":"setpoint","value":-2.5}`)
	send("hub-2", "write", `{"device":"cr1-ctl","field":"temperature","value":3}`)
	send("hub-3", "write", `{"device":"cr1-ctl","field":"setpoint","value":99}`)
	poll(t, 10*time.Second, "write results", func() bool {
		return ev.result("hub-1") != nil && ev.result("hub-2") != nil && ev.result("hub-3") != nil
	})
	if r := ev.result("hub-1"); !r.OK || string(r.Data) != `{"device":"cr1-ctl","field":"setpoint","value":-2.5}` {
		t.Errorf("setpoint write: %+v data %s", r, r.Data)
	}
	if r := ev.result("hub-2"); r.OK || !strings.Contains(r.Error, "not writable") {
		t.Errorf("read-only write: %+v", r)
	}
	if r := ev.result("hub-3"); r.OK || !strings.Contains(r.Error, "setpoint") {
		t.Errorf("out-of-range write: %+v", r)
	}
	if sp := w.ctrl.Room().Setpoint(); sp != -2.5 {
		t.Errorf("room setpoint %v after the write, want -2.5", sp)
	}
	poll(t, 10*time.Second, "polled setpoint", func() bool { v, ok := ev.lastField("cr1-ctl", "setpoint"); return ok && v == -2.5 })

	// A parcel announced by a manifest command after the start is decided
	// by its destination village.
	const late = "JT0001234567897"
	send("hub-4", "manifest", `{"parcels":{"`+late+`":"v05"}}`)
	poll(t, 10*time.Second, "manifest result", func() bool { return ev.result("hub-4") != nil })
	if r := ev.result("hub-4"); !r.OK || string(r.Data) != `{"parcels":1}` {
		t.Errorf("manifest command: %+v %s", r, r.Data)
	}
	w.scale.Set(0.9)
	if err := w.scan.Send(late); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "late parcel sorted", func() bool { return ev.parcel(contract.EventSorted, late) != nil })
	if x := ev.parcel(contract.EventSorted, late); x.Rule != "manifest" || x.Route != "r05" {
		t.Errorf("late parcel: %+v", x)
	}

	// The door opens: a reading of the room, never thinned.
	w.pin("door").Drive(pgpio.High)
	poll(t, 10*time.Second, "door reading", func() bool { v, ok := ev.lastField("cr1-door", "door_open"); return ok && v == 1 })

	// Bad input is counted against its device; nothing else is lost.
	w.pin("door").Drive(pgpio.Low, pgpio.High, pgpio.Low) // a bouncing contact closing
	poll(t, 10*time.Second, "door shut", func() bool { v, ok := ev.lastField("cr1-door", "door_open"); return ok && v == 0 })
	w.scan.SendNoise(sim.ScanGarbage)
	w.scan.SendNoise(sim.ScanOverlong)
	poll(t, 10*time.Second, "scanner noise counted", func() bool { return a.Stats().Scanners["s1-scan"].Noise == 2 })

	st := a.Stats()
	if st.Stations["s1"].Scans != 4 || st.Stations["s1"].Unweighed != 1 || st.Events != 5 || st.Scanners["s1-scan"].Scans != 4 || st.Inputs["cr1-door"].Bounces == 0 {
		t.Errorf("stats %+v %+v %+v", st.Stations, st.Scanners, st.Inputs)
	}
}

// TestWarehouseSortsOffline: with the uplink down from the start, scans
// light their bins and the events wait on disk; when the broker comes,
// they arrive in order.
func TestWarehouseSortsOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	broker.Stop()
	w := newWarehouse(t, broker.URL())
	startAgent(t, w.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.scan.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin("amber"), "stack light amber while offline", high)
	w.scale.Set(0.8)
	var sent []string
	for _, p := range w.parcels[:6] {
		bin := p.Bin(w.plan, sim.DemoStation1)
		n := w.pin(bin).State().Highs
		if err := w.scan.Send(p.Waybill); err != nil {
			t.Fatal(err)
		}
		waitPin(t, w.pin(bin), "lamp of "+p.Waybill, func(s gpio.SimState) bool { return s.Highs > n })
		sent = append(sent, p.Waybill)
	}
	broker.Start()
	ev := collect(t, broker.URL())
	poll(t, 20*time.Second, "queued events delivered", func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return len(ev.parcels) >= len(sent)
	})
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for i, p := range ev.parcels[:len(sent)] {
		if p.Waybill != sent[i] || p.Kind != contract.EventSorted {
			t.Errorf("event %d: %s %s, want sorted %s", i, p.Kind, p.Waybill, sent[i])
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// BenchmarkAgentScanToLamp times a whole agent from a scan sent by a
// fixed-mount scanner on TCP to its bin lamp's GPIO write, at 1,000 scans a
// minute, with the station's events going to the durable queue (fsynced)
// and a parcel on the scale. The baseline, in the same run, is the bare
// path the agent cannot avoid: the same line sent over loopback TCP to a
// reader goroutine that writes a simulated pin.
func BenchmarkAgentScanToLamp(b *testing.B) {
	broker := testenv.StartMosquitto(b)
	w := newWarehouse(b, broker.URL())
	startAgent(b, w.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.scan.WaitClient(ctx); err != nil {
		b.Fatal(err)
	}
	w.scale.Set(1.5)
	time.Sleep(300 * time.Millisecond) // settled

	const perMinute = 1000
	gap := time.Minute / perMinute
	n := max(b.N, 600)
	lat := make([]time.Duration, 0, n)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		<-tick.C
		p := w.parcels[i%len(w.parcels)]
		lamp := w.pin(p.Bin(w.plan, sim.DemoStation1))
		before := lamp.State().Highs
		start := time.Now()
		if err := w.scan.Send(p.Waybill); err != nil {
			b.Fatal(err)
		}
		if _, err := lamp.Wait(ctx, func(s gpio.SimState) bool { return s.Highs > before }); err != nil {
			b.Fatalf("scan %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		// The next parcel is not the same code: the de-duplicator would
		// swallow a repeat within its window, as it should.
	}
	b.StopTimer()
	bare := bareScanToPin(b, n, gap)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b50, b99 := percentile(bare, 50), percentile(bare, 99)
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(b99.Microseconds()), "bare-p99-µs")
	b.ReportMetric(float64(p99)/float64(b99), "ratio-p99")
	b.Logf("scan to lamp through the agent, %d scans at %d/min: p50 %v, p99 %v, max %v (goal p99 ≤ 5 ms); bare TCP line to pin: p50 %v, p99 %v; ratio p99 %.1f",
		n, perMinute, p50, p99, percentile(lat, 100), b50, b99, float64(p99)/float64(b99))
}

// bareScanToPin is the baseline: a line over loopback TCP, read by a
// goroutine that writes a simulated pin.
func bareScanToPin(b *testing.B, n int, gap time.Duration) []time.Duration {
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pin := gpio.NewSimPin("bare")
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			pin.Out(pgpio.High)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv.WaitClient(ctx)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		<-tick.C
		before := pin.State().Highs
		start := time.Now()
		srv.Send(fmt.Sprintf("SF%013d", i))
		if _, err := pin.Wait(ctx, func(s gpio.SimState) bool { return s.Highs > before }); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// TestProbe: the installer's check reports every device of the warehouse
// over its real transport, lights each output, and reads a scan.
func TestProbe(t *testing.T) {
	w := newWarehouse(t, "tcp://127.0.0.1:1") // no broker: the probe does not connect
	w.scale.Set(2.5)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if w.scan.WaitClient(ctx) == nil {
			w.scan.Send(w.parcels[0].Waybill)
		}
	}()
	var out strings.Builder
	failed := Probe(context.Background(), w.cfg, &out, ProbeOptions{ScanWait: 10 * time.Second, LampFor: 10 * time.Millisecond, ScaleWait: time.Second})
	report := out.String()
	if failed != 0 {
		t.Errorf("%d failed:\n%s", failed, report)
	}
	for _, want := range []string{
		"ok   modbus   cr1-th       rs485-1 unit 1 (th-renke): humidity=",
		"ok   modbus   cr1-ctl      rs485-1 unit 2 (coldroom-ctrl): ",
		"ok   scale    s1-scale     2.500 kg",
		"ok   input    cr1-door     door sim:",
		"ok   scanner  s1-scan      read \"" + w.parcels[0].Waybill + "\"",
		"ok   plan     sortplan     version ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if st := w.pin("b99").State(); st.Highs == 0 {
		t.Errorf("output b99 never switched on: %+v", st)
	}
}

// TestLocalAlarmSignal: with the uplink down, the agent's own copy of the
// room's rule turns the stack light red with its buzzer when the room goes
// above its limit; the silence button stops the buzzer, not the light;
// back in range, the tower shows the offline amber again.
func TestLocalAlarmSignal(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	broker.Stop()
	w := newWarehouse(t, broker.URL())
	rules := `{"v":1,"site":"tw03","version":"r1","rules":[{"room":"cr1","class":"chilled","probe":"cr1-th","deadband_c":0.5}]}`
	if err := os.WriteFile(w.cfg.Rules, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, w.cfg)
	waitPin(t, w.pin("amber"), "amber while offline", high)

	// Simulated pins outlive a test (go test -count=2): count from now.
	red0, buzz0 := w.pin("red").State().Highs, w.pin("tower-buzz").State().Highs
	w.th.SetHoldingInt16(1, 81) // 8.1 °C: above the chilled 4 °C
	red := waitPin(t, w.pin("red"), "red on a high temperature", func(s gpio.SimState) bool { return s.Highs >= red0+2 })
	buzz := waitPin(t, w.pin("tower-buzz"), "buzzer sounding", func(s gpio.SimState) bool { return s.Highs >= buzz0+1 })
	if !a.alarmActive.Load() {
		t.Fatal("no alarm active")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.pin("mute").Pulse(ctx, pgpio.Low, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin("tower-buzz"), "buzzer silenced", func(s gpio.SimState) bool { return s.Level == pgpio.Low && s.Highs > buzz.Highs })
	poll(t, 5*time.Second, "silenced", func() bool { return !a.alarmSound.Load() })
	// The red light goes on blinking while the buzzer stays quiet.
	waitPin(t, w.pin("red"), "red still blinking", func(s gpio.SimState) bool { return s.Highs > red.Highs+2 })
	if st := w.pin("tower-buzz").State(); st.Level != pgpio.Low {
		t.Errorf("buzzer sounds after silencing: %+v", st)
	}

	w.th.SetHoldingInt16(1, 25) // 2.5 °C
	waitPin(t, w.pin("amber"), "amber again once back in range", high)
	if a.alarmActive.Load() {
		t.Error("alarm still active")
	}
}
