package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/sites"
)

// The coordinators' logistics pages (parcels.html, dispatch.html,
// figures.html) in headless Chromium, against a real hub fed as the
// township's devices feed it: a courier's manifest, parcels received with
// a handheld (POST /sites/tw01/scans) and sorted by scanner station s1
// over MQTT.

const (
	lgTownship = "tw01"
	lgStation  = "s1"
	lgUser     = "王芳" // who acts: the township coordinator signed in
	lgVehicle  = "赣C12345"
	lgDriver   = "李师傅"
	lgUnknown  = "SF1111111111111" // in no manifest and no scan
	lgExcept   = "SF1234567899999" // unannounced, sorted to the exception bin
)

// lgParcels are announced for villages of route r01 of tw01 and sorted
// into its bin b01, in this order, with these weights.
var (
	lgParcels = []string{"SF1234567890123", "SF1234567890124", "SF1234567890125"}
	lgWeights = []float64{1.2, 2.5, 0.8}
)

// logistics is a hub with tw01's sort plan, the manifest of lgParcels, and
// lgParcels received and sorted into r01's bin; lgExcept sorted to the
// exception bin.
type logistics struct {
	hub  *server.Main
	base string
	pub  mqtt.Client
	plan *contract.SortPlan
	dict map[string]map[string]string
}

func startLogistics(t *testing.T) *logistics {
	t.Helper()
	broker := testenv.StartMosquitto(t)
	h := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	lg := &logistics{hub: h, base: "http://" + h.HTTPAddr, pub: mqttClient(t, broker.URL(), "logistics-"+lgTownship+"-e1")}

	// The demo plan over tw01's village points: route rNN into bin bNN at
	// both stations, b99 for the parcels without a route.
	var villages []hub.Site
	for _, s := range sites.Demo() {
		if s.Kind == hub.Village && s.Parent == lgTownship {
			villages = append(villages, s)
		}
	}
	plan, err := sites.DemoPlan(lgTownship, villages, []string{"s1", "s2"}, "b99")
	if err != nil {
		t.Fatal(err)
	}
	lg.plan = plan
	b, _ := json.Marshal(plan)
	if code, body := lg.do(t, http.MethodPut, "/api/v1/sites/"+lgTownship+"/sortplan", "", b, nil); code != http.StatusOK {
		t.Fatalf("put the sort plan: %d %s", code, body)
	}

	// The courier's manifest: the parcels go to r01's villages.
	r01 := plan.Routes[0]
	csv := "运单号,快递公司,目的村,三段码,重量(kg)\n"
	for i, wb := range lgParcels {
		csv += fmt.Sprintf("%s,顺丰,%s,,%v\n", wb, r01.Villages[i%len(r01.Villages)], lgWeights[i])
	}
	resp, err := http.Post(lg.base+"/api/v1/manifests?site="+lgTownship+"&format=csv", "text/csv", strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import the manifest: %s %s", resp.Status, mb)
	}

	// Received with a handheld, then sorted by the station.
	for i, wb := range lgParcels {
		body, _ := json.Marshal(map[string]any{"kind": contract.EventReceived, "waybill": wb})
		if code, rb := lg.do(t, http.MethodPost, "/api/v1/sites/"+lgTownship+"/scans", lgUser, body, nil); code != http.StatusCreated {
			t.Fatalf("scan %s received: %d %s", wb, code, rb)
		}
		publishSorted(t, lg.pub, lgTownship, wb, r01.ID, plan.Stations[lgStation][r01.ID], "", lgWeights[i])
	}
	publishSorted(t, lg.pub, lgTownship, lgExcept, "", plan.ExceptionBin[lgStation], contract.ExceptionUnknown, 0.6)
	for _, wb := range append(slices.Clone(lgParcels), lgExcept) {
		want := hub.StateSorted
		if wb == lgExcept {
			want = hub.StateException
		}
		waitFor(t, 5*time.Second, wb+" "+want, func() error {
			var v struct{ State string }
			if err := getJSON(t, lg.base+"/api/v1/items/"+wb, &v); err != nil {
				return err
			}
			if v.State != want {
				return fmt.Errorf("state %q", v.State)
			}
			return nil
		})
	}
	if err := getJSON(t, lg.base+"/i18n.json", &lg.dict); err != nil {
		t.Fatal(err)
	}
	return lg
}

