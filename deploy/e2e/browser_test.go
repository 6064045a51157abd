package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/state"
)

// TestWallScreenInBrowser loads the wall screen from a hub in headless
// Chromium and checks what the office sees: a tile per cold room, a row
// per site, a reading published over MQTT on screen within 2 s, an edge's
// backlog, parcels sorted in their township's row, the language switch,
// and the page recovering by itself from a hub restart.
func TestWallScreenInBrowser(t *testing.T) {
	skipShort(t)
	started := time.Now()
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "browser-test")
	ctx := startBrowser(t)
	// The office TV opens its kiosk URL: no password typed.
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.Navigate(base+kioskPath(t, hub, "office-tv"))); err != nil {
		t.Fatalf("load %s/: %v", base, err)
	}
	waitPage(t, ctx, 10*time.Second, "stream live", `document.getElementById("conn").dataset.state === "live"`)
	if h := evalPage[string](t, ctx, `location.hash`); h != "" {
		t.Errorf("the kiosk token stays in the URL: %q", h)
	}

	// A tile for every cold room the API lists, and nothing else.
	var rooms []state.RoomView
	if err := getJSON(t, base+"/api/v1/coldrooms", &rooms); err != nil {
		t.Fatal(err)
	}
	if len(rooms) < 19 {
		t.Fatalf("the API lists %d cold rooms, want at least one per township", len(rooms))
	}
	var wantTiles []string
	for _, r := range rooms {
		wantTiles = append(wantTiles, r.Site+"/"+r.Room)
	}
	slices.Sort(wantTiles)
	waitPage(t, ctx, 10*time.Second, "a tile per cold room",
		fmt.Sprintf(`document.querySelectorAll(".tile[data-site][data-room][data-state]").length === %d`, len(rooms)))
	gotTiles := evalPage[[]string](t, ctx,
		`[...document.querySelectorAll(".tile[data-site][data-room][data-state]")].map((e) => e.dataset.site + "/" + e.dataset.room)`)
	slices.Sort(gotTiles)
	if !slices.Equal(gotTiles, wantTiles) {
		t.Errorf("tiles on the page %v\nrooms in the API %v", gotTiles, wantTiles)
	}

	// The site list: the county and its 19 townships.
	var sites []state.SiteView
	if err := getJSON(t, base+"/api/v1/sites", &sites); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var wantSites []string
	for _, s := range sites {
		kinds[string(s.Kind)]++
		if s.Kind == "county" || s.Kind == "township" {
			wantSites = append(wantSites, s.ID)
		}
	}
	if kinds["county"] != 1 || kinds["township"] != 19 {
		t.Errorf("the API lists sites by kind %v, want 1 county and 19 townships", kinds)
	}
	slices.Sort(wantSites)
	waitPage(t, ctx, 10*time.Second, "the county and the townships in the site list",
		fmt.Sprintf(`document.querySelectorAll("#site-list li.site[data-online]").length === %d`, len(wantSites)))
	gotSites := evalPage[[]string](t, ctx, `[...document.querySelectorAll("#site-list li.site[data-online]")].map((e) => e.dataset.site)`)
	slices.Sort(gotSites)
	if !slices.Equal(gotSites, wantSites) {
		t.Errorf("site list on the page %v\nwant %v", gotSites, wantSites)
	}

	// From MQTT to the screen: a chilled room (0 to 4 °C) goes over its limit.
	var delays []time.Duration
	for _, v := range []float64{6.5, 7.2, 5.8, 9.1, 4.6} {
		sent := time.Now()
		publishReading(t, pub, "tw03", "cr1", sent, map[string]float64{"temperature": v, "humidity": 82}, nil)
		waitTile(t, ctx, 5*time.Second, "tw03", "cr1", v, state.RoomHigh)
		d := time.Since(sent)
		delays = append(delays, d)
		if d > 2*time.Second {
			t.Errorf("reading %v took %v to reach the screen, the wall screen promises 2 s", v, d)
		}
	}
	sorted := slices.Clone(delays)
	slices.Sort(sorted)
	t.Logf("MQTT publish to tile on screen, 5 readings: %v; min %v, median %v, max %v",
		roundAll(delays), sorted[0].Round(time.Millisecond), sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))

	// An edge's store-and-forward backlog: a badge by its site and the total
	// in the header, on screen within 2 s, gone again once it is replayed.
	const qSite, qEdge, queued = "tw05", "tw05-e1", 4321
	qSent := time.Now()
	publishStatus(t, pub, qSite, qEdge, contract.StateOnline, queued)
	waitBacklog(t, ctx, 5*time.Second, qSite, queued)
	if d := time.Since(qSent); d > 2*time.Second {
		t.Errorf("backlog %d took %v to reach the screen, the wall screen promises 2 s", queued, d)
	} else {
		t.Logf("edge status with backlog %d on screen %v after its publish", queued, d.Round(time.Millisecond))
	}
	if got := evalPage[string](t, ctx, `document.querySelector('#site-list li.site[data-site="tw05"] .backlog').textContent`); !strings.Contains(got, "4,321") {
		t.Errorf("tw05's backlog badge reads %q, want the count 4,321 in it", got)
	}
	qSent = time.Now()
	publishStatus(t, pub, qSite, qEdge, contract.StateOnline, 0)
	waitBacklog(t, ctx, 5*time.Second, qSite, 0)
	if d := time.Since(qSent); d > 2*time.Second {
		t.Errorf("the backlog badge took %v to go once the backlog was replayed, want 2 s at most", d)
	}

	// Parcels sorted at a township: in its row, sorted and to the
	// exception bin, as the hub's figures count them (the figures follow
	// the stream's parcel events, at most every 5 s).
	pSent := time.Now()
	publishParcel(t, pub, "tw05", "SF1234567890123", "b03", "")
	publishParcel(t, pub, "tw05", "NOTAWAYBILL", "b99", contract.ExceptionUnknown)
	waitFor(t, 10*time.Second, "tw05's parcel counts on screen", func() error {
		got := evalPage[string](t, ctx, `(() => { const li = document.querySelector('#site-list li.site[data-site="tw05"]');
			const shown = (e) => e.offsetParent !== null && e.getBoundingClientRect().width > 0;
			return li.dataset.sorted + "/" + li.dataset.exceptions + "/" + li.querySelector(".c-sorted").textContent + "/" +
				li.querySelector(".c-exceptions").textContent + "/" + (shown(li.querySelector(".c-sorted")) && shown(li.querySelector(".c-exceptions"))) })()`)
		if got != "1/1/1/1/true" {
			return fmt.Errorf("sorted/exceptions/their cells/visible = %s", got)
		}
		return nil
	})
	t.Logf("two parcel events in tw05's row %v after their publish", time.Since(pSent).Round(time.Millisecond))

	// The language switch, remembered across a reload.
	var dict map[string]map[string]string
	if err := getJSON(t, base+"/i18n.json", &dict); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"zh", "en"} {
		if dict[l]["title"] == "" || dict[l]["state_high"] == "" {
			t.Fatalf("i18n.json lacks %s title or state_high: %v", l, dict[l])
		}
	}
	shows := func(lang, prefix string) string {
		return fmt.Sprintf(`document.documentElement.lang.startsWith(%s) && document.querySelector("h1")?.textContent === %s &&
			document.querySelector('.tile[data-site="tw03"][data-room="cr1"] .t-badge')?.textContent === %s`,
			jsString(prefix), jsString(dict[lang]["title"]), jsString(dict[lang]["state_high"]))
	}
	waitPage(t, ctx, 5*time.Second, "Chinese by default", shows("zh", "zh"))
	click(t, ctx, "#lang")
	waitPage(t, ctx, 5*time.Second, "English after a click on #lang", shows("en", "en"))
	if lang := evalPage[string](t, ctx, `document.documentElement.lang`); lang != "en-GB" {
		t.Errorf("<html lang=%q> in English, want en-GB", lang)
	}
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitPage(t, ctx, 10*time.Second, "English remembered after a reload", shows("en", "en"))
	waitPage(t, ctx, 10*time.Second, "stream live after the reload", `document.getElementById("conn").dataset.state === "live"`)
	click(t, ctx, "#lang")
	waitPage(t, ctx, 5*time.Second, "back to Chinese", shows("zh", "zh-CN"))

	// A hub restart: the page says so, then comes back by itself, without
	// a reload, and shows what is published afterwards.
	evalPage[bool](t, ctx, `window.e2eNotReloaded = true`)
	cfg, addr := hub.Config, hub.HTTPAddr
	stopped := time.Now()
	if err := hub.Close(); err != nil {
		t.Fatalf("stop the hub: %v", err)
	}
	// startHub's cleanup closes it again; Close is idempotent.
	waitPage(t, ctx, 10*time.Second, "the page shows the hub is gone",
		`document.getElementById("conn").dataset.state === "down" && (() => {
			const b = document.getElementById("banner");
			return !b.hidden && b.getClientRects().length > 0 && getComputedStyle(b).visibility !== "hidden" && b.textContent.trim() !== "";
		})()`)
	downAfter := time.Since(stopped)
	// Stay down long enough for the browser's reconnects (the stream says
	// retry: 2000) to be refused at least once, as in a real restart.
	time.Sleep(3 * time.Second)

	cfg.Listen = addr
	again := &server.Main{Config: cfg, Log: endingLogger(t)}
	if err := again.Open(); err != nil {
		t.Fatalf("restart the hub on %s: %v", addr, err)
	}
	t.Cleanup(func() { again.Close() })
	restarted := time.Now()
	waitPage(t, ctx, 30*time.Second, "the page live again after the restart",
		`document.getElementById("conn").dataset.state === "live" && document.getElementById("banner").hidden`)
	liveAfter := time.Since(restarted)
	if !evalPage[bool](t, ctx, `window.e2eNotReloaded === true`) {
		t.Error("the page reloaded itself; it should reconnect in place")
	}
	waitFor(t, 15*time.Second, "the restarted hub subscribed to the broker", func() error {
		if !again.Ingest.Ready() {
			return fmt.Errorf("not subscribed")
		}
		return nil
	})
	sent := time.Now()
	publishReading(t, pub, "tw03", "cr1", sent, map[string]float64{"temperature": 3.1, "humidity": 80}, nil)
	waitTile(t, ctx, 10*time.Second, "tw03", "cr1", 3.1, state.RoomOK)
	t.Logf("hub restart: page down %v after the stop, live %v after the new hub opened, a new reading on screen %v after its publish",
		downAfter.Round(time.Millisecond), liveAfter.Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
	t.Logf("test ran %v", time.Since(started).Round(time.Millisecond))
}

