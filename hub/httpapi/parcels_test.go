package httpapi

import (
	"slices"
	"testing"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
)

func TestParcelState(t *testing.T) {
	announced := &manifest.StoredParcel{Parcel: manifest.Parcel{Waybill: "SF1234567890123", Site: "tw01", Village: "v01"}}
	sorted := &hub.ParcelEvent{Kind: "sorted", Site: "tw01", Bin: "b01", Route: "r01"}
	exception := &hub.ParcelEvent{Kind: "sorted", Site: "tw01", Bin: "b99", Exception: "unknown"}
	confirmed := &hub.ParcelEvent{Kind: "confirmed", Site: "tw01", Bin: "b01"}
	elsewhere := &hub.ParcelEvent{Kind: "sorted", Site: "tw02", Bin: "b03", Route: "r03"}
	for _, c := range []struct {
		name  string
		m     *manifest.StoredParcel
		evs   []*hub.ParcelEvent
		state string
		flags []string
	}{
		{"announced only", announced, nil, ParcelAnnounced, nil},
		{"sorted", announced, []*hub.ParcelEvent{sorted}, ParcelSorted, nil},
		{"confirmed", announced, []*hub.ParcelEvent{sorted, confirmed}, ParcelConfirmed, nil},
		{"unannounced exception", nil, []*hub.ParcelEvent{exception}, ParcelException, []string{FlagUnannounced}},
		{"at the wrong township, twice", announced, []*hub.ParcelEvent{elsewhere, sorted}, ParcelSorted, []string{FlagOtherSite, FlagScannedTwice}},
	} {
		state, flags := parcelState(c.m, c.evs)
		if state != c.state || !slices.Equal(flags, append([]string{}, c.flags...)) && !(len(flags) == 0 && len(c.flags) == 0) {
			t.Errorf("%s: %s %v, want %s %v", c.name, state, flags, c.state, c.flags)
		}
	}
}
