package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/chromedp"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/state"
)

// TestScreenshots writes pictures of the wall screen on a 1920x1080 TV, in
// Chinese (wall.png) and in English (wall-en.png), with a county's worth of
// realistic readings: most rooms in range, one over its limit, one with a
// broken probe, and one township replaying the messages its edge queued
// while its uplink was down. `make screenshots` runs it.
func TestScreenshots(t *testing.T) {
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
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "screenshots")

	var sites []state.SiteView
	if err := getJSON(t, base+"/api/v1/sites", &sites); err != nil {
		t.Fatal(err)
	}
	var rooms []state.RoomView
	if err := getJSON(t, base+"/api/v1/coldrooms", &rooms); err != nil {
		t.Fatal(err)
	}
	const (
		highSite, highRoom   = "tw03", "cr1"
		faultSite, faultRoom = "tw12", "cr1"
		probeOpen            = "probe open (raw 32767)"
		backlogSite          = "tw18" // a long name beside its badge
		backlogN             = 5230
	)
	now := time.Now()
	for _, s := range sites {
		if s.Kind == "village" {
			continue
		}
		edge := s.ID + "-e1"
		st := contract.Status{
			Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
				Site: s.ID, Edge: edge, TS: now.UTC(), Sent: now.UTC()},
			State: contract.StateOnline, Agent: "edge-agent 0.1.0",
		}
		if s.ID == backlogSite {
			st.Backlog = backlogN
		}
		for _, r := range rooms {
			if r.Site != s.ID {
				continue
			}
			d := contract.DeviceStatus{ID: r.Room + "-th", OK: true, LastOK: now.UTC()}
			if r.Site == faultSite && r.Room == faultRoom {
				d = contract.DeviceStatus{ID: r.Room + "-th", Error: probeOpen, LastOK: now.Add(-17 * time.Minute).UTC()}
			}
			st.Devices = append(st.Devices, d)
		}
		b, err := contract.Encode(st)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, pub, contract.StatusTopic(contract.DefaultPrefix, s.ID, edge), true, b)
	}
	// A working day's sorting so far: a few dozen parcels per township, the
	// odd one to the exception bin.
	for i, s := range sites {
		if s.Kind != "township" {
			continue
		}
		n := 20 + (i*29)%60
		for j := range n {
			bin, exc := fmt.Sprintf("b%02d", 1+j%8), ""
			if j%23 == 7 {
				bin, exc = "b99", contract.ExceptionUnknown
			}
			publishParcel(t, pub, s.ID, fmt.Sprintf("SF%013d", i*1000+j), bin, exc)
		}
	}
	frozen := 0
	for i, r := range rooms {
		ts := now.Add(-time.Duration(2+(i*7)%40) * time.Second) // readings a few seconds old, as on a busy day
		wobble := float64((i*37)%20) / 10                       // 0.0 to 1.9, the same on every run
		var fields map[string]float64
		var faults map[string]string
		switch {
		case r.Site == highSite && r.Room == highRoom:
			fields = map[string]float64{"temperature": 6.8, "humidity": 91}
		case r.Site == faultSite && r.Room == faultRoom:
			faults = map[string]string{"temperature": probeOpen}
		case r.Class == "frozen":
			fields = map[string]float64{"temperature": -19.5 - 1.8*float64(frozen), "humidity": 64 + float64(frozen)*3}
			frozen++
		case r.Class == "medicine":
			fields = map[string]float64{"temperature": round1(4.2 + wobble), "humidity": 48 + float64(i%6)}
		default:
			fields = map[string]float64{"temperature": round1(1.6 + wobble), "humidity": 78 + float64((i*5)%12)}
		}
		publishReading(t, pub, r.Site, r.Room, ts, fields, faults)
	}

	ctx := startBrowser(t)
	// The office TV: signed in with its kiosk token, as a wall screen is.
	if err := chromedp.Do(withTimeout(t, ctx, 15*time.Second),
		chromedp.EmulateViewport(1920, 1080),
		chromedp.Navigate(base+kioskPath(t, hub, "office-tv")),
	); err != nil {
		t.Fatalf("load %s/: %v", base, err)
	}
	waitPage(t, ctx, 10*time.Second, "every room with its reading, every site online, the stream live", fmt.Sprintf(`(() => {
		const tiles = [...document.querySelectorAll(".tile[data-state]")];
		const sites = [...document.querySelectorAll("#site-list li.site[data-online]")];
		return tiles.length === %d && tiles.every((e) => e.dataset.state !== "nodata") &&
			document.querySelector('.tile[data-site=%q][data-room=%q]')?.dataset.state === "high" &&
			document.querySelector('.tile[data-site=%q][data-room=%q]')?.dataset.state === "fault" &&
			sites.length > 0 && sites.every((e) => e.dataset.online === "true") &&
			document.querySelector('#site-list li.site[data-site=%q]')?.dataset.backlog === "%d" &&
			document.getElementById("backlog-stat").dataset.n === "%d" &&
			document.getElementById("conn").dataset.state === "live";
	})()`, len(rooms), highSite, highRoom, faultSite, faultRoom, backlogSite, backlogN, backlogN))
	if frozen == 0 {
		t.Error("the demo county has no frozen room to show")
	}

	shoot := func(name string) {
		t.Helper()
		tctx := withTimeout(t, ctx, 15*time.Second)
		if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("fonts: %v", err)
		}
		b, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if cfg.Width != 1920 || cfg.Height != 1080 {
			t.Errorf("%s is %dx%d, want the TV's 1920x1080", name, cfg.Width, cfg.Height)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		layout := evalPage[struct{ Cut, Spill []string }](t, ctx, layoutCheck)
		if len(layout.Spill) > 0 {
			t.Errorf("%s: text out of place:\n  %s", name, strings.Join(layout.Spill, "\n  "))
		}
		if len(layout.Cut) > 0 {
			t.Logf("%s: %d texts cut short:\n  %s", name, len(layout.Cut), strings.Join(layout.Cut, "\n  "))
		}
		fonts := platformFonts(t, ctx, "h1")
		t.Logf("%s: title %q drawn with %v", name, evalPage[string](t, ctx, `document.querySelector("h1").textContent`), fonts)
		if name == "wall.png" && !slices.ContainsFunc(fonts, isCJKFont) {
			t.Errorf("%s: the Chinese title is drawn without a CJK font (%v): it shows boxes; install fonts-noto-cjk", name, fonts)
		}
		t.Logf("wrote %s (%dx%d, %d bytes)", path, cfg.Width, cfg.Height, len(b))
	}
	shoot("wall.png")
	click(t, ctx, "#lang")
	waitPage(t, ctx, 5*time.Second, "English", `document.documentElement.lang.startsWith("en")`)
	shoot("wall-en.png")
}

