package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sqlite"
)

// fastParams keep the tests quick; the real parameters are tested once.
var fastParams = Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHash(t *testing.T) {
	start := time.Now()
	h, err := HashPassword("correct horse battery", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("argon2id with the default parameters: %v", time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Errorf("hash %q", h)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := VerifyPassword(h, pw); err != nil || ok != want {
			t.Errorf("verify %q: %v %v, want %v", pw, ok, err, want)
		}
	}
	h2, _ := HashPassword("correct horse battery", DefaultParams)
	if h2 == h {
		t.Error("two hashes of one password are the same: no salt")
	}
	for _, pw := range []string{"short", strings.Repeat("x", MaxPasswordLen+1), "bad utf-8 \xff\xfe xx"} {
		if _, err := HashPassword(pw, fastParams); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("password %.20q: %v, want ErrWeakPassword", pw, err)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=65536,t=2,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if _, err := VerifyPassword(bad, "whatever-long"); err == nil {
			t.Errorf("hash %q read", bad)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(3, time.Minute) // 3 a minute, burst 3
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.take("a", now); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait := l.take("a", now)
	if ok || wait != 20*time.Second {
		t.Errorf("fourth attempt: %v, wait %v", ok, wait)
	}
	if ok, _ := l.take("b", now); !ok {
		t.Error("another key is refused")
	}
	if ok, _ := l.take("a", now.Add(20*time.Second)); !ok {
		t.Error("a token is back after 20s")
	}
	l.spend("c", now)
	l.spend("c", now)
	l.spend("c", now)
	l.spend("c", now)
	if w := l.wait("c", now); w != 20*time.Second {
		t.Errorf("spent beyond the bucket: wait %v", w)
	}
}

// newService is a Service over a fresh SQLite store, with a clock the
// test moves.
func newService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db, DefaultConfig(), nil, nil)
	s.Params = fastParams
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	return s, &now
}

func withCookie(id string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/sites", nil)
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
	return r
}

func TestLoginSessionLogout(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, hub.User{Name: "王芳", Role: hub.RoleTownship, Township: "tw01"}, "the secret phrase", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Login(ctx, "王芳", "wrong phrase!", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, _, err := s.Login(ctx, "nobody", "the secret phrase", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown account: %v", err)
	}
	p, id, err := s.Login(ctx, "王芳", "the secret phrase", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "王芳" || p.Role != hub.RoleTownship || p.Township != "tw01" || p.Via != ViaSession || p.CSRF() == "" || len(id) != 43 {
		t.Fatalf("principal %+v, id %q", p, id)
	}
	// The store keeps only the hash of the id.
	if se, _ := s.Store.Session(ctx, id); se != nil {
		t.Fatal("the session id itself is a store key")
	}
	got, err := s.Authenticate(ctx, withCookie(id))
	if err != nil || got.Name != "王芳" || got.CSRF() != p.CSRF() {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	// CSRF: the header must carry the session's token.
	r := withCookie(id)
	if err := s.CheckCSRF(r, got); !errors.Is(err, ErrCSRF) {
		t.Errorf("no CSRF header: %v", err)
	}
	r.Header.Set(CSRFHeader, "forged")
	if err := s.CheckCSRF(r, got); !errors.Is(err, ErrCSRF) {
		t.Errorf("forged CSRF header: %v", err)
	}
	r.Header.Set(CSRFHeader, p.CSRF())
	if err := s.CheckCSRF(r, got); err != nil {
		t.Errorf("right CSRF header: %v", err)
	}
	// Forged and malformed cookies.
	for _, v := range []string{"forged", strings.Repeat("A", 43), id + "x"} {
		if _, err := s.Authenticate(ctx, withCookie(v)); !errors.Is(err, ErrSessionEnded) {
			t.Errorf("cookie %q: %v", v, err)
		}
	}
	if _, err := s.Authenticate(ctx, httptest.NewRequest("GET", "/", nil)); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no cookie: %v", err)
	}
	// Idle for longer than session_idle: ended.
	*now = now.Add(s.Config.SessionIdle + time.Minute)
	if _, err := s.Authenticate(ctx, withCookie(id)); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("idle session: %v", err)
	}
	// Kept alive by use, it still ends at session_max.
	_, id, _ = s.Login(ctx, "王芳", "the secret phrase", "10.0.0.1")
	for range 11 {
		*now = now.Add(time.Hour)
		if _, err := s.Authenticate(ctx, withCookie(id)); err != nil {
			t.Fatalf("used every hour: %v", err)
		}
	}
	*now = now.Add(time.Hour)
	if _, err := s.Authenticate(ctx, withCookie(id)); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("session past session_max: %v", err)
	}
	// Logout ends it.
	p, id, _ = s.Login(ctx, "王芳", "the secret phrase", "10.0.0.1")
	if err := s.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, withCookie(id)); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("after logout: %v", err)
	}
	// Disabling the account ends its sessions and refuses its logins.
	_, id, _ = s.Login(ctx, "王芳", "the secret phrase", "10.0.0.1")
	yes := true
	if _, err := s.UpdateUser(ctx, "王芳", UserChange{Disabled: &yes}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, withCookie(id)); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("session of a disabled account: %v", err)
	}
	if _, _, err := s.Login(ctx, "王芳", "the secret phrase", "10.0.0.1"); !errors.Is(err, ErrDisabled) {
		t.Errorf("login of a disabled account: %v", err)
	}
	if n := s.Logins("ok"); n != 4 {
		t.Errorf("%d logins counted ok", n)
	}
}

