package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Fleet is a set of simulated edges (see the package doc). Make one with
// New, run it with Run; Stats may be read at any time.
type Fleet struct {
	cfg   Config
	boot  uint64
	log   *slog.Logger
	edges []*simEdge

	mu      sync.Mutex
	started bool
	start   time.Time
	cancel  context.CancelFunc
	killed  atomic.Bool

	allConnected chan struct{}
	allOnce      sync.Once
	allAfter     atomic.Int64 // ns from start to the last first connection

	launched, connected, ever                      atomic.Int64
	connectErrors, lost, subErrors                 atomic.Uint64
	published, statuses, readings, events, results atomic.Uint64
	commands, badCommands, pubErrors, skipped      atomic.Uint64
	pending                                        atomic.Int64 // publishes and answers not yet settled

	latMu     sync.Mutex
	latencies []time.Duration
}

// New checks cfg and builds the fleet; nothing connects before Run.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{cfg: cfg, boot: cfg.Boot, log: cfg.Log, allConnected: make(chan struct{})}
	if f.boot == 0 {
		f.boot = uint64(time.Now().UnixMilli())
	}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f.edges = make([]*simEdge, len(cfg.Edges))
	for i, e := range cfg.Edges {
		f.edges[i] = newSimEdge(f, e, rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i))))
	}
	f.latencies = make([]time.Duration, 0, len(cfg.Edges))
	return f, nil
}

// Boot is the boot number in the fleet's message ids.
func (f *Fleet) Boot() uint64 { return f.boot }

// Run connects the edges, ConnectRate a second, and runs them until ctx
// is done or Kill is called; then, unless killed, each edge says
// "offline" and disconnects. It returns once every edge has stopped and
// every publish has settled, so Stats are final. A fleet runs once.
func (f *Fleet) Run(ctx context.Context) error {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return errors.New("fleet: Run called twice")
	}
	f.started = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.cancel = cancel
	f.start = time.Now()
	start := f.start
	f.mu.Unlock()
	if f.killed.Load() {
		return nil
	}
	f.log.Info("fleet starting", "edges", len(f.edges), "broker", f.cfg.Broker, "connect_rate", f.cfg.ConnectRate, "boot", f.boot)

	var wg sync.WaitGroup
	ramp := time.NewTimer(0)
	defer ramp.Stop()