// do sends a request to the hub, as the person user when given (else with
// the test's API token), and decodes its JSON answer into out when given.
func (lg *logistics) do(t *testing.T, method, path, user string, body []byte, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, lg.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		asPerson(t, lg.hub, req, user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// publishSorted publishes station s1's decision on a parcel: into bin of
// route, or to the exception bin with exception.
func publishSorted(t *testing.T, c mqtt.Client, site, waybill, route, bin, exception string, kg float64) {
	t.Helper()
	edge := site + "-e1"
	ev := contract.ParcelEvent{
		Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: time.Now().UTC()},
		Kind: contract.EventSorted, Station: lgStation, Waybill: waybill, Route: route, Bin: bin, Rule: "manifest",
		Exception: exception, PlanVersion: "1", WeightKg: &kg}
	if exception != "" {
		ev.Rule = "none"
	} else {
		ev.Carrier = "SF"
	}
	b, err := contract.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.EventTopic(contract.DefaultPrefix, site, edge, lgStation), false, b)
}

// waitLg is waitPage for the logistics pages: when the condition does not
// come, it says what the page shows rather than the wall screen's state.
func waitLg(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err == nil {
		return
	}
	sctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	shows, e := chromedp.Run(sctx, chromedp.Evaluate[string](`location.href + " (focus: " + (document.activeElement?.outerHTML ?? "").slice(0, 200) + ")\n" +
		document.body.innerText.replace(/\n\s*\n/g, "\n").slice(0, 4000)`))
	if e != nil {
		shows = "(unreadable: " + e.Error() + ")"
	}
	t.Fatalf("%s: not within %v: %v\npage: %s", what, timeout, err, shows)
}

// open loads path in the browser's tab.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
}

// checkLabels checks that every form control in the page has a label with
// a text, or an aria-label.
func checkLabels(t *testing.T, ctx context.Context) {
	t.Helper()
	if bad := evalPage[[]string](t, ctx, `[...document.querySelectorAll("input, select, textarea")].filter((i) =>
			!(i.labels && i.labels.length && i.labels[0].textContent.trim()) && !i.getAttribute("aria-label")).map((i) => i.outerHTML)`); len(bad) > 0 {
		t.Errorf("form controls without a label: %v", bad)
	}
}

// switchToEnglish clicks the language switch and waits for the page's
// title, and what check names, in English.
func (lg *logistics) switchToEnglish(t *testing.T, ctx context.Context, titleKey, check string) {
	t.Helper()
	if got := evalPage[string](t, ctx, `document.querySelector("h1").textContent`); got != lg.dict["zh"][titleKey] {
		t.Errorf("title %q before the switch, want %q", got, lg.dict["zh"][titleKey])
	}
	click(t, ctx, "#lang")
	waitLg(t, ctx, 5*time.Second, "the page in English", fmt.Sprintf(`document.documentElement.lang === "en-GB" &&
		document.querySelector("h1").textContent === %s && document.title === %s &&
		document.querySelector('nav.pages a[href="dispatch.html"]').textContent === %s && (%s)`,
		jsString(lg.dict["en"][titleKey]), jsString(lg.dict["en"][titleKey]), jsString(lg.dict["en"]["nav_dispatch"]), check))
	// No Chinese left in the page's own texts but the sites' names, the
	// language switch and what the hub holds (drivers, vehicles, names).
	if left := evalPage[[]string](t, ctx, `[...document.querySelectorAll("[data-i18n], h1, h2, h3, h4, label, th, button, legend, .ev-kind, .chip, .flag-why, .badge")]
			.filter((e) => !e.closest("#lang") && e.offsetParent !== null && /[\u4e00-\u9fff]/.test(e.textContent)).map((e) => e.textContent.trim()).slice(0, 12)`); len(left) > 0 {
		t.Logf("texts still Chinese in English (names of places and people may be): %q", left)
	}
}

