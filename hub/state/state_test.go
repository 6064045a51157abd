package state

import (
	"encoding/json"
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
