package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/modbus"
	"github.com/countylink/countylink/edge/profiles"
	"github.com/countylink/countylink/edge/queue"
	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/station"
	"github.com/countylink/countylink/edge/uplink"
)

// Version is the agent's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Agent is one running edge agent.
type Agent struct {
	cfg     config.Config
	log     *slog.Logger
	boot    uint64
	seq     atomic.Uint64
	started time.Time

	q       *queue.Queue
	up      *uplink.Client                // set by Run before any goroutine uses it
	upReady atomic.Pointer[uplink.Client] // the same, for Stats from other goroutines
	devices []*device
	buses   []*modbus.Bus

	outputs  map[string]*gpio.Output
	inputs   []*input
	stack    *gpio.StackLight
	scales   []*scaleDev
	stations []*stationRun
	manifest *manifest

	cold                    *coldChain  // the rooms' alarm rules, for the local signal
	alarmActive, alarmSound atomic.Bool // a room is in alarm; its buzzer is not silenced

	cmdMu      sync.Mutex // one command (or plan from the plan topic) at a time
	scanCounts scanner.Counters
	events     atomic.Uint64

	statusDue chan struct{}
	clock     *clockWatch
	replaying atomic.Bool // the sender fills its whole window: a backlog is draining

	// Counters, read by Stats.
	polls, pollErrors, published, publishErrors, badCommands, queueErrors, livePublished, badPlans atomic.Uint64

	queueErrMu  sync.Mutex
	queueErr    string    // the last append error, "" once appends work again
	queueErrLog time.Time // when it was last logged
}

// device is one polled device and its health.
type device struct {
	cfg config.Device
	dev *modbus.Device

	mu      sync.Mutex
	ok      bool
	errText string
	lastOK  time.Time
	polled  bool
}

// New builds an agent from a validated configuration: it loads the device
// profiles and advances the boot counter. Nothing connects until Run.
func New(cfg config.Config, log *slog.Logger) (*Agent, error) {
	boot, err := nextBoot(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log.With("site", cfg.Site, "edge", cfg.Edge), boot: boot, started: time.Now(),
		statusDue: make(chan struct{}, 1), clock: newClockWatch()}
	qdir := cfg.Queue.Dir
	if qdir == "" {
		qdir = filepath.Join(cfg.StateDir, "queue")
	}
	a.q, err = queue.Open(queue.Options{Dir: qdir, MaxBytes: cfg.Queue.MaxBytes, SyncEvery: cfg.Queue.Sync, Logger: a.log.With("component", "queue")})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := a.build(); err != nil {
		a.q.Close()
		a.closeOutputs()
		return nil, err
	}
	return a, nil
}

// build makes the agent's devices, GPIO lines and stations from its
// configuration. Nothing is opened but the GPIO lines.
func (a *Agent) build() error {
	buses := map[string]*modbus.Bus{}
	for _, bc := range a.cfg.Buses {
		b, err := modbus.NewRTU(bc.RTUConfig, a.log.With("bus", bc.ID))
		if err != nil {
			return fmt.Errorf("bus %s: %w", bc.ID, err)
		}
		buses[bc.ID] = b
		a.buses = append(a.buses, b)
	}
	endpoints := map[string]*modbus.Endpoint{}
	for _, dc := range a.cfg.Devices {
		p, err := profiles.Load(a.cfg.ProfileDir, dc.Profile)
		if err != nil {
			return fmt.Errorf("device %s: %w", dc.ID, err)
		}
		var (
			t       modbus.Transport
			retries = dc.Retries
		)
		switch dc.Transport {
		case "rtu":
			bus := buses[dc.Bus]
			if dc.Retries > 0 {
				bus.SetRetries(byte(dc.Unit), dc.Retries)
			}
			t, retries = bus, 0 // the bus retries, and keeps the slave's health
		default:
			ep := endpoints[dc.Address]
			if ep == nil {
				// Slaves behind one gateway share its connection and its one-at-a-time rule.
				ep = modbus.NewTCP(dc.Address, dc.Timeout)
				endpoints[dc.Address] = ep
			}
			t = ep
		}
		a.devices = append(a.devices, &device{cfg: dc, dev: modbus.NewDevice(t, byte(dc.Unit), p, retries)})
	}
	if err := a.openGPIO(); err != nil {
		return err
	}
	a.cold = newColdChain(a.cfg.Rules)
	if err := a.cold.load(a.cfg.Site); err != nil {
		return err
	}
	return a.buildStations()
}

// Boot is this run's boot number, part of every message id.
func (a *Agent) Boot() uint64 { return a.boot }

