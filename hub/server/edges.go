package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/relay"
)

// edgeWatch is the ingest's Watcher. Readings and statuses go to the alarm
// engine; an edge coming online is handed to each of the hooks, which
// send it what it must hold (its site's room rules, sort plan, and the
// manifest entries it missed): with a clean MQTT session an edge hears no
// command sent while it was away.
type edgeWatch struct {
	engine *alarm.Engine
	hooks  []func(site, edge string)

	mu     sync.Mutex
	online map[[2]string]bool // edges handed to the hooks since they came online
}

func newEdgeWatch(engine *alarm.Engine, hooks ...func(site, edge string)) *edgeWatch {
	return &edgeWatch{engine: engine, hooks: hooks, online: map[[2]string]bool{}}
}

func (w *edgeWatch) Reading(r *hub.Reading) { w.engine.Reading(r) }

func (w *edgeWatch) EdgeStatus(site, edge string, online bool, at time.Time) {
	w.engine.EdgeStatus(site, edge, online, at)
	key := [2]string{site, edge}
	w.mu.Lock()
	came := online && !w.online[key]
	w.online[key] = online
	w.mu.Unlock()
	if came {
		for _, h := range w.hooks {
			h(site, edge)
		}
	}
}

// relayed is the live relay's Watcher: what another hub replica ingested
// goes to the alarm engine, and an edge's state to the online map without
// the hooks, since the replica that took the status sent the edge what it
// must hold; an edge that went offline there runs them here when it comes
// back here.
func (w *edgeWatch) relayed() relay.Watcher { return relayedWatch{w} }

type relayedWatch struct{ w *edgeWatch }

func (r relayedWatch) Reading(rd *hub.Reading) { r.w.engine.Reading(rd) }

func (r relayedWatch) EdgeStatus(site, edge string, online bool, at time.Time) {
	r.w.engine.EdgeStatus(site, edge, online, at)
	r.w.mu.Lock()
	r.w.online[[2]string{site, edge}] = online
	r.w.mu.Unlock()
}

// watchers hands each reading and edge status to every watcher in turn:
// the edge watch, then the relay, which sends them to the other replicas.
type watchers []ingest.Watcher

func (ws watchers) Reading(r *hub.Reading) {
	for _, w := range ws {
		w.Reading(r)
	}
}

func (ws watchers) EdgeStatus(site, edge string, online bool, at time.Time) {
	for _, w := range ws {
		w.EdgeStatus(site, edge, online, at)
	}
}

// forget makes the edge's next online status count as coming online, so
// the hooks run again: for what the edge did not take.
func (w *edgeWatch) forget(site, edge string) {
	w.mu.Lock()
	delete(w.online, [2]string{site, edge})
	w.mu.Unlock()
}

// sendToEdge sends one command to an edge and waits for its result,
// logging a failure as what was not taken. It reports whether the edge
// took it.
func sendToEdge(ctx context.Context, cmds *command.Tracker, log *slog.Logger, site, edge, name string, args json.RawMessage, what, retry string) bool {
	cmd, err := cmds.Do(ctx, site, edge, name, args, 30*time.Second)
	if err == nil && cmd.State == command.StateOK {
		return true
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errHubClosed) {
		return false // the hub is stopping: nothing to report
	}
	edgeErr := ""
	if cmd.Result != nil {
		edgeErr = cmd.Result.Error
	}
	log.Warn(what+" not taken by the edge; sent again "+retry, "site", site, "edge", edge, "err", err, "state", cmd.State, "edge_error", edgeErr)
	return false
}

// errHubClosed is the cause of the hub's lifetime context's end.
var errHubClosed = errors.New("hub closed")

// lifetime is ctx, the hub's lifetime, or the background context before
// the hub set it (tests that build parts alone).
func lifetime(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
