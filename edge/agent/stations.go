package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/queue"
	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/station"
	"github.com/countylink/countylink/edge/uplink"
)

// stationRun is a configured scanner station with its scanner.
type stationRun struct {
	cfg    config.Station
	st     *station.Station
	reader scanner.Reader
	window time.Duration
}

// scaleDev is a streaming scale: its line is opened, read and reopened
// with backoff for as long as the agent runs. The station asks the
// current reader for a stable weight.
type scaleDev struct {
	cfg config.Scale
	log *slog.Logger

	mu      sync.Mutex
	r       *scale.Reader
	errText string
	stats   scale.Stats   // of readers already closed
	lastRd  scale.Reading // the last reading of the reader last closed
}

var errScaleDown = errors.New("scale: line not open")

// WaitStable is station.Scale: a stable weight in kg, waited for at most
// timeout. An empty platform settled at zero is not the parcel's weight:
// the parcel was scanned before it was put down, so the wait goes on until
// a load settles or the time runs out.
func (s *scaleDev) WaitStable(ctx context.Context, timeout time.Duration) (float64, error) {
	s.mu.Lock()
	r := s.r
	s.mu.Unlock()
	if r == nil {
		return 0, errScaleDown
	}
	rd, err := r.WaitLoaded(ctx, timeout)
	if err != nil {
		return 0, err
	}
	if rd.Overload {
		return 0, errors.New("scale: overload")
	}
	return rd.Weight, nil
}

// last is the latest good reading of the line open now, zero if none.
func (s *scaleDev) last() scale.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		return s.lastRd
	}
	return s.r.Latest()
}

// health reports whether the scale is sending frames.
func (s *scaleDev) health() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		return false, s.errText
	}
	if at := s.r.Latest().At; at.IsZero() || time.Since(at) > 5*time.Second {
		return false, "no frames for 5s"
	}
	return true, ""
}

// Stats returns the scale's counters over every reader it had.
func (s *scaleDev) Stats() scale.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if s.r != nil {
		st = addScaleStats(st, s.r.Stats())
	}
	return st
}

func addScaleStats(a, b scale.Stats) scale.Stats {
	return scale.Stats{Frames: a.Frames + b.Frames, Framing: a.Framing + b.Framing, Checksum: a.Checksum + b.Checksum,
		Garbage: a.Garbage + b.Garbage, GarbageBytes: a.GarbageBytes + b.GarbageBytes}
}

