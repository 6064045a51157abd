package postgres

import (
	"testing"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/storetest"
)

// TestAccounts runs the accounts, sessions and tokens tests shared with
// the SQLite store.
func TestAccounts(t *testing.T) {
	requireServer(t)
	storetest.Accounts(t, func(t *testing.T) hub.AccountStore {
		db, _ := open(t)
		// The suite's precondition: every subtest starts on an empty store.
		if users, err := db.Users(t.Context()); err != nil || len(users) != 0 {
			t.Fatalf("a new store holds %d users (%v)", len(users), err)
		}
		if tokens, err := db.Tokens(t.Context()); err != nil || len(tokens) != 0 {
			t.Fatalf("a new store holds %d tokens (%v)", len(tokens), err)
		}
		return db
	})
}
