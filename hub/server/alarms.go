package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/sites"
)

// snapshotKey is where the engine's state is kept in the store.
const snapshotKey = "alarm-engine"

// Alarms is the hub's cold-chain alarm service: the engine fed by the
// ingest, its transitions stored (the audit trail), sent to the dashboards
// and to the notification channels, its state saved so that a restart
// resets no timer, and the rules pushed to each edge for its local signal.
//
// Of several hubs sharing a store, one is the alarm leader (hub.Leader):
// every hub's engine evaluates what it receives, so that its dashboards
// and its view stay current and it can take over at once, but only the
// leader stores transitions, sends notifications, saves the engine's
// state and pushes room rules. A hub that becomes leader first restores
// the engine's state from the store, as the last leader saved it. An
// acknowledgement is stored by the hub that took it, leader or not: it
// happens on one hub only; the leader's engine takes it over from the
// store (see acks.go). Each engine judges the readings its hub receives:
// with a shared subscription (mqtt.shared_group) the leader's sees only
// its share.
type Alarms struct {
	Engine *alarm.Engine
	Notify *notify.Dispatcher

	ctx context.Context // the hub's lifetime: pushes stop with it

	db        alarmStore
	leader    hub.Leader
	leading   atomic.Bool // as run last saw the leader: what onAlarm and PushRules go by
	snapshot  []byte      // the engine state restored or saved last; only run touches it after newAlarms
	live      *live.Hub
	commands  *command.Tracker
	log       *slog.Logger
	sites     map[string]hub.Site
	rooms     map[[2]string]hub.Room
	rules     map[string]json.RawMessage // site to its rules command args
	publicURL string

	changes chan alarmChange
	done    chan struct{}

	// retry makes an edge that did not take its rules get them again at
	// its next status.
	retry func(site, edge string)

	adoptMu sync.Mutex
	adopted map[string]bool // alarms whose acknowledgement the leader took over from the store
}

// alarmChange is a transition on its way to the store.
type alarmChange struct {
	hub.AlarmChange
	// elsewhere marks an acknowledgement taken while another hub led: it
	// is stored under the leader's id for the alarm (see acks.go).
	elsewhere bool
}

func newAlarms(cfg Config, siteList []hub.Site, db alarmStore, leader hub.Leader, lv *live.Hub, cmds *command.Tracker, log *slog.Logger) (*Alarms, error) {
	a := &Alarms{db: db, leader: leader, live: lv, commands: cmds, log: log, sites: map[string]hub.Site{}, rooms: map[[2]string]hub.Room{},
		rules: map[string]json.RawMessage{}, publicURL: strings.TrimSuffix(cfg.PublicURL, "/"),
		changes: make(chan alarmChange, 4096), done: make(chan struct{}), adopted: map[string]bool{}}
	rules := sites.Rules(siteList)
	bySite := map[string][]contract.RoomRule{}
	for _, s := range siteList {
		a.sites[s.ID] = s
		for _, r := range s.Rooms {
			a.rooms[[2]string{s.ID, r.ID}] = r
		}
	}
	for _, r := range rules {
		bySite[r.Site] = append(bySite[r.Site], r)
	}
	for site, rs := range bySite {
		b, _ := json.Marshal(rs)
		sum := sha256.Sum256(b)
		args, err := json.Marshal(contract.RoomRules{V: contract.SchemaVersion, Site: site, Version: hex.EncodeToString(sum[:6]), Rules: rs})
		if err != nil {
			return nil, err
		}
		a.rules[site] = args
	}
	var err error
	if a.Notify, err = notify.New(cfg.Notify, log.With("component", "notify")); err != nil {
		return nil, err
	}
	a.Engine = alarm.New(cfg.Alarm, alarm.SinkFunc(a.onAlarm), time.Now)
	if err := a.Engine.SetRules(rules); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := db.Get(ctx, snapshotKey)
	if err != nil {
		return nil, err
	}
	a.restore(snap)
	// A hub alone leads from the start; one of several once run sees it.
	a.leading.Store(leader.IsLeader())
	return a, nil
}

