// Package storetest holds the behaviour tests every implementation of the
// hub's store must pass: hub/sqlite (the embedded store of one hub) and
// hub/postgres (the store several hubs share) run the same Logistics
// tests (parcels and dispatch) and State tests (alarms, latest readings,
// edges, seen message ids, named values), each with an opener giving an
// empty store.
//
//	func TestLogistics(t *testing.T) {
//		storetest.Logistics(t, func(t *testing.T) storetest.Store { return openEmpty(t) })
//	}
//
//	func TestState(t *testing.T) {
//		storetest.State(t, func(t *testing.T) storetest.StateStore { return openEmpty(t) })
//	}
//
// The tests go through the Store and StateStore interfaces only. Besides
// what one store must do (derive items, open, load, depart and close
// runs, count the day, keep alarms and their history), they check what
// several hubs sharing a store rely on: two loads racing for the same
// parcels put each on exactly one run, a run departs once, concurrent
// opens number their runs apart, an item is derived from all its events
// however they arrive, and the newest reading of a device and the latest
// state of an edge win over the last writer.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/timeline"
)

// Store is what the hub asks of its parcel and dispatch store, which both
// *sqlite.DB and *postgres.DB are.
type Store interface {
	hub.LogisticsStore
	manifest.Store
	ManifestParcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error)
	ManifestForSite(ctx context.Context, site string, afterRev int64, limit int) ([]*manifest.StoredParcel, error)
	ManifestBatches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error)
	SetPlaces(p timeline.Places)
	SetOptions(o timeline.Options)
	Rederive(ctx context.Context) (int, error)
	SaveSite(ctx context.Context, s hub.Site) error
	Sites(ctx context.Context) ([]hub.Site, error)
}

// Logistics runs the behaviour tests, each as a subtest on a store of its
// own from open, which must return an empty store and close it at the
// test's cleanup.
func Logistics(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"Day", testDay},
		{"AuditAndSites", testAuditAndSites},
		{"SaveEventsIdempotent", testSaveEventsIdempotent},
		{"EventsQuery", testEventsQuery},
		{"ParcelTotals", testParcelTotals},
		{"ManifestIdempotent", testManifestIdempotent},
		{"ManifestUpdates", testManifestUpdates},
		{"ManifestForSite", testManifestForSite},
		{"Rederive", testRederive},
		{"FiguresZone", testFiguresZone},
		{"RunErrors", testRunErrors},
		{"OddText", testOddText},
		{"ConcurrentLoads", testConcurrentLoads},
		{"ConcurrentDepart", testConcurrentDepart},
		{"ConcurrentOpenRun", testConcurrentOpenRun},
		{"ConcurrentEvents", testConcurrentEvents},
		{"ConcurrentManifests", testConcurrentManifests},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

// Places is a county of one township, tw01, with route r01 (tw01-v01,
// tw01-v02) and r02 (tw01-v03): the sites and plans the tests derive
// items with. It also lists a route's villages, for a run's stops.
type Places struct{}

// Township is tw01 for tw01 and its village points, the site itself
// otherwise.
func (Places) Township(site string) string {
	if len(site) >= 4 && site[:4] == "tw01" {
		return "tw01"
	}
	return site
}

// Route is the route of tw01 that visits village.
func (p Places) Route(township, village string) string {
	for _, r := range []string{"r01", "r02"} {
		for _, v := range p.RouteVillages(township, r) {
			if v == village {
				return r
			}
		}
	}
	return ""
}

// RouteVillages are the village points of a route of tw01, in visiting
// order.
func (Places) RouteVillages(township, route string) []string {
	if township != "tw01" {
		return nil
	}
	switch route {
	case "r01":
		return []string{"tw01-v01", "tw01-v02"}
	case "r02":
		return []string{"tw01-v03"}
	}
	return nil
}

// today is the start of today (UTC), so the board's window of exceptions
// (a day back from now) holds the tests'.
func today() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }
