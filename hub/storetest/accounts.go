package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
)

// Accounts runs the behaviour tests of the accounts, sessions and tokens
// (hub.AccountStore), each as a subtest on a store of its own from open,
// which must return an empty store and close it at the test's cleanup.
func Accounts(t *testing.T, open func(t *testing.T) hub.AccountStore) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, hub.AccountStore)
	}{
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Tokens", testTokens},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

var at0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC) // the accounts tests' clock

func testUsers(t *testing.T, db hub.AccountStore) {
	ctx := t.Context()
	if u, err := db.User(ctx, "wang"); err != nil || u != nil {
		t.Fatalf("unknown user: %+v %v", u, err)
	}
	wang := hub.User{Name: "王芳", DisplayName: "王芳", Role: hub.RoleTownship, Township: "tw01", PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
		Created: at0, Updated: at0, CreatedBy: "admin", PasswordSet: at0}
	if err := db.CreateUser(ctx, wang); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, hub.User{Name: "王芳", Role: hub.RoleAdmin, Created: at0, Updated: at0}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("a second 王芳: %v, want ErrConflict", err)
	}
	admin := hub.User{Name: "admin", Role: hub.RoleAdmin, PasswordHash: "x", Created: at0, Updated: at0, CreatedBy: "hub"}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	got, err := db.User(ctx, "王芳")
	if err != nil || got == nil {
		t.Fatalf("王芳: %v", err)
	}
	if *got != wang {
		t.Errorf("read back\n%+v, want\n%+v", *got, wang)
	}
	wang.Role, wang.Township, wang.Disabled, wang.Updated, wang.LastLogin = hub.RoleCounty, "", true, at0.Add(time.Hour), at0.Add(time.Minute)
	if err := db.UpdateUser(ctx, wang); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.User(ctx, "王芳"); got == nil || *got != wang {
		t.Errorf("updated: %+v, want %+v", got, wang)
	}
	if err := db.UpdateUser(ctx, hub.User{Name: "nobody", Created: at0, Updated: at0}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("update of nobody: %v, want ErrNotFound", err)
	}
	us, err := db.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Name != "admin" || us[1].Name != "王芳" {
		t.Errorf("users: %+v %v", us, err)
	}
}

