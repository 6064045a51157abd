package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/sqlite"
)

// fastParams keep the tests' password hashes quick.
var fastParams = auth.Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// testAccess is a test server's way in: an admin API token (the
// principal "api:test") for requests that name no user, and a session
// of a county coordinator for each user named, made when first needed.
type testAccess struct {
	t     testing.TB
	svc   *auth.Service
	admin string // the admin token's secret

	mu       sync.Mutex
	sessions map[string]testSession
}

type testSession struct{ id, csrf string }

// accessByURL finds a test server's access by its URL.
var accessByURL sync.Map

// withAuth gives s an auth service over store (a fresh SQLite store when
// nil) with quick password hashes, and an admin token.
func withAuth(t testing.TB, s *Server, store hub.AccountStore) *testAccess {
	t.Helper()
	return withAuthConfig(t, s, store, nil)
}

// withAuthConfig is withAuth with the auth configuration changed by
// mutate.
func withAuthConfig(t testing.TB, s *Server, store hub.AccountStore, mutate func(*auth.Config)) *testAccess {
	t.Helper()
	if store == nil {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "accounts.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		store = db
	}
	cfg := auth.DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s.Auth = auth.New(store, cfg, s.Metrics, s.Log)
	s.Auth.Params = fastParams
	secret, _, err := s.Auth.IssueToken(context.Background(), hub.TokenAPI, "test", hub.RoleAdmin, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &testAccess{t: t, svc: s.Auth, admin: secret, sessions: map[string]testSession{}}
}

// serve starts s over httptest with access a, found by the helpers.
func serve(t testing.TB, s *Server, a *testAccess) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	accessByURL.Store(ts.URL, a)
	t.Cleanup(func() { accessByURL.Delete(ts.URL) })
	return ts
}

// accessOf is the access of the test server url is of; nil for none.
func accessOf(url string) *testAccess {
	var found *testAccess
	accessByURL.Range(func(k, v any) bool {
		if strings.HasPrefix(url, k.(string)+"/") || url == k.(string) {
			found = v.(*testAccess)
			return false
		}
		return true
	})
	return found
}

// session is a session of user, a county coordinator made for it.
func (a *testAccess) session(user string, role hub.Role, township string) testSession {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	key := user + "/" + string(role) + "/" + township
	if s, ok := a.sessions[key]; ok {
		return s
	}
	ctx := context.Background()
	if u, _ := a.svc.Store.User(ctx, user); u == nil {
		if _, err := a.svc.CreateUser(ctx, hub.User{Name: user, Role: role, Township: township}, "a test password", "test"); err != nil {
			a.t.Fatal(err)
		}
	}
	p, id, err := a.svc.StartSession(ctx, user)
	if err != nil {
		a.t.Fatal(err)
	}
	s := testSession{id: id, csrf: p.CSRF()}
	a.sessions[key] = s
	return s
}

// send authorizes req: as user's session (a county coordinator), or with
// the admin token when user is "".
func (a *testAccess) send(req *http.Request, user string) {
	if user == "" {
		req.Header.Set("Authorization", "Bearer "+a.admin)
		return
	}
	s := a.session(user, hub.RoleCounty, "")
	s.apply(req)
}

func (s testSession) apply(req *http.Request) {
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: s.id})
	req.Header.Set(auth.CSRFHeader, s.csrf)
}

// authorize authorizes req as user (see send) when its URL is of a test
// server with access.
func authorize(req *http.Request, user string) {
	if a := accessOf(req.URL.String()); a != nil {
		a.send(req, user)
	}
}
