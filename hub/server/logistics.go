package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/sites"
	"github.com/countylink/countylink/hub/state"
)

// places answers the parcel timeline's questions from the sites the hub
// knows and the townships' sort plans.
type places struct {
	state *state.State
	plans *SortPlans
}

func (p places) Township(site string) string { return p.state.Township(site) }

func (p places) Route(township, village string) string { return p.plans.Route(township, village) }

func (p places) RouteVillages(township, route string) []string {
	return p.plans.RouteVillages(township, route)
}

// CmdRelight is the edge command that lights the right bin for a parcel
// the station sent elsewhere (see edge/agent).
const CmdRelight = "relight"

// RelightArgs are the relight command's arguments.
type RelightArgs struct {
	Station string `json:"station"`
	Waybill string `json:"waybill"`
	Route   string `json:"route"`
	Bin     string `json:"bin"`
	Village string `json:"village,omitempty"`
}

// Corrector checks each parcel a township station sorted against the
// hub's own decision, taken with the same code (contract.SortPlan.Decide)
// from the same plan and the manifests the hub holds, which may be newer
// than the edge's: a manifest that came late. When the hub finds a route
// where the station found none (or another), it records a "corrected"
// event and sends the edge the relight command while staff still stand at
// the station.
type Corrector struct {
	db       correctorStore
	plans    *SortPlans
	commands *command.Tracker
	log      *slog.Logger
	// Within is how recent a sort must be to be corrected on the station;
	// an older one is left to the coordinator (the item shows where it is).
	Within    time.Duration
	Now       func() time.Time
	work      chan *hub.ParcelEvent
	late      chan []string
	behind    atomic.Uint64 // sorts not checked: the corrector was behind
	corrected atomic.Uint64 // sorts corrected on the station
}

func newCorrector(db correctorStore, plans *SortPlans, cmds *command.Tracker, log *slog.Logger) *Corrector {
	return &Corrector{db: db, plans: plans, commands: cmds, log: log, Within: 2 * time.Minute, Now: time.Now,
		work: make(chan *hub.ParcelEvent, 1024), late: make(chan []string, 64)}
}

// Event takes a parcel event as the ingest receives it; it does not
// block: when the corrector is that far behind, the sort is left to the
// coordinator (the item shows where the parcel is).
func (c *Corrector) Event(ev *hub.ParcelEvent) {
	if ev.Kind != contract.EventSorted || ev.Edge == "" {
		return
	}
	select {
	case c.work <- ev:
	default:
		c.behind.Add(1)
	}
}

// Announced takes the waybills a manifest just announced: one sorted to
// the exception bin moments ago, for want of that manifest, is corrected
// on its station as if the manifest had been there.
func (c *Corrector) Announced(waybills []string) {
	select {
	case c.late <- waybills:
	default:
		c.behind.Add(uint64(len(waybills)))
	}
}

// recheck corrects the recent exception sorts among waybills.
func (c *Corrector) recheck(ctx context.Context, waybills []string) {
	for _, wb := range waybills {
		it, err := c.db.Item(ctx, wb)
		if err != nil || it == nil || it.State != hub.StateException || c.Now().Sub(it.Last) > c.Within {
			continue
		}
		evs, err := c.db.Events(ctx, hub.EventQuery{Waybill: wb, Limit: 20})
		if err != nil {
			continue
		}
		for _, ev := range evs { // newest first
			if ev.Kind == contract.EventSorted {
				if err := c.check(ctx, ev); err != nil && ctx.Err() == nil {
					c.log.Warn("sort check failed", "waybill", ev.Waybill, "site", ev.Site, "err", err)
				}
				break
			}
		}
	}
}

func (c *Corrector) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case wbs := <-c.late:
			c.recheck(ctx, wbs)
		case ev := <-c.work:
			if err := c.check(ctx, ev); err != nil && ctx.Err() == nil {
				c.log.Warn("sort check failed", "waybill", ev.Waybill, "site", ev.Site, "err", err)
			}
		}
	}
}

// check corrects one sorted event if the hub decides otherwise.
func (c *Corrector) check(ctx context.Context, ev *hub.ParcelEvent) error {
	if c.Now().Sub(ev.TS) > c.Within {
		return nil
	}
	plan := c.plans.Plan(ev.Site)
	if plan == nil {
		return nil
	}
	ann, err := c.db.ManifestParcel(ctx, ev.Waybill)
	if err != nil || ann == nil || ann.Village == "" || ann.Site != ev.Site {
		return err
	}
	d := plan.Decide(ev.Station, contract.Parcel{Waybill: ev.Waybill, Village: ann.Village})
	if d.Exception != "" || d.Bin == ev.Bin {
		return nil
	}
	// Sent and recorded aside, so a slow edge holds up no other station.
	go func() {
		if err := c.relight(ctx, ev, d, ann.Village, plan.Version); err != nil && ctx.Err() == nil {
			c.log.Warn("sort not corrected", "waybill", ev.Waybill, "site", ev.Site, "station", ev.Station, "err", err)
		}
	}()
	return nil
}

