// Package state keeps the hub's picture of the network in memory: each
// site's edges and whether they are online, the latest reading of each
// cold room, and each site's parcel counts of the day. It is rebuilt from
// the stores at start, updated by ingest, read by the API, and every change
// is published to live.
//
// The parcel counts are of the current day in Location: an event counts
// when its (skew-corrected) time falls on that day, so events an edge
// queued yesterday and sends today do not count, and the counts start
// again from zero at midnight.
package state

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/live"
)

// Room states, as the dashboard colours them.
const (
	RoomOK     = "ok"
	RoomHigh   = "high"
	RoomLow    = "low"
	RoomFault  = "fault"
	RoomStale  = "stale"
	RoomNoData = "nodata"
)

// SiteView is a site as the API shows it.
type SiteView struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	NameEN   string          `json:"name_en"`
	Kind     hub.SiteKind    `json:"kind"`
	Parent   string          `json:"parent,omitempty"`
	Phase    int             `json:"phase,omitempty"` // a village point's rollout phase
	Online   bool            `json:"online"`
	LastSeen *time.Time      `json:"last_seen"`
	Edges    []hub.EdgeState `json:"edges"`
	// Parcels are the site's parcel counts of the current day.
	Parcels hub.ParcelTotals `json:"parcels"`
}

// MaxParcelPublish is the most "parcel" events one ApplyEvents call
// publishes. An edge replaying the events it queued offline sends
// thousands at once; publishing each would cut every dashboard off the
// stream for being slow. The sites' counts are published in full.
const MaxParcelPublish = 64

// RoomView is a cold room with its latest reading, as the API shows it.
type RoomView struct {
	Site        string     `json:"site"`
	SiteName    string     `json:"site_name"`
	SiteNameEN  string     `json:"site_name_en"`
	Room        string     `json:"room"`
	Name        string     `json:"name"`
	NameEN      string     `json:"name_en"`
	Class       string     `json:"class"`
	MinC        float64    `json:"min_c"`
	MaxC        float64    `json:"max_c"`
	Temperature *float64   `json:"temperature"`
	Humidity    *float64   `json:"humidity"`
	Fault       string     `json:"fault,omitempty"`
	TS          *time.Time `json:"ts,omitempty"`
	State       string     `json:"state"`
	Edge        string     `json:"edge,omitempty"`
	Device      string     `json:"device,omitempty"`
}

type roomKey struct{ site, room string }

type room struct {
	site *hub.Site
	def  hub.Room
	last *hub.Reading
}

// State is safe for concurrent use.
type State struct {
	StaleAfter time.Duration    // a room whose latest reading is older is "stale"
	Now        func() time.Time // the clock, replaceable in tests
	// Location is the county's time zone, where a day of parcel counts
	// starts and ends; nil means the machine's (time.Local).
	Location *time.Location

	live *live.Hub

	mu    sync.RWMutex
	sites []*hub.Site
	byID  map[string]*hub.Site
	edges map[string]map[string]*hub.EdgeState // site -> edge -> state
	rooms map[roomKey]*room
	order []roomKey
	// parcels holds each site's counts of the day it names.
	parcels map[string]*parcelDay
}

// parcelDay is a site's parcel counts of one day.
type parcelDay struct {
	day    date
	totals hub.ParcelTotals
}

// date is a calendar day.
type date struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time, loc *time.Location) date {
	y, m, d := t.In(loc).Date()
	return date{y, m, d}
}

// New builds the state for sites; changes are published to l (may be nil).
func New(sites []hub.Site, l *live.Hub) *State {
	s := &State{StaleAfter: 2 * time.Minute, Now: time.Now, live: l,
		byID: map[string]*hub.Site{}, edges: map[string]map[string]*hub.EdgeState{}, rooms: map[roomKey]*room{},
		parcels: map[string]*parcelDay{}}
	for i := range sites {
		site := &sites[i]
		s.sites = append(s.sites, site)
		s.byID[site.ID] = site
		for _, r := range site.Rooms {
			k := roomKey{site.ID, r.ID}
			s.rooms[k] = &room{site: site, def: r}
			s.order = append(s.order, k)
		}
	}
	// Sorted once: sorting for each room made a province's 10,000 take
	// a third of a second.
	slices.SortFunc(s.order, compareRooms)
	return s
}

func compareRooms(a, b roomKey) int {
	return cmp.Or(strings.Compare(a.site, b.site), strings.Compare(a.room, b.room))
}

// addRoom adds a room not in the sites file, in its place in the order.
func (s *State) addRoom(site *hub.Site, r hub.Room) *room {
	k := roomKey{site.ID, r.ID}
	rm := &room{site: site, def: r}
	s.rooms[k] = rm
	i, _ := slices.BinarySearchFunc(s.order, k, compareRooms)
	s.order = slices.Insert(s.order, i, k)
	return rm
}

// KnownSite reports whether id is a configured site.
func (s *State) KnownSite(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id] != nil
}