// TestParcelsPageInBrowser: a waybill from the URL, in lower case, shows
// its state badge, its facts with the village's Chinese name and its
// timeline oldest first (the manifest's announcement, the handheld's
// scan, the station's sort); one typed with the keyboard and Enter shows
// its flags in words; an unknown one says "not found"; the township's
// exception parcels of the day are listed, each opening its search; the
// page switches to English.
func TestParcelsPageInBrowser(t *testing.T) {
	skipShort(t)
	lg := startLogistics(t)
	ctx := startBrowser(t)
	signInBrowser(t, ctx, lg.hub, "staff-tw01", hub.RoleStaff, lgTownship)
	wb := lgParcels[0]
	open(t, ctx, lg.base+"/parcels.html?waybill="+strings.ToLower(wb))
	waitLg(t, ctx, 10*time.Second, "the parcel found", fmt.Sprintf(`document.getElementById("result").dataset.status === "ok" &&
		document.getElementById("item-id").textContent === %s && document.getElementById("timeline-panel").dataset.n === "3"`, jsString(wb)))
	got := evalPage[map[string]any](t, ctx, `(() => {
		const q = (s) => document.querySelector(s), badge = q("#item-state");
		return {
			state: badge.dataset.state, badge: badge.textContent, size: parseFloat(getComputedStyle(badge).fontSize),
			body: parseFloat(getComputedStyle(document.body).fontSize), bg: getComputedStyle(badge).backgroundColor,
			flags: document.querySelectorAll("#item-flags li").length,
			kinds: [...document.querySelectorAll("#timeline > li")].map((e) => e.dataset.kind).join(","),
			times: [...document.querySelectorAll("#timeline > li time")].map((e) => e.dateTime),
			texts: [...document.querySelectorAll("#timeline > li")].map((e) => e.innerText.replace(/\n/g, " | ")),
			village: q(".f-village dd")?.textContent ?? "", route: q(".f-route dd")?.textContent ?? "", bin: q(".f-bin dd")?.textContent ?? "",
			input: q("#waybill").value, url: location.search,
		};
	})()`)
	t.Logf("parcel page: %v", got)
	r01 := lg.plan.Routes[0]
	villageName := ""
	for _, s := range sites.Demo() {
		if s.ID == r01.Villages[0] {
			villageName = s.Name
		}
	}
	for k, want := range map[string]any{"state": "sorted", "badge": lg.dict["zh"]["istate_sorted"], "flags": 0.0,
		"kinds": "announced,received,sorted", "bin": "b01", "route": "r01 · " + r01.Name, "village": villageName + " · " + r01.Villages[0],
		"input": wb, "url": "?waybill=" + wb} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if got["size"].(float64) < 1.5*got["body"].(float64) {
		t.Errorf("the state badge's text is %vpx beside the body's %vpx: want it big", got["size"], got["body"])
	}
	times := got["times"].([]any)
	for i := 1; i < len(times); i++ {
		if times[i].(string) < times[i-1].(string) {
			t.Errorf("timeline not oldest first: %v", times)
		}
	}
	texts := got["texts"].([]any)
	if len(texts) == 3 && (!strings.Contains(texts[1].(string), lgUser) || !strings.Contains(texts[2].(string), "b01") ||
		!strings.Contains(texts[2].(string), r01.Name) || !strings.Contains(texts[2].(string), "1.2 kg")) {
		t.Errorf("timeline entries lack who, bin, route or weight: %q", texts)
	}
	checkLabels(t, ctx)

	// Typed, with Enter: the parcel sorted to the exception bin, its flag in words.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second),
		chromedp.Focus(chromedp.CSS("#waybill")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("waybill").select()`),
		chromedp.KeyEvent(strings.ToLower(lgExcept)),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatalf("type a waybill: %v", err)
	}
	waitLg(t, ctx, 5*time.Second, "the exception parcel with its flag", fmt.Sprintf(`document.getElementById("result").dataset.waybill === %s &&
		document.getElementById("item-state").dataset.state === "exception" &&
		document.querySelector('#item-flags li[data-flag="unannounced"] .chip')?.textContent === %s &&
		document.querySelector('#item-flags li[data-flag="unannounced"] .flag-why')?.textContent === %s &&
		document.getElementById("timeline-panel").dataset.n === "1" &&
		document.querySelector("#timeline > li .ev-kind").textContent.includes(%s) && location.search === %s`,
		jsString(lgExcept), jsString(lg.dict["zh"]["flag_unannounced"]), jsString(lg.dict["zh"]["flagwhy_unannounced"]),
		jsString(lg.dict["zh"]["excr_unknown"]), jsString("?waybill="+lgExcept)))

	// Not found, clearly.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("waybill").select()`),
		chromedp.KeyEvent(lgUnknown),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatalf("type a waybill: %v", err)
	}
	waitLg(t, ctx, 5*time.Second, "not found", fmt.Sprintf(`(() => {
		const nf = document.getElementById("notfound");
		return document.getElementById("result").dataset.status === "notfound" && nf.offsetParent !== null && nf.textContent.includes(%s) &&
			document.getElementById("item").hidden && document.getElementById("search-status").dataset.result === "notfound";
	})()`, jsString(lgUnknown)))

	// The day's exceptions of tw01 (the first township, chosen by default).
	waitLg(t, ctx, 5*time.Second, "today's exception parcels of tw01", fmt.Sprintf(`document.getElementById("exc-township").value === "tw01" &&
		document.getElementById("exceptions").dataset.n === "1" && !!document.querySelector('#exc-list tr[data-id=%q][data-state="exception"] a.wb')`, lgExcept))
	click(t, ctx, fmt.Sprintf(`#exc-list tr[data-id=%q] a.wb`, lgExcept))
	waitLg(t, ctx, 5*time.Second, "the exception parcel's search from the list", fmt.Sprintf(`document.getElementById("result").dataset.status === "ok" &&
		document.getElementById("result").dataset.waybill === %s && location.search === %s`, jsString(lgExcept), jsString("?waybill="+lgExcept)))

	lg.switchToEnglish(t, ctx, "parcels_title", fmt.Sprintf(`document.getElementById("item-state").textContent === %s &&
		document.querySelector('#item-flags .chip').textContent === %s && document.querySelector("#exc-title span").textContent === %s`,
		jsString(lg.dict["en"]["istate_exception"]), jsString(lg.dict["en"]["flag_unannounced"]), jsString(lg.dict["en"]["exc_title"])))
	// Back in the browser's history: the first parcel again, in English.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.NavigateBack()); err != nil {
		t.Fatalf("back: %v", err)
	}
	waitLg(t, ctx, 5*time.Second, "back to the unknown waybill", fmt.Sprintf(`document.getElementById("result").dataset.status === "notfound" &&
		document.getElementById("notfound").textContent.includes("not found") && document.getElementById("waybill").value === %s`, jsString(lgUnknown)))
	// The choice holds for the other pages, by the nav bar.
	click(t, ctx, `nav.pages a[href="figures.html"]`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.WaitVisible(chromedp.CSS("#fig-form"))); err != nil {
		t.Fatalf("the figures page from the nav bar: %v", err)
	}
	waitLg(t, ctx, 10*time.Second, "the figures page in English", fmt.Sprintf(`location.pathname === "/figures.html" &&
		document.documentElement.lang === "en-GB" && document.querySelector("h1").textContent === %s`, jsString(lg.dict["en"]["figures_title"])))
}