func TestLoginRateLimits(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, hub.User{Name: "admin", Role: hub.RoleAdmin}, "the admin phrase", "hub"); err != nil {
		t.Fatal(err)
	}
	// Five failures of one account: the sixth attempt is refused without
	// checking, the right password too, from any address.
	for i := range 5 {
		if _, _, err := s.Login(ctx, "admin", "a wrong guess", "10.0.0."+string(rune('1'+i))); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	var te *ThrottledError
	if _, _, err := s.Login(ctx, "admin", "the admin phrase", "10.0.0.9"); !errors.As(err, &te) || te.By != "account" {
		t.Fatalf("after 5 failures: %v", err)
	}
	*now = now.Add(4 * time.Minute) // one failure is forgiven every 3 minutes
	if _, _, err := s.Login(ctx, "admin", "the admin phrase", "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Ten attempts a minute from one address, whatever the accounts.
	for i := range 10 {
		s.Login(ctx, "user"+string(rune('a'+i)), "guess guess", "10.9.9.9")
	}
	if _, _, err := s.Login(ctx, "admin", "the admin phrase", "10.9.9.9"); !errors.As(err, &te) || te.By != "address" {
		t.Fatalf("11th attempt from one address: %v", err)
	}
	if _, _, err := s.KioskLogin(ctx, "clk_whatever", "10.9.9.9"); !errors.As(err, &te) {
		t.Fatalf("kiosk exchange from the same address: %v", err)
	}
	if s.Logins("throttled") != 3 || s.Logins("failed") != 15 {
		t.Errorf("throttled %d, failed %d", s.Logins("throttled"), s.Logins("failed"))
	}
}

func TestTokens(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	secret, tok, err := s.IssueToken(ctx, hub.TokenAPI, "sf-import", hub.RoleTownship, "tw01", time.Time{}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 || tok.Hash == "" || strings.Contains(tok.Hash, secret[4:]) {
		t.Fatalf("secret %q, token %+v", secret, tok)
	}
	bearer := func(v string) *http.Request {
		r := httptest.NewRequest("POST", "/api/v1/manifests", nil)
		r.Header.Set("Authorization", v)
		return r
	}
	p, err := s.Authenticate(ctx, bearer("Bearer "+secret))
	if err != nil || p.Name != "api:sf-import" || p.Role != hub.RoleTownship || p.Township != "tw01" || p.Via != ViaToken {
		t.Fatalf("bearer: %+v %v", p, err)
	}
	if err := s.CheckCSRF(bearer("Bearer "+secret), p); err != nil {
		t.Errorf("a bearer request needs no CSRF token: %v", err)
	}
	for _, v := range []string{"Bearer clk_" + strings.Repeat("A", 43), "Bearer " + secret[:len(secret)-1], "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer " + secret[4:]} {
		if _, err := s.Authenticate(ctx, bearer(v)); !errors.Is(err, ErrBadToken) {
			t.Errorf("%q: %v", v, err)
		}
	}
	// A kiosk token is exchanged for a session, never used as a bearer.
	ksecret, ktok, err := s.IssueToken(ctx, hub.TokenKiosk, "大厅电视", hub.RoleViewer, "", now.Add(24*time.Hour), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, bearer("Bearer "+ksecret)); !errors.Is(err, ErrBadToken) {
		t.Errorf("kiosk token as a bearer: %v", err)
	}
	if _, _, err := s.KioskLogin(ctx, secret, "10.0.0.5"); !errors.Is(err, ErrBadToken) {
		t.Errorf("API token as a kiosk token: %v", err)
	}
	kp, kid, err := s.KioskLogin(ctx, ksecret, "10.0.0.5")
	if err != nil || kp.Name != "kiosk:大厅电视" || kp.Role != hub.RoleViewer || kp.Via != ViaKiosk {
		t.Fatalf("kiosk login: %+v %v", kp, err)
	}
	if p, err := s.Authenticate(ctx, withCookie(kid)); err != nil || p.Via != ViaKiosk || p.TokenID != ktok.ID {
		t.Fatalf("kiosk session: %+v %v", p, err)
	}
	// Revoking the kiosk token ends its sessions.
	if _, err := s.RevokeToken(ctx, ktok.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, withCookie(kid)); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("session of a revoked kiosk token: %v", err)
	}
	if _, _, err := s.KioskLogin(ctx, ksecret, "10.0.0.5"); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoked kiosk token: %v", err)
	}
	// An API token past its expiry.
	esecret, _, err := s.IssueToken(ctx, hub.TokenAPI, "short-lived", hub.RoleCounty, "", now.Add(time.Hour), "admin")
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(2 * time.Hour)
	if _, err := s.Authenticate(ctx, bearer("Bearer "+esecret)); !errors.Is(err, ErrBadToken) {
		t.Errorf("expired token: %v", err)
	}
	for _, tc := range []struct {
		kind, name string
		role       hub.Role
		township   string
	}{
		{hub.TokenKiosk, "wall", hub.RoleAdmin, ""},
		{"other", "x", hub.RoleViewer, ""},
		{hub.TokenAPI, "has space", hub.RoleViewer, ""},
		{hub.TokenAPI, "x", hub.RoleTownship, ""},
		{hub.TokenAPI, "x", hub.RoleCounty, "tw01"},
		{hub.TokenAPI, "x", "root", ""},
	} {
		if _, _, err := s.IssueToken(ctx, tc.kind, tc.name, tc.role, tc.township, time.Time{}, "admin"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", tc, err)
		}
	}
}