launch:
	for i, e := range f.edges {
		if f.cfg.ConnectRate > 0 {
			due := start.Add(time.Duration(float64(i) / f.cfg.ConnectRate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				ramp.Reset(d)
				select {
				case <-ctx.Done():
					break launch
				case <-ramp.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		f.launched.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.run(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	// Publishes still waiting for their acknowledgement settle as the
	// clients disconnect; wait for the counts to be final.
	deadline := time.Now().Add(f.cfg.PublishTimeout + time.Second)
	for f.pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f.log.Info("fleet stopped", "stats", f.Stats().String())
	return nil
}

// Kill drops every edge's connection without a DISCONNECT, as a power cut
// would, so the broker publishes each edge's last will ("offline",
// retained); the edges do not reconnect, and Run returns.
func (f *Fleet) Kill() {
	f.killed.Store(true)
	for _, e := range f.edges {
		e.drop()
	}
	f.mu.Lock()
	if f.cancel != nil {
		f.cancel()
	}
	f.mu.Unlock()
}

// AllConnected is closed once every edge has connected (at least once).
func (f *Fleet) AllConnected() <-chan struct{} { return f.allConnected }

// firstConnect records an edge's first connection and how long it took.
func (f *Fleet) firstConnect(took time.Duration) {
	f.latMu.Lock()
	f.latencies = append(f.latencies, took)
	f.latMu.Unlock()
	if f.ever.Add(1) == int64(len(f.edges)) {
		f.mu.Lock()
		after := time.Since(f.start)
		f.mu.Unlock()
		f.allAfter.Store(int64(after))
		f.allOnce.Do(func() { close(f.allConnected) })
		f.log.Info("every edge connected", "edges", len(f.edges), "after", after.Round(time.Millisecond))
	}
}

// Stats are the fleet's counts so far.
type Stats struct {
	Edges         int // in the fleet
	Launched      int // whose turn in the connection ramp came
	Connected     int // connected now
	EverConnected int // connected at least once
	// AllConnectedAfter is the time from Run's start until the last edge
	// first connected; zero until then.
	AllConnectedAfter time.Duration
	// ConnectLatency is the spread of the edges' first connections, from
	// the attempt that succeeded to the broker's CONNACK.
	ConnectLatency Percentiles

	ConnectErrors   uint64 // failed connection attempts
	ConnectionsLost uint64 // connections lost after they were up
	SubscribeErrors uint64 // subscriptions refused or not acknowledged in time

	Published uint64 // acknowledged by the broker (QoS 1) or written (QoS 0), all kinds
	Statuses  uint64 // of which statuses
	Readings  uint64 // telemetry messages
	Events    uint64 // parcel events
	Results   uint64 // answers to commands

	Commands      uint64 // commands received
	BadCommands   uint64 // commands that did not decode (not answered)
	PublishErrors uint64 // publishes refused, failed or not acknowledged within PublishTimeout
	Skipped       uint64 // messages not sent because the edge was disconnected
}

// Percentiles of a set of durations.
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Errors is every failure counted: connection attempts, lost connections,
// subscriptions, publishes and undecodable commands.
func (s Stats) Errors() uint64 {
	return s.ConnectErrors + s.ConnectionsLost + s.SubscribeErrors + s.PublishErrors + s.BadCommands
}

func (s Stats) String() string {
	return fmt.Sprintf("edges %d, connected %d (ever %d, all after %v), connect p50 %v p90 %v p99 %v max %v; "+
		"published %d (statuses %d, readings %d, events %d, results %d), commands %d; "+
		"errors: connect %d, lost %d, subscribe %d, publish %d, bad commands %d; skipped offline %d",
		s.Edges, s.Connected, s.EverConnected, s.AllConnectedAfter.Round(time.Millisecond),
		s.ConnectLatency.P50.Round(time.Microsecond), s.ConnectLatency.P90.Round(time.Microsecond),
		s.ConnectLatency.P99.Round(time.Microsecond), s.ConnectLatency.Max.Round(time.Microsecond),
		s.Published, s.Statuses, s.Readings, s.Events, s.Results, s.Commands,
		s.ConnectErrors, s.ConnectionsLost, s.SubscribeErrors, s.PublishErrors, s.BadCommands, s.Skipped)
}

// Stats returns the counts so far.
func (f *Fleet) Stats() Stats {
	f.latMu.Lock()
	lat := slices.Clone(f.latencies)
	f.latMu.Unlock()
	slices.Sort(lat)
	return Stats{
		Edges: len(f.edges), Launched: int(f.launched.Load()), Connected: int(f.connected.Load()), EverConnected: int(f.ever.Load()),
		AllConnectedAfter: time.Duration(f.allAfter.Load()),
		ConnectLatency:    Percentiles{N: len(lat), P50: percentile(lat, 50), P90: percentile(lat, 90), P99: percentile(lat, 99), Max: percentile(lat, 100)},
		ConnectErrors:     f.connectErrors.Load(), ConnectionsLost: f.lost.Load(), SubscribeErrors: f.subErrors.Load(),
		Published: f.published.Load(), Statuses: f.statuses.Load(), Readings: f.readings.Load(), Events: f.events.Load(), Results: f.results.Load(),
		Commands: f.commands.Load(), BadCommands: f.badCommands.Load(), PublishErrors: f.pubErrors.Load(), Skipped: f.skipped.Load(),
	}
}

// percentile is the p-th percentile of sorted durations (100: the maximum).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