// run opens the line and reads it until ctx ends, reopening after a
// failure (an unplugged adapter, a serial server restarting).
func (s *scaleDev) run(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		rc, err := s.open(ctx)
		if err == nil {
			var r *scale.Reader
			r, err = scale.NewReader(rc, s.cfg.Config)
			if err == nil {
				s.mu.Lock()
				s.r, s.errText = r, ""
				s.mu.Unlock()
				s.log.Info("scale line open")
				backoff = 500 * time.Millisecond
				stop := context.AfterFunc(ctx, func() { rc.Close() })
				err = r.Run(ctx)
				stop()
				s.mu.Lock()
				s.stats = addScaleStats(s.stats, r.Stats())
				s.lastRd = r.Latest()
				s.r = nil
				s.mu.Unlock()
			}
			rc.Close()
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		changed := s.errText != err.Error()
		s.errText = err.Error()
		s.mu.Unlock()
		if changed {
			s.log.Warn("scale line failed; reopening", "err", err, "backoff", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *scaleDev) open(ctx context.Context) (io.ReadCloser, error) {
	if s.cfg.Address != "" {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return d.DialContext(dctx, "tcp", s.cfg.Address)
	}
	return scale.OpenSerial(s.cfg.Port, s.cfg.Line)
}

// newScanner builds the reader of one configured scanner.
func (a *Agent) newScanner(sc config.Scanner) scanner.Reader {
	opt := scanner.Options{Source: sc.ID, StripAIM: sc.StripAIM, MaxLen: sc.MaxLen, Counters: &a.scanCounts,
		Logger: a.log.With("scanner", sc.ID)}
	switch sc.Kind {
	case "serial":
		return scanner.NewSerial(sc.Port, sc.Baud, opt)
	case "hid":
		return scanner.NewHID(sc.Port, opt)
	default:
		return scanner.NewTCP(sc.Address, opt)
	}
}

// buildStations wires scales, scanners, lamps and buttons into stations,
// and loads the sort plan and the manifest they decide from.
func (a *Agent) buildStations() error {
	scales := map[string]*scaleDev{}
	for _, sc := range a.cfg.Scales {
		d := &scaleDev{cfg: sc, log: a.log.With("scale", sc.ID)}
		scales[sc.ID] = d
		a.scales = append(a.scales, d)
	}
	scanners := map[string]config.Scanner{}
	for _, sc := range a.cfg.Scanners {
		scanners[sc.ID] = sc
	}
	a.manifest = newManifest(a.cfg.Manifest)
	if n, err := a.manifest.load(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	} else if n > 0 {
		a.log.Info("manifest loaded", "parcels", n, "file", a.cfg.Manifest)
	}
	plan, err := loadPlan(a.cfg.SortPlan, a.cfg.Site)
	if err != nil {
		return err
	}
	for _, stc := range a.cfg.Stations {
		sc := scanners[stc.Scanner]
		st := &station.Station{ID: stc.ID, Lamps: map[string]station.Light{}, Manifest: a.manifest.village,
			LampFor: stc.LampFor, WeighFor: stc.WeighFor}
		for bin, out := range stc.Lamps {
			st.Lamps[bin] = a.outputs[out]
		}
		if o := a.outputs[stc.Buzzer]; o != nil {
			st.Buzzer = o
		}
		if d := scales[stc.Scale]; d != nil {
			st.Scale = d
		}
		st.Emit = func(ev station.Event) error { return a.emitEvent(ev) }
		if plan != nil {
			st.SetPlan(plan)
		}
		for _, in := range a.inputs {
			if in.cfg.ID == stc.Confirm {
				in.confirm = func(at time.Time) {
					if _, err := st.Confirm(at); err != nil {
						a.log.Info("confirm pressed", "station", st.ID, "err", err)
					}
				}
			}
		}
		a.stations = append(a.stations, &stationRun{cfg: stc, st: st, reader: a.newScanner(sc), window: sc.Window})
	}
	if len(a.stations) > 0 && plan == nil {
		a.log.Warn("no sort plan yet: stations send every parcel to no bin until the hub sends one", "file", a.cfg.SortPlan)
	}
	return nil
}

// stationLoop reads the station's scanner and handles each scan. Scans
// are handled one at a time, as staff place one parcel at a time.
func (a *Agent) stationLoop(ctx context.Context, sr *stationRun) {
	log := a.log.With("station", sr.cfg.ID)
	raw := make(chan scanner.Scan, 16)
	scans := make(chan scanner.Scan, 16)
	dd := &scanner.Dedup{Window: sr.window, Counters: &a.scanCounts}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); sr.reader.Run(ctx, raw) }()
	go func() { defer wg.Done(); dd.Run(ctx, raw, scans) }()
	for {
		select {
		case <-ctx.Done():
			return
		case sc := <-scans:
			ev, err := sr.st.Scan(ctx, sc)
			switch {
			case errors.Is(err, station.ErrNoPlan):
				log.Warn("scan without a sort plan", "code", clipCode(sc.Code))
			case err != nil:
				log.Error("scan not recorded", "code", clipCode(sc.Code), "err", err)
			default:
				log.Debug("parcel sorted", "waybill", ev.Waybill, "bin", ev.Decision.Bin, "route", ev.Decision.Route,
					"exception", ev.Decision.Exception, "weight_kg", ev.WeightKg)
			}
		}
	}
}

func clipCode(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// emitEvent queues a station's event as a contract.ParcelEvent. Events are
// synced to disk before this returns: a parcel the lamp was lit for is
// recorded even if the power goes a moment later.
func (a *Agent) emitEvent(ev station.Event) error {
	msg := contract.ParcelEvent{Header: a.header(ev.ScannedAt), Kind: ev.Kind, Station: ev.Station,
		Waybill: ev.Waybill, Carrier: ev.Carrier, Route: ev.Decision.Route, Bin: ev.Decision.Bin,
		Rule: ev.Decision.Rule, Exception: ev.Decision.Exception, PlanVersion: ev.PlanVersion, WeighError: clip(ev.WeighError)}
	if msg.TS.IsZero() {
		msg.TS = time.Now()
	}
	if ev.Weighed {
		w := ev.WeightKg
		msg.WeightKg = &w
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	a.events.Add(1)
	return a.appendQueue(queue.Message{Class: queue.Event,
		Topic: contract.EventTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site, a.cfg.Edge, ev.Station), Payload: b})
}

// loadPlan reads the sort plan file; a missing file is no plan.
func loadPlan(path, site string) (*contract.SortPlan, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sort plan: %w", err)
	}
	p, err := contract.DecodeSortPlan(b)
	if err != nil {
		return nil, fmt.Errorf("sort plan %s: %w", path, err)
	}
	if p.Site != site {
		return nil, fmt.Errorf("sort plan %s is for site %q, this edge is at %q", path, p.Site, site)
	}
	return p, nil
}

// CheckPlan checks the sort plan, manifest and room rules files of cfg, if they exist.
func CheckPlan(cfg config.Config) error {
	if _, err := loadPlan(cfg.SortPlan, cfg.Site); err != nil {
		return err
	}
	if _, err := newManifest(cfg.Manifest).load(); err != nil {
		return err
	}
	return newColdChain(cfg.Rules).load(cfg.Site)
}

// setPlan checks a plan sent by the hub with the sortplan command, writes
// it to the plan file atomically and hands it to every station.
func (a *Agent) setPlan(raw []byte) (*contract.SortPlan, error) {
	p, err := a.decodePlan(raw)
	if err != nil {
		return nil, err
	}
	if err := a.applyPlan(p, raw, "command"); err != nil {
		return nil, err
	}
	return p, nil
}

// decodePlan decodes and checks a plan from the hub, for this edge's site.
func (a *Agent) decodePlan(raw []byte) (*contract.SortPlan, error) {
	p, err := contract.DecodeSortPlan(raw)
	if err != nil {
		return nil, err
	}
	if p.Site != a.cfg.Site {
		return nil, fmt.Errorf("plan is for site %q, this edge is at %q", clipCode(p.Site), a.cfg.Site)
	}
	// Every bin the plan lights at this edge's stations must have a lamp
	// here: a parcel sent to a bin without one would be lost on the floor.
	for _, sr := range a.stations {
		st := sr.st
		bins, ok := p.Stations[st.ID]
		if !ok {
			return nil, fmt.Errorf("plan has no bins for station %s of this edge", st.ID)
		}
		if st.Lamps[p.ExceptionBin[st.ID]] == nil {
			return nil, fmt.Errorf("station %s: the exception bin %s has no lamp on this edge", st.ID, clipCode(p.ExceptionBin[st.ID]))
		}
		for route, bin := range bins {
			if st.Lamps[bin] == nil {
				return nil, fmt.Errorf("station %s: bin %s (route %s) has no lamp on this edge", st.ID, clipCode(bin), clipCode(route))
			}
		}
	}
	return p, nil
}

// applyPlan writes raw, the encoding of p, to the plan file atomically,
// hands p to every station and has the status, which names its version,
// published. The caller holds cmdMu.
func (a *Agent) applyPlan(p *contract.SortPlan, raw []byte, from string) error {
	if err := writeFileAtomic(a.cfg.SortPlan, raw); err != nil {
		return err
	}
	for _, st := range a.stations {
		st.st.SetPlan(p)
	}
	a.log.Info("sort plan in force", "version", p.Version, "routes", len(p.Routes), "from", from)
	a.requestStatus()
	return nil
}

// planSubscriptions is the subscription to the site's sort plan, which
// the hub keeps retained on contract.PlanTopic: an edge with stations gets
// it as it connects, and every new version as it is published.
func (a *Agent) planSubscriptions() []uplink.Subscription {
	if len(a.stations) == 0 {
		return nil
	}
	return []uplink.Subscription{{Filter: contract.PlanTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site), QoS: 1, Handler: a.planMessage}}
}

