package dashboard

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/countylink/countylink/contract"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesAssets(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, ctype, cache, body string
	}{
		{"/", "text/html; charset=utf-8", "no-cache", `<html lang="zh-CN">`},
		{"/alarms.html", "text/html; charset=utf-8", "no-cache", `<html lang="zh-CN">`},
		{"/parcels.html", "text/html; charset=utf-8", "no-cache", `<script src="parcels.js" defer>`},
		{"/dispatch.html", "text/html; charset=utf-8", "no-cache", `<script src="dispatch.js" defer>`},
		{"/figures.html", "text/html; charset=utf-8", "no-cache", `<script src="figures.js" defer>`},
		{"/history.html", "text/html; charset=utf-8", "no-cache", `<script src="history.js" defer>`},
		{"/sites.html", "text/html; charset=utf-8", "no-cache", `<script src="sites.js" defer>`},
		{"/login.html", "text/html; charset=utf-8", "no-cache", `<script src="login.js" defer>`},
		{"/login.js", "text/javascript; charset=utf-8", assetMaxAge, "api/v1/auth/login"},
		{"/parcels.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/dispatch.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/figures.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/history.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/sites.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/pages.css", "text/css; charset=utf-8", assetMaxAge, ".timeline"},
		{"/nav.css", "text/css; charset=utf-8", assetMaxAge, "nav.pages"},
		{"/app.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/common.js", "text/javascript; charset=utf-8", assetMaxAge, "EventSource"},
		{"/alarm.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLinkAlarms"},
		{"/alarms.js", "text/javascript; charset=utf-8", assetMaxAge, "CountyLink.page"},
		{"/alarms.css", "text/css; charset=utf-8", assetMaxAge, ".alarm-card"},
		{"/style.css", "text/css; charset=utf-8", assetMaxAge, ".tile"},
		{"/i18n.json", "application/json; charset=utf-8", assetMaxAge, `"zh"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, h, http.MethodGet, tc.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := rec.Header().Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if rec := get(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
				t.Errorf("revalidation: status %d, want 304", rec.Code)
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	h := Handler()
	if rec := get(t, h, http.MethodGet, "/missing.js", nil); rec.Code != http.StatusNotFound {
		t.Errorf("missing file: status %d", rec.Code)
	}
	if rec := get(t, h, http.MethodPost, "/", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}
	if rec := get(t, h, http.MethodHead, "/app.js", nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d body bytes", rec.Code, rec.Body.Len())
	}
	// FileServer's canonical redirect must not carry the page's headers.
	rec := get(t, h, http.MethodGet, "/index.html", nil)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("ETag") != "" {
		t.Errorf("/index.html: status %d, ETag %q", rec.Code, rec.Header().Get("ETag"))
	}
}

func readStatic(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	tagRE       = regexp.MustCompile(`(?s)<[a-zA-Z][^>]*>`)
	scriptRE    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	handlerRE   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	srcAttrRE   = regexp.MustCompile(`(?i)\bsrc\s*=\s*"[^"]+"`)
	refAttrRE   = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)
	i18nAttrRE  = regexp.MustCompile(`data-i18n(?:-aria|-ph|-title)?="([^"]+)"`)
	i18nCallRE  = regexp.MustCompile(`\btn?\("([a-z0-9_]+)"\s*[,)]`)
	placeholdRE = regexp.MustCompile(`\{[a-z]+\}`)
)

// pages are the dashboard's HTML pages; coordinatorPages those linked
// to each other by their nav bar, and scripts every page's scripts.
var (
	pages            = []string{"index.html", "alarms.html", "history.html", "parcels.html", "dispatch.html", "figures.html", "sites.html", "login.html"}
	coordinatorPages = []string{"alarms.html", "history.html", "parcels.html", "dispatch.html", "figures.html", "sites.html"}
	scripts          = []string{"app.js", "common.js", "alarm.js", "alarms.js", "history.js", "parcels.js", "dispatch.js", "figures.js", "sites.js", "login.js"}
)

