package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/sites"
	"github.com/countylink/countylink/hub/state"
)

// county is a hub fed as the demo county's devices feed it: the edges'
// status, the cold rooms' readings, the scanner stations' decisions and
// the village points' phones over MQTT, the handhelds and the
// coordinators over the API.
type county struct {
	hub   *server.Main
	base  string
	pub   mqtt.Client
	sites []state.SiteView
	rooms []state.RoomView
	dict  map[string]map[string]string
	ctx   context.Context // the browser's tab
}

func startCounty(t *testing.T) *county {
	t.Helper()
	broker := testenv.StartMosquitto(t)
	h := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	c := &county{hub: h, base: "http://" + h.HTTPAddr, pub: mqttClient(t, broker.URL(), "county-devices")}
	if err := getJSON(t, c.base+"/api/v1/sites", &c.sites); err != nil {
		t.Fatal(err)
	}
	if err := getJSON(t, c.base+"/api/v1/coldrooms", &c.rooms); err != nil {
		t.Fatal(err)
	}
	if err := getJSON(t, c.base+"/i18n.json", &c.dict); err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a request to the hub as the person user (when given; else with
// the test's API token) and decodes its JSON
// answer into out (when given).
func (c *county) do(t *testing.T, method, path, user string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		asPerson(t, c.hub, req, user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (c *county) kind(k hub.SiteKind) []state.SiteView {
	var out []state.SiteView
	for _, s := range c.sites {
		if s.Kind == k {
			out = append(out, s)
		}
	}
	return out
}

// publishVillage publishes an event of village point site's phone (edge
// "vp", station "h1"), as the demo's phones do.
func publishVillage(t *testing.T, c mqtt.Client, site string, ev contract.ParcelEvent) {
	t.Helper()
	const edge, station = "vp", "h1"
	now := time.Now().UTC()
	ev.Header = contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(site+"-vp", uint64(testBoot), publishSeq.Add(1)),
		Site: site, Edge: edge, TS: now, Sent: now}
	ev.Station = station
	b, err := contract.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.EventTopic(contract.DefaultPrefix, site, edge, station), false, b)
}

// dayOpts says what seedDay leaves out.
type dayOpts struct {
	noHistory bool // no readings before now: the sparklines start empty
}

// seedDay plays a county's day so far: every edge online (tw18 replaying
// a backlog), 24 hours of readings of every cold room (one over its limit
// for an hour this morning, one silent for two hours in the night), the
// townships' parcels received by handheld and sorted by the stations
// (the odd one to the exception bin), a run on the road in six
// townships and a few parcels picked up at their village points, and the
// village points of the first two rollout phases weighing farm products.
func (c *county) seedDay(t *testing.T, o dayOpts) {
	t.Helper()
	now := time.Now()
	for _, s := range c.sites {
		if s.Kind == hub.Village {
			continue
		}
		edge := s.ID + "-e1"
		agent := "edge-agent 1.4.2"
		if s.ID == "tw07" || s.ID == "tw15" {
			agent = "edge-agent 1.3.9"
		}
		st := contract.Status{Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: s.ID, Edge: edge, TS: now.UTC(), Sent: now.UTC()}, State: contract.StateOnline, Agent: agent}
		if s.ID == "tw18" {
			st.Backlog = 5230
		}
		if s.ID == "tw02" {
			st.SortPlan = "demo-tw02-16"
			st.Devices = []contract.DeviceStatus{{ID: "cr1-th", OK: true, LastOK: now.UTC()}, {ID: "s1-scale", OK: false, Error: "no answer"}}
		}
		b, err := contract.Encode(st)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, c.pub, contract.StatusTopic(contract.DefaultPrefix, s.ID, edge), true, b)
	}

	// The cold rooms: a reading every 5 minutes for 24 hours, as the log
	// keeps them, then now.
	temp := func(i int, r state.RoomView, at time.Time) float64 {
		h := float64(at.Unix()%86400) / 3600
		base, amp := 2.2, 0.7
		switch r.Class {
		case contract.ClassFrozen:
			base, amp = -20.5, 1.1
		case contract.ClassMedicine:
			base, amp = 5, 0.9
		}
		// A probe's noise, a tenth of a degree, so the readings never sit
		// on one value for hours (the hub takes that for a stuck probe).
		noise := 0.1 * float64((at.Unix()/300+int64(i)*3)%3-1)
		v := base + amp*math.Sin(2*math.Pi*h/24+float64(i)) + noise
		if r.Site == "tw03" && r.Room == "cr1" && now.Sub(at) >= 6*time.Hour && now.Sub(at) < 7*time.Hour {
			v = 6.4 + 0.3*math.Sin(h*7) // the door left open this morning
		}
		return round1(v)
	}
	if !o.noHistory {
		for q := 288; q >= 1; q-- {
			at := now.Add(-time.Duration(q) * 5 * time.Minute)
			for i, r := range c.rooms {
				if r.Site == "tw11" && now.Sub(at) >= 8*time.Hour && now.Sub(at) < 10*time.Hour {
					continue // the edge lost power in the night
				}
				publishReading(t, c.pub, r.Site, r.Room, at, map[string]float64{"temperature": temp(i, r, at), "humidity": 80}, nil)
			}
		}
	}
	for i, r := range c.rooms {
		at := now.Add(-time.Duration(2+(i*7)%30) * time.Second)
		publishReading(t, c.pub, r.Site, r.Room, at, map[string]float64{"temperature": temp(i, r, at), "humidity": float64(76 + (i*5)%14)}, nil)
	}

	// Parcels: received at the dock, sorted by route, some to the exception bin.
	plans := map[string]*contract.SortPlan{}
	for i, s := range c.kind(hub.Township) {
		var villages []hub.Site
		for _, v := range c.kind(hub.Village) {
			if v.Parent == s.ID {
				villages = append(villages, hub.Site{ID: v.ID, Name: v.Name, NameEN: v.NameEN, Kind: hub.Village, Parent: v.Parent, Phase: v.Phase})
			}
		}
		plan, err := sites.DemoPlan(s.ID, villages, []string{"s1"}, "b99")
		if err != nil {
			t.Fatal(err)
		}
		if code, body := c.do(t, http.MethodPut, "/api/v1/sites/"+s.ID+"/sortplan", "", plan, nil); code != http.StatusOK {
			t.Fatalf("sort plan of %s: %d %s", s.ID, code, body)
		}
		plans[s.ID] = plan
		n := 12 + (i*17)%40
		for j := range n {
			wb := fmt.Sprintf("SF%02d%011d", i+1, j)
			if j%5 != 4 {
				if code, body := c.do(t, http.MethodPost, "/api/v1/sites/"+s.ID+"/scans", "王芳", map[string]any{"kind": contract.EventReceived, "waybill": wb}, nil); code != http.StatusCreated {
					t.Fatalf("received %s: %d %s", wb, code, body)
				}
			}
			route := plan.Routes[j%len(plan.Routes)].ID
			kg := 0.4 + float64((j*7)%30)/10
			if j%13 == 6 {
				publishSorted(t, c.pub, s.ID, wb, "", "b99", contract.ExceptionUnknown, kg)
			} else {
				publishSorted(t, c.pub, s.ID, wb, route, plan.Stations["s1"][route], "", kg)
			}
		}
	}
	waitFor(t, 10*time.Second, "the parcels sorted", func() error {
		var b struct{ Routes []struct{ Waiting int } }
		if code, body := c.do(t, http.MethodGet, "/api/v1/board", "", nil, &b); code != http.StatusOK {
			return fmt.Errorf("board %d %s", code, body)
		}
		n := 0
		for _, r := range b.Routes {
			n += r.Waiting
		}
		if n < 500 {
			return fmt.Errorf("%d parcels waiting", n)
		}
		return nil
	})
	// A run on the road from six townships; a few parcels picked up.
	for i, id := range []string{"tw01", "tw02", "tw04", "tw06", "tw09", "tw13"} {
		var run hub.Run
		if code, body := c.do(t, http.MethodPost, "/api/v1/sites/"+id+"/runs", "李明", map[string]any{"route": "r01", "vehicle": fmt.Sprintf("赣C%05d", 12345+i), "driver": "李师傅"}, &run); code != http.StatusCreated {
			t.Fatalf("open a run at %s: %d %s", id, code, body)
		}
		var res struct{ Loaded []string }
		if code, body := c.do(t, http.MethodPost, "/api/v1/runs/"+run.ID+"/load", "李明", map[string]any{"bin": plans[id].Stations["s1"]["r01"]}, &res); code != http.StatusOK || len(res.Loaded) == 0 {
			t.Fatalf("load %s: %d %s", run.ID, code, body)
		}
		if code, body := c.do(t, http.MethodPost, "/api/v1/runs/"+run.ID+"/depart", "李明", nil, nil); code != http.StatusOK {
			t.Fatalf("depart %s: %d %s", run.ID, code, body)
		}
		if i < 3 {
			v := plans[id].Routes[0].Villages[0]
			for _, wb := range res.Loaded[:min(3, len(res.Loaded))] {
				publishVillage(t, c.pub, v, contract.ParcelEvent{Kind: contract.EventArrived, Waybill: wb, Run: run.ID, By: "张姐"})
				publishVillage(t, c.pub, v, contract.ParcelEvent{Kind: contract.EventPickedUp, Waybill: wb, By: "张姐"})
			}
		}
	}
	// The village points of phases 1 and 2 weigh farm products; phase 3
	// is not live yet.
	products := []string{"苹果", "小米", "核桃", "土鸡蛋", "香菇", "猕猴桃"}
	date := now.Format("20060102")
	for i, v := range c.kind(hub.Village) {
		if v.Phase >= 3 || (v.Phase == 2 && i%5 == 2) || i%17 == 3 {
			continue
		}
		kg := round1(8 + float64((i*37)%600)/10)
		publishVillage(t, c.pub, v.ID, contract.ParcelEvent{Kind: contract.EventLotWeighed, Waybill: fmt.Sprintf("LOT-%s-%s-1", strings.ToUpper(v.ID), date),
			WeightKg: &kg, Producer: "农户" + v.Name, Product: products[(i*7)%len(products)], Grade: "A", By: "张姐"})
	}
	waitFor(t, 10*time.Second, "the lots weighed", func() error {
		var p []hub.ProduceTotal
		if code, body := c.do(t, http.MethodGet, "/api/v1/produce", "", nil, &p); code != http.StatusOK {
			return fmt.Errorf("produce %d %s", code, body)
		}
		if len(p) < 150 {
			return fmt.Errorf("%d rows of produce", len(p))
		}
		return nil
	})
}

