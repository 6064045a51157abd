package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
)

// errKilled refuses connections after Kill: a dead box does not come back.
var errKilled = errors.New("fleet killed")

// simEdge is one simulated edge agent.
type simEdge struct {
	f        *Fleet
	spec     Edge
	producer string
	clientID string
	status   string // status topic
	booted   time.Time
	seq      atomic.Uint64
	c        mqtt.Client
	up       atomic.Bool // connected, as the handlers saw it

	connMu sync.Mutex
	conn   net.Conn // the current TCP connection, for Kill

	heldMu sync.Mutex
	plan   *contract.SortPlan // the sort plan held (retained topic or command)
	rules  string             // the room rules' version held

	// Owned by run's goroutine.
	rng     *rand.Rand
	temps   []float64 // each room's temperature, a random walk
	pending []string  // a village point's parcels arrived and not picked up
}

func newSimEdge(f *Fleet, e Edge, rng *rand.Rand) *simEdge {
	s := &simEdge{f: f, spec: e, producer: e.Producer(), rng: rng,
		status: contract.StatusTopic(f.cfg.Prefix, e.Site, e.Edge)}
	s.clientID = f.cfg.ClientIDPrefix + s.producer
	s.temps = make([]float64, len(e.Rooms))
	for i, r := range e.Rooms {
		lo, hi := roomBand(r.Class)
		s.temps[i] = lo + (hi-lo)*rng.Float64()
	}
	return s
}

// roomBand is where a healthy room's temperature stays: inside its
// class's limits by a margin, so the fleet raises no alarm.
func roomBand(class string) (lo, hi float64) {
	l, h, ok := contract.ClassLimits(class)
	if !ok {
		l, h = 2, 8
	}
	if h-l > 4 { // frozen: -30 to -18, a room runs near -20
		l = h - 4
	}
	return l + 0.5, h - 0.5
}

func (e *simEdge) options() *mqtt.ClientOptions {
	cfg := &e.f.cfg
	now := time.Now().UTC()
	// seq 0 is never a message's: the sequence starts at 1.
	will, _ := contract.Encode(contract.Status{Header: contract.Header{V: contract.SchemaVersion,
		ID: contract.MessageID(e.producer, e.f.boot, 0), Site: e.spec.Site, Edge: e.spec.Edge, TS: now},
		State: contract.StateOffline, Agent: cfg.Agent})
	o := mqtt.NewClientOptions().AddBroker(cfg.Broker).SetClientID(e.clientID).
		SetUsername(cfg.Username).SetPassword(cfg.Password).
		SetCleanSession(true).SetResumeSubs(false).
		SetKeepAlive(cfg.KeepAlive).SetPingTimeout(cfg.KeepAlive/2+time.Second).
		SetConnectTimeout(cfg.ConnectTimeout).SetWriteTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).SetConnectRetry(false).SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetOrderMatters(false).
		SetBinaryWill(e.status, will, cfg.QoS, true).
		SetCustomOpenConnectionFn(e.dial).
		SetOnConnectHandler(e.onConnect).
		SetConnectionLostHandler(func(mqtt.Client, error) { e.down(true) })
	return o
}

// dial opens the TCP connection and keeps it for Kill.
func (e *simEdge) dial(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	if e.f.killed.Load() {
		return nil, errKilled
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "1883")
	}
	d := net.Dialer{Timeout: o.ConnectTimeout}
	c, err := d.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.f.killed.Load() {
		c.Close()
		return nil, errKilled
	}
	e.conn = c
	return c, nil
}

// drop closes the connection at once, without a DISCONNECT (a reset:
// nothing lingers).
func (e *simEdge) drop() {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.conn != nil {
		if tc, ok := e.conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		e.conn.Close()
	}
}

func (e *simEdge) down(lost bool) {
	if e.up.CompareAndSwap(true, false) {
		e.f.connected.Add(-1)
		if lost && !e.f.killed.Load() {
			e.f.lost.Add(1)
		}
	}
}

