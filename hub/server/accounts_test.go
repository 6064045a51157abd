package server

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// hubTokens are the API tokens of the hubs the tests started, by their
// HTTP address: authTransport sends them.
var hubTokens sync.Map

// authTransport adds the bearer token of the hub a request goes to, when
// the request has no credentials of its own.
type authTransport struct{ base http.RoundTripper }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := hubTokens.Load(r.URL.Host); ok && r.Header.Get("Authorization") == "" && len(r.Cookies()) == 0 {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok.(string))
	}
	return a.base.RoundTrip(r)
}

func init() {
	http.DefaultClient.Transport = authTransport{base: http.DefaultTransport}
}

// TestDemoAccounts: hub -demo makes an admin with a random password
// (printed once, kept in data_dir mode 0600), a kiosk token and an API
// token, kept across restarts; the admin logs in with the password.
func TestDemoAccounts(t *testing.T) {
	dir := t.TempDir()
	m := startHub(t, dir)
	a := m.DemoAccess
	if a == nil || a.Admin != "admin" || len(a.Password) != 20 || !strings.HasPrefix(a.KioskPath, "/?kiosk=1#kiosk=clk_") {
		t.Fatalf("demo access %+v", a)
	}
	for _, f := range []string{DemoPasswordFile, DemoKioskFile, DemoAPITokenFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(a.PasswordFile); strings.TrimSpace(string(b)) != a.Password {
		t.Errorf("password file %q", b)
	}
	u, _ := m.Store.User(t.Context(), "admin")
	if u == nil || strings.Contains(u.PasswordHash, a.Password) || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("stored admin %+v", u)
	}
	login := func(m *Main, pw string) int {
		req, _ := http.NewRequest("POST", "http://"+m.HTTPAddr+"/api/v1/auth/login", bytes.NewReader([]byte(`{"name": "admin", "password": "`+pw+`"}`)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login(m, a.Password); code != 200 {
		t.Errorf("admin login: %d", code)
	}
	kiosk := strings.TrimPrefix(a.KioskPath, "/?kiosk=1#kiosk=")
	m.Close()
	m = startHub(t, dir)
	if b := m.DemoAccess; b.Password != "" || b.KioskPath != a.KioskPath {
		t.Errorf("second start: %+v", b)
	}
	if code := login(m, a.Password); code != 200 {
		t.Errorf("admin login after a restart: %d", code)
	}
	if _, _, err := m.Auth.KioskLogin(t.Context(), kiosk, "127.0.0.1"); err != nil {
		t.Errorf("kiosk token after a restart: %v", err)
	}
	if _, err := m.Auth.Authenticate(t.Context(), bearerRequest(readToken(t, dir))); err != nil {
		t.Errorf("API token after a restart: %v", err)
	}
}

func readToken(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, DemoAPITokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func bearerRequest(tok string) *http.Request {
	r, _ := http.NewRequest("GET", "http://hub/api/v1/sites", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}
