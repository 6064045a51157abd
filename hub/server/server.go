// Package server wires the hub together: stores (SQLite embedded, or
// PostgreSQL shared by several hubs, behind Store), the embedded broker
// when asked for, ingest, state, the command tracker and the HTTP API. The hub
// binary and the end-to-end tests both start the hub through Main, so the
// tests exercise the same wiring as production.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/broker"
	"github.com/countylink/countylink/hub/coldlog"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/httpapi"
	"github.com/countylink/countylink/hub/influx"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/postgres"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/relay"
	"github.com/countylink/countylink/hub/sites"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
	"github.com/countylink/countylink/hub/timeline"
)

// Main is one running hub.
type Main struct {
	Config Config
	Log    *slog.Logger
	// Demo makes, at the start, the accounts the demo is used with (an
	// admin, a kiosk token for the wall screen, an API token for the
	// simulated coordinators): see DemoAccess.
	Demo bool

	// Set by Open.
	Store Store // SQLite or PostgreSQL, as store.driver says
	// SQLite is the embedded store when store.driver is sqlite (then Store
	// too, and the series store when InfluxDB is not configured); nil with
	// PostgreSQL.
	SQLite *sqlite.DB
	// Leader says whether this hub is the alarm leader: always with
	// SQLite, one hub at a time of those sharing a PostgreSQL database.
	Leader    hub.Leader
	Influx    *influx.Writer
	Broker    *broker.Broker
	State     *state.State
	Ingest    *ingest.Ingest
	Commands  *command.Tracker
	Alarms    *Alarms
	Manifests *Manifests
	SortPlans *SortPlans
	Corrector *Corrector
	Metrics   *metrics.Registry
	Auth      *auth.Service
	// DemoAccess is how to sign in to the demo (with Demo).
	DemoAccess *DemoAccess
	// Relay keeps the replicas' live pictures whole; nil without
	// mqtt.shared_group.
	Relay     *relay.Relay
	HTTPAddr  string // the address actually listened on
	BrokerURL string

	demoPKI      *demoPKI
	influxReader *influx.Reader
	alarmsRun    bool
	ln           net.Listener
	http         *http.Server
	stop         context.CancelFunc
	done         chan struct{}
	relayStop    context.CancelFunc
	relayDone    chan struct{}
	closeOnce    sync.Once
	closeErr     error
}