func testSessions(t *testing.T, db hub.AccountStore) {
	ctx := t.Context()
	if s, err := db.Session(ctx, "nothing"); err != nil || s != nil {
		t.Fatalf("unknown session: %+v %v", s, err)
	}
	a := hub.Session{IDHash: "aa", User: "wang", Created: at0, LastSeen: at0, Expires: at0.Add(12 * time.Hour)}
	b := hub.Session{IDHash: "bb", User: "wang", Created: at0, LastSeen: at0.Add(-3 * time.Hour), Expires: at0.Add(12 * time.Hour)}
	k := hub.Session{IDHash: "kk", Token: "tok-1", Created: at0, LastSeen: at0, Expires: at0.Add(time.Hour)}
	c := hub.Session{IDHash: "cc", User: "li", Created: at0, LastSeen: at0, Expires: at0.Add(12 * time.Hour)}
	for _, s := range []hub.Session{a, b, k, c} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.Session(ctx, "kk"); err != nil || got == nil || *got != k {
		t.Errorf("kiosk session: %+v %v, want %+v", got, err, k)
	}
	if err := db.TouchSession(ctx, "aa", at0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Session(ctx, "aa"); got == nil || !got.LastSeen.Equal(at0.Add(time.Minute)) {
		t.Errorf("touched: %+v", got)
	}
	// b was idle for too long; k is past its expiry an hour and a half on.
	n, err := db.DeleteExpiredSessions(ctx, at0.Add(90*time.Minute), at0.Add(-2*time.Hour))
	if err != nil || n != 2 {
		t.Errorf("expired sessions removed: %d %v, want 2", n, err)
	}
	for id, want := range map[string]bool{"aa": true, "bb": false, "kk": false, "cc": true} {
		if got, _ := db.Session(ctx, id); (got != nil) != want {
			t.Errorf("session %s kept %v, want %v", id, got != nil, want)
		}
	}
	if n, err := db.DeleteSessionsOf(ctx, "wang", ""); err != nil || n != 1 {
		t.Errorf("wang's sessions ended: %d %v", n, err)
	}
	if n, err := db.DeleteSessionsOf(ctx, "", ""); err != nil || n != 0 {
		t.Errorf("nobody's sessions ended: %d %v", n, err)
	}
	if err := db.DeleteSession(ctx, "cc"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, "cc"); err != nil {
		t.Errorf("a second logout: %v", err)
	}
	if got, _ := db.Session(ctx, "cc"); got != nil {
		t.Errorf("logged out session still there: %+v", got)
	}
	if err := db.CreateSession(ctx, hub.Session{IDHash: "k2", Token: "tok-2", Created: at0, LastSeen: at0, Expires: at0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteSessionsOf(ctx, "", "tok-2"); err != nil || n != 1 {
		t.Errorf("the kiosk token's sessions ended: %d %v", n, err)
	}
}

func testTokens(t *testing.T, db hub.AccountStore) {
	ctx := t.Context()
	api := hub.APIToken{ID: "tok-a", Kind: hub.TokenAPI, Name: "sf-import", Role: hub.RoleTownship, Township: "tw01", Hash: "h-a",
		Created: at0, CreatedBy: "admin"}
	wall := hub.APIToken{ID: "tok-w", Kind: hub.TokenKiosk, Name: "大厅电视", Role: hub.RoleViewer, Hash: "h-w",
		Created: at0.Add(time.Minute), CreatedBy: "admin", Expires: at0.Add(365 * 24 * time.Hour)}
	for _, tk := range []hub.APIToken{api, wall} {
		if err := db.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateToken(ctx, hub.APIToken{ID: "tok-x", Kind: hub.TokenAPI, Hash: "h-a", Created: at0}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("a token of the same hash: %v, want ErrConflict", err)
	}
	if err := db.CreateToken(ctx, hub.APIToken{ID: "tok-a", Kind: hub.TokenAPI, Hash: "h-other", Created: at0}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("a token of the same id: %v, want ErrConflict", err)
	}
	if got, err := db.TokenByHash(ctx, "h-w"); err != nil || got == nil || *got != wall {
		t.Errorf("by hash: %+v %v, want %+v", got, err, wall)
	}
	if got, err := db.TokenByHash(ctx, "h-none"); err != nil || got != nil {
		t.Errorf("unknown hash: %+v %v", got, err)
	}
	if got, err := db.Token(ctx, "tok-a"); err != nil || got == nil || *got != api {
		t.Errorf("by id: %+v %v, want %+v", got, err, api)
	}
	if err := db.TouchToken(ctx, "tok-a", at0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, "tok-a", at0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, "tok-a", at0.Add(3*time.Hour)); err != nil {
		t.Errorf("revoked twice: %v", err)
	}
	if err := db.RevokeToken(ctx, "tok-none", at0); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("revoke of no token: %v, want ErrNotFound", err)
	}
	got, _ := db.Token(ctx, "tok-a")
	if got == nil || !got.Revoked.Equal(at0.Add(2*time.Hour)) || !got.LastUsed.Equal(at0.Add(time.Hour)) || got.Active(at0.Add(3*time.Hour)) {
		t.Errorf("revoked token: %+v", got)
	}
	if !wall.Active(at0) || wall.Active(at0.Add(366*24*time.Hour)) {
		t.Errorf("the wall's token is active until it expires")
	}
	ts, err := db.Tokens(ctx)
	if err != nil || len(ts) != 2 || ts[0].ID != "tok-w" || ts[1].ID != "tok-a" {
		t.Errorf("tokens: %+v %v", ts, err)
	}
}
