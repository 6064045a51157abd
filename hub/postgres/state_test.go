package postgres

import (
	"testing"

	"github.com/countylink/countylink/hub/storetest"
)

// TestState runs the state store's behaviour tests, shared with the other
// stores, on PostgreSQL.
func TestState(t *testing.T) {
	requireServer(t)
	storetest.State(t, func(t *testing.T) storetest.StateStore {
		db, _ := open(t)
		return db
	})
}
