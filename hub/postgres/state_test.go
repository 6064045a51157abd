package postgres

import (
	"testing"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/storetest"
)

// TestState runs the state store's behaviour tests, shared with the other
// stores, on PostgreSQL.
func TestState(t *testing.T) {
	requireServer(t)
	storetest.State(t, func(t *testing.T) storetest.StateStore {
		db, _ := open(t)
		// The suite's precondition: every subtest starts on an empty store.
		if rs, err := db.Latest(t.Context()); err != nil || len(rs) != 0 {
			t.Fatalf("a new store holds %d latest readings (%v)", len(rs), err)
		}
		if es, err := db.Edges(t.Context()); err != nil || len(es) != 0 {
			t.Fatalf("a new store holds %d edges (%v)", len(es), err)
		}
		if as, err := db.Alarms(t.Context(), hub.AlarmFilter{}); err != nil || len(as) != 0 {
			t.Fatalf("a new store holds %d alarms (%v)", len(as), err)
		}
		return db
	})
}