// onConnect runs in paho's goroutine on every connection: subscribe, then
// say online, from another goroutine (paho's handler must not wait).
func (e *simEdge) onConnect(c mqtt.Client) {
	if e.f.killed.Load() {
		return
	}
	if e.up.CompareAndSwap(false, true) {
		e.f.connected.Add(1)
	}
	e.f.pending.Add(1)
	go func() {
		defer e.f.pending.Add(-1)
		cfg := &e.f.cfg
		var toks []mqtt.Token
		if cfg.AnswerCommands {
			toks = append(toks, c.Subscribe(contract.CommandFilter(cfg.Prefix, e.spec.Site, e.spec.Edge), 1, e.onCommand))
		}
		if e.spec.Sorts && e.spec.Station != "" {
			toks = append(toks, c.Subscribe(contract.PlanTopic(cfg.Prefix, e.spec.Site), 1, e.onPlan))
		}
		for _, t := range toks {
			if !t.WaitTimeout(cfg.ConnectTimeout) || t.Error() != nil {
				e.f.subErrors.Add(1)
			}
		}
		// Online only once the subscriptions hold: the hub answers
		// "online" with commands (the room rules).
		e.publish(e.status, true, e.encode(e.statusMsg(contract.StateOnline)), &e.f.statuses)
	}()
}

// run connects (retrying the first connection with backoff; paho
// reconnects after that), runs the edge until ctx is done, and stops it.
func (e *simEdge) run(ctx context.Context) {
	cfg := &e.f.cfg
	e.booted = time.Now()
	e.c = mqtt.NewClient(e.options())
	backoff := time.Second
	for {
		t0 := time.Now()
		tok := e.c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			tok.WaitTimeout(cfg.ConnectTimeout + time.Second)
			e.stop()
			return
		}
		if tok.Error() == nil {
			e.f.firstConnect(time.Since(t0))
			// Up now: paho calls onConnect from a goroutine of its own,
			// maybe after the first reading is due.
			if e.up.CompareAndSwap(false, true) {
				e.f.connected.Add(1)
			}
			break
		}
		e.f.connectErrors.Add(1)
		e.f.log.Debug("connection failed", "client", e.clientID, "err", tok.Error())
		if !sleep(ctx, backoff/2+time.Duration(e.rng.Int64N(int64(backoff)))) {
			e.stop()
			return
		}
		backoff = min(2*backoff, cfg.MaxReconnectInterval)
	}
	e.loop(ctx)
	e.stop()
}

// loop publishes readings and parcel events on their schedules. The first
// reading comes at a random point of the first period, so the fleet's
// readings spread evenly from the start.
func (e *simEdge) loop(ctx context.Context) {
	cfg := &e.f.cfg
	now := time.Now()
	var nextReading, nextScan time.Time
	if cfg.ReadingEvery > 0 && len(e.spec.Rooms) > 0 {
		nextReading = now.Add(time.Duration(e.rng.Int64N(int64(cfg.ReadingEvery))))
	}
	if cfg.ScanEvery > 0 && e.spec.Station != "" {
		nextScan = now.Add(e.exp(cfg.ScanEvery))
	}
	next := func() time.Time {
		switch {
		case nextReading.IsZero():
			return nextScan
		case nextScan.IsZero() || nextReading.Before(nextScan):
			return nextReading
		}
		return nextScan
	}
	if next().IsZero() {
		<-ctx.Done()
		return
	}
	t := time.NewTimer(time.Until(next()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !nextReading.IsZero() && !now.Before(nextReading) {
				e.publishReadings()
				nextReading = nextReading.Add(e.jittered(cfg.ReadingEvery))
				if nextReading.Before(now) { // behind (a stalled machine): no burst to catch up
					nextReading = now.Add(e.jittered(cfg.ReadingEvery))
				}
			}
			if !nextScan.IsZero() && !now.Before(nextScan) {
				e.publishScan()
				nextScan = now.Add(e.exp(cfg.ScanEvery))
			}
			t.Reset(time.Until(next()))
		}
	}
}

// stop says offline (unless killed: then the broker's will does) and
// disconnects.
func (e *simEdge) stop() {
	if !e.f.killed.Load() && e.up.Load() {
		tok := e.c.Publish(e.status, e.f.cfg.QoS, true, e.encode(e.statusMsg(contract.StateOffline)))
		if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			e.f.published.Add(1)
			e.f.statuses.Add(1)
		} else {
			e.f.pubErrors.Add(1)
		}
	}
	e.c.Disconnect(250)
	e.down(false)
}

func (e *simEdge) jittered(d time.Duration) time.Duration {
	j := e.f.cfg.Jitter * (2*e.rng.Float64() - 1)
	return time.Duration(float64(d) * (1 + j))
}

// exp is an exponential pause of mean d: scans come as a Poisson process.
func (e *simEdge) exp(d time.Duration) time.Duration {
	return time.Duration(e.rng.ExpFloat64() * float64(d))
}

