package state

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/live"
)

func testSites() []hub.Site {
	return []hub.Site{
		{ID: "county", Name: "县", Kind: hub.County},
		{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county",
			Rooms: []hub.Room{{ID: "cr1", Name: "1号冷库", Class: "chilled", MinC: 0, MaxC: 4}}},
	}
}

func TestRoomStates(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	s := New(testSites(), nil)
	s.Now = func() time.Time { return now }
	if st := s.ColdRooms()[0].State; st != RoomNoData {
		t.Fatalf("before any reading: %s", st)
	}
	steps := []struct {
		age    time.Duration
		fields map[string]float64
		faults map[string]string
		want   string
	}{
		{50 * time.Second, map[string]float64{"temperature": 2.5}, nil, RoomOK},
		{40 * time.Second, map[string]float64{"temperature": 4.6}, nil, RoomHigh},
		{30 * time.Second, map[string]float64{"temperature": -0.5}, nil, RoomLow},
		{20 * time.Second, map[string]float64{"humidity": 80}, map[string]string{"temperature": "probe open"}, RoomFault},
		{10 * time.Second, map[string]float64{"temperature": 3}, nil, RoomOK},
	}
	for _, st := range steps {
		s.ApplyReading(&hub.Reading{Site: "tw01", Edge: "e", Device: "d", Room: "cr1", TS: now.Add(-st.age), Fields: st.fields, Faults: st.faults})
		if got := s.ColdRooms()[0].State; got != st.want {
			t.Errorf("%v: state %s, want %s", st.fields, got, st.want)
		}
	}
	// An older reading arriving late does not replace the newer one.
	if s.ApplyReading(&hub.Reading{Site: "tw01", Room: "cr1", TS: now.Add(-time.Hour), Fields: map[string]float64{"temperature": 9}}) {
		t.Error("older reading applied")
	}
	now = now.Add(5 * time.Minute)
	if got := s.ColdRooms()[0].State; got != RoomStale {
		t.Errorf("after 5 minutes: %s, want stale", got)
	}
}

func TestUnknownRoomAndSite(t *testing.T) {
	s := New(testSites(), nil)
	if s.ApplyReading(&hub.Reading{Site: "tw99", Room: "cr1", TS: time.Now(), Fields: map[string]float64{"temperature": 1}}) {
		t.Error("reading for an unknown site applied")
	}
	s.ApplyReading(&hub.Reading{Site: "tw01", Room: "cr9", TS: time.Now(), Fields: map[string]float64{"temperature": 1}})
	if n := len(s.ColdRooms()); n != 2 {
		t.Fatalf("%d rooms, want the unlisted room added", n)
	}
}

func TestEdgesAndLiveEvents(t *testing.T) {
	l := live.New()
	sub := l.Subscribe(16)
	s := New(testSites(), l)
	t0 := time.Now()
	s.Seen("tw01", "tw01-e1", t0)
	ev := <-sub.C
	var v SiteView
	if err := json.Unmarshal(ev.Data, &v); err != nil || ev.Type != "site" || !v.Online || v.ID != "tw01" {
		t.Fatalf("event %s %s", ev.Type, ev.Data)
	}
	s.Seen("tw01", "tw01-e1", t0.Add(time.Second)) // already online: no event
	s.ApplyEdge(hub.EdgeState{Site: "tw01", Edge: "tw01-e1", Online: false, LastSeen: t0.Add(2 * time.Second)})
	ev = <-sub.C
	json.Unmarshal(ev.Data, &v)
	if v.Online {
		t.Fatal("offline edge shows online")
	}
	sites := s.Sites()
	if !sites[0].Online || sites[1].Online || sites[1].LastSeen == nil || !sites[1].LastSeen.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("sites %+v", sites)
	}
	select {
	case ev := <-sub.C:
		t.Fatalf("unexpected event %s", ev.Data)
	default:
	}
}

func parcelEvent(id, kind string, ts time.Time, weight float64, exception string) *hub.ParcelEvent {
	e := &hub.ParcelEvent{ID: id, Site: "tw01", Edge: "tw01-e1", Station: "st1", Kind: kind, Waybill: "SF" + id, Bin: "b3", TS: ts, Exception: exception}
	if weight > 0 {
		e.WeightKg = &weight
	}
	return e
}