// relight sends the edge the hub's bin for a parcel and records the
// correction.
func (c *Corrector) relight(ctx context.Context, ev *hub.ParcelEvent, d contract.Decision, village, version string) error {
	// The lamp first: staff are waiting; the record can follow.
	args, _ := json.Marshal(RelightArgs{Station: ev.Station, Waybill: ev.Waybill, Route: d.Route, Bin: d.Bin, Village: village})
	cmd, err := c.commands.Do(ctx, ev.Site, ev.Edge, CmdRelight, args, 10*time.Second)
	if err == nil && cmd.State != command.StateOK {
		why := ""
		if cmd.Result != nil {
			why = cmd.Result.Error
		}
		err = fmt.Errorf("%s %s", cmd.State, why)
	}
	if err != nil {
		return fmt.Errorf("relight on %s/%s: %w", ev.Site, ev.Edge, err)
	}
	corr := &hub.ParcelEvent{ID: "hub-corr-" + ev.ID, Site: ev.Site, Station: ev.Station, Kind: hub.EventCorrected,
		Waybill: ev.Waybill, Route: d.Route, Bin: d.Bin, Rule: d.Rule, PlanVersion: version, By: "hub",
		Note: fmt.Sprintf("manifest says %s: route %s, bin %s (station lit %s)", village, d.Route, d.Bin, ev.Bin),
		TS:   ev.TS.Add(time.Millisecond), Recv: c.Now().UTC()}
	if _, err := c.db.SaveEvents(ctx, []*hub.ParcelEvent{corr}); err != nil {
		return err
	}
	c.corrected.Add(1)
	c.log.Info("sort corrected", "waybill", ev.Waybill, "site", ev.Site, "station", ev.Station, "from", ev.Bin, "to", d.Bin)
	return nil
}

// SiteEditor adds and changes sites through the API: checked with the
// sites file's rules, stored, audited and shown at once.
type SiteEditor struct {
	db    siteStore
	state *state.State
	log   *slog.Logger
	// saved, when set, is told of each site saved (the demo issues the
	// new site's clients their identities).
	saved func(hub.Site)
}

// PutSite adds or changes a site. A site may not change kind, and the
// county cannot be added.
func (e *SiteEditor) PutSite(ctx context.Context, s hub.Site, by string) (bool, error) {
	s.Rooms = nil
	s.Name, s.NameEN = strings.TrimSpace(s.Name), strings.TrimSpace(s.NameEN)
	cur, exists := e.state.Site(s.ID)
	if exists && cur.Kind != s.Kind {
		return false, fmt.Errorf("%w: site %s is a %s; its kind cannot change", hub.ErrConflict, s.ID, cur.Kind)
	}
	all := e.state.AllSites()
	for i := range all {
		if all[i].ID == s.ID {
			all[i] = s
		}
	}
	if !exists {
		all = append(all, s)
	}
	if err := sites.Check(all); err != nil {
		return false, fmt.Errorf("%w: %v", hub.ErrInvalidIn, err)
	}
	if err := e.db.SaveSite(ctx, s); err != nil {
		return false, err
	}
	created := e.state.PutSite(s)
	detail, _ := json.Marshal(map[string]any{"before": map[bool]any{true: cur, false: nil}[exists], "after": s})
	if err := e.db.Audit(ctx, hub.AuditEntry{By: by, Action: "site.put", Site: s.ID, Target: s.ID, Detail: string(detail)}); err != nil {
		e.log.Error("site change not audited", "site", s.ID, "err", err)
	}
	e.log.Info("site saved", "site", s.ID, "kind", s.Kind, "created", created, "by", by)
	if e.saved != nil {
		e.saved(s)
	}
	return created, nil
}

// restoreSites applies the sites edited through the API over the sites
// file's.
func restoreSites(ctx context.Context, db hub.SiteStore, st *state.State) error {
	stored, err := db.Sites(ctx)
	if err != nil {
		return err
	}
	for _, s := range stored {
		st.PutSite(s)
	}
	return nil
}
