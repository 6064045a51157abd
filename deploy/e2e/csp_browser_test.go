package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/countylink/countylink/hub/httpapi"
)

// cspWatch records, from before any page script runs, the page's
// Content-Security-Policy violations (the securitypolicyviolation events
// the browser fires for each refused script, style, connection or frame).
const cspWatch = `window.__csp = [];
document.addEventListener("securitypolicyviolation", e =>
  window.__csp.push(e.effectiveDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber));`

// TestCSPInBrowser opens the wall screen and every coordinators' page in
// headless Chromium, under the hub's Content-Security-Policy, signed in
// as a county coordinator with a county's day of data: none reports a
// CSP violation, an uncaught exception or a console error. A script put
// inline on purpose is refused and reported, so the watch works.
func TestCSPInBrowser(t *testing.T) {
	skipShort(t)
	c := startCounty(t)
	c.seedDay(t, dayOpts{})
	ctx := c.browser(t)
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			// The browser asks for /favicon.ico by itself; the pages have none.
			if (e.Entry.Level == cdplog.EntryLevelError || e.Entry.Source == cdplog.EntrySourceSecurity) && !strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
				problems = append(problems, fmt.Sprintf("log %s %s: %s (%s)", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception: %s %s (%s:%d)", d.Text, desc, d.URL, d.LineNumber+1))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tctx := withTimeout(t, ctx, 20*time.Second)
	if _, err := chromedp.Call(tctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ path, ready string }{
		{"/", `document.querySelectorAll(".tile, .township, [data-site]").length > 0`},
		{"/dispatch.html", `document.body.innerText.length > 100`},
		{"/alarms.html", `document.body.innerText.length > 50`},
		{"/sites.html", `document.body.innerText.length > 100`},
		{"/parcels.html", `document.body.innerText.length > 50`},
		{"/figures.html", `document.body.innerText.length > 50`},
		{"/history.html", `document.body.innerText.length > 50`},
		{"/login.html", `document.querySelector("form") !== null`},
	} {
		name := strings.TrimPrefix(p.path, "/")
		if name == "" {
			name = "index.html"
		}
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			problems = nil
			mu.Unlock()
			var csp string
			nctx := withTimeout(t, ctx, 20*time.Second)
			resp, err := chromedp.RunResponse(nctx, chromedp.Navigate(c.base+p.path))
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := resp.Headers["Content-Security-Policy"]; ok {
				csp, _ = v.(string)
			}
			if csp != httpapi.ContentSecurityPolicy {
				t.Fatalf("served with CSP %q", csp)
			}
			waitPage(t, ctx, 10*time.Second, p.path+" rendered", `document.readyState === "complete" && (`+p.ready+`)`)
			// Let the page's first fetches and its stream come in.
			waitPage(t, ctx, 10*time.Second, p.path+" settled", `performance.getEntriesByType("resource").every(r => r.responseEnd > 0) && performance.now() > 1500`)
			if v := evalPage[[]string](t, ctx, `window.__csp`); len(v) > 0 {
				t.Errorf("CSP violations: %q", v)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, pr := range problems {
				t.Errorf("%s", pr)
			}
		})
	}
	// The watch sees a violation: an inline script is refused.
	evalPage[bool](t, ctx, `(() => { const s = document.createElement("script"); s.textContent = "window.__ran = true"; document.head.appendChild(s); return true; })()`)
	waitPage(t, ctx, 5*time.Second, "the inline script reported", `window.__csp.some(v => v.startsWith("script-src"))`)
	if evalPage[bool](t, ctx, `window.__ran === true`) {
		t.Error("an inline script ran under the hub's CSP")
	}
}
