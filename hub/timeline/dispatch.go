package timeline

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/countylink/countylink/hub"
)

// Load decides, parcel by parcel and in order, which of items an open run
// takes, as every store's LoadRun does: a lot, a parcel of another
// township, on another run or not waiting in a bin is refused; one of
// another route or past the run's capacity is refused too unless req.Over,
// which loads it with a warning; loading a bin stops, with a warning, when
// the run is full. It appends the refusals, the warnings and the loaded
// ids to res and returns the items to load.
func Load(run *hub.Run, items []*hub.Item, req hub.LoadRequest, res *hub.LoadResult) []*hub.Item {
	var load []*hub.Item
	parcels, kg := run.Parcels, run.WeightKg
	for _, it := range items {
		refuse := func(reason, format string, args ...any) {
			res.Refused = append(res.Refused, hub.Refusal{Waybill: it.ID, Reason: reason, Detail: fmt.Sprintf(format, args...)})
		}
		switch {
		case it.Lot:
			refuse(hub.RefuseUnknown, "%s is a farm product lot", it.ID)
			continue
		case it.Township != run.Site:
			refuse(hub.RefuseUnknown, "at %s, not at %s", cmp.Or(it.Township, "no township"), run.Site)
			continue
		case it.State == hub.StateLoaded && it.Run == run.ID:
			res.Warnings = append(res.Warnings, it.ID+" is on this run already")
			continue
		case it.State == hub.StateLoaded:
			refuse(hub.RefuseOtherRun, "loaded on run %s", it.Run)
			continue
		case !slices.Contains(hub.WaitingStates, it.State):
			refuse(hub.RefuseState, "is %s, not waiting in a bin", it.State)
			continue
		}
		if it.Route != run.Route {
			if !req.Over {
				refuse(hub.RefuseWrongRoute, "sorted to route %s, the run is for %s", it.Route, run.Route)
				continue
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is for route %s: loaded anyway, flagged", it.ID, it.Route))
		}
		w := 0.0
		if it.WeightKg != nil {
			w = *it.WeightKg
		}
		over := (run.CapacityParcels > 0 && parcels+1 > run.CapacityParcels) || (run.CapacityKg > 0 && kg+w > run.CapacityKg)
		if over && req.Bin != "" && !req.Over {
			// Loading a bin stops when the vehicle is full; what is
			// left waits for the next run.
			res.Warnings = append(res.Warnings, fmt.Sprintf("the run is full (%d parcels, %.1f kg): parcels stay in bin %s", parcels, kg, req.Bin))
			break
		}
		if over {
			if !req.Over {
				refuse(hub.RefuseCapacity, "the run holds %d parcels, %.1f kg of %d, %.0f kg", parcels, kg, run.CapacityParcels, run.CapacityKg)
				continue
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s loaded past the run's capacity (%d parcels, %.1f kg)", it.ID, parcels+1, kg+w))
		}
		parcels, kg = parcels+1, kg+w
		load = append(load, it)
		res.Loaded = append(res.Loaded, it.ID)
	}
	return load
}