// Open builds and starts every part; Close stops them.
func (m *Main) Open() (err error) {
	cfg := m.Config
	if m.Log == nil {
		m.Log = slog.Default()
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	siteList := sites.Demo()
	if cfg.SitesFile != "" {
		if siteList, err = sites.Load(cfg.SitesFile); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := m.openStore(); err != nil {
		return err
	}
	var series hub.SeriesWriter
	if m.SQLite != nil {
		series = m.SQLite
	}
	if cfg.Influx.URL != "" {
		m.Influx, err = influx.New(influx.Config{URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org,
			Bucket: cfg.Influx.Bucket, Timeout: cfg.Influx.Timeout, Gzip: cfg.Influx.Gzip})
		if err != nil {
			return err
		}
		series = m.Influx
	}

	lv := live.New()
	m.State = state.New(siteList, lv)
	m.State.StaleAfter = cfg.StaleAfter
	if m.State.Location, err = cfg.Location(); err != nil {
		return err
	}
	if err := m.restore(); err != nil {
		return err
	}
	m.Store.SetOptions(timeline.Options{MaxParcelKg: cfg.ParcelMaxKg})

	if m.Demo && cfg.MQTT.Embedded && cfg.MQTT.EmbeddedPKIDir != "" {
		// The demo secures its embedded broker with a CA of its own and
		// an identity for every client the demo county runs.
		if m.demoPKI, err = openDemoPKI(cfg.MQTT.EmbeddedPKIDir, cfg.MQTT.EmbeddedTLSListen, cfg.MQTT.TopicPrefix, m.Log); err != nil {
			return fmt.Errorf("demo PKI: %w", err)
		}
		n, err := m.demoPKI.ensure(m.State.AllSites())
		if err != nil {
			return fmt.Errorf("demo PKI: %w", err)
		}
		if n > 0 {
			m.Log.Info("demo: client certificates issued", "identities", n, "dir", filepath.Join(cfg.MQTT.EmbeddedPKIDir, provision.LocalEdges))
		}
	}
	m.BrokerURL = cfg.MQTT.Broker
	mqttUser, mqttPassword, mqttTLS, err := m.startBroker()
	if err != nil {
		return err
	}

	base, stop := context.WithCancelCause(context.Background())
	m.stop = func() { stop(errHubClosed) }
	m.Metrics = new(metrics.Registry)
	if m.Broker != nil {
		m.Metrics.NewGaugeFunc("countylink_hub_broker_publishes_held", "Publishes the embedded broker held back for a subscriber keeping its session (the ingest) to catch up, since it started.",
			func() float64 { return float64(m.Broker.Stats().Held) })
		m.Metrics.NewGaugeFunc("countylink_hub_broker_messages_dropped", "Messages the embedded broker dropped for a subscriber too far behind (each is logged), since it started.",
			func() float64 { return float64(m.Broker.Stats().Dropped) })
	}
	// The temperature log reads the series store the readings go to.
	var logSource coldlog.Source
	if m.SQLite != nil {
		logSource = coldlog.FromDevices(m.SQLite)
	}
	if m.Influx != nil {
		r, err := influx.NewReader(influx.Config{URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org,
			Bucket: cfg.Influx.Bucket, Timeout: cfg.Influx.Timeout})
		if err != nil {
			return err
		}
		m.influxReader = r
		logSource = r
	}
	// Commands go out over the ingest's connection, and their results come
	// back through it.
	m.Commands = command.New(command.PublisherFunc(func(ctx context.Context, topic string, payload []byte) error {
		return m.Ingest.Publish(ctx, topic, payload)
	}), cfg.MQTT.TopicPrefix, command.DefaultKeep, m.Metrics)
	m.Manifests = newManifests(m.Store, m.Commands, m.State.AllSites, m.edgesOf, m.Log.With("component", "manifests"))
	m.Manifests.noPush, m.Manifests.ctx = cfg.Manifests.NoPush, base
	if m.Alarms, err = newAlarms(cfg, siteList, m.Store, m.Leader, lv, m.Commands, m.Log.With("component", "alarms")); err != nil {
		return err
	}
	m.Metrics.NewGaugeFunc("countylink_hub_alarm_leader", "1 while this hub is the alarm leader (stores alarm transitions, sends notifications, pushes room rules), else 0.",
		func() float64 {
			if m.Alarms.Leading() {
				return 1
			}
			return 0
		})
	if m.SortPlans, err = newSortPlans(m.Store, m.Commands, siteList, m.edgesOf, m.Log.With("component", "sortplans")); err != nil {
		return err
	}
	m.SortPlans.ctx, m.Alarms.ctx = base, base
	m.Store.SetPlaces(places{state: m.State, plans: m.SortPlans})
	m.SortPlans.retain = func(ctx context.Context, site string, plan json.RawMessage) error {
		return m.Ingest.PublishRetained(ctx, contract.PlanTopic(cfg.MQTT.TopicPrefix, site), plan)
	}
	m.Corrector = newCorrector(m.Store, m.SortPlans, m.Commands, m.Log.With("component", "corrector"))
	m.Manifests.announced = m.Corrector.Announced
	m.Metrics.NewGaugeFunc("countylink_hub_sorts_corrected", "Station sorts the hub corrected with a relight (a late manifest) since it started.",
		func() float64 { return float64(m.Corrector.corrected.Load()) })
	m.Metrics.NewGaugeFunc("countylink_hub_sorts_unchecked", "Station sorts not checked against the hub's decision because the corrector was behind, since it started.",
		func() float64 { return float64(m.Corrector.behind.Load()) })
	watch := newEdgeWatch(m.Alarms.Engine, m.Alarms.PushRules, m.SortPlans.EdgeOnline, m.Manifests.EdgeOnline)
	m.Alarms.retry = watch.forget
	var watcher ingest.Watcher = watch
	var onStored func([]*hub.ParcelEvent)
	var handOver func() bool
	var beforeDisconnect func()
	var extra []ingest.Subscription
	onRelay := func() {}
	if cfg.MQTT.SharedGroup != "" {
		// Replicas sharing the edges' messages relay to each other what
		// they applied, over the ingest's connection: a hub has one broker
		// identity, and a second connection under it would take over the
		// first's session.
		m.Relay = relay.New(relay.Config{TopicPrefix: cfg.MQTT.TopicPrefix, Replica: cfg.MQTT.Replica()},
			m.State, watch.relayed(), relayedAcks{m.Alarms}, m.Metrics, m.Log.With("component", "relay"))
		watcher, onStored, handOver, beforeDisconnect = watchers{watch, m.Relay}, m.Relay.Events, m.Relay.HandOver, m.Relay.Leave
		extra = []ingest.Subscription{{Filter: m.Relay.Filter(), QoS: 1, Handle: m.Relay.Receive}}
		onRelay = m.Relay.Subscribed
	}
	m.Ingest = ingest.New(ingest.Config{
		Broker: m.BrokerURL, ClientID: cfg.MQTT.ClientID, Username: mqttUser, Password: mqttPassword, TLS: mqttTLS,
		TopicPrefix: cfg.MQTT.TopicPrefix, SharedGroup: cfg.MQTT.SharedGroup,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, MaxSkew: cfg.MaxClockSkew, SeenStore: m.Store, AutoAck: cfg.MQTT.AutoAck,
		Results: m.Commands, Watcher: watcher, OnEvent: m.Corrector.Event, OnStored: onStored, HandOver: handOver,
		Extra: extra, BeforeDisconnect: beforeDisconnect,
		EdgeRate: cfg.EdgeRate, EdgeBurst: cfg.EdgeBurst, OnFlood: m.Alarms.Engine.EdgeFlood,
		OnSubscribed: func() {
			onRelay()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m.SortPlans.RetainAll(ctx)
		},
	}, series, m.Store, m.State, m.Metrics, m.Log.With("component", "ingest"))
	m.Metrics.NewGaugeFunc("countylink_hub_sse_clients", "Dashboards connected to the live stream.", func() float64 { return float64(lv.Subscribers()) })

	m.Auth = auth.New(m.Store, cfg.Auth, m.Metrics, m.Log.With("component", "auth"))
	m.Auth.PublicHTTPS = strings.HasPrefix(cfg.PublicURL, "https://")
	if m.Demo {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m.DemoAccess, err = m.demoAccounts(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("demo accounts: %w", err)
		}
		if m.demoPKI != nil {
			m.DemoAccess.PKIDir, m.DemoAccess.Identities = m.demoPKI.dir, m.demoPKI.count()
			m.DemoAccess.EdgesDir, m.DemoAccess.BrokerTLSURL = filepath.Join(m.demoPKI.dir, provision.LocalEdges), m.Broker.TLSURL()
		}
	}
	go m.Auth.Run(base, 10*time.Minute)

	api := &httpapi.Server{Auth: m.Auth, State: m.State, Live: lv, Metrics: m.Metrics, Log: m.Log.With("component", "http"), Ready: m.ready,
		Events: m.Store, Commands: m.Commands,
		Manifests: m.Manifests, SortPlans: m.SortPlans,
		Traffic: m.Ingest.Traffic, Logistics: m.Store, Sites: m.siteEditor(), Location: m.State.Location,
		ColdChain: &httpapi.ColdChain{Engine: m.Alarms.Engine, Store: m.Store, Source: logSource, Sites: siteList, TZ: m.State.Location},
		HTTPS:     m.Auth.PublicHTTPS}
	if m.Relay != nil {
		api.ColdChain.OnAck = m.Relay.Acked
	}
	if m.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	m.HTTPAddr = m.ln.Addr().String()
	m.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// Streams end when the hub stops, so Shutdown need not wait for them.
		BaseContext: func(net.Listener) context.Context { return base },
	}
	m.done = make(chan struct{}, 2)
	go func() {
		if err := m.http.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("http server", "err", err)
		}
		m.done <- struct{}{}
	}()
	go func() { m.Ingest.Run(base); m.done <- struct{}{} }()
	if m.Relay != nil {
		// The relay sends through the ingest, whose stop has it send its
		// last message (HandOver, Leave) before disconnecting; it paces
		// until the ingest is done.
		var rctx context.Context
		rctx, m.relayStop = context.WithCancel(context.Background())
		m.relayDone = make(chan struct{})
		go func() { m.Relay.Run(rctx, m.Ingest); close(m.relayDone) }()
	}
	m.alarmsRun = true
	go m.Alarms.run(base)
	go m.Corrector.run(base)
	if cfg.Manifests.Dir != "" {
		w := &manifest.Watcher{Dir: cfg.Manifests.Dir, PollInterval: cfg.Manifests.Poll,
			OptionsFunc: func() manifest.Options { return m.Manifests.Options("", "folder") },
			Store:       m.Manifests, Log: m.Log.With("component", "manifests")}
		go func() {
			if err := w.Run(base); err != nil && base.Err() == nil {
				m.Log.Error("manifest drop folder stopped", "dir", cfg.Manifests.Dir, "err", err)
			}
		}()
	}
	m.Log.Info("hub started", "http", "http://"+m.HTTPAddr, "broker", logURL(m.BrokerURL), "embedded_broker", cfg.MQTT.Embedded, "store", cfg.Store.Driver,
		"series", map[bool]string{true: "influxdb " + logURL(cfg.Influx.URL), false: "embedded sqlite"}[m.Influx != nil])
	return nil
}