// restore takes the engine's state from a snapshot, nil for none.
func (a *Alarms) restore(snap []byte) {
	if snap == nil {
		return
	}
	a.snapshot = snap
	if err := a.Engine.Restore(snap); err != nil {
		a.log.Warn("alarm state not restored; timers start afresh", "err", err)
	} else {
		a.log.Info("alarm state restored", "active", len(a.Engine.Active()))
	}
}

// Leading reports whether this hub is the alarm leader.
func (a *Alarms) Leading() bool { return a.leading.Load() }

// follow takes a change of leadership: a hub that becomes leader first
// restores the engine's state the last leader saved, unless it is the
// state this hub restored or saved itself.
func (a *Alarms) follow(lead bool) {
	if lead == a.leading.Load() {
		return
	}
	if !lead {
		a.leading.Store(false)
		a.log.Warn("no longer the alarm leader: another hub stores the alarms and sends the notifications")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	snap, err := a.db.Get(ctx, snapshotKey)
	cancel()
	switch {
	case err != nil:
		a.log.Error("alarm state not read on taking the lead; going on with this hub's own", "err", err)
	case snap != nil && !bytes.Equal(snap, a.snapshot):
		a.restore(snap)
	}
	a.leading.Store(true)
	a.log.Info("alarm leader: this hub stores the alarms, sends the notifications and pushes the room rules")
}

// run ticks the engine, stores transitions and saves the engine's state
// until ctx ends, then saves it a last time.
func (a *Alarms) run(ctx context.Context) {
	defer close(a.done)
	go a.Notify.Run(ctx)
	changed := a.leader.Changed() // before IsLeader, so that no change is missed
	a.follow(a.leader.IsLeader())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	save := time.NewTicker(30 * time.Second)
	defer save.Stop()
	var adopt <-chan time.Time // a hub alone takes every acknowledgement itself
	if _, alone := a.leader.(hub.SoleLeader); !alone {
		t := time.NewTicker(adoptEvery)
		defer t.Stop()
		adopt = t.C
	}
	batch := make([]alarmChange, 0, 64)
	flush := func() {
		for more := true; more && len(batch) < cap(batch); {
			select {
			case c := <-a.changes:
				batch = append(batch, c)
			default:
				more = false
			}
		}
		if len(batch) == 0 {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cs := make([]hub.AlarmChange, len(batch))
		for i, c := range batch {
			if c.elsewhere {
				a.asLeaders(sctx, &c.AlarmChange)
			}
			cs[i] = c.AlarmChange
		}
		if err := a.db.SaveAlarmChanges(sctx, cs); err != nil {
			a.log.Error("store alarm transitions", "count", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			a.saveSnapshot()
			a.Notify.Close()
			return
		case c := <-a.changes:
			batch = append(batch, c)
			flush()
		case now := <-tick.C:
			a.Engine.Tick(now)
		case <-save.C:
			a.saveSnapshot()
		case <-adopt:
			if a.leading.Load() {
				flush() // the store then holds the leader's own transitions
				a.adoptAcks()
			}
		case <-changed:
			changed = a.leader.Changed()
			flush() // what was decided while leading is stored
			a.follow(a.leader.IsLeader())
		}
	}
}

// saveSnapshot saves the engine's state, when this hub leads.
func (a *Alarms) saveSnapshot() {
	if !a.leading.Load() {
		return
	}
	b, err := a.Engine.Snapshot()
	if err != nil {
		a.log.Error("alarm state snapshot", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.db.Put(ctx, snapshotKey, b); err != nil {
		a.log.Error("save alarm state", "err", err)
		return
	}
	a.snapshot = b
}

// onAlarm is the engine's sink: store and notify (the leader; an
// acknowledgement wherever it is taken), show. It must not block.
func (a *Alarms) onAlarm(ev alarm.Event) {
	al := ev.Alarm
	rec, _ := json.Marshal(al)
	by := ""
	if ev.Transition == alarm.Acknowledged && al.Acked != nil {
		by = al.Acked.By
	}
	lead := a.leading.Load()
	// An acknowledgement taken on another hub (relayed here, or taken
	// over by the leader from the store) is stored by the hub that took it.
	stored := ev.Transition == alarm.Acknowledged && a.takeAdopted(al.ID)
	if (lead || ev.Transition == alarm.Acknowledged) && !stored {
		ch := alarmChange{AlarmChange: hub.AlarmChange{At: ev.At, Event: string(ev.Transition), By: by, Alarm: hub.AlarmRow{
			ID: al.ID, Site: al.Site, Room: al.Room, Edge: al.Edge, Source: al.Source, Kind: al.Kind.String(),
			Severity: al.Severity, State: string(al.State), Raised: al.Raised, Updated: al.Updated, Record: rec}}, elsewhere: !lead}
		select {
		case a.changes <- ch:
		default:
			a.log.Error("alarm transition not stored: the store is behind", "alarm", al.ID, "transition", ev.Transition)
		}
	}
	if b, err := json.Marshal(ev); err == nil {
		a.live.Publish(live.Event{Type: "alarm", Data: b})
	}
	if !lead {
		return
	}
	switch ev.Transition {
	case alarm.Raised, alarm.Realarm, alarm.Acknowledged, alarm.Cleared:
		if (ev.Transition == alarm.Raised || ev.Transition == alarm.Realarm) && !ev.Notify() {
			return
		}
		a.Notify.Notify(a.notifyAlarm(ev))
	}
}

var severities = map[string]notify.Severity{
	contract.SeverityInfo: notify.Minor, contract.SeverityWarning: notify.Major, contract.SeverityCritical: notify.Critical,
}

var transitions = map[alarm.Transition]notify.Event{
	alarm.Raised: notify.EventRaised, alarm.Realarm: notify.EventRealarm,
	alarm.Acknowledged: notify.EventAcknowledged, alarm.Cleared: notify.EventCleared,
}

// notifyAlarm is the notification channels' view of an alarm event.
func (a *Alarms) notifyAlarm(ev alarm.Event) notify.Alarm {
	al := ev.Alarm
	site := a.sites[al.Site]
	n := notify.Alarm{ID: al.ID, Site: al.Site, SiteName: site.Name, SiteNameEN: site.NameEN, Room: al.Room,
		Kind: notify.Kind(al.Kind.String()), Severity: severities[al.Severity], State: notify.State(al.State),
		Event: transitions[ev.Transition], Value: al.Value, Limit: al.Limit, Raised: al.Raised, Updated: ev.At, Count: al.Count}
	if room, ok := a.rooms[[2]string{al.Site, al.Room}]; ok {
		n.RoomName, n.RoomNameEN = room.Name, room.NameEN
	}
	if al.Value != nil || al.Limit != nil {
		n.Unit = "°C"
	}
	if al.Acked != nil {
		n.AckedBy, n.AckComment = al.Acked.By, al.Acked.Comment
	}
	if a.publicURL != "" {
		n.URL = a.publicURL + "/#alarm=" + al.ID
	}
	return n
}

// PushRules sends an edge coming online its site's room rules, for its
// signal on site; an edge that does not take them gets them again at its
// next status. Only the alarm leader sends them.
func (a *Alarms) PushRules(site, edge string) {
	args, ok := a.rules[site]
	if !ok || a.commands == nil || !a.leading.Load() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(lifetime(a.ctx), time.Minute)
		defer cancel()
		if !sendToEdge(ctx, a.commands, a.log, site, edge, contract.RulesCommand, args, "room rules", "at its next status") && a.retry != nil {
			a.retry(site, edge)
		}
	}()
}

// Close waits for run to end after its context was cancelled.
func (a *Alarms) wait() { <-a.done }

// relayedAcks is what the replicas' relay acknowledges alarms through:
// an acknowledgement taken on another replica, which that replica stored
// (under the leader's alarm id), is applied to this hub's engine, shown,
// and notified by the leader, but not stored again.
type relayedAcks struct{ a *Alarms }

func (r relayedAcks) Active() []alarm.Alarm { return r.a.Engine.Active() }

func (r relayedAcks) Ack(id, by, comment string, at time.Time) error {
	return r.a.ackTakenElsewhere(id, by, comment, at)
}