func TestCookies(t *testing.T) {
	s, _ := newService(t)
	for _, tc := range []struct {
		mode   string
		https  bool
		tls    bool
		secure bool
	}{
		{CookieSecureAuto, false, false, false},
		{CookieSecureAuto, true, false, true},
		{CookieSecureAuto, false, true, true},
		{CookieSecureAlways, false, false, true},
		{CookieSecureNever, true, true, false},
	} {
		s.Config.CookieSecure, s.PublicHTTPS = tc.mode, tc.https
		r := httptest.NewRequest("POST", "/api/v1/auth/login", nil)
		if tc.tls {
			r = httptest.NewRequest("POST", "https://hub/api/v1/auth/login", nil)
		}
		w := httptest.NewRecorder()
		s.SetCookies(w, r, "id", time.Now().Add(time.Hour))
		cs := w.Result().Cookies()
		if len(cs) != 2 || cs[0].Name != SessionCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode ||
			cs[1].Name != CSRFCookie || cs[1].HttpOnly || cs[0].Secure != tc.secure || cs[1].Secure != tc.secure {
			t.Errorf("%+v: cookies %+v", tc, cs)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.SessionIdle, c.CookieSecure, c.TrustedProxies = time.Second, "sometimes", []string{"10.0.0.0/8", "192.168.1.1", "proxy"}
	err := c.Validate()
	for _, f := range []string{"auth.session_idle", "auth.cookie_secure", "auth.trusted_proxies"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s not named: %v", f, err)
		}
	}
}
