package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
)

// TestRouteRulesComplete walks the router's routes: each must have a
// rule, a fixture of TestRouteRules, and no rule may be left for a route
// removed. A route added without a rule fails here (and is refused at
// run time).
func TestRouteRulesComplete(t *testing.T) {
	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	seen := map[string]bool{}
	n := 0
	for _, r := range s.routes().Routes() {
		n++
		key := r.Method + " " + r.Path
		rk := key
		if _, ok := rules[key]; !ok {
			rk = "ANY " + r.Path
		}
		rl, ok := rules[rk]
		if !ok {
			t.Errorf("route %s has no rule in rules.go", key)
			continue
		}
		seen[rk] = true
		if !rl.public && len(rl.roles) == 0 {
			t.Errorf("route %s: a rule that is not public must name its roles", key)
		}
		if !rl.public {
			if _, ok := routeFixtures[key]; !ok {
				t.Errorf("route %s has no fixture in TestRouteRules", key)
			}
		}
	}
	if n < 40 {
		t.Fatalf("only %d routes", n)
	}
	for k := range rules {
		if !seen[k] {
			t.Errorf("rule %s is for no route", k)
		}
	}
	for k := range routeFixtures {
		if _, ok := rules[k]; !ok {
			t.Errorf("fixture %s is for no rule", k)
		}
	}
}

// fixture is a request of TestRouteRules: own is of township tw01 (or of
// no township), other the same of tw02 ("" when the route has no
// township in its request: a list filtered, or the county's).
type fixture struct {
	own, other string
	body       string
}