// ApplyReading records r as its room's latest reading if it is newer, and
// reports whether it was. A reading for a room the sites file does not
// list adds the room, unclassified, so nothing a device sends is invisible.
func (s *State) ApplyReading(r *hub.Reading) bool {
	if r.Room == "" {
		return false
	}
	s.mu.Lock()
	site := s.byID[r.Site]
	if site == nil {
		s.mu.Unlock()
		return false
	}
	rm := s.rooms[roomKey{r.Site, r.Room}]
	if rm == nil {
		rm = s.addRoom(site, hub.Room{ID: r.Room, Name: r.Room, NameEN: r.Room, Class: "custom", MinC: -1000, MaxC: 1000})
	}
	if rm.last != nil && !r.TS.After(rm.last.TS) {
		s.mu.Unlock()
		return false
	}
	rm.last = r
	v := s.roomView(rm)
	s.mu.Unlock()
	s.publish("coldroom", v)
	return true
}

// ApplyEdge records an edge's state (from its status, or from any message
// it sent, which proves it online).
func (s *State) ApplyEdge(e hub.EdgeState) {
	s.mu.Lock()
	site := s.byID[e.Site]
	if site == nil {
		s.mu.Unlock()
		return
	}
	m := s.edges[e.Site]
	if m == nil {
		m = map[string]*hub.EdgeState{}
		s.edges[e.Site] = m
	}
	old := m[e.Edge]
	if old != nil && e.LastSeen.Before(old.LastSeen) {
		e.LastSeen = old.LastSeen
	}
	if old != nil && e.Devices == nil { // an offline last will says nothing of them
		e.Devices, e.SortPlan = old.Devices, old.SortPlan
	}
	changed := old == nil || old.Online != e.Online || old.Backlog != e.Backlog || old.Agent != e.Agent ||
		old.SortPlan != e.SortPlan || !sameHealth(old.Devices, e.Devices)
	cp := e
	m[e.Edge] = &cp
	var v SiteView
	if changed {
		v = s.siteView(site)
	}
	s.mu.Unlock()
	if changed {
		s.publish("site", v)
	}
}

// Seen marks an edge as heard from at t without changing the rest of its
// state; an edge not yet known is added as online.
func (s *State) Seen(site, edge string, t time.Time) {
	s.mu.Lock()
	e := s.edges[site][edge]
	if e != nil && e.Online {
		if t.After(e.LastSeen) {
			e.LastSeen = t
		}
		s.mu.Unlock()
		return
	}
	var cur hub.EdgeState
	if e != nil {
		cur = *e
	}
	s.mu.Unlock()
	cur.Site, cur.Edge, cur.Online, cur.LastSeen = site, edge, true, t
	s.ApplyEdge(cur)
}

func (s *State) loc() *time.Location {
	if s.Location == nil {
		return time.Local
	}
	return s.Location
}

// Today returns the bounds of the current day in Location: from its
// midnight included to the next excluded. A store counts the events
// between them to restore the counts at start (RestoreParcels).
func (s *State) Today() (from, to time.Time) {
	d := dateOf(s.Now(), s.loc())
	from = time.Date(d.y, d.m, d.d, 0, 0, 0, 0, s.loc())
	return from, time.Date(d.y, d.m, d.d+1, 0, 0, 0, 0, s.loc())
}

// RestoreParcels sets the parcel counts of the day starting at from (as
// Today gave it), by site, replacing what the state holds for that day.
func (s *State) RestoreParcels(from time.Time, totals map[string]hub.ParcelTotals) {
	day := dateOf(from, s.loc())
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range totals {
		if s.byID[id] != nil {
			s.parcels[id] = &parcelDay{day: day, totals: t}
		}
	}
}

// ApplyEvents counts stored parcel events of the current day in their
// sites' counts, then publishes each changed site ("site") and the events
// themselves ("parcel", the last MaxParcelPublish of evs). Each event must
// be applied once: the caller passes only events just stored.
func (s *State) ApplyEvents(evs []*hub.ParcelEvent) {
	if len(evs) == 0 {
		return
	}
	today := dateOf(s.Now(), s.loc())
	s.mu.Lock()
	var changed []*hub.Site
	isChanged := map[*hub.Site]bool{}
	for _, ev := range evs {
		site := s.byID[ev.Site]
		if site == nil || dateOf(ev.TS, s.loc()) != today {
			continue
		}
		p := s.parcels[ev.Site]
		if p == nil || p.day != today {
			p = &parcelDay{day: today}
			s.parcels[ev.Site] = p
		}
		p.totals.Add(ev)
		if !isChanged[site] {
			isChanged[site] = true
			changed = append(changed, site)
		}
	}
	views := make([]SiteView, len(changed))
	for i, site := range changed {
		views[i] = s.siteView(site)
	}
	s.mu.Unlock()
	for _, v := range views {
		s.publish("site", v)
	}
	for _, ev := range evs[max(0, len(evs)-MaxParcelPublish):] {
		s.publish("parcel", ev)
	}
}

// Parcels returns a site's parcel counts of the current day.
func (s *State) Parcels(site string) hub.ParcelTotals {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parcelsToday(site)
}