func (e *simEdge) header(now time.Time) contract.Header {
	return contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(e.producer, e.f.boot, e.seq.Add(1)),
		Site: e.spec.Site, Edge: e.spec.Edge, TS: now, Sent: now}
}

func (e *simEdge) statusMsg(state string) contract.Status {
	now := time.Now().UTC()
	s := contract.Status{Header: e.header(now), State: state, Agent: e.f.cfg.Agent}
	for _, r := range e.spec.Rooms {
		s.Devices = append(s.Devices, contract.DeviceStatus{ID: r.Device(), OK: true, LastOK: now})
	}
	e.heldMu.Lock()
	if e.plan != nil {
		s.SortPlan = e.plan.Version
	}
	s.Rules = e.rules
	e.heldMu.Unlock()
	return s
}

func (e *simEdge) encode(m any) []byte {
	b, err := contract.Encode(m)
	if err != nil {
		panic("fleet: a simulated message does not encode: " + err.Error()) // a bug here, not an input
	}
	return b
}

// publish sends a message and counts it once it has settled, without
// holding up the edge's schedule.
func (e *simEdge) publish(topic string, retained bool, payload []byte, kind *atomic.Uint64) {
	if !e.up.Load() || !e.c.IsConnectionOpen() {
		e.f.skipped.Add(1)
		return
	}
	tok := e.c.Publish(topic, e.f.cfg.QoS, retained, payload)
	e.f.pending.Add(1)
	go func() {
		defer e.f.pending.Add(-1)
		if !tok.WaitTimeout(e.f.cfg.PublishTimeout) || tok.Error() != nil {
			e.f.pubErrors.Add(1)
			return
		}
		e.f.published.Add(1)
		kind.Add(1)
	}()
}

func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// publishReadings publishes one reading of each room.
func (e *simEdge) publishReadings() {
	now := time.Now().UTC()
	for i, r := range e.spec.Rooms {
		lo, hi := roomBand(r.Class)
		e.temps[i] = min(max(e.temps[i]+(e.rng.Float64()-0.5)*0.4, lo), hi)
		m := contract.Telemetry{Header: e.header(now), Device: r.Device(), Room: r.ID,
			Fields: map[string]float64{contract.FieldTemperature: round(e.temps[i], 1), "humidity": round(75+15*e.rng.Float64(), 1)},
			Units:  map[string]string{contract.FieldTemperature: "Cel", "humidity": "%RH"}}
		e.publish(contract.TelemetryTopic(e.f.cfg.Prefix, e.spec.Site, e.spec.Edge, r.Device()), false, e.encode(m), &e.f.readings)
	}
}

// publishScan publishes one parcel event of the edge's station.
func (e *simEdge) publishScan() {
	m := contract.ParcelEvent{Header: e.header(time.Now().UTC()), Station: e.spec.Station}
	if e.spec.Sorts {
		e.sorted(&m)
	} else if len(e.pending) > 0 && e.rng.IntN(2) == 0 {
		m.Kind, m.Waybill, m.Carrier = contract.EventPickedUp, e.pending[0], "SF"
		e.pending = e.pending[1:]
	} else {
		m.Kind, m.Waybill, m.Carrier = contract.EventArrived, e.waybill(), "SF"
		if len(e.pending) < 64 {
			e.pending = append(e.pending, m.Waybill)
		}
	}
	e.publish(contract.EventTopic(e.f.cfg.Prefix, e.spec.Site, e.spec.Edge, e.spec.Station), false, e.encode(m), &e.f.events)
}

func (e *simEdge) waybill() string { return fmt.Sprintf("SF%013d", e.rng.Int64N(1e13)) }

// sorted fills a township station's decision: a route's bin from the
// plan the edge holds (a synthetic r01..r04 to b01..b04 without one), and
// now and then an unknown code to the exception bin.
func (e *simEdge) sorted(m *contract.ParcelEvent) {
	m.Kind = contract.EventSorted
	e.heldMu.Lock()
	plan := e.plan
	e.heldMu.Unlock()
	var bins map[string]string
	exBin := "x"
	if plan != nil {
		m.PlanVersion = plan.Version
		bins = plan.Stations[e.spec.Station]
		if b := plan.ExceptionBin[e.spec.Station]; b != "" {
			exBin = b
		}
	} else {
		m.PlanVersion = "fleet-1"
	}
	w := round(0.2+12*e.rng.Float64()*e.rng.Float64(), 2)
	m.WeightKg = &w
	if e.rng.IntN(25) == 0 {
		m.Waybill, m.Bin, m.Rule, m.Exception = fmt.Sprintf("XQ%012d", e.rng.Int64N(1e12)), exBin, "none", contract.ExceptionUnknown
		return
	}
	m.Waybill, m.Carrier, m.Rule = e.waybill(), "SF", "sort_code"
	if plan != nil && len(plan.Routes) > 0 {
		r := plan.Routes[e.rng.IntN(len(plan.Routes))]
		if b := bins[r.ID]; b != "" {
			m.Route, m.Bin = r.ID, b
			return
		}
	}
	n := 1 + e.rng.IntN(4)
	m.Route, m.Bin = fmt.Sprintf("r%02d", n), fmt.Sprintf("b%02d", n)
}