// planMessage takes a sort plan from the plan topic (retained as the edge
// connects, or live), one at a time and in order (the uplink's
// subscription), and in turn with the commands (cmdMu), so that a sortplan
// command and the topic never race to the file. A plan the edge runs
// already is left alone: the retained plan comes again on every
// reconnection. A plan that does not decode or is for another site is
// refused and counted, and the plan in force stays; so it does on an
// empty payload, the hub clearing the topic: the stations keep sorting.
func (a *Agent) planMessage(topic string, payload []byte) {
	a.cmdMu.Lock()
	defer a.cmdMu.Unlock()
	if len(payload) == 0 {
		a.log.Info("sort plan topic cleared; the plan in force stays", "topic", topic, "version", a.planVersion())
		return
	}
	p, err := a.decodePlan(payload)
	if err != nil {
		a.badPlans.Add(1)
		a.log.Warn("sort plan refused; the plan in force stays", "topic", topic, "version", a.planVersion(), "err", err)
		return
	}
	if p.Version == a.planVersion() {
		a.log.Debug("sort plan already in force", "version", p.Version)
		return
	}
	if err := a.applyPlan(p, payload, "topic"); err != nil {
		// Not the plan's fault (a full disk): it comes again with the
		// next connection.
		a.log.Error("sort plan not applied; the plan in force stays", "version", p.Version, "err", err)
	}
}

