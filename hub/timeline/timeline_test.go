package timeline

import (
	"slices"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// places is the county of the tests: township tw01 with villages v1, v2
// on route r01 and v3 on r02.
type places struct{}

func (places) Township(site string) string {
	switch site {
	case "tw01", "tw01-v1", "tw01-v2", "tw01-v3":
		return "tw01"
	case "tw02":
		return "tw02"
	}
	return ""
}

func (places) Route(township, village string) string {
	if township != "tw01" {
		return ""
	}
	switch village {
	case "tw01-v1", "tw01-v2":
		return "r01"
	case "tw01-v3":
		return "r02"
	}
	return ""
}

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

func ev(min int, kind, site string, mod ...func(*hub.ParcelEvent)) *hub.ParcelEvent {
	e := &hub.ParcelEvent{ID: kind + site + time.Duration(min).String(), Kind: kind, Site: site, Waybill: "SF1", TS: t0.Add(time.Duration(min) * time.Minute)}
	for _, m := range mod {
		m(e)
	}
	return e
}

func bin(route, bin string) func(*hub.ParcelEvent) {
	return func(e *hub.ParcelEvent) { e.Route, e.Bin = route, bin }
}

func weight(kg float64) func(*hub.ParcelEvent) { return func(e *hub.ParcelEvent) { e.WeightKg = &kg } }

func TestDerive(t *testing.T) {
	announced := &hub.Announcement{Waybill: "SF1", Site: "tw01", Village: "tw01-v2", Carrier: "SF"}
	tests := []struct {
		name  string
		a     *hub.Announcement
		evs   []*hub.ParcelEvent
		state string
		flags []string
		check func(t *testing.T, it hub.Item)
	}{
		{name: "announced only", a: announced, state: hub.StateAnnounced, flags: []string{}},
		{name: "whole journey", a: announced, evs: []*hub.ParcelEvent{
			ev(0, contract.EventReceived, "tw01"),
			ev(1, contract.EventSorted, "tw01", bin("r01", "b01"), weight(2.5)),
			ev(2, contract.EventConfirmed, "tw01", bin("r01", "b01")),
			ev(30, contract.EventLoaded, "tw01", bin("r01", "b01"), func(e *hub.ParcelEvent) { e.Run = "run1" }),
			ev(40, hub.EventDispatched, "tw01", func(e *hub.ParcelEvent) { e.Run = "run1" }),
			ev(90, contract.EventArrived, "tw01-v2"),
			ev(300, contract.EventPickedUp, "tw01-v2"),
		}, state: hub.StatePickedUp, flags: []string{}, check: func(t *testing.T, it hub.Item) {
			if it.Arrived != t0 || it.Dispatched != t0.Add(40*time.Minute) || it.Delivered != t0.Add(300*time.Minute) {
				t.Errorf("times %v %v %v", it.Arrived, it.Dispatched, it.Delivered)
			}
			if it.Run != "run1" || it.Route != "r01" || it.Township != "tw01" || it.Site != "tw01-v2" || *it.WeightKg != 2.5 || it.Events != 7 {
				t.Errorf("item %+v", it)
			}
		}},
		{name: "events out of order are put in order", a: announced, evs: []*hub.ParcelEvent{
			ev(5, contract.EventConfirmed, "tw01", bin("r01", "b01")),
			ev(5, contract.EventSorted, "tw01", bin("r01", "b01")),
		}, state: hub.StateConfirmed, flags: []string{}},
		{name: "unannounced, exception bin", evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("", "b99"), func(e *hub.ParcelEvent) { e.Exception = contract.ExceptionUnknown }),
		}, state: hub.StateException, flags: []string{hub.FlagUnannounced}},
		{name: "confirm stays an exception", evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("", "b99"), func(e *hub.ParcelEvent) { e.Exception = contract.ExceptionUnknown }),
			ev(1, contract.EventConfirmed, "tw01", bin("", "b99")),
		}, state: hub.StateException, flags: []string{hub.FlagUnannounced}},
		{name: "corrected by the hub", a: announced, evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("", "b99"), func(e *hub.ParcelEvent) { e.Exception = contract.ExceptionUnknown }),
			ev(0, hub.EventCorrected, "tw01", bin("r01", "b01")),
		}, state: hub.StateSorted, flags: []string{hub.FlagCorrected}},
		{name: "wrong bin, wrong route, wrong village, other site, twice, overweight", a: announced, evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw02", bin("r01", "b01"), weight(31)),
			ev(1, contract.EventSorted, "tw01", bin("r01", "b01")),
			ev(2, contract.EventLoaded, "tw01", bin("r02", "b02"), func(e *hub.ParcelEvent) { e.Run = "run2" }),
			ev(3, contract.EventArrived, "tw01-v3"),
		}, state: hub.StateArrived,
			flags: []string{hub.FlagOtherSite, hub.FlagWrongBin, hub.FlagWrongRoute, hub.FlagWrongVillage, hub.FlagScannedTwice, hub.FlagOverweight}},
		{name: "no manifest village: the route decides the village", evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("r01", "b01")),
			ev(9, contract.EventArrived, "tw01-v1"),
		}, state: hub.StateArrived, flags: []string{hub.FlagUnannounced}},
		{name: "no manifest village, wrong route's village", evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("r01", "b01")),
			ev(9, contract.EventArrived, "tw01-v3"),
		}, state: hub.StateArrived, flags: []string{hub.FlagUnannounced, hub.FlagWrongVillage}},
		{name: "unloaded waits again", a: announced, evs: []*hub.ParcelEvent{
			ev(0, contract.EventSorted, "tw01", bin("r01", "b01")),
			ev(1, contract.EventLoaded, "tw01", bin("r01", ""), func(e *hub.ParcelEvent) { e.Run = "run1" }),
			ev(2, hub.EventUnloaded, "tw01"),
		}, state: hub.StateSorted, flags: []string{}, check: func(t *testing.T, it hub.Item) {
			if it.Run != "" {
				t.Errorf("run %q after unloading", it.Run)
			}
		}},
		{name: "damaged then returned", a: announced, evs: []*hub.ParcelEvent{
			ev(0, contract.EventArrived, "tw01-v2"),
			ev(1, contract.EventDamaged, "tw01-v2"),
			ev(2, contract.EventReturned, "tw01-v2"),
		}, state: hub.StateReturned, flags: []string{}},
		{name: "farm lot", evs: []*hub.ParcelEvent{
			ev(0, contract.EventLotWeighed, "tw01-v1", weight(52.5), func(e *hub.ParcelEvent) { e.Product, e.Producer, e.Grade = "猕猴桃", "王大伯", "A" }),
			ev(60, contract.EventLotReceived, "tw01"),
			ev(70, contract.EventLotPacked, "tw01"),
			ev(80, contract.EventLotShipped, "tw01", func(e *hub.ParcelEvent) { e.Run = "ship1" }),
		}, state: hub.StateLotShipped, flags: []string{}, check: func(t *testing.T, it hub.Item) {
			if !it.Lot || it.Village != "tw01-v1" || it.Township != "tw01" || it.Product != "猕猴桃" || it.Grade != "A" || *it.WeightKg != 52.5 || it.Run != "ship1" {
				t.Errorf("lot %+v", it)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := Derive("SF1", tt.a, slices.Clone(tt.evs), places{}, Options{})
			if it.State != tt.state {
				t.Errorf("state %q, want %q", it.State, tt.state)
			}
			if !sameSet(it.Flags, tt.flags) {
				t.Errorf("flags %v, want %v", it.Flags, tt.flags)
			}
			if tt.check != nil {
				tt.check(t, it)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestDeriveWithoutPlaces(t *testing.T) {
	it := Derive("SF1", nil, []*hub.ParcelEvent{
		ev(0, contract.EventSorted, "tw01", bin("r01", "b01")),
		ev(9, contract.EventArrived, "tw01-v3"),
	}, nil, Options{})
	if it.Has(hub.FlagWrongVillage) || it.Township != "tw01" {
		t.Errorf("without places: %+v", it)
	}
}

func TestException(t *testing.T) {
	for state, want := range map[string]bool{hub.StateException: true, hub.StateDamaged: true, hub.StateReturned: true,
		hub.StateSorted: false, hub.StatePickedUp: false} {
		if got := Exception(&hub.Item{State: state}); got != want {
			t.Errorf("%s: %v", state, got)
		}
	}
	if !Exception(&hub.Item{State: hub.StatePickedUp, Flags: []string{hub.FlagWrongVillage}}) {
		t.Error("a parcel delivered to the wrong village is an exception")
	}
}