// TestDispatchPageInBrowser: the board of tw01 shows route r01 with its
// three parcels; a coordinator, having typed their name once, opens a run
// with the keyboard, loads it by scanning two waybills (one unknown,
// refused in words) and by bin, sends it off; the board shows the run on
// the road and the hub recorded who did it; the board refreshes by itself;
// the page switches to English; the run, closed, lists what it did not
// deliver.
func TestDispatchPageInBrowser(t *testing.T) {
	skipShort(t)
	lg := startLogistics(t)
	ctx := startBrowser(t)
	signInBrowser(t, ctx, lg.hub, lgUser, hub.RoleTownship, lgTownship)
	open(t, ctx, lg.base+"/dispatch.html?township="+lgTownship)
	route := `li.route[data-route="r01"]`
	waitLg(t, ctx, 10*time.Second, "route r01 with its 3 parcels waiting", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s);
		return document.getElementById("township").value === "tw01" && !!r && r.dataset.waiting === "3" &&
			r.querySelector("h3").textContent === %s && document.querySelectorAll("li.route").length === %d;
	})()`, jsString(route), jsString("r01 · "+lg.plan.Routes[0].Name), len(lg.plan.Routes)))
	t.Logf("route r01 on the board: %q", evalPage[string](t, ctx, `document.querySelector('li.route[data-route="r01"]').innerText.replace(/\n/g, " | ")`))

	// Who acts is the person signed in, shown in the header with a way out.
	waitLg(t, ctx, 5*time.Second, "the signed-in name in the header", fmt.Sprintf(`document.querySelector("#who .who-name")?.textContent === %s &&
		!!document.getElementById("logout") && !document.getElementById("user")`, jsString(lgUser)))

	// Open a run with the keyboard.
	click(t, ctx, route+" button.open-run")
	waitLg(t, ctx, 5*time.Second, "the form to open a run, its first field focused", fmt.Sprintf(`document.activeElement === document.querySelector(%s)`,
		jsString(route+` form.open-form input[name="vehicle"]`)))
	checkLabels(t, ctx)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second),
		chromedp.KeyEvent(lgVehicle), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(lgDriver), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("800"), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("200"), chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatalf("fill in the run: %v", err)
	}
	runSel := route + ` li.run[data-state="open"]`
	waitLg(t, ctx, 5*time.Second, "the run open on the board, its load button focused", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s);
		return !!r && r.querySelector(".run-vehicle").textContent === %s && document.activeElement === r.querySelector("button.load-btn") &&
			document.querySelector(%s).dataset.action === "open" && document.querySelector(%s).dataset.result === "ok";
	})()`, jsString(runSel), jsString(lgVehicle), jsString(route+" .result"), jsString(route+" .result")))
	runID := evalPage[string](t, ctx, fmt.Sprintf(`document.querySelector(%s).dataset.run`, jsString(runSel)))
	runSel = fmt.Sprintf(`li.run[data-run=%q]`, runID)

	// Load by scanning: Enter on the focused button opens the form; the
	// scanner types each waybill and Enter; Ctrl+Enter loads.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 5*time.Second, "the load form", fmt.Sprintf(`!document.querySelector(%s).hidden`, jsString(runSel+" form.load-form")))
	checkLabels(t, ctx)
	click(t, ctx, runSel+` input[data-mode="scan"]`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second),
		chromedp.Focus(chromedp.CSS(runSel+` textarea[name="waybills"]`)),
		chromedp.KeyEvent(lgUnknown+"\r"+strings.ToLower(lgParcels[0])+"\r"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	); err != nil {
		t.Fatalf("scan the waybills: %v", err)
	}
	res := route + " .result"
	waitLg(t, ctx, 5*time.Second, "one loaded, the unknown one refused in words", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s), ref = r.querySelector('li.refusal[data-reason="unknown"]');
		return r.dataset.action === "load" && r.dataset.loaded === "1" && r.dataset.refused === "1" && !!ref &&
			ref.textContent.includes(%s) && ref.textContent.includes(%s) && document.querySelector(%s).dataset.parcels === "1" &&
			document.querySelector(%s).value.trim() === %s;
	})()`, jsString(res), jsString(lgUnknown), jsString(lg.dict["zh"]["refuse_unknown"]), jsString(runSel),
		jsString(runSel+` textarea[name="waybills"]`), jsString(lgUnknown)))

	// Load the rest by bin: the route's bin from the plan's stations.
	click(t, ctx, runSel+` input[data-mode="bin"]`)
	if bins := evalPage[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll(%s)].map((o) => o.value)`, jsString(runSel+` select[name="bin"] option`))); !slices.Equal(bins, []string{"b01"}) {
		t.Errorf("bins to load from %v, want [b01]", bins)
	}
	click(t, ctx, runSel+` form.load-form button[type="submit"]`)
	waitLg(t, ctx, 5*time.Second, "the bin loaded", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s), run = document.querySelector(%s);
		return r.dataset.action === "load" && r.dataset.loaded === "2" && r.dataset.refused === "0" && run.dataset.parcels === "3" &&
			document.querySelector(%s).dataset.waiting === "0" && run.querySelector(".b-parcels .bar-fill").style.width === "1.5%%";
	})()`, jsString(res), jsString(runSel), jsString(route)))

	// Depart, confirmed: the run on the road.
	click(t, ctx, runSel+" button.depart-btn")
	waitLg(t, ctx, 5*time.Second, "the confirmation", fmt.Sprintf(`document.activeElement === document.querySelector(%s)`, jsString(runSel+" button.confirm-yes")))
	click(t, ctx, runSel+" button.confirm-yes")
	waitLg(t, ctx, 5*time.Second, "the run on the road", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s), run = document.querySelector(%s);
		return r.dataset.action === "depart" && r.dataset.left === "0" && !!run && run.dataset.state === "departed" &&
			run.querySelector(".badge").textContent === %s && !run.querySelector("button.close-btn").hidden &&
			run.querySelector("button.load-btn").hidden && document.getElementById("sum-road").textContent === "1";
	})()`, jsString(res), jsString(runSel), jsString(lg.dict["zh"]["rstate_departed"])))
	t.Logf("after the departure: %q", evalPage[string](t, ctx, fmt.Sprintf(`document.querySelector(%s).innerText.replace(/\n/g, " | ")`, jsString(route))))

	var run hub.Run
	if code, body := lg.do(t, http.MethodGet, "/api/v1/runs/"+runID, "", nil, &run); code != http.StatusOK {
		t.Fatalf("the run: %d %s", code, body)
	}
	if run.State != hub.RunDeparted || run.By != lgUser || run.Parcels != 3 || run.Vehicle != lgVehicle || run.Driver != lgDriver ||
		run.CapacityKg != 800 || run.CapacityParcels != 200 {
		t.Errorf("the hub's run %+v, want departed, opened by %s with 3 parcels, %s, %s, 800 kg, 200 parcels", run, lgUser, lgVehicle, lgDriver)
	}
	var audit []hub.AuditEntry
	lg.do(t, http.MethodGet, "/api/v1/audit?site="+lgTownship, "", nil, &audit)
	for _, e := range audit {
		if strings.HasPrefix(e.Action, "run.") && e.By != lgUser {
			t.Errorf("audit entry %s by %q, want %s", e.Action, e.By, lgUser)
		}
	}

	// The board refreshes by itself: a parcel sorted meanwhile shows.
	publishSorted(t, lg.pub, lgTownship, "SF1234567890126", "r01", "b01", "", 3)
	waitLg(t, ctx, 15*time.Second, "the board refreshed by itself", fmt.Sprintf(`document.querySelector(%s).dataset.waiting === "1"`, jsString(route)))

	lg.switchToEnglish(t, ctx, "dispatch_title", fmt.Sprintf(`document.querySelector(%s).textContent === %s &&
		document.querySelector(%s).textContent === %s && document.getElementById("logout").textContent === %s`,
		jsString(runSel+" .badge"), jsString(lg.dict["en"]["rstate_departed"]), jsString(route+" button.open-run"),
		jsString(lg.dict["en"]["open_run"]), jsString(lg.dict["en"]["logout"])))

	// Back without a village point scanning any in: closed, the three
	// listed as not delivered, the run off the board.
	click(t, ctx, runSel+" button.close-btn")
	click(t, ctx, runSel+" button.confirm-yes")
	waitLg(t, ctx, 5*time.Second, "the run closed, its parcels listed as not delivered", fmt.Sprintf(`(() => {
		const r = document.querySelector(%s);
		return r.dataset.action === "close" && r.dataset.undelivered === "3" && r.querySelectorAll("li[data-waybill] a.wb").length === 3 &&
			r.textContent.includes("3 parcels not delivered") && !document.querySelector(%s) && document.getElementById("sum-road").textContent === "0";
	})()`, jsString(res), jsString(runSel)))
}