// routeFixtures has a request for every route with a rule that is not
// public. {run1} and {run2} are runs of tw01 and tw02, {alarm1} and
// {alarm2} their alarms, {tok} a token and {user} an account made for
// the test.
var routeFixtures = map[string]fixture{
	"GET /metrics":                                        {own: "/metrics"},
	"GET /api/v1/auth/me":                                 {own: "/api/v1/auth/me"},
	"POST /api/v1/auth/logout":                            {own: "/api/v1/auth/logout"},
	"PUT /api/v1/auth/password":                           {own: "/api/v1/auth/password", body: `{"current": "not the password", "new": "whatever long"}`},
	"GET /api/v1/users":                                   {own: "/api/v1/users"},
	"POST /api/v1/users":                                  {own: "/api/v1/users", body: `{"name": "new-user", "role": "viewer", "password": "a long password"}`},
	"PATCH /api/v1/users/:name":                           {own: "/api/v1/users/{user}", body: `{"display_name": "张三"}`},
	"GET /api/v1/tokens":                                  {own: "/api/v1/tokens"},
	"POST /api/v1/tokens":                                 {own: "/api/v1/tokens", body: `{"kind": "kiosk", "name": "tv-2"}`},
	"DELETE /api/v1/tokens/:id":                           {own: "/api/v1/tokens/{tok}"},
	"GET /api/v1/sites":                                   {own: "/api/v1/sites"},
	"PUT /api/v1/sites/:site":                             {own: "/api/v1/sites/tw01-v09", body: `{"id": "tw01-v09", "name": "新村", "kind": "village", "parent": "tw01"}`},
	"GET /api/v1/coldrooms":                               {own: "/api/v1/coldrooms"},
	"GET /api/v1/stream":                                  {own: "/api/v1/stream"},
	"GET /api/v1/alarms":                                  {own: "/api/v1/alarms?site=tw01", other: "/api/v1/alarms?site=tw02"},
	"POST /api/v1/alarms/:id/ack":                         {own: "/api/v1/alarms/{alarm1}/ack", other: "/api/v1/alarms/{alarm2}/ack", body: `{"comment": "看过了"}`},
	"GET /api/v1/alarms/:id/history":                      {own: "/api/v1/alarms/{alarm1}/history", other: "/api/v1/alarms/{alarm2}/history"},
	"GET /api/v1/coldrooms/:site/:room/log":               {own: "/api/v1/coldrooms/tw01/cr1/log?format=json", other: "/api/v1/coldrooms/tw02/cr1/log?format=json"},
	"GET /api/v1/figures":                                 {own: "/api/v1/figures?township=tw01", other: "/api/v1/figures?township=tw02"},
	"GET /api/v1/produce":                                 {own: "/api/v1/produce?township=tw01", other: "/api/v1/produce?township=tw02"},
	"GET /api/v1/board":                                   {own: "/api/v1/board"},
	"GET /api/v1/sites/:site/board":                       {own: "/api/v1/sites/tw01/board", other: "/api/v1/sites/tw02/board"},
	"GET /api/v1/edges/traffic":                           {own: "/api/v1/edges/traffic"},
	"GET /api/v1/parcels/events":                          {own: "/api/v1/parcels/events?site=tw01", other: "/api/v1/parcels/events?site=tw02"},
	"GET /api/v1/parcels/:waybill":                        {own: "/api/v1/parcels/SF0000000000101", other: "/api/v1/parcels/SF0000000000202"},
	"GET /api/v1/items":                                   {own: "/api/v1/items?township=tw01", other: "/api/v1/items?township=tw02"},
	"GET /api/v1/items/:id":                               {own: "/api/v1/items/SF0000000000101", other: "/api/v1/items/SF0000000000202"},
	"POST /api/v1/sites/:site/edges/:edge/commands/:name": {own: "/api/v1/sites/tw01/edges/tw01-e1/commands/ping?wait=50ms"},
	"GET /api/v1/commands/:id":                            {own: "/api/v1/commands/hub-none-1"},
	"POST /api/v1/manifests":                              {own: "/api/v1/manifests?site=tw01&format=csv", other: "/api/v1/manifests?site=tw02&format=csv", body: "waybill,village\nSF0000000000303,李家村\n"},
	"GET /api/v1/manifests":                               {own: "/api/v1/manifests?site=tw01", other: "/api/v1/manifests?site=tw02"},
	"GET /api/v1/manifests/parcels/:waybill":              {own: "/api/v1/manifests/parcels/SF0000000000101", other: "/api/v1/manifests/parcels/SF0000000000202"},
	"GET /api/v1/sites/:site/sortplan":                    {own: "/api/v1/sites/tw01/sortplan", other: "/api/v1/sites/tw02/sortplan"},
	"PUT /api/v1/sites/:site/sortplan":                    {own: "/api/v1/sites/tw01/sortplan", other: "/api/v1/sites/tw02/sortplan", body: `{}`},
	"POST /api/v1/sites/:site/runs":                       {own: "/api/v1/sites/tw01/runs", other: "/api/v1/sites/tw02/runs", body: `{"route": "r01"}`},
	"GET /api/v1/sites/:site/runs":                        {own: "/api/v1/sites/tw01/runs", other: "/api/v1/sites/tw02/runs"},
	"GET /api/v1/runs":                                    {own: "/api/v1/runs?site=tw01", other: "/api/v1/runs?site=tw02"},
	"GET /api/v1/runs/:id":                                {own: "/api/v1/runs/{run1}", other: "/api/v1/runs/{run2}"},
	"POST /api/v1/runs/:id/load":                          {own: "/api/v1/runs/{run1}/load", other: "/api/v1/runs/{run2}/load", body: `{"bin": "b01"}`},
	"POST /api/v1/runs/:id/unload":                        {own: "/api/v1/runs/{run1}/unload", other: "/api/v1/runs/{run2}/unload", body: `{"waybills": ["SF0000000000101"]}`},
	"POST /api/v1/runs/:id/depart":                        {own: "/api/v1/runs/{run1}/depart", other: "/api/v1/runs/{run2}/depart"},
	"POST /api/v1/runs/:id/close":                         {own: "/api/v1/runs/{run1}/close", other: "/api/v1/runs/{run2}/close"},
	"POST /api/v1/sites/:site/scans":                      {own: "/api/v1/sites/tw01-v01/scans", other: "/api/v1/sites/tw02-v01/scans", body: `{"kind": "arrived", "waybill": "SF0000000000404"}`},
	"GET /api/v1/audit":                                   {own: "/api/v1/audit?site=tw01", other: "/api/v1/audit?site=tw02"},
}

// dbManifests serves the manifests from the test's SQLite store.
type dbManifests struct{ db *sqlite.DB }

func (m dbManifests) Import(ctx context.Context, r io.Reader, site, format, source string) (*manifest.Batch, manifest.Saved, error) {
	return manifest.Import(ctx, m.db, r, format, manifest.Options{Site: site, Sites: []string{"tw01", "tw02"}, Source: source})
}
func (m dbManifests) Batches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error) {
	return m.db.ManifestBatches(ctx, site, limit)
}
func (m dbManifests) Parcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error) {
	return m.db.ManifestParcel(ctx, waybill)
}

