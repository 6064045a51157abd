package sqlite

import (
	"testing"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/storetest"
)

// TestAccounts runs the accounts, sessions and tokens tests shared with
// the PostgreSQL store.
func TestAccounts(t *testing.T) {
	storetest.Accounts(t, func(t *testing.T) hub.AccountStore {
		db, _ := open(t)
		return db
	})
}