// wallFits checks that the wall screen fits the viewport (w x h): the page
// does not scroll, and every panel's content is whole inside it.
func wallFits(t *testing.T, c *county, what string) {
	t.Helper()
	got := evalPage[struct {
		W, H, SW, SH float64
		Out          []string
	}](t, c.browser(t), `(() => {
		const s = document.scrollingElement, out = [];
		const inside = (e, box) => {
			const r = e.getBoundingClientRect(), b = box.getBoundingClientRect();
			return r.left >= b.left - 0.5 && r.top >= b.top - 0.5 && r.right <= b.right + 0.5 && r.bottom <= b.bottom + 0.5;
		};
		const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
		const screen = { getBoundingClientRect: () => ({ left: 0, top: 0, right: innerWidth, bottom: innerHeight }) };
		for (const e of document.querySelectorAll(".tile, #site-list > li, #alarm-panel, #kpi .k, #lower section, .phase, .prod, .bar")) {
			if (!shown(e)) continue;
			const box = e.closest("#sites") || e.closest("#tiles") || screen;
			if (!inside(e, box === e ? screen : box) || !inside(e, screen)) out.push((e.id || e.className) + " " + (e.dataset.site || "") + " at " + [...Object.values(e.getBoundingClientRect().toJSON())].map(Math.round));
		}
		return { W: innerWidth, H: innerHeight, SW: s.scrollWidth, SH: s.scrollHeight, Out: out };
	})()`)
	if got.SW > got.W || got.SH > got.H {
		t.Errorf("%s: the wall screen scrolls, content %vx%v in %vx%v", what, got.SW, got.SH, got.W, got.H)
	}
	if len(got.Out) > 0 {
		t.Errorf("%s: %d boxes not whole on the screen or in their panel:\n  %s", what, len(got.Out), strings.Join(got.Out, "\n  "))
	}
	layout := evalPage[struct{ Cut, Spill []string }](t, c.browser(t), layoutCheck)
	if len(layout.Spill) > 0 {
		t.Errorf("%s: text out of place:\n  %s", what, strings.Join(layout.Spill, "\n  "))
	}
	if len(layout.Cut) > 0 {
		t.Logf("%s: %d texts cut short:\n  %s", what, len(layout.Cut), strings.Join(layout.Cut, "\n  "))
	}
}

