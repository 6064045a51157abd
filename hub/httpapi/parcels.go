package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/timeline"
)

// Parcel states derived from a parcel's events, furthest first.
const (
	ParcelConfirmed = "confirmed" // in its bin, confirmed by the station's button
	ParcelSorted    = "sorted"    // scanned and lit into its bin
	ParcelException = "exception" // scanned, sent to the exception bin
	ParcelAnnounced = "announced" // in a manifest, not scanned yet
)

// Parcel flags: what a coordinator must look at.
const (
	FlagUnannounced  = "unannounced"   // scanned, in no manifest
	FlagOtherSite    = "other_site"    // scanned at a township its manifest does not send it to
	FlagScannedTwice = "scanned_twice" // sorted more than once
)

// ParcelView is one parcel (or farm product lot) found by its waybill:
// what its manifest announced, every event recorded of it, oldest first,
// and the state those give. Item is the store's derived item when the hub
// has a logistics store (nil otherwise, and when only a manifest knows
// the parcel); State and Flags are then the item's.
type ParcelView struct {
	Waybill   string                 `json:"waybill"`
	State     string                 `json:"state"` // "" when neither announced nor scanned
	Flags     []string               `json:"flags"`
	Item      *hub.Item              `json:"item"`
	Announced *manifest.StoredParcel `json:"announced"`
	Events    []*hub.ParcelEvent     `json:"events"`
}

// parcel finds a parcel by waybill: GET /api/v1/parcels/{waybill}.
func (s *Server) parcel(c echo.Context) error { return s.lookup(c, c.Param("waybill")) }

// item finds a parcel or a lot by its waybill or label: GET /api/v1/items/{id}.
func (s *Server) item(c echo.Context) error { return s.lookup(c, c.Param("id")) }

// lookup answers a ParcelView of the waybill or lot label id; 404 when no
// manifest, no scan and no store knows it.
func (s *Server) lookup(c echo.Context, id string) error {
	var events EventSource = s.Events
	if s.Logistics != nil {
		events = s.Logistics
	}
	if events == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "parcel events are not available")
	}
	wb, err := normWaybill(id)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	evs, err := events.Events(ctx, hub.EventQuery{Waybill: wb, Limit: MaxEventLimit})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []*hub.ParcelEvent{}
	}
	v := ParcelView{Waybill: wb, Flags: []string{}, Events: evs}
	if s.Manifests != nil {
		if v.Announced, err = s.Manifests.Parcel(ctx, wb); err != nil {
			return err
		}
	}
	if s.Logistics != nil {
		if v.Item, err = s.Logistics.Item(ctx, wb); err != nil {
			return err
		}
	}
	if v.Announced == nil && len(evs) == 0 && v.Item == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no parcel or lot "+wb+" in any manifest or scan")
	}
	timeline.Sort(v.Events)
	if v.Item != nil {
		v.State, v.Flags = v.Item.State, v.Item.Flags
		if v.Flags == nil {
			v.Flags = []string{}
		}
	} else {
		v.State, v.Flags = parcelState(v.Announced, v.Events)
	}
	return c.JSON(http.StatusOK, v)
}

// normWaybill trims and upper-cases a waybill number or a lot label, as
// the stations scan them: 400 unless it is 1 to contract.MaxWaybillLen
// printable ASCII characters.
func normWaybill(v string) (string, error) {
	wb := strings.ToUpper(strings.TrimSpace(v))
	if wb == "" || len(wb) > contract.MaxWaybillLen || strings.IndexFunc(wb, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return "", badRequest("waybill %q must be 1 to %d printable ASCII characters", clip(v), contract.MaxWaybillLen)
	}
	return wb, nil
}

// parcelState derives a parcel's state and flags from its manifest row
// (nil if none) and its events, oldest first.
func parcelState(m *manifest.StoredParcel, evs []*hub.ParcelEvent) (string, []string) {
	flags := []string{}
	state := ""
	if m != nil {
		state = ParcelAnnounced
	}
	sorted := 0
	for _, e := range evs {
		switch e.Kind {
		case contract.EventSorted:
			sorted++
			state = ParcelSorted
			if e.Exception != "" {
				state = ParcelException
			}
		case contract.EventConfirmed:
			if state != ParcelException {
				state = ParcelConfirmed
			}
		}
		if m != nil && m.Site != "" && e.Site != m.Site && !slices.Contains(flags, FlagOtherSite) {
			flags = append(flags, FlagOtherSite)
		}
	}
	if m == nil && len(evs) > 0 {
		flags = append(flags, FlagUnannounced)
	}
	if sorted > 1 {
		flags = append(flags, FlagScannedTwice)
	}
	return state, flags
}