// county is the rule tests' hub: two townships with their data, and what
// each route needs to answer.
type county struct {
	ts     *httptest.Server
	s      *Server
	db     *sqlite.DB
	access *testAccess
	ids    map[string]string // {run1} ... of the fixtures
	logs   *syncBuffer
}

// syncBuffer is a log the test reads while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func newCounty(t testing.TB) *county {
	t.Helper()
	ctx := context.Background()
	lv := live.New()
	st := state.New([]hub.Site{{ID: "county", Name: "县", Kind: hub.County},
		{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county", Rooms: []hub.Room{{ID: "cr1", Name: "1号冷库", Class: "chilled", MaxC: 4}}},
		{ID: "tw01-v01", Name: "李家村", Kind: hub.Village, Parent: "tw01"},
		{ID: "tw02", Name: "河口镇", Kind: hub.Township, Parent: "county", Rooms: []hub.Room{{ID: "cr1", Name: "1号冷库", Class: "chilled", MaxC: 4}}},
		{ID: "tw02-v01", Name: "河边村", Kind: hub.Village, Parent: "tw02"}}, lv)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetPlaces(countyPlaces{})
	edge := &fakeEdge{}
	edge.tracker = command.New(edge, contract.DefaultPrefix, 100, nil)
	now := time.Now()
	eng := alarm.New(alarm.DefaultConfig(), alarm.SinkFunc(func(alarm.Event) {}), time.Now)
	eng.EdgeFlood("tw01", "tw01-e1", 10, now)
	eng.EdgeFlood("tw02", "tw02-e1", 10, now)
	logs := &syncBuffer{}
	s := &Server{State: st, Live: lv, Metrics: new(metrics.Registry), Log: slog.New(slog.NewTextHandler(logs, nil)),
		Heartbeat: time.Hour, Events: db, Commands: edge.tracker, Logistics: db, Sites: &fakeSites{known: map[string]bool{}},
		SortPlans: fakePlans{}, Manifests: dbManifests{db}, Location: countyTZ,
		Traffic: func() []ingest.EdgeTraffic {
			return []ingest.EdgeTraffic{{Site: "tw01", Edge: "tw01-e1", Received: 1}, {Site: "tw02", Edge: "tw02-e1", Received: 2}}
		},
		ColdChain: &ColdChain{Engine: eng, Store: db, Sites: st.AllSites(), TZ: countyTZ}}
	// The table logs a kiosk in for each of its requests.
	a := withAuthConfig(t, s, db, func(c *auth.Config) { c.LoginPerIPPerMinute = 10000 })
	c := &county{s: s, db: db, access: a, ids: map[string]string{}, logs: logs}
	c.ts = serve(t, s, a)
	// A parcel of each township, announced and sorted; a run of each.
	for i, tw := range []string{"tw01", "tw02"} {
		wb := map[string]string{"tw01": "SF0000000000101", "tw02": "SF0000000000202"}[tw]
		if _, _, err := manifest.Import(ctx, db, strings.NewReader("waybill,village\n"+wb+","+map[string]string{"tw01": "李家村", "tw02": "河边村"}[tw]+"\n"),
			"csv", manifest.Options{Site: tw, Source: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveEvents(ctx, []*hub.ParcelEvent{{ID: tw + "-e1-1-1", Site: tw, Edge: tw + "-e1", Station: "s1", Kind: contract.EventSorted,
			Waybill: wb, Route: "r01", Bin: "b01", TS: now.Add(-time.Minute), Recv: now}}); err != nil {
			t.Fatal(err)
		}
		run, err := db.OpenRun(ctx, &hub.Run{Site: tw, Route: "r01", By: "test", Opened: now})
		if err != nil {
			t.Fatal(err)
		}
		c.ids[fmt.Sprintf("{run%d}", i+1)] = run.ID
		db.Audit(ctx, hub.AuditEntry{At: now, By: "test", Action: "run.open", Site: tw, Target: run.ID, Detail: "{}"})
	}
	for _, al := range eng.Active() {
		c.ids["{alarm"+strings.TrimPrefix(al.Site, "tw0")+"}"] = al.ID
	}
	return c
}

// countyPlaces are the rule tests' townships: tw01 and tw02, route r01
// to their village point.
type countyPlaces struct{}

func (countyPlaces) Township(site string) string {
	return map[string]string{"tw01": "tw01", "tw01-v01": "tw01", "tw02": "tw02", "tw02-v01": "tw02"}[site]
}
func (countyPlaces) Route(township, village string) string {
	if village == township+"-v01" {
		return "r01"
	}
	return ""
}
func (countyPlaces) RouteVillages(township, route string) []string {
	if route == "r01" {
		return []string{township + "-v01"}
	}
	return nil
}

// who is a principal of the rule tests.
type who struct {
	name     string
	role     hub.Role // "" for nobody
	township string
	via      string // auth.ViaSession, ViaKiosk or ViaToken
}

var principals = []who{
	{"nobody", "", "", ""},
	{"wall screen", hub.RoleViewer, "", auth.ViaKiosk},
	{"tw01 wall screen", hub.RoleViewer, "tw01", auth.ViaKiosk},
	{"tw01 staff", hub.RoleStaff, "tw01", auth.ViaSession},
	{"tw01 coordinator", hub.RoleTownship, "tw01", auth.ViaSession},
	{"tw01 import token", hub.RoleTownship, "tw01", auth.ViaToken},
	{"county coordinator", hub.RoleCounty, "", auth.ViaSession},
	{"admin", hub.RoleAdmin, "", auth.ViaSession},
	// Credentials that are not valid: 401 on every route not public.
	{"forged session", "", "", viaForged},
	{"expired session", "", "", viaExpired},
	{"forged token", "", "", viaForgedToken},
	// A county coordinator's cookie without the CSRF token: 403 on the
	// unsafe methods.
	{"county coordinator without CSRF", hub.RoleCounty, "", viaNoCSRF},
}

// Kinds of credentials of the rule tests besides auth's.
const (
	viaForged      = "forged"       // a session cookie of no session
	viaExpired     = "expired"      // a session idle for longer than session_idle
	viaForgedToken = "forged-token" // a bearer token of the right form, issued by nobody
	viaNoCSRF      = "no-csrf"      // a good session cookie, no X-CSRF-Token
)

// credentials signs w in afresh (a logout of an earlier request ends
// nothing the next one uses) and applies it to req.
func (c *county) credentials(t *testing.T, w who, req *http.Request) {
	t.Helper()
	ctx := context.Background()
	svc := c.s.Auth
	switch w.via {
	case "":
	case viaForged:
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: strings.Repeat("f", 43)})
		req.Header.Set(auth.CSRFHeader, "forged")
	case viaForgedToken:
		req.Header.Set("Authorization", "Bearer clk_"+strings.Repeat("F", 43))
	case viaExpired, viaNoCSRF:
		name := "session-" + w.via
		if u, _ := svc.Store.User(ctx, name); u == nil {
			if _, err := svc.CreateUser(ctx, hub.User{Name: name, Role: hub.RoleCounty}, "the password of "+name, "test"); err != nil {
				t.Fatal(err)
			}
		}
		p, id, err := svc.StartSession(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if w.via == viaExpired {
			if err := svc.Store.TouchSession(ctx, auth.HashSecret(id), time.Now().Add(-svc.Config.SessionIdle-time.Minute)); err != nil {
				t.Fatal(err)
			}
			testSession{id: id, csrf: p.CSRF()}.apply(req)
		} else {
			req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: id})
		}
	case auth.ViaToken:
		key := "token/" + w.name
		secret, ok := c.ids[key]
		if !ok {
			var err error
			if secret, _, err = svc.IssueToken(ctx, hub.TokenAPI, strings.ReplaceAll(w.name, " ", "-"), w.role, w.township, time.Time{}, "test"); err != nil {
				t.Fatal(err)
			}
			c.ids[key] = secret
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	case auth.ViaKiosk:
		key := "kiosk/" + w.name
		secret, ok := c.ids[key]
		if !ok {
			var err error
			if secret, _, err = svc.IssueToken(ctx, hub.TokenKiosk, strings.ReplaceAll(w.name, " ", "-"), w.role, w.township, time.Time{}, "test"); err != nil {
				t.Fatal(err)
			}
			c.ids[key] = secret
		}
		p, id, err := svc.KioskLogin(ctx, secret, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		testSession{id: id, csrf: p.CSRF()}.apply(req)
	case auth.ViaSession:
		name := strings.ReplaceAll(w.name, " ", "-")
		if u, _ := svc.Store.User(ctx, name); u == nil {
			if _, err := svc.CreateUser(ctx, hub.User{Name: name, Role: w.role, Township: w.township}, "the password of "+name, "test"); err != nil {
				t.Fatal(err)
			}
		}
		p, id, err := svc.StartSession(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		testSession{id: id, csrf: p.CSRF()}.apply(req)
	}
}

// do sends method path (with the fixture's ids put in) as w, and
// answers the status and whether the route rules refused it.
func (c *county) do(t *testing.T, w who, method, path, body string) (int, bool) {
	t.Helper()
	for k, v := range c.ids {
		path = strings.ReplaceAll(path, k, v)
	}
	if strings.Contains(path, "{tok}") {
		_, tok, err := c.s.Auth.IssueToken(context.Background(), hub.TokenAPI, "to-revoke", hub.RoleViewer, "", time.Time{}, "test")
		if err != nil {
			t.Fatal(err)
		}
		path = strings.ReplaceAll(path, "{tok}", tok.ID)
	}
	if strings.Contains(path, "{user}") {
		if u, _ := c.s.Auth.Store.User(context.Background(), "dummy"); u == nil {
			c.s.Auth.CreateUser(context.Background(), hub.User{Name: "dummy", Role: hub.RoleViewer}, "dummy password", "test")
		}
		path = strings.ReplaceAll(path, "{user}", "dummy")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.Contains(path, "format=csv") && method == "POST" {
		req.Header.Set("Content-Type", "text/csv")
	}
	c.credentials(t, w, req)
	before := c.s.Auth.RefusedTotal()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The stream answers 200 and goes on: its status is enough.
	resp.Body.Close()
	refused := c.s.Auth.RefusedTotal() > before
	if refused && resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Errorf("%s %s as %s: refused with %d", method, path, w.name, resp.StatusCode)
	}
	return resp.StatusCode, refused
}

// TestRouteRules checks every route's rule for every kind of principal:
// nobody, a forged or expired session and a forged token get 401; a
// cookie without its CSRF token gets 403 on an unsafe method; a role the
// rule does not list gets 403 (a wall screen on any write); a principal
// of township tw01 gets 403 for tw02's data and for the county's, and is
// let through for its own; a county-wide principal is let through for
// both. "Let through" is what the rules decide: the handler may still
// answer 400, 404, 409 or 503 for its own reasons.
func TestRouteRules(t *testing.T) {
	c := newCounty(t)
	var keys []string
	for k := range routeFixtures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	checked := 0
	for _, key := range keys {
		f := routeFixtures[key]
		method, _, _ := strings.Cut(key, " ")
		r := rules[key]
		t.Run(key, func(t *testing.T) {
			for _, w := range principals {
				for _, variant := range []string{"own", "other"} {
					path := f.own
					if variant == "other" {
						if path = f.other; path == "" {
							continue
						}
					}
					code, refused := c.do(t, w, method, path, f.body)
					checked++
					var want int // 0: let through
					switch {
					case w.role == "":
						want = 401
					case w.via == viaNoCSRF && unsafe(method):
						want = 403
					case !slices.Contains(r.roles, w.role):
						want = 403
					case w.township != "" && (r.scope == scopeCounty || variant == "other"):
						want = 403
					}
					switch {
					case want == 0 && refused:
						t.Errorf("%s %s as %s: refused with %d, want let through", method, path, w.name, code)
					case want != 0 && (!refused || code != want):
						t.Errorf("%s %s as %s: %d (refused %v), want %d", method, path, w.name, code, refused, want)
					}
				}
			}
		})
	}
	t.Logf("%d requests checked against the rules of %d routes", checked, len(keys))
}

// TestOpenAPIRolesMatchRules: the description's x-roles and x-township
// are the rule table's.
func TestOpenAPIRolesMatchRules(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	brace := regexp.MustCompile(`\{([^}]+)\}`)
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Roles    []string `json:"x-roles"`
				Township string   `json:"x-township"`
			}
			json.Unmarshal(raw, &op)
			key := strings.ToUpper(method) + " " + brace.ReplaceAllString(path, ":$1")
			r, ok := rules[key]
			if !ok {
				t.Errorf("%s: no rule", key)
				continue
			}
			var want []string
			if r.public {
				want = []string{"public"}
			}
			for _, role := range r.roles {
				want = append(want, string(role))
			}
			if !slices.Equal(op.Roles, want) || (!r.public && op.Township != r.scope.String()) {
				t.Errorf("%s: x-roles %v x-township %q, the rule says %v %q", key, op.Roles, op.Township, want, r.scope)
			}
		}
	}
}
