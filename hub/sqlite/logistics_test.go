package sqlite

import (
	"testing"

	"github.com/countylink/countylink/hub/storetest"
)

// testPlaces is tw01 with route r01 (tw01-v01, tw01-v02) and r02
// (tw01-v03), for the benchmarks.
type testPlaces = storetest.Places

// TestLogistics runs the store's behaviour tests, shared with the other
// stores, on SQLite.
func TestLogistics(t *testing.T) {
	storetest.Logistics(t, func(t *testing.T) storetest.Store {
		db, _ := open(t)
		return db
	})
}
