package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/state"
)

// browser is a client with a cookie jar that sends the CSRF cookie's
// value back as X-CSRF-Token, as the dashboard's pages do.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf bool // send X-CSRF-Token on unsafe requests
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}, csrf: true}
}

func (b *browser) do(method, path, ctype, body string) (int, string, *http.Response) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if b.csrf && method != "GET" {
		for _, c := range b.c.Jar.Cookies(req.URL) {
			if c.Name == auth.CSRFCookie {
				req.Header.Set(auth.CSRFHeader, c.Value)
			}
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), resp
}

func (b *browser) json(method, path, body string) (int, string) {
	b.t.Helper()
	code, out, _ := b.do(method, path, "application/json", body)
	return code, out
}

func auditActions(t *testing.T, db hub.LogisticsStore, action string) []hub.AuditEntry {
	t.Helper()
	es, err := db.AuditLog(context.Background(), hub.AuditQuery{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestLoginCSRFLogout goes through a coordinator's day at the pages:
// logging in (a wrong password first), reading, writing with and without
// the CSRF token, logging out; each login in the audit log.
func TestLoginCSRFLogout(t *testing.T) {
	c := newCounty(t)
	ctx := context.Background()
	if _, err := c.s.Auth.CreateUser(ctx, hub.User{Name: "王芳", Role: hub.RoleTownship, Township: "tw01"}, "王芳的密码很长", "admin"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.ts.URL)
	if code, body := b.json("GET", "/api/v1/items", ""); code != 401 || !strings.Contains(body, "authentication required") {
		t.Fatalf("before login: %d %s", code, body)
	}
	if code, body := b.json("POST", "/api/v1/auth/login", `{"name": "王芳", "password": "wrong password"}`); code != 401 || !strings.Contains(body, "wrong name or password") {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	// A form another site's page could post: refused before any check.
	if code, body, _ := b.do("POST", "/api/v1/auth/login", "application/x-www-form-urlencoded", "name=王芳&password=王芳的密码很长"); code != 415 {
		t.Errorf("form login: %d %s", code, body)
	}
	code, out, resp := b.do("POST", "/api/v1/auth/login", "application/json", `{"name": "王芳", "password": "王芳的密码很长"}`)
	if code != 200 {
		t.Fatalf("login: %d %s", code, out)
	}
	var m me
	json.Unmarshal([]byte(out), &m)
	if m.Name != "王芳" || m.Role != hub.RoleTownship || m.Township != "tw01" || m.Via != auth.ViaSession || m.CSRF == "" {
		t.Errorf("me %+v", m)
	}
	var session, csrf *http.Cookie
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case auth.SessionCookie:
			session = ck
		case auth.CSRFCookie:
			csrf = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure ||
		csrf == nil || csrf.HttpOnly || csrf.Value != m.CSRF {
		t.Errorf("cookies %+v %+v", session, csrf)
	}
	if code, body := b.json("GET", "/api/v1/auth/me", ""); code != 200 || !strings.Contains(body, `"name":"王芳"`) {
		t.Errorf("me: %d %s", code, body)
	}
	// Writes need the CSRF token with a cookie.
	b.csrf = false
	if code, body := b.json("POST", "/api/v1/sites/tw01/runs", `{"route": "r01"}`); code != 403 || !strings.Contains(body, "CSRF") {
		t.Errorf("no CSRF token: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", c.ts.URL+"/api/v1/sites/tw01/runs", strings.NewReader(`{"route": "r01"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.CSRFHeader, "forged")
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("forged CSRF token: %v %v", resp.StatusCode, err)
	}
	if n := c.s.Auth.RefusedCount("csrf"); n != 2 {
		t.Errorf("%d CSRF refusals counted", n)
	}
	runs, _ := c.db.Runs(ctx, hub.RunQuery{Site: "tw01"})
	if len(runs) != 1 {
		t.Errorf("a refused write opened a run: %d runs", len(runs))
	}
	b.csrf = true
	var run hub.Run
	code, body := b.json("POST", "/api/v1/sites/tw01/runs", `{"route": "r01"}`)
	if json.Unmarshal([]byte(body), &run); code != 201 || run.By != "王芳" {
		t.Errorf("with the CSRF token: %d %s", code, body)
	}
	// Another township's site: 403, logged, nothing done.
	if code, body := b.json("POST", "/api/v1/sites/tw02/runs", `{"route": "r01"}`); code != 403 || !strings.Contains(body, "not of township tw01") {
		t.Errorf("tw02's runs: %d %s", code, body)
	}
	if !strings.Contains(c.logs.String(), "reason=other_township") {
		t.Errorf("the refusal is not logged:\n%s", c.logs)
	}
	if runs, _ := c.db.Runs(ctx, hub.RunQuery{Site: "tw02"}); len(runs) != 1 {
		t.Errorf("tw02 has %d runs", len(runs))
	}
	if code, _ := b.json("POST", "/api/v1/auth/logout", ""); code != 204 {
		t.Errorf("logout: %d", code)
	}
	if code, _ := b.json("GET", "/api/v1/auth/me", ""); code != 401 {
		t.Errorf("after logout: %d", code)
	}
	// The old cookie, replayed, is dead too.
	req, _ = http.NewRequest("GET", c.ts.URL+"/api/v1/auth/me", nil)
	req.AddCookie(session)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("replayed cookie after logout: %v %v", resp.StatusCode, err)
	}
	for action, n := range map[string]int{AuditLogin: 1, AuditLoginFailed: 1, AuditLogout: 1, AuditRunOpen: 1} {
		es := auditActions(t, c.db, action)
		if action == AuditRunOpen {
			es = es[:len(es)-2] // the setup's
		}
		if len(es) != n {
			t.Errorf("%d %s entries, want %d: %+v", len(es), action, n, es)
		}
	}
	if e := auditActions(t, c.db, AuditLoginFailed)[0]; e.Target != "王芳" || !strings.Contains(e.Detail, `"ip":"127.0.0.1"`) {
		t.Errorf("failed login entry %+v", e)
	}
}

// TestRefusals: a forged token, an ended session, an oversized request
// are each refused with their status and a log line; nothing else is
// disturbed (the next good request goes through).
func TestRefusals(t *testing.T) {
	c := newCounty(t)
	ctx := context.Background()
	send := func(method, path, body string, set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest(method, c.ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name, v := range map[string]string{
		"forged":     "Bearer clk_" + strings.Repeat("A", 43),
		"malformed":  "Bearer not-a-token",
		"not bearer": "Basic YWRtaW46YWRtaW4=",
	} {
		if code, body := send("GET", "/api/v1/items", "", func(r *http.Request) { r.Header.Set("Authorization", v) }); code != 401 || !strings.Contains(body, "not valid") {
			t.Errorf("%s token: %d %s", name, code, body)
		}
	}
	req, _ := http.NewRequest("GET", c.ts.URL+"/api/v1/items", nil)
	req.Header.Set("Authorization", "Bearer clk_"+strings.Repeat("B", 43))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("WWW-Authenticate") == "" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("a 401's headers: %v %v", resp.Header, err)
	} else {
		resp.Body.Close()
	}
	if n := c.s.Auth.RefusedCount("bad_token"); n != 4 {
		t.Errorf("%d bad tokens counted", n)
	}
	// A revoked token.
	secret, tok, _ := c.s.Auth.IssueToken(ctx, hub.TokenAPI, "old", hub.RoleCounty, "", time.Time{}, "test")
	c.s.Auth.RevokeToken(ctx, tok.ID, "test")
	if code, _ := send("GET", "/api/v1/items", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }); code != 401 {
		t.Errorf("revoked token: %d", code)
	}
	// A forged session cookie, and one that ended: 401, and the cookies
	// are cleared.
	for _, id := range []string{strings.Repeat("x", 43), "short"} {
		code, _ := send("GET", "/api/v1/items", "", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id}) })
		if code != 401 {
			t.Errorf("session %q: %d", id, code)
		}
	}
	if !strings.Contains(c.logs.String(), "reason=session_ended") || !strings.Contains(c.logs.String(), "reason=bad_token") {
		t.Errorf("refusals not logged:\n%s", c.logs)
	}
	// Oversized: the manifest route takes at most its limit, the others
	// 1 MiB or their own.
	big := strings.Repeat("x", 2<<20)
	if code, body := send("POST", "/api/v1/sites/tw01/runs", big, func(r *http.Request) { c.access.send(r, "") }); code != 413 {
		t.Errorf("2 MiB run: %d %.100s", code, body)
	}
	long := `{"route": "r01", "vehicle": "` + strings.Repeat("x", 70<<10) + `"}`
	if code, body := send("POST", "/api/v1/sites/tw01/runs", long, func(r *http.Request) { c.access.send(r, "") }); code != 413 || !strings.Contains(body, "at most") {
		t.Errorf("70 KiB run: %d %.100s", code, body)
	}
	if !strings.Contains(c.logs.String(), "reason=too_large") {
		t.Errorf("oversized requests not logged:\n%s", c.logs)
	}
	// Nothing was opened, and a good request still goes through.
	if runs, _ := c.db.Runs(ctx, hub.RunQuery{Site: "tw01"}); len(runs) != 1 {
		t.Errorf("%d runs of tw01", len(runs))
	}
	if code, body := send("POST", "/api/v1/sites/tw01/runs", `{"route": "r01"}`, func(r *http.Request) { c.access.send(r, "") }); code != 201 {
		t.Errorf("good request after the refusals: %d %s", code, body)
	}
}

// TestLoginRateLimited: the sixth failure of an account in the window is
// refused with 429 and Retry-After, the right password too; counted.
func TestLoginRateLimited(t *testing.T) {
	c := newCounty(t)
	if _, err := c.s.Auth.CreateUser(context.Background(), hub.User{Name: "li", Role: hub.RoleCounty}, "li's good password", "admin"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.ts.URL)
	for range 5 {
		if code, _ := b.json("POST", "/api/v1/auth/login", `{"name": "li", "password": "a guess at it"}`); code != 401 {
			t.Fatalf("guess: %d", code)
		}
	}
	code, body, resp := b.do("POST", "/api/v1/auth/login", "application/json", `{"name": "li", "password": "li's good password"}`)
	if code != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many") {
		t.Errorf("sixth attempt: %d %s %v", code, body, resp.Header)
	}
	if c.s.Auth.Logins("throttled") != 1 || c.s.Auth.Logins("failed") != 5 {
		t.Errorf("throttled %d failed %d", c.s.Auth.Logins("throttled"), c.s.Auth.Logins("failed"))
	}
	if !strings.Contains(c.logs.String(), "too many failures of this account") {
		t.Errorf("throttling not logged:\n%s", c.logs)
	}
	_, metricsBody := get(t, c.ts.URL+"/metrics")
	if !strings.Contains(metricsBody, `countylink_hub_logins_total{result="throttled"} 1`) {
		t.Errorf("metrics:\n%s", metricsBody)
	}
}

// TestKioskScreen: an admin issues a kiosk token; the wall screen trades
// it for a read-only session that reads the wall's data only, and loses
// it when the token is revoked.
func TestKioskScreen(t *testing.T) {
	c := newCounty(t)
	admin := newBrowser(t, c.ts.URL)
	if _, err := c.s.Auth.CreateUser(context.Background(), hub.User{Name: "root", Role: hub.RoleAdmin}, "root's password!", "test"); err != nil {
		t.Fatal(err)
	}
	if code, body := admin.json("POST", "/api/v1/auth/login", `{"name": "root", "password": "root's password!"}`); code != 200 {
		t.Fatalf("admin login: %d %s", code, body)
	}
	code, body := admin.json("POST", "/api/v1/tokens", `{"kind": "kiosk", "name": "大厅电视"}`)
	var issued struct {
		Token  hub.APIToken `json:"token"`
		Secret string       `json:"secret"`
		Path   string       `json:"path"`
	}
	if json.Unmarshal([]byte(body), &issued); code != 201 || issued.Token.Role != hub.RoleViewer || !strings.HasPrefix(issued.Path, "/?kiosk=1#kiosk=clk_") {
		t.Fatalf("issue: %d %s", code, body)
	}
	if strings.Contains(fmtTokens(t, admin), issued.Secret) {
		t.Error("the token list shows the secret")
	}
	wall := newBrowser(t, c.ts.URL)
	if code, body := wall.json("POST", "/api/v1/auth/kiosk", `{"token": "clk_forged"}`); code != 401 {
		t.Errorf("forged kiosk token: %d %s", code, body)
	}
	if code, body := wall.json("POST", "/api/v1/auth/kiosk", `{"token": "`+issued.Secret+`"}`); code != 200 || !strings.Contains(body, `"name":"kiosk:大厅电视"`) {
		t.Fatalf("kiosk login: %d %s", code, body)
	}
	for path, want := range map[string]int{"/api/v1/sites": 200, "/api/v1/coldrooms": 200, "/api/v1/alarms": 200, "/api/v1/board": 200,
		"/api/v1/figures": 200, "/api/v1/produce": 200, "/api/v1/items": 403, "/api/v1/audit": 403, "/api/v1/manifests": 403,
		"/api/v1/users": 403, "/api/v1/parcels/events": 403, "/api/v1/runs": 403} {
		if code, body := wall.json("GET", path, ""); code != want {
			t.Errorf("wall screen GET %s: %d, want %d: %.100s", path, code, want, body)
		}
	}
	if code, _ := wall.json("POST", "/api/v1/sites/tw01/runs", `{"route": "r01"}`); code != 403 {
		t.Errorf("wall screen opens a run: %d", code)
	}
	if code, _ := admin.json("DELETE", "/api/v1/tokens/"+issued.Token.ID, ""); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := wall.json("GET", "/api/v1/sites", ""); code != 401 {
		t.Errorf("wall screen after its token is revoked: %d", code)
	}
	for _, a := range []string{AuditTokenIssue, AuditKiosk, AuditTokenRevoke} {
		if es := auditActions(t, c.db, a); len(es) != 1 || es[0].Target != issued.Token.ID {
			t.Errorf("%s: %+v", a, es)
		}
	}
}

func fmtTokens(t *testing.T, b *browser) string {
	_, body := b.json("GET", "/api/v1/tokens", "")
	return body
}

// TestTownshipFiltering: a township coordinator's lists hold only their
// township's data, the live stream too.
func TestTownshipFiltering(t *testing.T) {
	c := newCounty(t)
	ctx := context.Background()
	c.s.State.ApplyReading(&hub.Reading{Site: "tw02", Edge: "tw02-e1", Device: "d", Room: "cr1", TS: time.Now(), Fields: map[string]float64{"temperature": 3}})
	if _, err := c.s.Auth.CreateUser(ctx, hub.User{Name: "wang", Role: hub.RoleTownship, Township: "tw01"}, "wang's password", "test"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.ts.URL)
	if code, _ := b.json("POST", "/api/v1/auth/login", `{"name": "wang", "password": "wang's password"}`); code != 200 {
		t.Fatal("login")
	}
	sitesOf := func(body string, member string) []string {
		var rows []map[string]any
		if err := json.Unmarshal([]byte(body), &rows); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r[member].(string))
		}
		return out
	}
	for path, member := range map[string]string{"/api/v1/sites": "id", "/api/v1/coldrooms": "site", "/api/v1/alarms": "site",
		"/api/v1/items": "township", "/api/v1/runs": "site", "/api/v1/edges/traffic": "site", "/api/v1/parcels/events": "site",
		"/api/v1/manifests": "site", "/api/v1/audit": "site", "/api/v1/alarms?state=all": "site"} {
		code, body := b.json("GET", path, "")
		if code != 200 {
			t.Errorf("%s: %d %s", path, code, body)
			continue
		}
		got := sitesOf(body, member)
		for _, s := range got {
			if !strings.HasPrefix(s, "tw01") {
				t.Errorf("%s lists %s's: %s", path, s, body)
			}
		}
		if len(got) == 0 && path != "/api/v1/alarms?state=all" {
			t.Errorf("%s lists nothing of tw01", path)
		}
	}
	code, body := b.json("GET", "/api/v1/board", "")
	var board hub.Board
	if json.Unmarshal([]byte(body), &board); code != 200 {
		t.Fatalf("board: %d %s", code, body)
	}
	for _, r := range board.Routes {
		if r.Site != "tw01" {
			t.Errorf("board route of %s", r.Site)
		}
	}
	// The stream: a reading of tw02 is not sent, one of tw01 is.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", c.ts.URL+"/api/v1/stream", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	r.ReadString('\n') // retry
	c.s.State.ApplyReading(&hub.Reading{Site: "tw02", Edge: "tw02-e1", Device: "d", Room: "cr1", TS: time.Now().Add(time.Second), Fields: map[string]float64{"temperature": 4}})
	c.s.State.ApplyReading(&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "d", Room: "cr1", TS: time.Now(), Fields: map[string]float64{"temperature": 2}})
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"room"`) {
			var v state.RoomView
			json.Unmarshal([]byte(line[6:]), &v)
			if v.Site != "tw01" {
				t.Fatalf("stream sent %s", line)
			}
			break
		}
	}
}

// TestAdminAccounts: an admin makes, changes and disables accounts;
// the changes end the sessions they make wrong; each is audited.
func TestAdminAccounts(t *testing.T) {
	c := newCounty(t)
	ctx := context.Background()
	if _, err := c.s.Auth.CreateUser(ctx, hub.User{Name: "root", Role: hub.RoleAdmin}, "root's password!", "test"); err != nil {
		t.Fatal(err)
	}
	admin := newBrowser(t, c.ts.URL)
	admin.json("POST", "/api/v1/auth/login", `{"name": "root", "password": "root's password!"}`)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"name": "zhao", "role": "staff", "township": "tw01", "password": "zhao's password"}`, 201},
		{`{"name": "qian", "role": "staff", "password": "qian's password"}`, 400},                                   // staff without a township
		{`{"name": "sun", "role": "township_coordinator", "township": "tw99", "password": "sun's password!"}`, 404}, // no such township
		{`{"name": "zhou", "role": "county_coordinator", "password": "short"}`, 400},
		{`{"name": "wu", "role": "root", "password": "wu's password!!"}`, 400},
		{`{"name": "has space", "role": "viewer", "password": "a long password"}`, 400},
	} {
		if code, out := admin.json("POST", "/api/v1/users", tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.body, code, out, tc.want)
		}
	}
	if code, _ := admin.json("POST", "/api/v1/users", `{"name": "zhao", "role": "viewer", "password": "zhao's password"}`); code != 409 {
		t.Errorf("a second zhao: %d", code)
	}
	zhao := newBrowser(t, c.ts.URL)
	if code, _ := zhao.json("POST", "/api/v1/auth/login", `{"name": "zhao", "password": "zhao's password"}`); code != 200 {
		t.Fatal("zhao's login")
	}
	if code, _ := zhao.json("GET", "/api/v1/items", ""); code != 200 {
		t.Errorf("zhao reads items: %d", code)
	}
	if code, _ := zhao.json("GET", "/api/v1/users", ""); code != 403 {
		t.Errorf("staff lists accounts: %d", code)
	}
	// Moved to tw02: the session made for tw01 ends.
	if code, out := admin.json("PATCH", "/api/v1/users/zhao", `{"township": "tw02"}`); code != 200 || !strings.Contains(out, `"township":"tw02"`) {
		t.Errorf("move: %d %s", code, out)
	}
	if code, _ := zhao.json("GET", "/api/v1/items", ""); code != 401 {
		t.Errorf("zhao's session after the move: %d", code)
	}
	if code, _ := admin.json("PATCH", "/api/v1/users/zhao", `{"disabled": true}`); code != 200 {
		t.Error("disable")
	}
	if code, _ := zhao.json("POST", "/api/v1/auth/login", `{"name": "zhao", "password": "zhao's password"}`); code != 403 {
		t.Errorf("disabled login: %d", code)
	}
	if code, _ := admin.json("PATCH", "/api/v1/users/root", `{"disabled": true}`); code != 409 {
		t.Errorf("an admin disables themselves: %d", code)
	}
	if code, _ := admin.json("PATCH", "/api/v1/users/nobody", `{"disabled": true}`); code != 404 {
		t.Errorf("unknown account: %d", code)
	}
	// Their own password: the old one no longer works.
	if code, out := admin.json("PUT", "/api/v1/auth/password", `{"current": "root's password!", "new": "a new password for root"}`); code != 200 {
		t.Errorf("password change: %d %s", code, out)
	}
	if code, _ := admin.json("GET", "/api/v1/users", ""); code != 200 {
		t.Errorf("the session goes on after the change: %d", code)
	}
	other := newBrowser(t, c.ts.URL)
	if code, _ := other.json("POST", "/api/v1/auth/login", `{"name": "root", "password": "root's password!"}`); code != 401 {
		t.Errorf("old password: %d", code)
	}
	if es := auditActions(t, c.db, AuditUserUpdate); len(es) != 2 || es[0].By != "root" || es[0].Target != "zhao" {
		t.Errorf("user.update entries %+v", es)
	}
	if es := auditActions(t, c.db, AuditUserCreate); len(es) != 1 {
		t.Errorf("user.create entries %+v", es)
	}
	var users []hub.User
	_, out := admin.json("GET", "/api/v1/users", "")
	json.Unmarshal([]byte(out), &users)
	if strings.Contains(out, "argon2") || len(users) < 2 {
		t.Errorf("users %s", out)
	}
}
