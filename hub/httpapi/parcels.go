package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sqlite"
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

// ParcelView is one parcel found by its waybill: what its manifest
// announced, every event the stations recorded, oldest first, and the
// state those give.
type ParcelView struct {
	Waybill   string              `json:"waybill"`
	State     string              `json:"state"` // "" when neither announced nor scanned
	Flags     []string            `json:"flags"`
	Announced *sqlite.ManifestRow `json:"announced"`
	Events    []*hub.ParcelEvent  `json:"events"`
}

// parcel finds a parcel by waybill: GET /api/v1/parcels/{waybill}; 404
// when no manifest and no station knows it.
func (s *Server) parcel(c echo.Context) error {
	if s.Events == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "parcel events are not available")
	}
	wb := strings.ToUpper(strings.TrimSpace(c.Param("waybill")))
	if wb == "" || len(wb) > contract.MaxWaybillLen {
		return badRequest("waybill %q is not a waybill number", clip(wb))
	}
	ctx := c.Request().Context()
	evs, err := s.Events.Events(ctx, hub.EventQuery{Waybill: wb, Limit: MaxEventLimit})
	if err != nil {
		return err
	}
	v := ParcelView{Waybill: wb, Flags: []string{}, Events: evs}
	if s.Manifests != nil {
		if v.Announced, err = s.Manifests.Parcel(ctx, wb); err != nil {
			return err
		}
	}
	if v.Announced == nil && len(evs) == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no parcel "+wb+" in any manifest or scan")
	}
	slices.SortFunc(v.Events, func(a, b *hub.ParcelEvent) int { return a.TS.Compare(b.TS) })
	v.State, v.Flags = parcelState(v.Announced, v.Events)
	return c.JSON(http.StatusOK, v)
}

// parcelState derives a parcel's state and flags from its manifest row
// (nil if none) and its events, oldest first.
func parcelState(m *sqlite.ManifestRow, evs []*hub.ParcelEvent) (string, []string) {
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