// endingLogger is testLogger for a hub the test starts itself: it writes
// to the test's log until the test ends, then discards. The hub's
// goroutines (a command to an edge waiting for its answer) may log a
// moment after its Close, and testing panics on a log after the end.
func endingLogger(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() }) // after the hub's Close, registered later
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Log(strings.TrimRight(string(p), "\n"))
		}
		return len(p), nil
	}), &slog.HandlerOptions{Level: level}))
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// startBrowser starts headless Chromium for the test and returns the
// chromedp context of its tab. The browser stops when the test ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.RequireBinary(t, "chromium", "/usr/bin/chromium")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1920, 1080),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser and binds it to ctx: no time limit here.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return ctx
}

// signInBrowser signs the browser in to hub m as a person, made with role
// and township when the name is new: it starts the person's session and
// gives the browser its cookies, as the login page does (TestLoginPage
// goes through the page itself).
func signInBrowser(t *testing.T, ctx context.Context, m *server.Main, name string, role hub.Role, township string) {
	t.Helper()
	bg := context.Background()
	if u, err := m.Auth.Store.User(bg, name); err != nil {
		t.Fatal(err)
	} else if u == nil {
		if _, err := m.Auth.CreateUser(bg, hub.User{Name: name, Role: role, Township: township}, "a password for "+name, "test"); err != nil {
			t.Fatal(err)
		}
	}
	p, id, err := m.Auth.StartSession(bg, name)
	if err != nil {
		t.Fatal(err)
	}
	setCookies(t, ctx, "http://"+m.HTTPAddr, map[string]string{auth.SessionCookie: id, auth.CSRFCookie: p.CSRF()})
}