func (a *Agent) nextID() string { return contract.MessageID(a.cfg.Edge, a.boot, a.seq.Add(1)) }

func (a *Agent) header(ts time.Time) contract.Header {
	return contract.Header{V: contract.SchemaVersion, ID: a.nextID(), Site: a.cfg.Site, Edge: a.cfg.Edge, TS: ts.UTC()}
}

// uplinkTLS is the uplink's TLS configuration, nil without mqtt.tls. It
// logs whom the certificate names and warns when it has expired or soon
// will: the agent goes on working and queueing either way, but the broker
// will refuse it.
func (a *Agent) uplinkTLS() (*tls.Config, error) {
	t := a.cfg.MQTT.TLS
	if !t.Set() {
		return nil, nil
	}
	c, err := uplink.TLSConfig(uplink.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName})
	if err != nil {
		return nil, fmt.Errorf("mqtt.tls: %w", err)
	}
	if t.CertFile != "" {
		if cert, err := uplink.Certificate(t.CertFile); err == nil {
			left := time.Until(cert.NotAfter)
			switch {
			case left <= 0:
				a.log.Error("uplink certificate expired: the broker refuses this edge until it is renewed (hub provision edge -renew)",
					"identity", cert.Subject.CommonName, "expired", cert.NotAfter)
			case left < uplink.Expiring:
				a.log.Warn("uplink certificate expires soon: renew it (hub provision edge -renew) and copy it over the old one",
					"identity", cert.Subject.CommonName, "expires", cert.NotAfter)
			default:
				a.log.Info("uplink certificate", "identity", cert.Subject.CommonName, "expires", cert.NotAfter)
			}
		}
	}
	return c, nil
}

// Run connects, polls and publishes until ctx is cancelled, then publishes
// an offline status and disconnects.
func (a *Agent) Run(ctx context.Context) error {
	m := a.cfg.MQTT
	clientID := m.ClientID
	if clientID == "" {
		clientID = "edge-" + a.cfg.Edge
	}
	prefix := m.TopicPrefix
	will, err := contract.Encode(contract.Status{
		Header: contract.Header{V: contract.SchemaVersion, ID: fmt.Sprintf("%s-%d-will", a.cfg.Edge, a.boot),
			Site: a.cfg.Site, Edge: a.cfg.Edge, TS: time.Now().UTC()},
		State: contract.StateOffline, Agent: a.agentName(),
	})
	if err != nil {
		return err
	}
	tlsCfg, err := a.uplinkTLS()
	if err != nil {
		return err
	}
	a.up = uplink.New(uplink.Config{
		Broker: m.Broker, ClientID: clientID, Username: m.Username, Password: m.Password, TLS: tlsCfg,
		Keepalive: m.Keepalive, ConnectTimeout: m.ConnectTimeout, MaxReconnectInterval: m.MaxReconnectInterval,
		WillTopic: contract.StatusTopic(prefix, a.cfg.Site, a.cfg.Edge), WillPayload: will,
		OnConnect:     func(*uplink.Client) { a.requestStatus() },
		CommandFilter: contract.CommandFilter(prefix, a.cfg.Site, a.cfg.Edge),
		OnCommand:     func(topic string, payload []byte) { a.command(ctx, topic, payload) },
		Subscriptions: a.planSubscriptions(),
	}, a.log)
	a.upReady.Store(a.up)
	a.log.Info("edge agent started", "version", Version, "boot", a.boot, "devices", len(a.devices),
		"stations", len(a.stations), "gpio", len(a.inputs)+len(a.outputs), "broker", m.Broker)

	var wg sync.WaitGroup
	for _, d := range a.devices {
		wg.Add(1)
		go func() { defer wg.Done(); a.pollLoop(ctx, d) }()
	}
	for _, in := range a.inputs {
		wg.Add(1)
		go func() { defer wg.Done(); a.inputLoop(ctx, in) }()
	}
	for _, s := range a.scales {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	for _, st := range a.stations {
		wg.Add(1)
		go func() { defer wg.Done(); a.stationLoop(ctx, st) }()
	}
	wg.Add(6)
	go func() { defer wg.Done(); a.coldLoop(ctx) }()
	go func() { defer wg.Done(); a.stackLoop(ctx) }()
	go func() { defer wg.Done(); a.noiseLoop(ctx) }()
	go func() { defer wg.Done(); a.sendLoop(ctx) }()
	go func() { defer wg.Done(); a.statusLoop(ctx) }()
	go func() { defer wg.Done(); a.clockLoop(ctx) }()
	<-ctx.Done()
	wg.Wait()

	// A clean disconnect does not fire the will: say offline ourselves.
	bye, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if p, err := contract.Encode(a.status(contract.StateOffline)); err == nil {
		a.up.Publish(bye, contract.StatusTopic(prefix, a.cfg.Site, a.cfg.Edge), p, true)
	}
	a.up.Close(500 * time.Millisecond)
	a.closeOutputs()
	for _, b := range a.buses {
		b.Close()
	}
	if err := a.q.Close(); err != nil {
		a.log.Error("closing the queue", "err", err)
	}
	a.log.Info("edge agent stopped")
	return nil
}

// clockLoop watches for steps of the wall clock (NTP reaching a server on
// a box without a real-time clock).
func (a *Agent) clockLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if d := a.clock.check(time.Now(), a.seq.Load()); d != 0 {
				a.log.Warn("wall clock stepped; readings queued before the step are shifted by it when sent", "step", d.Round(time.Millisecond), "now", now.UTC())
			}
		}
	}
}