// browser is the county's browser tab, started on first use, signed in
// as a county coordinator (the wall screen and the sites page).
func (c *county) browser(t *testing.T) context.Context {
	t.Helper()
	if c.ctx == nil {
		c.ctx = startBrowser(t)
		signInBrowser(t, c.ctx, c.hub, "county-coordinator", hub.RoleCounty, "")
	}
	return c.ctx
}

// TestWallInBrowser: the wall screen of a county's working day, in
// headless Chromium on a 1920x1080 TV and on a 3840x2160 one: every
// township with today's parcels as the hub counts them, its dispatch
// board and its village points; the cold rooms' sparklines; the county's
// totals and the produce weighed; nothing scrolls; a parcel sorted and a
// reading published over MQTT show up by themselves; the kiosk mode and
// the rotating views; Chinese and English.
func TestWallInBrowser(t *testing.T) {
	skipShort(t)
	c := startCounty(t)
	c.seedDay(t, dayOpts{})
	ctx := c.browser(t)
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.EmulateViewport(1920, 1080), chromedp.Navigate(c.base+"/")); err != nil {
		t.Fatal(err)
	}
	townships := c.kind(hub.Township)
	waitPage(t, ctx, 10*time.Second, "the stream live, every room and township, the figures and the board in", fmt.Sprintf(`
		document.getElementById("conn").dataset.state === "live" &&
		document.querySelectorAll(".tile[data-state]").length === %d &&
		document.querySelectorAll('#site-list li.site[data-kind="township"]').length === %d &&
		document.querySelector('#site-list li.site[data-kind="township"]').dataset.sorted !== "" &&
		document.querySelector('#site-list li.site[data-kind="township"]').dataset.waiting !== "" &&
		document.querySelectorAll(".vdot[data-site]").length === %d`, len(c.rooms), len(townships), len(c.kind(hub.Village))))

	// Every township's row shows today's figures and board as the API has them.
	var figs []hub.DayFigures
	if code, body := c.do(t, http.MethodGet, "/api/v1/figures", "", nil, &figs); code != http.StatusOK {
		t.Fatalf("figures: %d %s", code, body)
	}
	var board hub.Board
	if code, body := c.do(t, http.MethodGet, "/api/v1/board", "", nil, &board); code != http.StatusOK {
		t.Fatalf("board: %d %s", code, body)
	}
	type row struct {
		Received, Sorted, Dispatched, Delivered, Exceptions, Waiting, Road int
		Villages                                                           string
	}
	want := map[string]row{}
	var total row
	for _, f := range figs {
		r := want[f.Township]
		r.Received, r.Sorted, r.Dispatched, r.Delivered, r.Exceptions = f.Received, f.Sorted, f.Dispatched, f.Delivered, f.Exceptions
		want[f.Township] = r
		total.Received += f.Received
		total.Sorted += f.Sorted
		total.Dispatched += f.Dispatched
		total.Delivered += f.Delivered
		total.Exceptions += f.Exceptions
	}
	for _, b := range board.Routes {
		r := want[b.Site]
		r.Waiting += b.Waiting
		for _, run := range b.Runs {
			if run.State == hub.RunDeparted {
				r.Road++
			}
		}
		want[b.Site] = r
	}
	time.Sleep(200 * time.Millisecond)
	got := evalPage[map[string]row](t, ctx, `Object.fromEntries([...document.querySelectorAll('#site-list li.site[data-kind="township"]')].map((li) => {
		const n = (k) => Number(li.dataset[k]);
		return [li.dataset.site, { Received: n("received"), Sorted: n("sorted"), Dispatched: n("dispatched"), Delivered: n("delivered"),
			Exceptions: n("exceptions"), Waiting: n("waiting"), Road: n("road"), Villages: li.dataset.villages }];
	}))`)
	for _, s := range townships {
		w, g := want[s.ID], got[s.ID]
		g.Villages = ""
		if w != g {
			t.Errorf("%s on the wall %+v, the hub's %+v", s.ID, g, w)
		}
		if w.Sorted == 0 || w.Waiting == 0 {
			t.Errorf("%s has no parcel sorted or waiting: the seed went wrong (%+v)", s.ID, w)
		}
	}
	if got["tw01"].Dispatched == 0 || got["tw01"].Delivered == 0 || got["tw01"].Road != 1 {
		t.Errorf("tw01 shows %+v: want parcels dispatched and delivered, a run on the road", got["tw01"])
	}
	// The cells show the numbers, and the county's totals the sums.
	cells := evalPage[[]string](t, ctx, `[...document.querySelectorAll('#site-list li.site[data-site="tw02"] .num')].map((e) => e.textContent)`)
	t.Logf("tw02's row: %q", cells)
	if len(cells) < 9 || cells[1] != fmt.Sprint(want["tw02"].Sorted) {
		t.Errorf("tw02's cells %q, want its sorted count %d second", cells, want["tw02"].Sorted)
	}
	kpi := evalPage[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#kpi .k")].map((e) => [e.dataset.k, e.dataset.n]))`)
	for k, v := range map[string]int{"received": total.Received, "sorted": total.Sorted, "dispatched": total.Dispatched, "delivered": total.Delivered, "exceptions": total.Exceptions, "road": 6} {
		if kpi[k] != fmt.Sprint(v) {
			t.Errorf("the county's %s: %s on the wall, want %d", k, kpi[k], v)
		}
	}

	// Village points: a dot each, online by phase; phase 3 not live yet.
	phases := evalPage[map[string][2]int](t, ctx, `Object.fromEntries([...document.querySelectorAll("#phase-list li.phase")].map((e) => [e.dataset.phase, [Number(e.dataset.online), Number(e.dataset.n)]]))`)
	wantPh := map[string][2]int{}
	for _, v := range c.kind(hub.Village) {
		p := wantPh[fmt.Sprint(v.Phase)]
		p[1]++
		wantPh[fmt.Sprint(v.Phase)] = p
	}
	for k, p := range wantPh {
		if phases[k][1] != p[1] {
			t.Errorf("phase %s: %d village points on the wall, %d in the county", k, phases[k][1], p[1])
		}
	}
	if phases["1"][0] < 80 || phases["3"][0] != 0 || phases["2"][0] == 0 {
		t.Errorf("village points online by phase %v: want most of phase 1, some of phase 2, none of phase 3", phases)
	}
	t.Logf("village points online by phase (online, all): %v", phases)

	// The produce weighed today, most first.
	var produce []hub.ProduceTotal
	c.do(t, http.MethodGet, "/api/v1/produce", "", nil, &produce)
	kg := map[string]float64{}
	for _, p := range produce {
		kg[p.Product] += p.Kg
	}
	top := ""
	for p, v := range kg {
		if top == "" || v > kg[top] {
			top = p
		}
	}
	if got := evalPage[string](t, ctx, `document.querySelector("#produce-list li.prod").dataset.product`); got != top {
		t.Errorf("top product on the wall %q, the hub's %q (%v)", got, top, kg)
	}

	// Sparklines: 24 hours of quarter hours, tw03/cr1's excursion in red.
	spark := evalPage[map[string]any](t, ctx, `(() => {
		const s = document.querySelector('.tile[data-site="tw03"][data-room="cr1"] .spark');
		return { n: Number(s.dataset.n), line: s.querySelector(".s-line").getAttribute("d"), out: s.querySelector(".s-out").getAttribute("d"),
			lim: s.querySelector(".s-lim").getAttribute("d"), h: s.getBoundingClientRect().height,
			gap: document.querySelector('.tile[data-site="tw11"][data-room="cr1"] .spark .s-line').getAttribute("d").split("M").length - 1 };
	})()`)
	t.Logf("tw03/cr1's sparkline: %v", spark)
	if spark["n"].(float64) < 90 || spark["out"] == "" || strings.Count(spark["lim"].(string), "M") != 2 || spark["h"].(float64) < 15 {
		t.Errorf("tw03/cr1's sparkline %v: want about 96 quarter hours, the excursion drawn over, two limit lines, visible", spark)
	}
	if spark["gap"].(float64) < 2 {
		t.Errorf("tw11/cr1's sparkline has %v runs: want a break at the night's gap", spark["gap"])
	}

	wallFits(t, c, "1920x1080")

	// Live: a parcel sorted at tw05, a reading at tw08.
	before := got["tw05"]
	sent := time.Now()
	publishSorted(t, c.pub, "tw05", "SF0500000099999", "", "b99", contract.ExceptionUnknown, 1)
	waitPage(t, ctx, 10*time.Second, "tw05's exceptions up by one", fmt.Sprintf(`document.querySelector('#site-list li.site[data-site="tw05"]').dataset.exceptions === "%d"`, before.Exceptions+1))
	t.Logf("a parcel sorted at tw05 on the wall %v after its publish", time.Since(sent).Round(time.Millisecond))
	sent = time.Now()
	publishReading(t, c.pub, "tw08", "cr1", sent, map[string]float64{"temperature": 3.3, "humidity": 80}, nil)
	waitTile(t, ctx, 2*time.Second, "tw08", "cr1", 3.3, state.RoomOK)
	t.Logf("a reading on its tile %v after its publish", time.Since(sent).Round(time.Millisecond))

	// A while of updates does not grow the page: readings of every room,
	// parcels, a resync of the lists.
	nodes := evalPage[int](t, ctx, `document.getElementsByTagName("*").length`)
	for k := range 5 {
		for i, r := range c.rooms {
			publishReading(t, c.pub, r.Site, r.Room, time.Now(), map[string]float64{"temperature": round1(2 + float64((i+k)%10)/10), "humidity": 80}, nil)
		}
		publishSorted(t, c.pub, "tw06", fmt.Sprintf("SF06%011d", 90000+k), "", "b99", contract.ExceptionUnknown, 1)
	}
	waitPage(t, ctx, 15*time.Second, "the updates on screen", fmt.Sprintf(`document.querySelector('#site-list li.site[data-site="tw06"]').dataset.exceptions === "%d" &&
		document.querySelector('.tile[data-site="tw19"][data-room="cr1"] .temp').dataset.c === "%v"`, got["tw06"].Exceptions+5, round1(2+float64((len(c.rooms)-1+4)%10)/10)))
	if after := evalPage[int](t, ctx, `document.getElementsByTagName("*").length`); after != nodes {
		t.Errorf("the page had %d elements, %d after %d readings and 5 parcels", nodes, after, 5*len(c.rooms))
	}

	// The 4K TV: the same, twice the size.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.EmulateViewport(3840, 2160)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 5*time.Second, "laid out for 3840x2160", `innerWidth === 3840 && parseFloat(getComputedStyle(document.documentElement).fontSize) > 30`)
	time.Sleep(300 * time.Millisecond) // the tiles' layout follows a ResizeObserver
	wallFits(t, c, "3840x2160")
	rowH := evalPage[float64](t, ctx, `document.querySelector('#site-list li.site[data-site="tw01"]').getBoundingClientRect().height`)
	if rowH < 50 {
		t.Errorf("a township's row is %v px high on the 4K screen: the type does not scale", rowH)
	}

	// English: the texts and the numbers' format.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "#lang")
	waitPage(t, ctx, 5*time.Second, "English", fmt.Sprintf(`document.documentElement.lang === "en-GB" && document.querySelector("#kpi-title span").textContent === %s &&
		document.querySelector('.site-head [data-i18n="wc_dispatched"]').textContent === %s &&
		document.querySelector('#site-list li.site[data-kind="county"] .s-name').textContent === %s`,
		jsString(c.dict["en"]["kpi_title"]), jsString(c.dict["en"]["wc_dispatched"]), jsString(c.dict["en"]["county_row"])))
	time.Sleep(300 * time.Millisecond)
	wallFits(t, c, "1920x1080 in English")
	click(t, ctx, "#lang")
	waitPage(t, ctx, 5*time.Second, "Chinese", `document.documentElement.lang === "zh-CN"`)
}