func TestParcelCounts(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, cst)
	l := live.New()
	sub := l.Subscribe(256)
	s := New(testSites(), l)
	s.Location = cst
	s.Now = func() time.Time { return now }

	from, to := s.Today()
	if want := time.Date(2026, 11, 29, 0, 0, 0, 0, cst); !from.Equal(want) || !to.Equal(want.Add(24*time.Hour)) {
		t.Fatalf("today %v..%v", from, to)
	}
	// Restored from the store at start: a restart does not reset the wall screen.
	s.RestoreParcels(from, map[string]hub.ParcelTotals{"tw01": {Sorted: 10, Confirmed: 8, Exceptions: 1, WeightKg: 12.5, Last: now.Add(-time.Hour)},
		"tw99": {Sorted: 3}})
	if got := s.Parcels("tw01"); got.Sorted != 10 || got.WeightKg != 12.5 {
		t.Fatalf("restored %+v", got)
	}

	s.ApplyEvents([]*hub.ParcelEvent{
		parcelEvent("a", "sorted", now.Add(-time.Minute), 1.5, ""),
		parcelEvent("b", "sorted", now.Add(-30*time.Second), 0, "unknown"),
		parcelEvent("c", "confirmed", now.Add(-10*time.Second), 0, ""),
		// Queued yesterday (Beijing time), sent today: stored, not counted.
		parcelEvent("y", "sorted", time.Date(2026, 11, 28, 23, 59, 0, 0, cst), 5, ""),
		{ID: "u", Site: "tw99", Kind: "sorted", TS: now}, // unknown site
	})
	want := hub.ParcelTotals{Sorted: 12, Confirmed: 9, Exceptions: 2, WeightKg: 14, Last: now.Add(-10 * time.Second)}
	if got := s.Parcels("tw01"); !got.Last.Equal(want.Last) || got.Sorted != want.Sorted || got.Confirmed != want.Confirmed ||
		got.Exceptions != want.Exceptions || got.WeightKg != want.WeightKg {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if v := s.Sites()[1]; v.ID != "tw01" || v.Parcels.Sorted != 12 || s.Sites()[0].Parcels.Sorted != 0 {
		t.Fatalf("site views %+v", s.Sites())
	}

	// One "site" event for the batch, then one "parcel" event per event.
	var types []string
	var site SiteView
	for len(types) < 6 {
		ev := <-sub.C
		types = append(types, ev.Type)
		if ev.Type == "site" {
			json.Unmarshal(ev.Data, &site)
		}
	}
	if got := strings.Join(types, ","); got != "site,parcel,parcel,parcel,parcel,parcel" {
		t.Fatalf("events %s", got)
	}
	if site.ID != "tw01" || site.Parcels.Sorted != 12 || site.Parcels.Exceptions != 2 {
		t.Fatalf("site event %+v", site)
	}

	// Midnight: the counts start again.
	now = time.Date(2026, 11, 30, 0, 0, 1, 0, cst)
	if got := s.Parcels("tw01"); got != (hub.ParcelTotals{}) {
		t.Fatalf("after midnight %+v", got)
	}
	s.ApplyEvents([]*hub.ParcelEvent{parcelEvent("n", "sorted", now, 2, "")})
	if got := s.Parcels("tw01"); got.Sorted != 1 || got.WeightKg != 2 {
		t.Fatalf("first event of the day: %+v", got)
	}
}

// TestParcelPublishCapped: a replayed backlog publishes the site's counts
// and only the newest events, so no dashboard is cut off for being slow.
func TestParcelPublishCapped(t *testing.T) {
	l := live.New()
	sub := l.Subscribe(256)
	s := New(testSites(), l)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s.Location, s.Now = time.UTC, func() time.Time { return now }
	evs := make([]*hub.ParcelEvent, 1000)
	for i := range evs {
		evs[i] = parcelEvent(fmt.Sprint(i), "sorted", now.Add(time.Duration(i-1000)*time.Millisecond), 1, "")
	}
	s.ApplyEvents(evs)
	select {
	case <-sub.Done:
		t.Fatal("subscriber cut off by a replay")
	default:
	}
	if n := len(sub.C); n != 1+MaxParcelPublish {
		t.Fatalf("%d events published, want %d", n, 1+MaxParcelPublish)
	}
	if got := s.Parcels("tw01").Sorted; got != 1000 {
		t.Fatalf("sorted %d", got)
	}
	var last hub.ParcelEvent
	for len(sub.C) > 0 {
		json.Unmarshal((<-sub.C).Data, &last)
	}
	if last.ID != "999" {
		t.Fatalf("last published %s, want the newest", last.ID)
	}
}

// TestRoomOrder: rooms are listed by site and room, those of the sites
// file and those first heard of alike.
func TestRoomOrder(t *testing.T) {
	sites := []hub.Site{{ID: "county", Kind: hub.County}}
	for _, id := range []string{"tw03", "tw01", "tw02"} {
		sites = append(sites, hub.Site{ID: id, Kind: hub.Township, Parent: "county",
			Rooms: []hub.Room{{ID: "cr2", Class: "chilled", MaxC: 4}, {ID: "cr1", Class: "chilled", MaxC: 4}}})
	}
	s := New(sites, nil)
	now := time.Now()
	for _, r := range [][2]string{{"tw02", "cr0"}, {"tw03", "cr9"}, {"tw01", "cr15"}} {
		s.ApplyReading(&hub.Reading{Site: r[0], Room: r[1], TS: now, Fields: map[string]float64{"temperature": 1}})
	}
	var got []string
	for _, v := range s.ColdRooms() {
		got = append(got, v.Site+"/"+v.Room)
	}
	want := "tw01/cr1 tw01/cr15 tw01/cr2 tw02/cr0 tw02/cr1 tw02/cr2 tw03/cr1 tw03/cr2 tw03/cr9"
	if strings.Join(got, " ") != want {
		t.Errorf("rooms in the order\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}
