// Package timeline derives the current state of a parcel or a farm product
// lot from its events: the latest event says where it is, and the events
// together say what a coordinator must look at (a parcel in no manifest, a
// parcel picked from the wrong bin, loaded on another route's run, or
// scanned in at a village point that is not its destination). Derive is
// pure: the stores call it whenever an item's events change, so the state
// is always the events' and never edited on its own.
package timeline

import (
	"cmp"
	"slices"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// Places answers what the derivation needs to know of the county's sites
// and the townships' sort plans.
type Places interface {
	// Township is the township of a site: itself for a township, its
	// parent for a village point; "" when unknown.
	Township(site string) string
	// Route is the route of township's plan in force that visits village,
	// "" when none does.
	Route(township, village string) string
}

// Options tune the derivation.
type Options struct {
	// MaxParcelKg is the heaviest parcel a village run takes; a parcel
	// weighed heavier is flagged. Zero means DefaultMaxParcelKg.
	MaxParcelKg float64
}

// DefaultMaxParcelKg is the usual limit of rural express parcels.
const DefaultMaxParcelKg = 30

// order ranks kinds that share a timestamp in the order they happen.
var order = map[string]int{
	hub.EventAnnounced: 0, contract.EventLotWeighed: 1, contract.EventReceived: 2, contract.EventLotReceived: 3,
	contract.EventSorted: 4, hub.EventCorrected: 5, contract.EventConfirmed: 6, contract.EventLotPacked: 7,
	contract.EventLoaded: 8, hub.EventUnloaded: 9, hub.EventDispatched: 10, contract.EventLotShipped: 11,
	contract.EventArrived: 12, contract.EventDamaged: 13, contract.EventPickedUp: 14, contract.EventReturned: 15,
}

// Sort puts events in the order they happened: by time, then by the
// order of their kinds, then by id.
func Sort(evs []*hub.ParcelEvent) {
	slices.SortStableFunc(evs, func(a, b *hub.ParcelEvent) int {
		return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(order[a.Kind], order[b.Kind]), cmp.Compare(a.ID, b.ID))
	})
}

// Derive returns the item that an announcement (nil when none) and the
// events of one waybill or lot give. It sorts evs in place (see Sort).
// places may be nil: the checks that need it are then skipped.
func Derive(id string, a *hub.Announcement, evs []*hub.ParcelEvent, places Places, opt Options) hub.Item {
	max := opt.MaxParcelKg
	if max <= 0 {
		max = DefaultMaxParcelKg
	}
	Sort(evs)
	it := hub.Item{ID: id, Flags: []string{}}
	if a != nil {
		it.Township, it.Village, it.Carrier, it.State = a.Site, a.Village, a.Carrier, hub.StateAnnounced
		if a.WeightKg != nil {
			w := *a.WeightKg
			it.WeightKg = &w
		}
	}
	township := func(site string) string {
		if places == nil {
			return ""
		}
		return places.Township(site)
	}
	flag := func(f string) {
		if !slices.Contains(it.Flags, f) {
			it.Flags = append(it.Flags, f)
		}
	}
	sorted := 0
	for _, ev := range evs {
		it.Events++
		it.Site = ev.Site
		if ev.TS.After(it.Last) {
			it.Last = ev.TS
		}
		if it.Carrier == "" {
			it.Carrier = ev.Carrier
		}
		if ev.WeightKg != nil {
			w := *ev.WeightKg
			it.WeightKg = &w // a measured weight wins over the announced one
		}
		if contract.IsLotEvent(ev.Kind) {
			it.Lot = true
			it.Producer = cmp.Or(ev.Producer, it.Producer)
			it.Product = cmp.Or(ev.Product, it.Product)
			it.Grade = cmp.Or(ev.Grade, it.Grade)
			if ev.Kind == contract.EventLotWeighed {
				it.Village = ev.Site
			}
			if t := township(ev.Site); t != "" {
				it.Township = t
			}
			if ev.Kind == contract.EventLotShipped {
				it.Run = ev.Run
				it.Dispatched = ev.TS
			}
			it.State = ev.Kind
			continue
		}
		switch ev.Kind {
		case contract.EventReceived, contract.EventSorted, contract.EventConfirmed:
			if a != nil && a.Site != "" && ev.Site != a.Site {
				flag(hub.FlagOtherSite)
			}
			if it.Township == "" || a == nil {
				it.Township = cmp.Or(township(ev.Site), ev.Site)
			}
			if it.Arrived.IsZero() {
				it.Arrived = ev.TS
			}
		}
		switch ev.Kind {
		case contract.EventReceived:
			it.State = hub.StateReceived
		case contract.EventSorted:
			sorted++
			it.Route, it.Bin = ev.Route, ev.Bin
			it.State = hub.StateSorted
			if ev.Exception != "" {
				it.State = hub.StateException
			}
		case hub.EventCorrected:
			it.Route, it.Bin = ev.Route, ev.Bin
			it.State = hub.StateSorted
			flag(hub.FlagCorrected)
		case contract.EventConfirmed:
			if ev.Bin != "" && it.Bin != "" && ev.Bin != it.Bin {
				flag(hub.FlagWrongBin)
			}
			if it.State != hub.StateException {
				it.State = hub.StateConfirmed
			}
		case contract.EventLoaded:
			if ev.Bin != "" && it.Bin != "" && ev.Bin != it.Bin {
				flag(hub.FlagWrongBin)
			}
			if ev.Route != "" && it.Route != "" && ev.Route != it.Route {
				flag(hub.FlagWrongRoute)
			}
			it.Run = ev.Run
			it.State = hub.StateLoaded
		case hub.EventUnloaded:
			it.Run = ""
			it.State = hub.StateSorted
		case hub.EventDispatched:
			it.Run = cmp.Or(ev.Run, it.Run)
			it.Dispatched = ev.TS
			it.State = hub.StateDispatched
		case contract.EventArrived, contract.EventPickedUp:
			if wrongVillage(&it, ev.Site, places) {
				flag(hub.FlagWrongVillage)
			}
			it.State = hub.StateArrived
			if ev.Kind == contract.EventPickedUp {
				it.State = hub.StatePickedUp
				it.Delivered = ev.TS
			}
		case contract.EventDamaged:
			it.State = hub.StateDamaged
		case contract.EventReturned:
			it.State = hub.StateReturned
		}
	}
	if !it.Lot {
		if a == nil && len(evs) > 0 {
			flag(hub.FlagUnannounced)
		}
		if sorted > 1 {
			flag(hub.FlagScannedTwice)
		}
		if it.WeightKg != nil && *it.WeightKg > max {
			flag(hub.FlagOverweight)
		}
	}
	return it
}

// wrongVillage reports whether a scan-in at village is not the parcel's
// destination: the manifest's village when it gave one, else a village of
// the route the parcel was sorted to.
func wrongVillage(it *hub.Item, village string, places Places) bool {
	if it.Village != "" {
		return village != it.Village
	}
	if it.Route == "" || places == nil || it.Township == "" {
		return false
	}
	return places.Route(it.Township, village) != it.Route
}

// Exception reports whether an item's state or flags make it an exception
// the county counts: the exception bin, damaged, returned, or delivered to
// the wrong village point.
func Exception(it *hub.Item) bool {
	switch it.State {
	case hub.StateException, hub.StateDamaged, hub.StateReturned:
		return true
	}
	return it.Has(hub.FlagWrongVillage)
}