// parcelsToday is called with s.mu held.
func (s *State) parcelsToday(site string) hub.ParcelTotals {
	p := s.parcels[site]
	if p == nil || p.day != dateOf(s.Now(), s.loc()) {
		return hub.ParcelTotals{}
	}
	return p.totals
}

// Edge returns the state of one edge.
func (s *State) Edge(site, edge string) (hub.EdgeState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.edges[site][edge]
	if e == nil {
		return hub.EdgeState{}, false
	}
	return *e, true
}

// Sites lists every site in file order with its online state.
func (s *State) Sites() []SiteView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SiteView, 0, len(s.sites))
	for _, site := range s.sites {
		out = append(out, s.siteView(site))
	}
	return out
}

// ColdRooms lists every room ordered by site and room.
func (s *State) ColdRooms() []RoomView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]RoomView, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.roomView(s.rooms[k]))
	}
	return out
}

// siteView is called with s.mu held.
func (s *State) siteView(site *hub.Site) SiteView {
	v := SiteView{ID: site.ID, Name: site.Name, NameEN: site.NameEN, Kind: site.Kind, Parent: site.Parent, Phase: site.Phase, Edges: []hub.EdgeState{},
		Parcels: s.parcelsToday(site.ID)}
	if site.Kind == hub.County {
		// The county centre runs the hub: it is online while the hub answers.
		now := s.Now().UTC()
		v.Online, v.LastSeen = true, &now
	}
	for _, e := range s.edges[site.ID] {
		v.Edges = append(v.Edges, *e)
		if e.Online {
			v.Online = true
		}
		if v.LastSeen == nil || e.LastSeen.After(*v.LastSeen) {
			t := e.LastSeen
			v.LastSeen = &t
		}
	}
	sort.Slice(v.Edges, func(i, j int) bool { return v.Edges[i].Edge < v.Edges[j].Edge })
	return v
}

// roomView is called with s.mu held.
func (s *State) roomView(rm *room) RoomView {
	v := RoomView{Site: rm.site.ID, SiteName: rm.site.Name, SiteNameEN: rm.site.NameEN, Room: rm.def.ID,
		Name: rm.def.Name, NameEN: rm.def.NameEN, Class: rm.def.Class, MinC: rm.def.MinC, MaxC: rm.def.MaxC, State: RoomNoData}
	r := rm.last
	if r == nil {
		return v
	}
	ts := r.TS.UTC()
	v.TS, v.Edge, v.Device = &ts, r.Edge, r.Device
	if t, ok := r.Fields["temperature"]; ok {
		v.Temperature = &t
	}
	if h, ok := r.Fields["humidity"]; ok {
		v.Humidity = &h
	}
	switch {
	case r.Faults["temperature"] != "":
		v.State, v.Fault = RoomFault, r.Faults["temperature"]
	case v.Temperature == nil:
		v.State = RoomNoData
	case s.Now().Sub(r.TS) > s.StaleAfter:
		v.State = RoomStale
	case *v.Temperature > rm.def.MaxC:
		v.State = RoomHigh
	case *v.Temperature < rm.def.MinC:
		v.State = RoomLow
	default:
		v.State = RoomOK
	}
	return v
}

func (s *State) publish(typ string, v any) {
	if s.live == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.live.Publish(live.Event{Type: typ, Data: b})
}

// Site returns the site with id.
func (s *State) Site(id string) (hub.Site, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	site := s.byID[id]
	if site == nil {
		return hub.Site{}, false
	}
	return *site, true
}

// Township is the township of a site: itself for a township, its parent
// for a village point; "" for the county or an unknown site.
func (s *State) Township(id string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	site := s.byID[id]
	switch {
	case site == nil:
		return ""
	case site.Kind == hub.Township:
		return site.ID
	case site.Kind == hub.Village:
		if p := s.byID[site.Parent]; p != nil && p.Kind == hub.Township {
			return p.ID
		}
	}
	return ""
}

// PutSite adds a site, or changes the names, kind, parent and phase of the
// site with its id; the rooms stay those of the sites file. The caller
// checks it (the sites package's rules).
func (s *State) PutSite(site hub.Site) (created bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.byID[site.ID]; cur != nil {
		cur.Name, cur.NameEN, cur.Kind, cur.Parent, cur.Phase = site.Name, site.NameEN, site.Kind, site.Parent, site.Phase
		return false
	}
	site.Rooms = nil
	p := &site
	s.sites = append(s.sites, p)
	s.byID[site.ID] = p
	return true
}

// AllSites returns a copy of every site, in file order, API additions last.
func (s *State) AllSites() []hub.Site {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]hub.Site, 0, len(s.sites))
	for _, site := range s.sites {
		out = append(out, *site)
	}
	return out
}

// sameHealth reports whether two device lists say the same of each device.
func sameHealth(a, b []contract.DeviceStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].OK != b[i].OK || a[i].Error != b[i].Error {
			return false
		}
	}
	return true
}