func (a *Agent) agentName() string { return "edge-agent " + Version }

// pollLoop polls one device at its interval. Each device has its own loop,
// so a slow or dead device delays only itself (and, on a shared gateway,
// waits its turn for the connection).
func (a *Agent) pollLoop(ctx context.Context, d *device) {
	log := a.log.With("device", d.cfg.ID, "address", d.cfg.Address, "unit", d.cfg.Unit)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		a.pollOnce(ctx, d, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) pollOnce(ctx context.Context, d *device, log *slog.Logger) {
	pctx, cancel := context.WithTimeout(ctx, d.cfg.Interval)
	defer cancel()
	ts := time.Now()
	rd, err := d.dev.Poll(pctx)
	a.polls.Add(1)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		a.pollErrors.Add(1)
		log.Debug("poll failed", "err", err)
		if d.setHealth(false, err.Error(), ts) {
			log.Warn("device failing; retrying every interval", "err", err)
			a.requestStatus()
		}
		return
	}
	if d.setHealth(true, "", ts) {
		log.Info("device answering")
		a.requestStatus()
	}
	a.cold.reading(d.cfg.ID, d.cfg.Room, ts, rd)
	msg := contract.Telemetry{Header: a.header(ts), Device: d.cfg.ID, Room: d.cfg.Room,
		Fields: rd.Fields, Units: rd.Units}
	if len(rd.Faults) > 0 {
		msg.Faults = rd.Faults
	}
	a.enqueue(contract.TelemetryTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site, a.cfg.Edge, d.cfg.ID), msg)
}

// setHealth records a poll outcome and reports whether the health changed.
func (d *device) setHealth(ok bool, errText string, ts time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := !d.polled || d.ok != ok
	d.polled, d.ok, d.errText = true, ok, errText
	if ok {
		d.lastOK = ts
	}
	return changed
}

// enqueue encodes a telemetry message and appends it to the durable queue.
// The sent time is set when it leaves, so the hub can tell queueing from
// clock skew.
//
// While a backlog is being replayed, the new reading would wait behind it
// (a long outage is hours of readings): it is also published at once, so
// the wall screen shows the room as it is now. The queued copy follows in
// its turn with the same message id, and the hub stores it once.
func (a *Agent) enqueue(topic string, msg contract.Telemetry) {
	msg.Sent = time.Time{}
	b, err := json.Marshal(msg)
	if err != nil {
		a.log.Error("encode telemetry", "err", err)
		return
	}
	if a.appendQueue(queue.Message{Class: queue.Telemetry, Topic: topic, Payload: b, Series: msg.Device, Time: msg.TS}) != nil {
		return
	}
	if up := a.upReady.Load(); up != nil && a.replaying.Load() {
		if _, err := up.PublishAsync(topic, stampSent(b, time.Now()), false); err == nil {
			a.livePublished.Add(1)
		}
	}
}

// appendQueue appends m, recording a failure (a full disk) for the status
// and the log without stopping the agent.
func (a *Agent) appendQueue(m queue.Message) error {
	err := a.q.Append(m)
	a.queueErrMu.Lock()
	defer a.queueErrMu.Unlock()
	if err != nil {
		a.queueErrors.Add(1)
		changed := a.queueErr != err.Error()
		a.queueErr = err.Error()
		if changed || time.Since(a.queueErrLog) > 10*time.Minute {
			a.queueErrLog = time.Now()
			a.log.Error("cannot queue a message", "class", m.Class, "err", err)
			a.requestStatus()
		}
		return err
	}
	if a.queueErr != "" {
		a.queueErr = ""
		a.log.Info("queue writable again")
		a.requestStatus()
	}
	return nil
}

