package sqlite

import (
	"testing"

	"github.com/countylink/countylink/hub"
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
		// The suite's precondition: every subtest starts on an empty store.
		items, err := db.Items(t.Context(), hub.ItemQuery{})
		if err != nil || len(items) != 0 {
			t.Fatalf("a new store holds %d items (%v)", len(items), err)
		}
		if runs, err := db.Runs(t.Context(), hub.RunQuery{}); err != nil || len(runs) != 0 {
			t.Fatalf("a new store holds %d runs (%v)", len(runs), err)
		}
		return db
	})
}
