package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/httpapi"
	"github.com/countylink/countylink/hub/server"
)

// TestLoginPage goes through the sign-in in headless Chromium: a
// coordinators' page sends a stranger to the login page and back after
// the login (a wrong password first); the page's writes carry the CSRF
// token, another township's are refused; logging out ends the session.
// A wall screen opened with its kiosk URL signs in by itself, keeps no
// token in its URL, cannot open the coordinators' pages, and is sent to
// the login page once its token is revoked.
func TestLoginPage(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	m := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + m.HTTPAddr
	ctx := context.Background()
	if _, err := m.Auth.CreateUser(ctx, hub.User{Name: "王芳", DisplayName: "王芳", Role: hub.RoleTownship, Township: "tw01"}, "王芳的密码足够长", "test"); err != nil {
		t.Fatal(err)
	}
	tab := startBrowser(t)
	// waitNav is waitLg across a navigation the page makes by itself: an
	// evaluation cut by it is tried again.
	waitNav := func(timeout time.Duration, what, cond string) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			tctx, cancel := context.WithTimeout(tab, 2*time.Second)
			ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](cond))
			cancel()
			if err == nil && ok {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		waitLg(t, tab, time.Second, what, cond) // says what the page shows
	}
	open(t, tab, base+"/dispatch.html?township=tw01")
	next := "dispatch.html?township=tw01"
	waitNav(10*time.Second, "the login page, to come back after", fmt.Sprintf(`location.pathname.endsWith("/login.html") &&
		new URLSearchParams(location.search).get("next") === %s && !!document.getElementById("login-form")`, jsString(next)))
	checkLabels(t, tab)
	login := func(password string) {
		t.Helper()
		if err := chromedp.Do(withTimeout(t, tab, 10*time.Second),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("login-name").value = ""; document.getElementById("login-password").value = ""`),
			chromedp.SendKeys(chromedp.CSS("#login-name"), "王芳"),
			chromedp.SendKeys(chromedp.CSS("#login-password"), password),
			chromedp.KeyEvent("\r"),
		); err != nil {
			t.Fatalf("type the login: %v", err)
		}
	}
	login("a wrong password")
	waitLg(t, tab, 5*time.Second, "the wrong password said", `document.getElementById("login-result").dataset.result === "error" &&
		!document.getElementById("login-result").hidden && location.pathname.endsWith("/login.html")`)
	login("王芳的密码足够长")
	waitNav(10*time.Second, "back at the dispatch page, signed in", `location.pathname.endsWith("/dispatch.html") &&
		document.querySelector("#who .who-name")?.textContent === "王芳"`)

	// The page's own requests: a write with the CSRF token goes through
	// the rules (whatever the hub then says of it), one without is 403,
	// one of another township is 403.
	status := func(js string) int {
		t.Helper()
		tctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	if code := status(`CountyLink.request("api/v1/sites/tw01/runs", { method: "POST", body: { route: "r01" } }).then((r) => r.status)`); code == 401 || code == 403 {
		t.Errorf("a write of the page: %d", code)
	}
	if code := status(`fetch("api/v1/sites/tw01/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{\"route\": \"r01\"}" }).then((r) => r.status)`); code != 403 {
		t.Errorf("a write without the CSRF token: %d, want 403", code)
	}
	if code := status(`CountyLink.request("api/v1/sites/tw02/runs", { method: "POST", body: { route: "r01" } }).then((r) => r.status)`); code != 403 {
		t.Errorf("a write at another township: %d, want 403", code)
	}
	click(t, tab, "#logout")
	waitNav(10*time.Second, "the login page after logging out", `location.pathname.endsWith("/login.html")`)
	if code := status(`fetch("api/v1/auth/me").then((r) => r.status)`); code != 401 {
		t.Errorf("after logging out: %d, want 401", code)
	}

	// The wall screen's kiosk URL.
	secret, tok, err := m.Auth.IssueToken(ctx, hub.TokenKiosk, "大厅电视", hub.RoleViewer, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	open(t, tab, base+httpapi.KioskPath(secret))
	waitNav(10*time.Second, "the wall screen live, signed in by its token", `document.getElementById("conn").dataset.state === "live" &&
		document.body.classList.contains("kiosk") && location.hash === "" && !document.getElementById("logout")`)
	open(t, tab, base+"/alarms.html")
	waitNav(10*time.Second, "a wall screen sent back from the alarm page", `location.pathname.endsWith("/") && !!document.getElementById("conn")`)
	if _, err := m.Auth.RevokeToken(ctx, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	open(t, tab, base+"/?kiosk=1")
	waitNav(10*time.Second, "the revoked wall screen at the login page", fmt.Sprintf(`location.pathname.endsWith("/login.html") &&
		new URLSearchParams(location.search).get("next") === %s && localStorage.getItem("countylink.kiosk") === null`, jsString("?kiosk=1")))
}