// TestFiguresPageInBrowser: after a run took tw01's parcels, the figures
// page (the last 7 days by default) shows tw01's row of today with what
// was received and dispatched, a bar a day, the produce weighed at a
// village point, and CSV links with the page's query; it switches to
// English.
func TestFiguresPageInBrowser(t *testing.T) {
	skipShort(t)
	day := time.Now().Format("2006-01-02")
	lg := startLogistics(t)
	// A run takes r01's parcels; a village point weighs a lot of oranges.
	var opened hub.Run
	if code, body := lg.do(t, http.MethodPost, "/api/v1/sites/"+lgTownship+"/runs", lgUser, []byte(`{"route": "r01", "vehicle": "`+lgVehicle+`"}`), &opened); code != http.StatusCreated {
		t.Fatalf("open a run: %d %s", code, body)
	}
	if code, body := lg.do(t, http.MethodPost, "/api/v1/runs/"+opened.ID+"/load", lgUser, []byte(`{"bin": "b01"}`), nil); code != http.StatusOK {
		t.Fatalf("load: %d %s", code, body)
	}
	if code, body := lg.do(t, http.MethodPost, "/api/v1/runs/"+opened.ID+"/depart", lgUser, nil, nil); code != http.StatusOK {
		t.Fatalf("depart: %d %s", code, body)
	}
	village := lg.plan.Routes[0].Villages[0]
	if code, body := lg.do(t, http.MethodPost, "/api/v1/sites/"+village+"/scans", lgUser,
		[]byte(`{"kind": "lot_weighed", "waybill": "LOT-TW01-0001", "weight_kg": 12.5, "producer": "张三", "product": "脐橙", "grade": "A"}`), nil); code != http.StatusCreated {
		t.Fatalf("weigh a lot: %d %s", code, body)
	}

	ctx := startBrowser(t)
	signInBrowser(t, ctx, lg.hub, "county-coordinator", hub.RoleCounty, "")
	open(t, ctx, lg.base+"/figures.html?township="+lgTownship)
	today := time.Now().Format("2006-01-02")
	if today != day {
		t.Skipf("the day changed (%s, %s) while the parcels were fed: the figures are of two days", day, today)
	}
	from := time.Now().AddDate(0, 0, -6).Format("2006-01-02")
	row := fmt.Sprintf(`tr.fig-row[data-township="tw01"][data-day=%q]`, today)
	waitLg(t, ctx, 10*time.Second, "tw01's row of today", fmt.Sprintf(`document.body.dataset.state === "loaded" && !!document.querySelector(%s)`, jsString(row)))
	got := evalPage[map[string]string](t, ctx, fmt.Sprintf(`(() => {
		const r = document.querySelector(%s), v = (c) => r.querySelector(".c-" + c).dataset.v;
		return { from: document.getElementById("from").value, to: document.getElementById("to").value, township: document.getElementById("fig-township").value,
			received: v("received"), sorted: v("sorted"), dispatched: v("dispatched"), exceptions: v("exceptions"), lots: v("lots_collected"), kg: v("kg_collected"),
			name: r.querySelector("th").textContent, total: document.querySelector("#fig-total .c-dispatched").dataset.v,
			csv: document.getElementById("fig-csv").href, pcsv: document.getElementById("produce-csv").href,
			bars: String(document.querySelectorAll("#chart rect.c-bar").length), bar: document.querySelector('#chart rect.c-bar[data-day=%q]')?.dataset.v ?? "",
			produce: document.querySelector('#produce-list tr[data-village=%q][data-product="脐橙"] .p-kg')?.textContent ?? "" };
	})()`, jsString(row), today, village))
	t.Logf("figures page: %v", got)
	q := "from=" + from + "&to=" + today + "&township=tw01&format=csv"
	twName := ""
	for _, s := range sites.Demo() {
		if s.ID == lgTownship {
			twName = s.Name
		}
	}
	// Received: the 3 parcels and the one sorted to the exception bin,
	// all first scanned at tw01 today; sorted: to a route's bin only.
	for k, want := range map[string]string{"from": from, "to": today, "township": "tw01", "received": "4", "sorted": "3", "dispatched": "3",
		"exceptions": "1", "lots": "1", "kg": "12.5", "total": "3", "name": twName, "bars": "7", "bar": "3", "produce": "12.5 kg",
		"csv": lg.base + "/api/v1/figures?" + q, "pcsv": lg.base + "/api/v1/produce?" + q} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	// The link gives the CSV file.
	resp, err := http.Get(got["csv"])
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(csv), "\n"+today+",tw01,") {
		t.Errorf("the CSV link: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), csv)
	}
	checkLabels(t, ctx)

	// Another period, with the keyboard: today only.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second),
		chromedp.SetValue(chromedp.CSS("#from"), today),
		chromedp.Focus(chromedp.CSS("#fig-go")),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 5*time.Second, "today only", fmt.Sprintf(`document.querySelectorAll("#chart rect.c-bar").length === 1 &&
		document.getElementById("fig-csv").href.endsWith(%s) && location.search === %s`,
		jsString("?from="+today+"&to="+today+"&township=tw01&format=csv"), jsString("?from="+today+"&to="+today+"&township=tw01")))

	lg.switchToEnglish(t, ctx, "figures_title", fmt.Sprintf(`document.querySelector('#fig-table th[data-i18n="col_dispatched"]').textContent === %s &&
		document.querySelector("#fig-total th").textContent === %s && document.getElementById("fig-csv").textContent === %s`,
		jsString(lg.dict["en"]["col_dispatched"]), jsString(lg.dict["en"]["total"]), jsString(lg.dict["en"]["csv_download"])))
}