// Every page of the dashboard is one of pages, and every script one of
// scripts, so the checks below see them all.
func TestEveryPageChecked(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch path.Ext(p) {
		case ".html":
			if !slices.Contains(pages, p) {
				t.Errorf("page %s is not in the list the tests check", p)
			}
		case ".js":
			if !slices.Contains(scripts, p) {
				t.Errorf("script %s is not in the list the tests check", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The pages must run under Content-Security-Policy script-src 'self' and
// without a network beyond the hub.
func TestIndexIsCSPReadyAndOffline(t *testing.T) {
	for _, name := range pages {
		t.Run(name, func(t *testing.T) { checkPageCSP(t, readStatic(t, name)) })
	}
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if s := strings.ToLower(readStatic(t, p)); strings.Contains(s, "http://") || strings.Contains(s, "https://") {
			t.Errorf("%s references an absolute URL (CDN, web font?)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkPageCSP(t *testing.T, page string) {
	t.Helper()
	scripts := scriptRE.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatal("no script element")
	}
	if n := strings.Count(strings.ToLower(page), "<script"); n != len(scripts) {
		t.Fatalf("%d <script tags, %d well-formed script elements", n, len(scripts))
	}
	for _, s := range scripts {
		if !srcAttrRE.MatchString(s[1]) || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline script: %s", s[0])
		}
	}
	for _, tag := range tagRE.FindAllString(page, -1) {
		if handlerRE.MatchString(tag) {
			t.Errorf("inline event handler: %s", tag)
		}
		if strings.Contains(strings.ToLower(tag), "style=") {
			t.Errorf("inline style (breaks a strict style-src): %s", tag)
		}
	}
	if strings.Contains(strings.ToLower(page), "<style") {
		t.Error("inline <style> element")
	}
	for _, m := range refAttrRE.FindAllStringSubmatch(page, -1) {
		if u := strings.ToLower(m[1]); strings.HasPrefix(u, "//") || strings.Contains(u, ":") {
			t.Errorf("reference leaves the origin: %s", m[0])
		}
		if u := m[1]; u != "./" && !strings.Contains(u, "#") {
			if _, err := fs.Stat(FS(), u); err != nil {
				t.Errorf("reference to a file the dashboard lacks: %s", m[0])
			}
		}
	}
}

func TestDictionariesMatch(t *testing.T) {
	var dict map[string]map[string]string
	if err := json.Unmarshal([]byte(readStatic(t, "i18n.json")), &dict); err != nil {
		t.Fatal(err)
	}
	zh, en := dict["zh"], dict["en"]
	if len(zh) == 0 || len(en) == 0 || len(dict) != 2 {
		t.Fatalf("want dictionaries zh and en, have %d languages", len(dict))
	}
	for k, v := range zh {
		w, ok := en[k]
		if !ok {
			t.Errorf("key %q missing in en", k)
			continue
		}
		if strings.TrimSpace(v) == "" || strings.TrimSpace(w) == "" {
			t.Errorf("key %q has an empty text", k)
		}
		pz, pe := placeholdRE.FindAllString(v, -1), placeholdRE.FindAllString(w, -1)
		slices.Sort(pz)
		slices.Sort(pe)
		if !slices.Equal(pz, pe) {
			t.Errorf("key %q: placeholders zh %v, en %v", k, pz, pe)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q missing in zh", k)
		}
		// A text's form for one thing (common.js tn) goes with the text.
		if base, ok := strings.CutSuffix(k, "_one"); ok && en[base] == "" {
			t.Errorf("key %q has no %q", k, base)
		}
	}

	used := map[string]string{}
	for _, name := range pages {
		for _, m := range i18nAttrRE.FindAllStringSubmatch(readStatic(t, name), -1) {
			used[m[1]] = name
		}
	}
	for _, name := range scripts {
		for _, m := range i18nCallRE.FindAllStringSubmatch(readStatic(t, name), -1) {
			used[m[1]] = name
		}
	}
	// Keys app.js builds from data values.
	for _, s := range []string{"ok", "high", "low", "fault", "stale", "nodata"} {
		used["state_"+s] = "app.js (state)"
	}
	for _, c := range []string{"chilled", "frozen", "medicine"} {
		used["class_"+c] = "app.js (class)"
	}
	// Keys alarm.js and alarms.js build from the hub's alarm values: every
	// kind the contract defines, so a new kind without words fails here.
	for i := 1; i < contract.NumAlarmKinds; i++ {
		k := contract.AlarmKind(i).String()
		used["kind_"+k] = "alarm.js (kind)"
		used["tkind_"+k] = "app.js (the tiles' kind)"
	}
	for _, s := range []string{"critical", "warning", "info"} {
		used["sev_"+s] = "alarm.js (severity)"
	}
	for _, s := range []string{"active", "acknowledged", "cleared", "suppressed"} {
		used["astate_"+s] = "alarm.js (state)"
	}
	for _, e := range []string{"raised", "updated", "realarm", "acknowledged", "cleared", "suppressed", "unsuppressed"} {
		used["ev_"+e] = "alarms.js (history event)"
	}
	// Keys the logistics pages build from the hub's values (hub/logistics.go,
	// contract): an item's state, flags, event kinds, the exception bin's
	// reasons and the sort rules, carriers, run states, refusal reasons.
	for _, s := range []string{"announced", "received", "sorted", "confirmed", "exception", "loaded", "dispatched", "arrived",
		"picked_up", "damaged", "returned", "lot_weighed", "lot_received", "lot_packed", "lot_shipped"} {
		used["istate_"+s] = "parcels.js, dispatch.js (item state)"
	}
	for _, f := range []string{"unannounced", "other_site", "scanned_twice", "wrong_bin", "wrong_route", "wrong_village", "overweight", "corrected"} {
		used["flag_"+f] = "parcels.js (flag)"
		used["flagwhy_"+f] = "parcels.js (flag explained)"
	}
	for _, k := range []string{"announced", "received", "sorted", "confirmed", "corrected", "loaded", "unloaded", "dispatched", "arrived",
		"picked_up", "damaged", "returned", "lot_weighed", "lot_received", "lot_packed", "lot_shipped"} {
		used["pev_"+k] = "parcels.js (event kind)"
	}
	for _, r := range []string{"unknown", "no_bin", "station"} {
		used["excr_"+r] = "parcels.js (exception reason)"
	}
	for _, r := range []string{"manifest", "sort_code", "keyword", "none"} {
		used["rule_"+r] = "parcels.js (sort rule)"
	}
	for _, c := range []string{"SF", "JD", "YTO", "ZTO", "JT", "YUNDA", "POST"} {
		used["carrier_"+c] = "parcels.js (carrier)"
	}
	for _, s := range []string{"open", "departed", "closed"} {
		used["rstate_"+s] = "dispatch.js (run state)"
	}
	for _, r := range []string{"unknown", "state", "other_run", "capacity", "wrong_route"} {
		used["refuse_"+r] = "dispatch.js (refusal reason)"
	}
	// The hub's load warnings and refusal details dispatch.js says in words.
	for _, m := range regexp.MustCompile(`"((?:w|rd)_[a-z_]+)"`).FindAllStringSubmatch(readStatic(t, "dispatch.js"), -1) {
		used[m[1]] = "dispatch.js (hub's sentence)"
	}
	if len(used) < 20 {
		t.Fatalf("found only %d keys in use: the patterns no longer match the sources", len(used))
	}
	for k, where := range used {
		if _, ok := zh[k]; !ok {
			t.Errorf("%s uses key %q, not in the dictionaries", where, k)
		}
	}
}

// The coordinators' pages link to each other and to the wall screen with
// the same nav bar, each marked as the current one on itself; each loads
// common.js before its own script and the nav bar's stylesheet.
func TestCoordinatorPagesNav(t *testing.T) {
	navRE := regexp.MustCompile(`(?s)<nav class="pages"[^>]*>(.*?)</nav>`)
	linkRE := regexp.MustCompile(`<a href="([^"]+)"([^>]*)>`)
	for _, name := range coordinatorPages {
		t.Run(name, func(t *testing.T) {
			page := readStatic(t, name)
			m := navRE.FindStringSubmatch(page)
			if m == nil {
				t.Fatal("no <nav class=\"pages\">")
			}
			var hrefs, current []string
			for _, l := range linkRE.FindAllStringSubmatch(m[1], -1) {
				hrefs = append(hrefs, l[1])
				if strings.Contains(l[2], `aria-current="page"`) {
					current = append(current, l[1])
				}
			}
			if want := append([]string{"./"}, coordinatorPages...); !slices.Equal(hrefs, want) {
				t.Errorf("nav links %v, want %v", hrefs, want)
			}
			if !slices.Equal(current, []string{name}) {
				t.Errorf("links marked current %v, want %s only", current, name)
			}
			if !strings.Contains(page, `href="nav.css"`) {
				t.Error("nav.css not loaded")
			}
			c, own := strings.Index(page, `src="common.js"`), strings.Index(page, `src="`+strings.TrimSuffix(name, ".html")+`.js"`)
			if c < 0 || own < 0 || c > own {
				t.Errorf("common.js at %d, the page's script at %d: want both, common.js first", c, own)
			}
		})
	}
}

// Every form control of the pages has a label: a <label for> naming its
// id, or an aria-label.
func TestPagesLabelInputs(t *testing.T) {
	controlRE := regexp.MustCompile(`(?s)<(input|select|textarea)\b([^>]*)>`)
	idRE := regexp.MustCompile(`\bid="([^"]+)"`)
	for _, name := range pages {
		page := readStatic(t, name)
		for _, m := range controlRE.FindAllStringSubmatch(page, -1) {
			if strings.Contains(m[2], "aria-label") {
				continue
			}
			id := idRE.FindStringSubmatch(m[2])
			if id == nil || !strings.Contains(page, `<label for="`+id[1]+`"`) {
				t.Errorf("%s: %s has no label", name, strings.TrimSpace(m[0]))
			}
		}
	}
}

// The pages put the hub's texts (waybills, names, notes, products, agent
// versions) in the page as text only, never as markup.
func TestScriptsWriteNoMarkup(t *testing.T) {
	for _, name := range scripts {
		src := readStatic(t, name)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

// The wall screen's table is a list laid out on one grid: its header rows
// and the rows app.js makes must have as many cells as the grid has
// columns, or the numbers land under the wrong heading.
func TestWallTableColumns(t *testing.T) {
	page, css, app := readStatic(t, "index.html"), readStatic(t, "style.css"), readStatic(t, "app.js")
	row := func(class string) string {
		m := regexp.MustCompile(`(?s)<li class="` + class + `"[^>]*>(.*?)</li>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no li.%s in index.html", class)
		}
		return m[1]
	}
	cells := func(html string) int {
		n := 0
		for _, m := range regexp.MustCompile(`<span class="([^"]*)" role="columnheader"`).FindAllStringSubmatch(html, -1) {
			switch m[1] {
			case "g-parcels":
				n += 5
			case "g-board":
				n += 4
			default:
				n++
			}
		}
		return n
	}
	// The grid's columns: its tracks, split at the spaces outside
	// parentheses, repeat(n, ...) counting n.
	tracks := regexp.MustCompile(`(?s)#site-list \{.*?grid-template-columns: ([^;]+);`).FindStringSubmatch(css)
	if tracks == nil {
		t.Fatal("no grid-template-columns for #site-list in style.css")
	}
	columns, depth, start := 0, 0, 0
	count := func(tok string) {
		if m := regexp.MustCompile(`^repeat\((\d+),`).FindStringSubmatch(tok); m != nil {
			n, _ := strconv.Atoi(m[1])
			columns += n
		} else if tok != "" {
			columns++
		}
	}
	spec := strings.TrimSpace(tracks[1]) + " "
	for i, c := range spec {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ' ' && depth == 0:
			count(strings.TrimSpace(spec[start:i]))
			start = i + 1
		}
	}
	cols := regexp.MustCompile(`const COLS = \[([^\]]*)\]`).FindStringSubmatch(app)
	if cols == nil {
		t.Fatal("no COLS in app.js")
	}
	rowCells := 1 + strings.Count(cols[1], `"`)/2 + 2 // name, COLS, backlog, villages
	for what, got := range map[string]int{"group header": cells(row("site-group")), "column header": cells(row("site-head")), "app.js row": rowCells} {
		if got != columns {
			t.Errorf("%s: %d cells, the grid (%s) has %d columns", what, got, tracks[1], columns)
		}
	}
	if columns != 12 {
		t.Errorf("the grid has %d columns, want 12 (name, 9 figures, backlog, village points)", columns)
	}
}
