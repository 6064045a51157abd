package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/coldlog"
	"github.com/countylink/countylink/hub/server"
)

// publishProbe publishes a temperature reading of probe device of room at
// site, through the site's edge <site>-e1.
func publishProbe(t *testing.T, c mqtt.Client, site, room, device string, ts time.Time, v float64) {
	t.Helper()
	edge := site + "-e1"
	b, err := contract.Encode(contract.Telemetry{
		Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: ts.UTC(), Sent: time.Now().UTC()},
		Device: device, Room: room, Fields: map[string]float64{"temperature": v}, Units: map[string]string{"temperature": "Cel"},
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, contract.TelemetryTopic(contract.DefaultPrefix, site, edge, device), false, b)
}

// TestHistoryPageInBrowser: three hours of a chilled room (0 to 4 °C) with
// two probes, a reading a minute; probe cr1-th goes over the high limit
// for a quarter of an hour and then stops for twenty minutes. The history
// page draws both probes as separate lines, cr1-th's broken at its gap,
// the limits as lines, the excursion shaded; the cursor reads the probes
// out from the keyboard and the mouse; the figures and the excursion are
// listed; the printable log and the CSV are linked; English.
func TestHistoryPageInBrowser(t *testing.T) {
	skipShort(t)
	const site, room, probeA, probeB = "tw04", "cr1", "cr1-th", "cr1-t2"
	broker := testenv.StartMosquitto(t)
	h := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + h.HTTPAddr
	pub := mqttClient(t, broker.URL(), "history-edge")
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	const last = 175
	for m := 0; m <= last; m++ {
		a := round1(2.4 + float64(m%7)/10)
		if m >= 60 && m < 75 {
			a = round1(5.6 + float64(m%3)/10) // the door open
		}
		if m < 120 || m >= 140 { // cr1-th silent for 20 minutes
			publishProbe(t, pub, site, room, probeA, at(m), a)
		}
		publishProbe(t, pub, site, room, probeB, at(m), round1(2.9+float64(m%5)/10))
	}
	from, to := at(-2), at(last+3) // within the log's 5 minutes of the readings: no gap at either end
	var lg coldlog.Log
	waitFor(t, 10*time.Second, "both probes' readings stored", func() error {
		if err := getJSON(t, base+"/api/v1/coldrooms/"+site+"/"+room+"/log?format=json&from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339), &lg); err != nil {
			return err
		}
		if len(lg.Probes) != 2 || len(lg.Probes[0].Log) == 0 || len(lg.Probes[1].Log) == 0 ||
			!lg.Probes[0].Log[len(lg.Probes[0].Log)-1].TS.Equal(at(last)) || !lg.Probes[1].Log[len(lg.Probes[1].Log)-1].TS.Equal(at(last)) {
			return fmt.Errorf("%d probes, not complete yet", len(lg.Probes))
		}
		return nil
	})
	var dict map[string]map[string]string
	if err := getJSON(t, base+"/i18n.json", &dict); err != nil {
		t.Fatal(err)
	}

	ctx := startBrowser(t)
	signInAdmin(t, ctx, h)
	q := "site=" + site + "&room=" + room + "&from=" + from.UTC().Format(time.RFC3339) + "&to=" + to.UTC().Format(time.RFC3339)
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second), chromedp.EmulateViewport(1600, 1000), chromedp.Navigate(base+"/history.html?"+q)); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 10*time.Second, "the chart of both probes", `document.body.dataset.state === "loaded" && document.getElementById("h-chart").dataset.probes === "2"`)
	got := evalPage[struct {
		Room             string
		Lines            map[string]int // probe -> subpaths
		High, Low        float64        // the limit lines' y
		HighV, LowV      string
		Exc              []string
		ExcW             float64
		Gaps             []string
		ExcRows, SumRows int
		Compliant        []string
		Print, CSV       string
		Width, BoxW      float64
		Desc             string
		Points           int
	}](t, ctx, `(() => {
		const q = (s) => document.querySelector(s), all = (s) => [...document.querySelectorAll(s)];
		const hi = q('#h-svg .h-limit[data-limit="high"]'), lo = q('#h-svg .h-limit[data-limit="low"]');
		const exc = q("#h-svg .h-exc");
		return {
			Room: q("#h-room").value,
			Lines: Object.fromEntries(all("#h-svg path.h-line").map((p) => [p.dataset.probe, (p.getAttribute("d").match(/M/g) || []).length])),
			High: Number(hi.getAttribute("y1")), Low: Number(lo.getAttribute("y1")), HighV: hi.dataset.v, LowV: lo.dataset.v,
			Exc: all("#h-svg .h-exc").map((e) => e.dataset.kind + "/" + e.dataset.probe),
			ExcW: exc ? Number(exc.getAttribute("width")) : 0,
			Gaps: all("#h-svg .h-gap").map((e) => e.dataset.probe),
			ExcRows: all("#h-exc-rows tr").length, SumRows: all("#h-summary-rows tr.h-probe").length,
			Compliant: all("#h-summary-rows tr.h-probe").map((e) => e.dataset.probe + "=" + e.dataset.compliant),
			Print: q("#h-print").href, CSV: q("#h-csv").href,
			Width: q("#h-svg").getBoundingClientRect().width, BoxW: q("#h-chart").getBoundingClientRect().width,
			Desc: q("#h-svg-d").textContent, Points: Number(q("#h-chart").dataset.points),
		};
	})()`)
	t.Logf("history page: %+v", got)
	if got.Room != site+"/"+room {
		t.Errorf("room chosen %q, want the URL's %s/%s", got.Room, site, room)
	}
	if got.Lines[probeA] < 2 || got.Lines[probeB] != 1 {
		t.Errorf("lines by probe (their runs) %v: want %s broken at its gap, %s whole", got.Lines, probeA, probeB)
	}
	if got.HighV != "4" || got.LowV != "0" || !(got.High < got.Low) {
		t.Errorf("limit lines high %v at y %v, low %v at y %v: want 4 above 0", got.HighV, got.High, got.LowV, got.Low)
	}
	if len(got.Exc) != 1 || got.Exc[0] != "high/"+probeA || got.ExcW < 5 {
		t.Errorf("excursions shaded %v (width %v): want one, high, of %s", got.Exc, got.ExcW, probeA)
	}
	if len(got.Gaps) == 0 || !strings.Contains(strings.Join(got.Gaps, ","), probeA) {
		t.Errorf("gaps shaded %v: want %s's", got.Gaps, probeA)
	}
	if got.ExcRows != 1 || got.SumRows != 2 || strings.Join(got.Compliant, ",") != probeB+"=true,"+probeA+"=false" && strings.Join(got.Compliant, ",") != probeA+"=false,"+probeB+"=true" {
		t.Errorf("%d excursion rows, %d probe rows %v: want 1 and 2, %s not compliant", got.ExcRows, got.SumRows, got.Compliant, probeA)
	}
	if !strings.Contains(got.Print, "/api/v1/coldrooms/"+site+"/"+room+"/log?") || strings.Contains(got.Print, "format=") ||
		!strings.Contains(got.CSV, "format=csv") {
		t.Errorf("links: print %s, csv %s", got.Print, got.CSV)
	}
	if got.Width < got.BoxW-2 {
		t.Errorf("the chart is %v px wide in a %v px box", got.Width, got.BoxW)
	}
	res, err := http.Get(got.CSV)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("the CSV link answers %s %s", res.Status, res.Header.Get("Content-Type"))
	}

	// The keyboard: focus the chart, End for the last reading, Left for
	// the one before, Home for the first.
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.Focus(chromedp.CSS("#h-svg")), chromedp.KeyEvent(kb.End)); err != nil {
		t.Fatal(err)
	}
	lastISO := at(last).UTC().Format("2006-01-02T15:04:05.000Z")
	waitLg(t, ctx, 3*time.Second, "the readout at the last reading", fmt.Sprintf(`document.getElementById("readout").dataset.t === %s &&
		document.getElementById("readout").textContent.includes("°C") && document.querySelector("#h-svg .h-cursor").getAttribute("visibility") === "visible"`, jsString(lastISO)))
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.KeyEvent(kb.ArrowLeft)); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 3*time.Second, "the readout a minute earlier", fmt.Sprintf(`document.getElementById("readout").dataset.t === %s`, jsString(at(last-1).UTC().Format("2006-01-02T15:04:05.000Z"))))
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.KeyEvent(kb.Home)); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 3*time.Second, "the readout at the first reading", fmt.Sprintf(`document.getElementById("readout").dataset.t === %s`, jsString(at(0).UTC().Format("2006-01-02T15:04:05.000Z"))))
	t.Logf("readout: %q", evalPage[string](t, ctx, `document.getElementById("readout").textContent`))

	// The mouse over the excursion: cr1-th's value, out of range.
	pos := evalPage[[]float64](t, ctx, `(() => { const r = document.querySelector("#h-svg .h-exc").getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
	if err := chromedp.Do(withTimeout(t, ctx, 10*time.Second), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pos[0], pos[1])); err != nil {
		t.Fatal(err)
	}
	waitLg(t, ctx, 3*time.Second, "the readout over the excursion", fmt.Sprintf(`(() => {
		const r = document.getElementById("readout"), tm = Date.parse(r.dataset.t);
		return tm >= %d && tm < %d && r.textContent.includes(%s);
	})()`, at(60).UnixMilli(), at(75).UnixMilli(), jsString(dict["zh"]["out_of_range"])))
	t.Logf("readout over the excursion: %q", evalPage[string](t, ctx, `document.getElementById("readout").textContent`))
	checkLabels(t, ctx)

	// English.
	click(t, ctx, "#lang")
	waitLg(t, ctx, 5*time.Second, "the page in English", fmt.Sprintf(`document.documentElement.lang === "en-GB" && document.querySelector("h1").textContent === %s &&
		document.querySelector("#h-svg text.h-limit-label").textContent === %s && document.querySelector('nav.pages a[href="history.html"]').getAttribute("aria-current") === "page"`,
		jsString(dict["en"]["history_title"]), jsString(strings.Replace(dict["en"]["limit_high"], "{v}", "4.0 °C", 1))))

	// Another period from the presets: the last 24 hours, in the URL.
	click(t, ctx, `.presets button[data-hours="24"]`)
	waitLg(t, ctx, 5*time.Second, "the last 24 hours", `document.body.dataset.state === "loaded" && (() => {
		const p = new URLSearchParams(location.search), span = Date.parse(p.get("to")) - Date.parse(p.get("from"));
		return p.get("site") === "tw04" && p.get("room") === "cr1" && span === 864e5;
	})()`)
}