// TestWallKioskAndRotation: /?kiosk=1 shows nothing to click but keeps
// the language switch reachable from the keyboard; /?rotate=5s shows the
// cold chain and the logistics in turn, each fitting the screen.
func TestWallKioskAndRotation(t *testing.T) {
	skipShort(t)
	c := startCounty(t)
	c.seedDay(t, dayOpts{noHistory: true})
	ctx := c.browser(t)
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.EmulateViewport(1920, 1080), chromedp.Navigate(c.base+"/?kiosk=1&rotate=5s")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 10*time.Second, "live, in kiosk mode, the cold chain first", fmt.Sprintf(`document.getElementById("conn").dataset.state === "live" &&
		document.body.classList.contains("kiosk") && document.body.dataset.view === "cold" &&
		document.querySelectorAll(".tile[data-state]").length === %d && document.querySelectorAll("#site-list li.site").length === 20`, len(c.rooms)))
	if n := evalPage[int](t, ctx, `[...document.querySelectorAll("a, button, input, select, textarea")].filter((e) => {
			const r = e.getBoundingClientRect(); return r.width > 2 && r.height > 2 && getComputedStyle(e).visibility !== "hidden"; }).length`); n != 0 {
		t.Errorf("%d things to click in kiosk mode", n)
	}
	time.Sleep(300 * time.Millisecond)
	wallFits(t, c, "kiosk, cold-chain view")
	// The language switch from the keyboard: Tab reaches it, Enter switches.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 2*time.Second, "the language switch focused by Tab and shown", `document.activeElement === document.getElementById("lang") &&
		document.getElementById("lang").getBoundingClientRect().width > 20`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 5*time.Second, "English from the keyboard", `document.documentElement.lang === "en-GB"`)
	evalPage[bool](t, ctx, `(document.activeElement.blur(), true)`)

	waitPage(t, ctx, 8*time.Second, "the logistics view after 5 s", `document.body.dataset.view === "logistics"`)
	time.Sleep(300 * time.Millisecond)
	wallFits(t, c, "logistics view")
	fs := evalPage[[]float64](t, ctx, `[parseFloat(getComputedStyle(document.getElementById("sites")).fontSize), parseFloat(getComputedStyle(document.documentElement).fontSize)]`)
	if fs[0] < 1.2*fs[1] {
		t.Errorf("the logistics view's type is %v px beside the page's %v px: want it larger", fs[0], fs[1])
	}
	waitPage(t, ctx, 8*time.Second, "back to the cold chain", `document.body.dataset.view === "cold"`)

	// Sparklines from live readings alone.
	for _, v := range []float64{2.1, 2.4} {
		publishReading(t, c.pub, "tw19", "cr1", time.Now(), map[string]float64{"temperature": v, "humidity": 80}, nil)
	}
	waitPage(t, ctx, 3*time.Second, "tw19/cr1's sparkline with a point", `(() => {
		const s = document.querySelector('.tile[data-site="tw19"][data-room="cr1"] .spark');
		return Number(s.dataset.n) >= 1 && s.querySelector(".s-line").getAttribute("d").startsWith("M");
	})()`)
}

// TestSitesPageInBrowser: the sites page lists the county centre and the
// 19 townships with their edges' state, agent versions and backlog, and
// the 303 village points by township and rollout phase; filtered to one
// township from the form, the URL keeps it; English.
func TestSitesPageInBrowser(t *testing.T) {
	skipShort(t)
	c := startCounty(t)
	c.seedDay(t, dayOpts{noHistory: true})
	ctx := c.browser(t)
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.EmulateViewport(1600, 1000), chromedp.Navigate(c.base+"/sites.html")); err != nil {
		t.Fatal(err)
	}
	townships, villages := c.kind(hub.Township), c.kind(hub.Village)
	waitLg(t, ctx, 10*time.Second, "every site and village point", fmt.Sprintf(`document.getElementById("edges-panel").dataset.n === "%d" &&
		document.querySelectorAll("#village-groups li.vp").length === %d`, len(townships)+1, len(villages)))
	got := evalPage[struct {
		Sites      []string
		Agents     map[string]string
		Backlog    map[string]string
		Online     int
		Groups     int
		Phases     map[string][2]int
		Villages   map[string]string
		Township   []string
		NoteShown  bool
		ProbeTw01  int
		DevTw02    []string
		SummaryVil string
	}](t, ctx, `(() => {
		const all = (s) => [...document.querySelectorAll(s)];
		const rows = all("#site-rows tr.site-row");
		return {
			Sites: [...new Set(rows.map((r) => r.dataset.site))],
			Agents: Object.fromEntries(rows.map((r) => [r.dataset.site, r.querySelector(".s-agent").textContent])),
			Backlog: Object.fromEntries(rows.map((r) => [r.dataset.site, r.querySelector(".s-backlog").textContent])),
			Online: rows.filter((r) => r.querySelector(".badge").dataset.state === "online").length,
			Groups: all("#village-groups section.vgroup").length,
			Phases: Object.fromEntries(all("#phase-sum li.ph").map((e) => [e.dataset.phase, [Number(e.dataset.online), Number(e.dataset.n)]])),
			Villages: Object.fromEntries(rows.filter((r) => r.dataset.villages).map((r) => [r.dataset.site, r.dataset.villages])),
			Township: all("#s-township option").map((o) => o.value),
			NoteShown: document.querySelector(".note").offsetParent !== null,
			ProbeTw01: document.querySelectorAll('#site-rows tr[data-site="tw01"] .probes li').length,
			DevTw02: all('#site-rows tr[data-site="tw02"] .devices li').map((e) => e.dataset.device + ":" + e.dataset.ok),
			SummaryVil: document.getElementById("sum-villages").textContent,
		};
	})()`)
	t.Logf("sites page: %d sites, %d online, villages %v, phases %v, summary %s", len(got.Sites), got.Online, got.Villages, got.Phases, got.SummaryVil)
	if len(got.Sites) != len(townships)+1 || got.Sites[0] != "county" || got.Online != len(townships)+1 {
		t.Errorf("sites %v (%d online): want the county first and %d townships, all online", got.Sites, got.Online, len(townships))
	}
	if got.Agents["tw07"] != "edge-agent 1.3.9" || got.Agents["tw01"] != "edge-agent 1.4.2" {
		t.Errorf("agent versions %v", got.Agents)
	}
	if got.Backlog["tw18"] != "5,230" || got.Backlog["tw01"] != "0" {
		t.Errorf("backlog %v: want tw18's 5,230", got.Backlog)
	}
	if got.Groups != len(townships) || len(got.Township) != len(townships)+1 {
		t.Errorf("%d village groups, %d township options: want %d", got.Groups, len(got.Township), len(townships))
	}
	wantPh := map[string]int{}
	for _, v := range villages {
		wantPh[fmt.Sprint(v.Phase)]++
	}
	for k, n := range wantPh {
		if got.Phases[k][1] != n {
			t.Errorf("phase %s: %d village points listed, %d in the county", k, got.Phases[k][1], n)
		}
	}
	if got.Phases["3"][0] != 0 || got.Phases["1"][0] == 0 {
		t.Errorf("village points online by phase %v: want phase 1's, none of phase 3", got.Phases)
	}
	if got.ProbeTw01 != 2 || !got.NoteShown {
		t.Errorf("tw01 lists %d probes (want its 2 rooms'), the note on devices shown %v", got.ProbeTw01, got.NoteShown)
	}
	if strings.Join(got.DevTw02, ",") != "cr1-th:true,s1-scale:false" {
		t.Errorf("tw02's devices %v, want its status's cr1-th ok and s1-scale faulty", got.DevTw02)
	}
	checkLabels(t, ctx)

	// One township, chosen with the keyboard.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.Focus(chromedp.CSS("#s-township")), chromedp.KeyEvent(kb.ArrowDown)); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 5*time.Second, "tw01 alone", `location.search === "?township=tw01" && document.querySelectorAll("#site-rows tr.site-row").length === 1 &&
		document.querySelectorAll("#village-groups section.vgroup").length === 1 && document.querySelectorAll('#village-groups li.vp').length === 20 &&
		[...document.querySelectorAll("#phase-sum li.ph")].map((e) => e.dataset.phase + ":" + e.dataset.n).join(",") === "1:9,2:7,3:4"`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 10*time.Second, "tw01 alone after a reload", `document.getElementById("s-township").value === "tw01" && document.querySelectorAll("#village-groups li.vp").length === 20`)

	click(t, ctx, "#lang")
	waitLg(t, ctx, 5*time.Second, "English", fmt.Sprintf(`document.documentElement.lang === "en-GB" && document.querySelector("h1").textContent === %s &&
		document.querySelector('#phase-sum li.ph[data-phase="1"] .ph-label').textContent === %s && document.querySelector('#site-rows .badge').textContent === %s`,
		jsString(c.dict["en"]["sites_title"]), jsString(strings.Replace(c.dict["en"]["phase_n"], "{n}", "1", 1)), jsString(c.dict["en"]["site_online"])))
}

// TestPageScreenshots writes pictures of two coordinators' pages on a
// 1600x1000 screen, when SCREENSHOTS_DIR is set (make screenshots): the
// dispatch board of a township with a run on the road (dispatch.png) and
// a cold room's day with its morning excursion, the cursor on it
// (history.png); and of the wall screen in a working day's afternoon,
// the county's parcels, dispatch, village points and produce beside the
// cold rooms (wall-day.png).
func TestPageScreenshots(t *testing.T) {
	dir := os.Getenv("SCREENSHOTS_DIR")
	if dir == "" {
		t.Skip("set SCREENSHOTS_DIR to write screenshots; make screenshots does")
	}
	if !filepath.IsAbs(dir) { // go test runs in the package directory
		dir = filepath.Join(testenv.RepoRoot(t), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCounty(t)
	c.seedDay(t, dayOpts{})
	ctx := c.browser(t)
	shoot := func(name string) {
		t.Helper()
		tctx := withTimeout(t, ctx, 15*time.Second)
		if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("fonts: %v", err)
		}
		b, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		b = smallerPNG(t, b)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(b))
	}
	nav := func(w, h int64, path string) {
		t.Helper()
		if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.EmulateViewport(w, h), chromedp.Navigate(c.base+path)); err != nil {
			t.Fatal(err)
		}
	}

	nav(1920, 1080, "/")
	waitPage(t, ctx, 10*time.Second, "the wall screen with its day", fmt.Sprintf(`document.getElementById("conn").dataset.state === "live" &&
		[...document.querySelectorAll(".tile .spark")].filter((s) => Number(s.dataset.n) > 80).length === %d &&
		document.querySelector('#site-list li.site[data-site="tw01"]').dataset.road === "1" && document.getElementById("produce").dataset.n !== "0"`, len(c.rooms)))
	time.Sleep(500 * time.Millisecond)
	wallFits(t, c, "wall-day.png")
	shoot("wall-day.png")

	nav(1600, 1000, "/dispatch.html?township=tw01")
	waitLg(t, ctx, 10*time.Second, "tw01's board", `document.querySelectorAll("#routes > li").length > 0 && document.getElementById("sum-road").textContent === "1"`)
	shoot("dispatch.png")

	nav(1600, 1000, "/history.html?site=tw03&room=cr1")
	waitLg(t, ctx, 10*time.Second, "tw03/cr1's day", `document.body.dataset.state === "loaded" && document.querySelectorAll("#h-svg .h-exc").length > 0`)
	pos := evalPage[[]float64](t, ctx, `(() => { const r = document.querySelector("#h-svg .h-exc").getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 3]; })()`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pos[0], pos[1])); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 3*time.Second, "the readout", `document.getElementById("readout").textContent !== ""`)
	shoot("history.png")
}

// smallerPNG re-encodes a screenshot for the repository: in the 256
// colours it uses most (a dashboard's flat panels and anti-aliased text
// need no more; each other colour takes the nearest of them) and with the
// best compression, a third of Chromium's PNG. The original when that is
// not smaller.
func smallerPNG(t *testing.T, b []byte) []byte {
	t.Helper()
	src, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	bounds := src.Bounds()
	img := image.NewRGBA(bounds)
	draw.Draw(img, bounds, src, bounds.Min, draw.Src)
	// Colours by 5 bits a channel: how often, and their mean.
	type bucket struct{ n, r, g, b int }
	buckets := map[uint16]*bucket{}
	key := func(i int) uint16 {
		return uint16(img.Pix[i]>>3)<<10 | uint16(img.Pix[i+1]>>3)<<5 | uint16(img.Pix[i+2]>>3)
	}
	for i := 0; i < len(img.Pix); i += 4 {
		k := key(i)
		bk := buckets[k]
		if bk == nil {
			bk = &bucket{}
			buckets[k] = bk
		}
		bk.n++
		bk.r += int(img.Pix[i])
		bk.g += int(img.Pix[i+1])
		bk.b += int(img.Pix[i+2])
	}
	keys := make([]uint16, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b uint16) int { return cmp.Or(buckets[b].n-buckets[a].n, int(a)-int(b)) })
	var pal color.Palette
	for _, k := range keys[:min(256, len(keys))] {
		bk := buckets[k]
		pal = append(pal, color.RGBA{uint8(bk.r / bk.n), uint8(bk.g / bk.n), uint8(bk.b / bk.n), 255})
	}
	out := image.NewPaletted(bounds, pal)
	index := map[uint16]uint8{}
	for i, j := 0, 0; i < len(img.Pix); i, j = i+4, j+1 {
		k := key(i)
		x, ok := index[k]
		if !ok {
			bk := buckets[k]
			x = uint8(pal.Index(color.RGBA{uint8(bk.r / bk.n), uint8(bk.g / bk.n), uint8(bk.b / bk.n), 255}))
			index[k] = x
		}
		out.Pix[j] = x
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < len(b) {
		return buf.Bytes()
	}
	return b
}