// openStore opens the store store.driver names, and the alarm leadership
// that goes with it.
func (m *Main) openStore() error {
	cfg := m.Config.Store
	switch cfg.Driver {
	case DriverPostgres:
		if m.Config.Influx.URL == "" {
			return errors.New("store.driver postgres needs influx.url: PostgreSQL keeps no time series")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, cfg.DSN)
		if err != nil {
			return err
		}
		m.Store = db
		// Closed with the store: the lead goes when this hub stops.
		m.Leader = db.Leader(context.Background(), "alarms")
	case DriverSQLite, "":
		db, err := sqlite.Open(filepath.Join(m.Config.DataDir, "hub.db"))
		if err != nil {
			return err
		}
		m.Store, m.SQLite, m.Leader = db, db, hub.SoleLeader{}
	default:
		return fmt.Errorf("store.driver: %q must be sqlite or postgres", cfg.Driver)
	}
	return nil
}

// edgesOf lists the edges the hub knows at site.
func (m *Main) edgesOf(site string) []hub.EdgeState {
	for _, s := range m.State.Sites() {
		if s.ID == site {
			return s.Edges
		}
	}
	return nil
}

// restore reloads the latest readings and edge states kept by the store,
// and counts the day's parcel events, so a restart does not reset the wall
// screen. Edges come back offline until they speak again: with an embedded
// broker their retained status does not survive the restart.
func (m *Main) restore() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := m.Store.Latest(ctx)
	if err != nil {
		return fmt.Errorf("restore latest readings: %w", err)
	}
	for _, r := range rs {
		m.State.ApplyReading(r)
	}
	es, err := m.Store.Edges(ctx)
	if err != nil {
		return fmt.Errorf("restore edges: %w", err)
	}
	for _, e := range es {
		e.Online = false
		m.State.ApplyEdge(e)
	}
	from, to := m.State.Today()
	totals, err := m.Store.ParcelTotals(ctx, from, to)
	if err != nil {
		return fmt.Errorf("restore today's parcel counts: %w", err)
	}
	m.State.RestoreParcels(from, totals)
	if err := restoreSites(ctx, m.Store, m.State); err != nil {
		return fmt.Errorf("restore sites edited through the API: %w", err)
	}
	return nil
}

func (m *Main) ready() error {
	if m.Ingest == nil || !m.Ingest.Ready() {
		return errors.New("not subscribed to the broker yet")
	}
	if m.Relay != nil && !m.Relay.Ready() {
		return errors.New("not subscribed to the other replicas' live updates yet")
	}
	return nil
}

// Close stops the hub: HTTP first, then ingest (which flushes its batch),
// then the broker and stores. Calling it again does nothing.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	if m.stop != nil {
		m.stop()
	}
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.http.Shutdown(ctx)
		cancel()
		<-m.done
		<-m.done
	}
	if m.relayDone != nil {
		m.relayStop()
		<-m.relayDone
	}
	if m.alarmsRun {
		m.Alarms.wait()
	}
	if m.Broker != nil {
		m.Broker.Close()
	}
	if m.influxReader != nil {
		m.influxReader.Close()
	}
	if m.Influx != nil {
		m.Influx.Close()
	}
	if m.Store != nil {
		return m.Store.Close()
	}
	return nil
}

// logURL is u as the log may show it: no password, no query (a token may
// ride in either).
func logURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery, p.Fragment = "", ""
	return p.Redacted()
}