// setCookies gives the browser cookies for the site at url.
func setCookies(t *testing.T, ctx context.Context, url string, cookies map[string]string) {
	t.Helper()
	tctx := withTimeout(t, ctx, 10*time.Second)
	for name, v := range cookies {
		if _, err := chromedp.Call(tctx, network.SetCookie, network.SetCookieParams{Name: name, Value: v, URL: url, Path: "/",
			HTTPOnly: new(name == auth.SessionCookie), SameSite: network.CookieSameSiteLax}); err != nil {
			t.Fatalf("cookie %s: %v", name, err)
		}
	}
}

// signInAdmin signs the browser in to hub m as an admin (signInBrowser).
func signInAdmin(t *testing.T, ctx context.Context, m *server.Main) {
	t.Helper()
	signInBrowser(t, ctx, m, "e2e-admin", hub.RoleAdmin, "")
}

// kioskPath issues a kiosk token of hub m for a wall screen named screen
// and answers the wall screen's path that signs in with it: "/#kiosk=…",
// without the kiosk mode of the path an admin is given
// (httpapi.KioskPath, /?kiosk=1#kiosk=…), so the language button stays
// in reach of the tests.
func kioskPath(t *testing.T, m *server.Main, screen string) string {
	t.Helper()
	return "/#kiosk=" + kioskToken(t, m, screen)
}