// planVersion is the version of the plan in force, "" without one.
func (a *Agent) planVersion() string {
	for _, st := range a.stations {
		if p := st.st.Plan(); p != nil {
			return p.Version
		}
	}
	return ""
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// manifest maps announced waybills to their destination village. It is
// kept in a CSV file ("waybill,village" per line) that the manifest
// command appends to, so it survives a restart.
type manifest struct {
	path string
	mu   sync.RWMutex
	m    map[string]string
}

func newManifest(path string) *manifest { return &manifest{path: path, m: map[string]string{}} }

func (m *manifest) load() (int, error) {
	f, err := os.Open(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		wb, village, ok := strings.Cut(text, ",")
		wb, village = strings.ToUpper(strings.TrimSpace(wb)), strings.TrimSpace(village)
		if !ok || wb == "" || !contract.ValidID(village) {
			return 0, fmt.Errorf("%s:%d: want \"waybill,village\", got %q", m.path, line, clipCode(text))
		}
		m.m[wb] = village
	}
	return len(m.m), sc.Err()
}

func (m *manifest) size() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.m)
}

func (m *manifest) village(waybill string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.m[waybill]
	return v, ok
}

// add records announced parcels and appends them to the file.
func (m *manifest) add(entries map[string]string) error {
	var b strings.Builder
	m.mu.RLock()
	for wb, village := range entries {
		if m.m[strings.ToUpper(wb)] == village {
			delete(entries, wb) // known already: the hub sends again what an edge may have missed
		}
	}
	m.mu.RUnlock()
	for wb, village := range entries {
		if wb == "" || len(wb) > contract.MaxWaybillLen || strings.ContainsAny(wb, ",\r\n") || !contract.ValidID(village) {
			return fmt.Errorf("manifest entry %q: %q is not a waybill and a village id", clipCode(wb), clipCode(village))
		}
		fmt.Fprintf(&b, "%s,%s\n", strings.ToUpper(wb), village)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(m.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(m.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for wb, village := range entries {
		m.m[strings.ToUpper(wb)] = village
	}
	return nil
}