// unsent is how an encoded message says "not sent yet": the zero time.
var unsent = []byte(`"sent":"0001-01-01T00:00:00Z"`)

// stampSent sets the "sent" member of a message encoded with a zero Sent.
// The header is encoded first, so the first match is the header's own.
func stampSent(payload []byte, now time.Time) []byte {
	ts, _ := now.UTC().MarshalJSON()
	repl := make([]byte, 0, len(ts)+7)
	repl = append(append(repl, `"sent":`...), ts...)
	return bytes.Replace(payload, unsent, repl, 1)
}

func (a *Agent) requestStatus() {
	select {
	case a.statusDue <- struct{}{}:
	default:
	}
}

// statusLoop publishes the retained status on connect, on device health
// changes and every status interval.
func (a *Agent) statusLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.statusDue:
		}
		b, err := contract.Encode(a.status(contract.StateOnline))
		if err != nil {
			a.log.Error("encode status", "err", err)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, a.cfg.MQTT.PublishTimeout)
		err = a.up.Publish(pctx, contract.StatusTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site, a.cfg.Edge), b, true)
		cancel()
		if err != nil && !errors.Is(err, uplink.ErrOffline) && ctx.Err() == nil {
			a.log.Debug("status publish failed", "err", err)
		}
	}
}

func (a *Agent) status(state string) contract.Status {
	now := time.Now()
	s := contract.Status{Header: a.header(now), State: state, Agent: a.agentName()}
	s.Sent = s.TS
	qs := a.q.Stats()
	s.Backlog = backlog(qs)
	a.queueErrMu.Lock()
	s.Queue = &contract.QueueStatus{Bytes: qs.Bytes, Thinned: qs.Thinned, Dropped: qs.DroppedTelemetry, Refused: qs.RefusedEvents, Error: clip(a.queueErr)}
	a.queueErrMu.Unlock()
	for _, d := range a.devices {
		d.mu.Lock()
		s.Devices = append(s.Devices, contract.DeviceStatus{ID: d.cfg.ID, OK: d.ok, Error: clip(d.errText), LastOK: d.lastOK.UTC()})
		d.mu.Unlock()
	}
	for _, sc := range a.scales {
		ok, why := sc.health()
		s.Devices = append(s.Devices, contract.DeviceStatus{ID: sc.cfg.ID, OK: ok, Error: clip(why)})
	}
	s.SortPlan = a.planVersion()
	s.Rules = a.cold.rulesVersion()
	return s
}

func clip(s string) string {
	if len(s) > contract.MaxTextLen {
		return s[:contract.MaxTextLen]
	}
	return s
}

// Stats are the agent's counters.
type Stats struct {
	Polls, PollErrors, Published, PublishErrors, BadCommands, QueueErrors uint64
	LivePublished                                                         uint64 // readings also sent at once during a replay
	BadPlans                                                              uint64 // sort plans refused from the plan topic
	Events                                                                uint64 // parcel events queued by the stations
	Scanners                                                              map[string]scanner.Stats
	Stations                                                              map[string]station.Stats
	Scales                                                                map[string]scale.Stats
	Inputs                                                                map[string]gpio.InputStats
	Backlog                                                               int64
	Queue                                                                 queue.Stats
	Connected                                                             bool
}

// Stats returns the current counters.
func (a *Agent) Stats() Stats {
	qs := a.q.Stats()
	s := Stats{Polls: a.polls.Load(), PollErrors: a.pollErrors.Load(), Published: a.published.Load(),
		PublishErrors: a.publishErrors.Load(), BadCommands: a.badCommands.Load(), QueueErrors: a.queueErrors.Load(),
		LivePublished: a.livePublished.Load(),
		Backlog:       backlog(qs), Queue: qs, Events: a.events.Load(), Scanners: a.scanCounts.Stats(),
		Stations: map[string]station.Stats{}, Scales: map[string]scale.Stats{}, Inputs: map[string]gpio.InputStats{}}
	s.BadPlans = a.badPlans.Load()
	for _, in := range a.inputs {
		s.Inputs[in.cfg.ID] = in.in.Stats()
	}
	for _, st := range a.stations {
		s.Stations[st.cfg.ID] = st.st.Stats()
	}
	for _, sc := range a.scales {
		s.Scales[sc.cfg.ID] = sc.Stats()
	}
	if up := a.upReady.Load(); up != nil {
		s.Connected = up.Connected()
	}
	return s
}

// backlog is the number of messages waiting in the queue, all classes.
func backlog(qs queue.Stats) int64 {
	var n int64
	for _, p := range qs.Pending {
		n += p
	}
	return n
}
