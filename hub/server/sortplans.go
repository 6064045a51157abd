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
	"github.com/countylink/countylink/hub/sqlite"
)

// SortPlans keeps each township's sort plan and sends it to the
// township's edges: when a coordinator saves a new version, and to each
// edge as it comes online, so an edge that was away takes the plan in
// force. The edge keeps the plan on disk and sorts with it when the uplink
// is down; it reports the version it runs in its status.
type SortPlans struct {
	db       *sqlite.DB
	commands *command.Tracker
	edges    func(site string) []hub.EdgeState
	log      *slog.Logger

	mu    sync.Mutex
	plans map[string]json.RawMessage // site to its plan as saved
}

func planKey(site string) string { return "sortplan/" + site }

func newSortPlans(db *sqlite.DB, cmds *command.Tracker, siteList []hub.Site, edges func(string) []hub.EdgeState, log *slog.Logger) (*SortPlans, error) {
	p := &SortPlans{db: db, commands: cmds, edges: edges, log: log, plans: map[string]json.RawMessage{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range siteList {
		b, err := db.Get(ctx, planKey(s.ID))
		if err != nil {
			return nil, err
		}
		if b != nil {
			p.plans[s.ID] = b
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
	p.plans[site] = b
	p.mu.Unlock()
	p.log.Info("sort plan saved", "site", site, "version", plan.Version, "routes", len(plan.Routes))
	var sent []string
	for _, e := range p.edges(site) {
		if e.Online {
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sendToEdge(ctx, p.commands, p.log, site, edge, "sortplan", plan, "sort plan", "when it next comes online")
}
