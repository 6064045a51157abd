package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/command"
)

// SortPlans keeps each township's sort plan and sends it to the
// township's edges: when a coordinator saves a new version, and to each
// edge as it comes online, so an edge that was away takes the plan in
// force. The edge keeps the plan on disk and sorts with it when the uplink
// is down; it reports the version it runs in its status.
type SortPlans struct {
	ctx      context.Context // the hub's lifetime: pushes stop with it
	db       hub.KV
	commands *command.Tracker
	edges    func(site string) []hub.EdgeState
	log      *slog.Logger

	// retain, when set, publishes a plan retained on the site's plan
	// topic (contract.PlanTopic), where an edge finds it as it subscribes.
	retain func(ctx context.Context, site string, plan json.RawMessage) error

	mu     sync.Mutex
	plans  map[string]json.RawMessage    // site to its plan as saved
	parsed map[string]*contract.SortPlan // the same, decoded
}

func planKey(site string) string { return "sortplan/" + site }

func newSortPlans(db hub.KV, cmds *command.Tracker, siteList []hub.Site, edges func(string) []hub.EdgeState, log *slog.Logger) (*SortPlans, error) {
	p := &SortPlans{db: db, commands: cmds, edges: edges, log: log, plans: map[string]json.RawMessage{}, parsed: map[string]*contract.SortPlan{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range siteList {
		b, err := db.Get(ctx, planKey(s.ID))
		if err != nil {
			return nil, err
		}
		if b != nil {
			plan, err := contract.DecodeSortPlan(b)
			if err != nil {
				log.Error("stored sort plan no longer passes its check; ignored", "site", s.ID, "err", err)
				continue
			}
			p.plans[s.ID], p.parsed[s.ID] = b, plan
		}
	}
	return p, nil
}

// Get returns the plan of site, or nil.
func (p *SortPlans) Get(site string) json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plans[site]
}

// Put checks and keeps a new plan for site, then sends it to the site's
// edges that are online. It returns the plan's version and the edges it
// was sent to; a plan that fails its check comes back as a contract error.
func (p *SortPlans) Put(ctx context.Context, site string, raw []byte) (string, []string, error) {
	plan, err := contract.DecodeSortPlan(raw)
	if err != nil {
		return "", nil, err
	}
	if plan.Site != site {
		return "", nil, fmt.Errorf("sort plan for %s: %w (%q)", site, hub.ErrOtherSite, plan.Site)
	}
	b, err := json.Marshal(plan) // compact, as the edges receive it
	if err != nil {
		return "", nil, err
	}
	if err := p.db.Put(ctx, planKey(site), b); err != nil {
		return "", nil, err
	}
	p.mu.Lock()
	p.plans[site], p.parsed[site] = b, plan
	p.mu.Unlock()
	p.log.Info("sort plan saved", "site", site, "version", plan.Version, "routes", len(plan.Routes))
	if p.retain != nil {
		if err := p.retain(ctx, site, b); err != nil {
			// Not fatal: the command below reaches the edges online, and
			// the plan is retained again when the hub next connects.
			p.log.Warn("sort plan not retained on the broker", "site", site, "err", err)
		}
	}
	var sent []string
	for _, e := range p.edges(site) {
		if e.Online && e.Agent != "" { // an edge agent, not a handheld
			sent = append(sent, e.Edge)
			go p.push(site, e.Edge, b)
		}
	}
	return plan.Version, sent, nil
}

// EdgeOnline sends an edge coming online its site's plan, if there is one.
func (p *SortPlans) EdgeOnline(site, edge string) {
	if b := p.Get(site); b != nil {
		go p.push(site, edge, b)
	}
}

func (p *SortPlans) push(site, edge string, plan json.RawMessage) {
	ctx, cancel := context.WithTimeout(lifetime(p.ctx), time.Minute)
	defer cancel()
	sendToEdge(ctx, p.commands, p.log, site, edge, "sortplan", plan, "sort plan", "when it next comes online")
}

// Plan returns the decoded plan of site, or nil. It is shared: do not
// change it.
func (p *SortPlans) Plan(site string) *contract.SortPlan {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parsed[site]
}

// Route is the route of township's plan that visits village, "" if none.
func (p *SortPlans) Route(township, village string) string {
	plan := p.Plan(township)
	if plan == nil {
		return ""
	}
	for _, r := range plan.Routes {
		for _, v := range r.Villages {
			if v == village {
				return r.ID
			}
		}
	}
	return ""
}

// RouteVillages lists the village points of a route in visiting order.
func (p *SortPlans) RouteVillages(township, route string) []string {
	if plan := p.Plan(township); plan != nil {
		for _, r := range plan.Routes {
			if r.ID == route {
				return r.Villages
			}
		}
	}
	return nil
}

// RetainAll publishes every plan retained again: after the hub connects,
// in case the broker lost its retained messages (a broker without
// persistence restarted).
func (p *SortPlans) RetainAll(ctx context.Context) {
	if p.retain == nil {
		return
	}
	p.mu.Lock()
	plans := make(map[string]json.RawMessage, len(p.plans))
	for k, v := range p.plans {
		plans[k] = v
	}
	p.mu.Unlock()
	for site, b := range plans {
		if err := p.retain(ctx, site, b); err != nil {
			p.log.Warn("sort plan not retained on the broker", "site", site, "err", err)
		}
	}
}