// layoutCheck finds the visible texts that are cut short (an ellipsis, by
// design when a name is long) and those that spill out of their tile, panel
// or the screen (never by design).
const layoutCheck = `(() => {
	const cut = [], spill = [];
	const vw = innerWidth, vh = innerHeight;
	for (const e of document.querySelectorAll("body *")) {
		if (!e.getClientRects().length || getComputedStyle(e).visibility === "hidden") continue;
		const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
		if (!text) continue;
		const tile = e.closest(".tile");
		const what = (tile ? "tile " + tile.dataset.site + "/" + tile.dataset.room + " " : "") +
			e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : "") + " " + JSON.stringify(text);
		if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) cut.push(what + " (" + e.scrollWidth + " px in " + e.clientWidth + " px)");
		const r = e.getBoundingClientRect();
		if (r.right > vw + 0.5 || r.bottom > vh + 0.5 || r.left < -0.5 || r.top < -0.5) {
			spill.push(what + " outside the screen at " + [r.left, r.top, r.right, r.bottom].map(Math.round));
			continue;
		}
		const box = e.parentElement && e.parentElement.closest(".tile, #sites, .bar, #banner");
		if (box) {
			const b = box.getBoundingClientRect();
			if (r.left < b.left - 0.5 || r.top < b.top - 0.5 || r.right > b.right + 0.5 || r.bottom > b.bottom + 0.5) {
				spill.push(what + " spills out of " + (box.id ? "#" + box.id : "." + box.className));
			}
		}
	}
	return { cut, spill };
})()`

// platformFonts lists the fonts Chromium used for the text of the first
// element matching css, as "family (glyphs)".
func platformFonts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	fonts, err := chromedp.Run(withTimeout(t, ctx, 10*time.Second), func(ctx context.Context, tg *chromedp.Target) ([]string, error) {
		ids, err := chromedp.QueryNodeIDs(chromedp.CSS(sel))(ctx, tg)
		if err != nil {
			return nil, err
		}
		if _, err := cdp.Call(ctx, tg, css.Enable, cdp.Empty{}); err != nil {
			return nil, err
		}
		res, err := cdp.Call(ctx, tg, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: ids[0]})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, f := range res.Fonts {
			out = append(out, fmt.Sprintf("%s (%v)", f.FamilyName, f.GlyphCount))
		}
		return out, nil
	})
	if err != nil {
		t.Fatalf("fonts of %s: %v", sel, err)
	}
	return fonts
}

// isCJKFont reports whether the font is one of the Chinese fonts the wall
// screen's stylesheet asks for.
func isCJKFont(f string) bool {
	for _, name := range []string{"Noto Sans CJK", "Source Han Sans", "Microsoft YaHei", "PingFang", "Hiragino Sans GB", "WenQuanYi"} {
		if strings.Contains(f, name) {
			return true
		}
	}
	return false
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