// onPlan takes the site's retained sort plan.
func (e *simEdge) onPlan(_ mqtt.Client, msg mqtt.Message) {
	if len(msg.Payload()) == 0 {
		return // cleared: keep the plan held
	}
	if p, err := contract.DecodeSortPlan(msg.Payload()); err == nil && p.Site == e.spec.Site {
		e.heldMu.Lock()
		e.plan = p
		e.heldMu.Unlock()
	}
}

// onCommand answers a command from the hub, as the agent would where the
// simulation allows.
func (e *simEdge) onCommand(_ mqtt.Client, msg mqtt.Message) {
	e.f.commands.Add(1)
	t, err := contract.ParseTopic(e.f.cfg.Prefix, msg.Topic())
	var cmd *contract.Command
	if err == nil {
		cmd, err = contract.DecodeCommand(t, msg.Payload())
	}
	if err != nil {
		e.f.badCommands.Add(1)
		e.f.log.Debug("command not decoded", "client", e.clientID, "topic", msg.Topic(), "err", err)
		return
	}
	res := contract.Result{Header: e.header(time.Now().UTC()), Command: cmd.ID, OK: true}
	data, err := e.do(cmd)
	if err != nil {
		res.OK, res.Error = false, err.Error()
	} else if data != nil {
		res.Data, _ = json.Marshal(data)
	}
	e.publish(contract.ResultTopic(e.f.cfg.Prefix, e.spec.Site, e.spec.Edge), false, e.encode(res), &e.f.results)
}

// do carries a command out and returns its result's data.
func (e *simEdge) do(cmd *contract.Command) (any, error) {
	switch cmd.Name {
	case "ping":
		return map[string]any{"agent": e.f.cfg.Agent, "boot": e.f.boot, "uptime_s": int(time.Since(e.booted).Seconds())}, nil
	case "status":
		e.publish(e.status, true, e.encode(e.statusMsg(contract.StateOnline)), &e.f.statuses)
		return nil, nil
	case contract.RulesCommand:
		rs, err := contract.DecodeRoomRules(cmd.Args)
		if err != nil {
			return nil, err
		}
		if rs.Site != e.spec.Site {
			return nil, fmt.Errorf("room rules for %s, this edge is at %s", rs.Site, e.spec.Site)
		}
		e.heldMu.Lock()
		e.rules = rs.Version
		e.heldMu.Unlock()
		return map[string]any{"version": rs.Version, "rooms": len(rs.Rules)}, nil
	case "sortplan":
		p, err := contract.DecodeSortPlan(cmd.Args)
		if err != nil {
			return nil, err
		}
		if p.Site != e.spec.Site {
			return nil, fmt.Errorf("sort plan for %s, this edge is at %s", p.Site, e.spec.Site)
		}
		e.heldMu.Lock()
		e.plan = p
		e.heldMu.Unlock()
		return map[string]any{"version": p.Version}, nil
	case "manifest":
		var a struct {
			Parcels map[string]string `json:"parcels"`
		}
		if err := json.Unmarshal(cmd.Args, &a); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return map[string]any{"parcels": len(a.Parcels)}, nil
	case "relight":
		var a struct {
			Station string `json:"station"`
			Waybill string `json:"waybill"`
			Bin     string `json:"bin"`
		}
		if err := json.Unmarshal(cmd.Args, &a); err != nil {
			return nil, fmt.Errorf("relight: %w", err)
		}
		if a.Station == "" || a.Station != e.spec.Station {
			return nil, fmt.Errorf("unknown station %q", a.Station)
		}
		return map[string]any{"station": a.Station, "waybill": a.Waybill, "bin": a.Bin}, nil
	}
	return nil, fmt.Errorf("unknown command %q (fleet simulator)", cmd.Name)
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
