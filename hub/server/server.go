// Package server wires the hub together: stores, the embedded broker when
// asked for, ingest, state, the command tracker and the HTTP API. The hub
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
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/broker"
	"github.com/countylink/countylink/hub/coldlog"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/httpapi"
	"github.com/countylink/countylink/hub/influx"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/sites"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
	"github.com/countylink/countylink/hub/timeline"
)

// Main is one running hub.
type Main struct {
	Config Config
	Log    *slog.Logger

	// Set by Open.
	DB        *sqlite.DB
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
	HTTPAddr  string // the address actually listened on
	BrokerURL string

	influxReader *influx.Reader
	alarmsRun    bool
	ln           net.Listener
	http         *http.Server
	stop         context.CancelFunc
	done         chan struct{}
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
	if m.DB, err = sqlite.Open(filepath.Join(cfg.DataDir, "hub.db")); err != nil {
		return err
	}
	var series hub.SeriesWriter = m.DB
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
	m.DB.SetOptions(timeline.Options{MaxParcelKg: cfg.ParcelMaxKg})

	m.BrokerURL = cfg.MQTT.Broker
	if cfg.MQTT.Embedded {
		if m.Broker, err = broker.Start(cfg.MQTT.EmbeddedListen, m.Log); err != nil {
			return err
		}
		m.BrokerURL = m.Broker.URL()
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
	var logSource coldlog.Source = coldlog.FromDevices(m.DB)
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
	m.Manifests = newManifests(m.DB, m.Commands, m.State.AllSites, m.edgesOf, m.Log.With("component", "manifests"))
	m.Manifests.noPush, m.Manifests.ctx = cfg.Manifests.NoPush, base
	if m.Alarms, err = newAlarms(cfg, siteList, m.DB, lv, m.Commands, m.Log.With("component", "alarms")); err != nil {
		return err
	}
	if m.SortPlans, err = newSortPlans(m.DB, m.Commands, siteList, m.edgesOf, m.Log.With("component", "sortplans")); err != nil {
		return err
	}
	m.SortPlans.ctx, m.Alarms.ctx = base, base
	m.DB.SetPlaces(places{state: m.State, plans: m.SortPlans})
	m.SortPlans.retain = func(ctx context.Context, site string, plan json.RawMessage) error {
		return m.Ingest.PublishRetained(ctx, contract.PlanTopic(cfg.MQTT.TopicPrefix, site), plan)
	}
	m.Corrector = newCorrector(m.DB, m.SortPlans, m.Commands, m.Log.With("component", "corrector"))
	m.Manifests.announced = m.Corrector.Announced
	m.Metrics.NewGaugeFunc("countylink_hub_sorts_corrected", "Station sorts the hub corrected with a relight (a late manifest) since it started.",
		func() float64 { return float64(m.Corrector.corrected.Load()) })
	m.Metrics.NewGaugeFunc("countylink_hub_sorts_unchecked", "Station sorts not checked against the hub's decision because the corrector was behind, since it started.",
		func() float64 { return float64(m.Corrector.behind.Load()) })
	watch := newEdgeWatch(m.Alarms.Engine, m.Alarms.PushRules, m.SortPlans.EdgeOnline, m.Manifests.EdgeOnline)
	m.Alarms.retry = watch.forget
	m.Ingest = ingest.New(ingest.Config{
		Broker: m.BrokerURL, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
		TopicPrefix: cfg.MQTT.TopicPrefix, SharedGroup: cfg.MQTT.SharedGroup,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, MaxSkew: cfg.MaxClockSkew, SeenStore: m.DB, AutoAck: cfg.MQTT.AutoAck,
		Results: m.Commands, Watcher: watch, OnEvent: m.Corrector.Event,
		EdgeRate: cfg.EdgeRate, EdgeBurst: cfg.EdgeBurst, OnFlood: m.Alarms.Engine.EdgeFlood,
		OnSubscribed: func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m.SortPlans.RetainAll(ctx)
		},
	}, series, m.DB, m.State, m.Metrics, m.Log.With("component", "ingest"))
	m.Metrics.NewGaugeFunc("countylink_hub_sse_clients", "Dashboards connected to the live stream.", func() float64 { return float64(lv.Subscribers()) })

	api := &httpapi.Server{State: m.State, Live: lv, Metrics: m.Metrics, Log: m.Log.With("component", "http"), Ready: m.ready,
		Events: m.DB, Commands: m.Commands,
		Manifests: m.Manifests, SortPlans: m.SortPlans,
		Traffic: m.Ingest.Traffic, Logistics: m.DB, Sites: &SiteEditor{db: m.DB, state: m.State, log: m.Log.With("component", "sites")}, Location: m.State.Location,
		ColdChain: &httpapi.ColdChain{Engine: m.Alarms.Engine, Store: m.DB, Source: logSource, Sites: siteList, TZ: m.State.Location}}
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
	m.Log.Info("hub started", "http", "http://"+m.HTTPAddr, "broker", m.BrokerURL, "embedded_broker", cfg.MQTT.Embedded,
		"series", map[bool]string{true: "influxdb " + cfg.Influx.URL, false: "embedded sqlite"}[m.Influx != nil])
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
	rs, err := m.DB.Latest(ctx)
	if err != nil {
		return fmt.Errorf("restore latest readings: %w", err)
	}
	for _, r := range rs {
		m.State.ApplyReading(r)
	}
	es, err := m.DB.Edges(ctx)
	if err != nil {
		return fmt.Errorf("restore edges: %w", err)
	}
	for _, e := range es {
		e.Online = false
		m.State.ApplyEdge(e)
	}
	from, to := m.State.Today()
	totals, err := m.DB.ParcelTotals(ctx, from, to)
	if err != nil {
		return fmt.Errorf("restore today's parcel counts: %w", err)
	}
	m.State.RestoreParcels(from, totals)
	if err := restoreSites(ctx, m.DB, m.State); err != nil {
		return fmt.Errorf("restore sites edited through the API: %w", err)
	}
	return nil
}

func (m *Main) ready() error {
	if m.Ingest == nil || !m.Ingest.Ready() {
		return errors.New("not subscribed to the broker yet")
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
	if m.DB != nil {
		return m.DB.Close()
	}
	return nil
}