// kioskToken issues a kiosk token of hub m for a wall screen.
func kioskToken(t *testing.T, m *server.Main, screen string) string {
	t.Helper()
	secret, _, err := m.Auth.IssueToken(context.Background(), hub.TokenKiosk, screen, hub.RoleViewer, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// withTimeout limits the actions run with the returned context; the
// browser outlives it.
func withTimeout(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// waitPage polls the JavaScript condition in the page until it holds. The
// page keeps an event stream open, so there is no "network idle" to wait for.
func waitPage(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("%s: not within %v: %v\npage: %s", what, timeout, err, pageSummary(ctx))
	}
}

// evalPage evaluates the JavaScript expression in the page.
func evalPage[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func click(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		t.Fatalf("click %s: %v", css, err)
	}
}

// waitTile waits for the tile of site/room to show the temperature v in
// the state st.
func waitTile(t *testing.T, ctx context.Context, timeout time.Duration, site, room string, v float64, st string) {
	t.Helper()
	waitPage(t, ctx, timeout, fmt.Sprintf("tile %s/%s showing %v, %s", site, room, v, st), fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		if (!e || e.dataset.state !== %s) return false;
		const temp = e.querySelector(".temp");
		return Number(temp.dataset.c) === %v && temp.textContent.startsWith(%s);
	})()`, jsString(fmt.Sprintf(`.tile[data-site="%s"][data-room="%s"]`, site, room)), jsString(st), v, jsString(strconv.FormatFloat(v, 'f', 1, 64))))
}

// waitBacklog waits for the site list item of site to carry the backlog n,
// with its badge and the header's total shown when n > 0 and hidden when 0.
func waitBacklog(t *testing.T, ctx context.Context, timeout time.Duration, site string, n int) {
	t.Helper()
	waitPage(t, ctx, timeout, fmt.Sprintf("site %s showing a backlog of %d", site, n), fmt.Sprintf(`(() => {
		const shown = (e) => !!e && !e.hidden && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
		const li = document.querySelector(%s);
		const badge = li && li.querySelector(".backlog");
		const total = document.getElementById("backlog-stat");
		if (!li || !badge || !total || li.dataset.backlog !== %s) return false;
		if (%d === 0) return !shown(badge) && total.dataset.n === "0" && !shown(total);
		return shown(badge) && badge.textContent.trim() !== "" && shown(total) && Number(total.dataset.n) >= %d;
	})()`, jsString(fmt.Sprintf(`#site-list li.site[data-site="%s"]`, site)), jsString(strconv.Itoa(n)), n, n))
}

// pageSummary describes the page's state for a failure message.
func pageSummary(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`JSON.stringify({
		lang: document.documentElement.lang,
		conn: document.getElementById("conn").dataset.state,
		banner: document.getElementById("banner").hidden ? "hidden" : document.getElementById("banner").textContent.trim(),
		tiles: document.querySelectorAll(".tile").length,
		sites: document.querySelectorAll("#site-list li.site").length,
		tw03: (document.querySelector('.tile[data-site="tw03"][data-room="cr1"]') || {}).outerHTML,
		tw05: (document.querySelector('#site-list li.site[data-site="tw05"]') || {}).outerHTML,
		backlog: (document.getElementById("backlog-stat") || {}).outerHTML,
	})`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

var publishSeq atomic.Uint64

// publishReading publishes a contract v1 reading of the device <room>-th
// of edge <site>-e1, as an edge agent would, and waits for the broker's
// acknowledgement.
func publishReading(t *testing.T, c mqtt.Client, site, room string, ts time.Time, fields map[string]float64, faults map[string]string) {
	t.Helper()
	edge, device := site+"-e1", room+"-th"
	units := map[string]string{}
	for k := range fields {
		units[k] = map[string]string{"temperature": "Cel", "humidity": "%RH"}[k]
	}
	b, err := contract.Encode(contract.Telemetry{
		Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: ts.UTC(), Sent: time.Now().UTC()},
		Device: device, Room: room, Fields: fields, Units: units, Faults: faults,
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.TelemetryTopic(contract.DefaultPrefix, site, edge, device), false, b)
}

// publishParcel publishes a contract v1 parcel event of station s1.
func publishParcel(t *testing.T, c mqtt.Client, site, waybill, bin, exception string) {
	t.Helper()
	edge := site + "-e1"
	ev := contract.ParcelEvent{
		Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: time.Now().UTC()},
		Kind: contract.EventSorted, Station: "s1", Waybill: waybill, Bin: bin, Rule: "manifest", Exception: exception, PlanVersion: "1"}
	if exception == "" {
		ev.Route, ev.Carrier = "r03", "SF"
		w := 1.2
		ev.WeightKg = &w
	} else {
		ev.Rule = "none"
	}
	b, err := contract.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.EventTopic(contract.DefaultPrefix, site, edge, "s1"), false, b)
}

// publishStatus publishes the retained contract v1 status of an edge, as its
// agent does on every connection, with backlog messages in its queue.
func publishStatus(t *testing.T, c mqtt.Client, site, edge, st string, backlog int64) {
	t.Helper()
	now := time.Now().UTC()
	b, err := contract.Encode(contract.Status{
		Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: now, Sent: now},
		State: st, Agent: "edge-agent test", Backlog: backlog,
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.StatusTopic(contract.DefaultPrefix, site, edge), true, b)
}

// testBoot stands for an edge's boot counter: unique per test run, so
// message ids never repeat across runs against one store.
var testBoot = time.Now().UnixNano()

func publish(t *testing.T, c mqtt.Client, topic string, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("publish %s: no acknowledgement within 5 s", topic)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
