package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
)

// testPlaces is the county of the logistics tests: township tw01 with
// village points tw01-v01 (route r01) and tw01-v02 (route r02), and
// township tw02.
type testPlaces struct{}

var testTownships = map[string]string{"tw01": "tw01", "tw01-v01": "tw01", "tw01-v02": "tw01", "tw02": "tw02"}

func (testPlaces) Township(site string) string { return testTownships[site] }

func (testPlaces) Route(township, village string) string {
	return map[string]string{"tw01/tw01-v01": "r01", "tw01/tw01-v02": "r02"}[township+"/"+village]
}

func (testPlaces) RouteVillages(township, route string) []string {
	return map[string][]string{"tw01/r01": {"tw01-v01"}, "tw01/r02": {"tw01-v02"}}[township+"/"+route]
}

// fakeSites is a SiteEditor that records what it was given.
type fakeSites struct {
	mu    sync.Mutex
	known map[string]bool
	by    []string
}

func (f *fakeSites) PutSite(ctx context.Context, s hub.Site, by string) (bool, error) {
	switch s.Parent {
	case "tw404":
		return false, fmt.Errorf("site %s: parent %s: %w", s.ID, s.Parent, hub.ErrNotFound)
	case "tw01-v01":
		return false, fmt.Errorf("site %s: parent %s is a village point: %w", s.ID, s.Parent, hub.ErrInvalidIn)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.ID == "tw01" && s.Kind != hub.Township {
		return false, fmt.Errorf("site tw01 has villages and must stay a township: %w", hub.ErrConflict)
	}
	f.by = append(f.by, by)
	created := !f.known[s.ID]
	f.known[s.ID] = true
	return created, nil
}

// fakePlans is a SortPlans that takes any plan.
type fakePlans struct{}

func (fakePlans) Get(site string) json.RawMessage { return nil }
func (fakePlans) Put(ctx context.Context, site string, raw []byte) (string, []string, error) {
	return "7", []string{site + "-e1"}, nil
}

var countyTZ = time.FixedZone("CST", 8*3600)

// newLogisticsServer serves the API over a real SQLite store in a
// temporary directory.
func newLogisticsServer(t *testing.T) (*httptest.Server, *sqlite.DB, *fakeSites) {
	t.Helper()
	st := state.New([]hub.Site{{ID: "county", Name: "县", Kind: hub.County},
		{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county"},
		{ID: "tw01-v01", Name: "李家村", Kind: hub.Village, Parent: "tw01"},
		{ID: "tw01-v02", Name: "王庄", Kind: hub.Village, Parent: "tw01"},
		{ID: "tw02", Name: "河口镇", Kind: hub.Township, Parent: "county"}}, nil)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetPlaces(testPlaces{})
	sites := &fakeSites{known: map[string]bool{"tw01": true}}
	s := &Server{State: st, Metrics: new(metrics.Registry), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: db, Logistics: db, Sites: sites, SortPlans: fakePlans{}, Location: countyTZ}
	ts := serve(t, s, withAuth(t, s, db))
	return ts, db, sites
}

// call sends a request as user (a county coordinator's session; the
// admin token, principal "api:test", when empty) and returns the status,
// the body and the response.
func call(t *testing.T, method, url, user, body string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	authorize(req, user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// must sends a request that must answer code, and decodes its JSON into v
// (when not nil).
func must(t *testing.T, code int, method, url, user, body string, v any) string {
	t.Helper()
	got, out, _ := call(t, method, url, user, body)
	if got != code {
		t.Fatalf("%s %s %s: %d, want %d: %s", method, url, body, got, code, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, out)
		}
	}
	return out
}

type scanReply struct {
	Event hub.ParcelEvent `json:"event"`
	Item  *hub.Item       `json:"item"`
}

type departReply struct {
	Run        hub.Run     `json:"run"`
	LeftBehind []*hub.Item `json:"left_behind"`
}

type closeReply struct {
	Run         hub.Run     `json:"run"`
	Undelivered []*hub.Item `json:"undelivered"`
}

func ids(its []*hub.Item) []string {
	out := []string{}
	for _, it := range its {
		out = append(out, it.ID)
	}
	slices.Sort(out)
	return out
}

// TestLogisticsFlow takes parcels from the township's dock through a run
// to the village points, through the API over the SQLite store, as the
// comments of hub/logistics.go describe it.
func TestLogisticsFlow(t *testing.T) {
	ts, db, _ := newLogisticsServer(t)
	api := ts.URL + "/api/v1"
	const user = "王芳"
	ctx := context.Background()
	now := time.Now()
	wb := func(i int) string { return fmt.Sprintf("SF10000000000%02d", i) }

	// Received at the township's dock, scanned with a handheld.
	for i := 1; i <= 3; i++ {
		var r scanReply
		body := fmt.Sprintf(`{"kind": "received", "waybill": " %s ", "station": "dock1", "ts": %q}`,
			strings.ToLower(wb(i)), now.Add(-30*time.Minute).Format(time.RFC3339))
		must(t, 201, "POST", api+"/sites/tw01/scans", user, body, &r)
		if r.Event.Waybill != wb(i) || r.Event.Kind != "received" || r.Event.By != user || r.Event.Station != "dock1" ||
			r.Event.Edge != "api" || !strings.HasPrefix(r.Event.ID, "api-") || r.Event.Site != "tw01" {
			t.Errorf("scan %d: event %+v", i, r.Event)
		}
		if r.Item == nil || r.Item.State != hub.StateReceived || r.Item.Township != "tw01" {
			t.Errorf("scan %d: item %+v", i, r.Item)
		}
	}
	// The stations sort them (their events come over MQTT, not the API).
	var sorted []*hub.ParcelEvent
	for i := 1; i <= 5; i++ {
		route, bin := "r01", "b01"
		if i == 4 {
			route, bin = "r02", "b02"
		}
		w := 2.0
		sorted = append(sorted, &hub.ParcelEvent{ID: fmt.Sprintf("tw01-e1-1-%d", i), Site: "tw01", Edge: "tw01-e1", Station: "s1",
			Kind: contract.EventSorted, Waybill: wb(i), Route: route, Bin: bin, Rule: "keyword", PlanVersion: "1", WeightKg: &w,
			TS: now.Add(-20 * time.Minute), Recv: now.Add(-20 * time.Minute)})
	}
	if _, err := db.SaveEvents(ctx, sorted); err != nil {
		t.Fatal(err)
	}

	// A run for route r01 that takes two parcels.
	var run hub.Run
	must(t, 201, "POST", api+"/sites/tw01/runs", user,
		`{"route": "r01", "vehicle": "赣C12345", "driver": "李师傅", "capacity_parcels": 2}`, &run)
	if run.State != hub.RunOpen || run.Site != "tw01" || run.Route != "r01" || run.By != user || run.CapacityParcels != 2 ||
		!contract.ValidID(run.ID) || run.Vehicle != "赣C12345" {
		t.Fatalf("opened %+v", run)
	}
	runURL := api + "/runs/" + run.ID

	var res hub.LoadResult
	must(t, 200, "POST", runURL+"/load", user, fmt.Sprintf(`{"waybills": [%q, %q, %q], "from_bin": "b01"}`, wb(1), wb(2), wb(3)), &res)
	if !slices.Equal(res.Loaded, []string{wb(1), wb(2)}) || len(res.Refused) != 1 ||
		res.Refused[0].Waybill != wb(3) || res.Refused[0].Reason != hub.RefuseCapacity || res.Run == nil || res.Run.Parcels != 2 {
		t.Errorf("load past capacity: %+v", res)
	}
	res = hub.LoadResult{}
	must(t, 200, "POST", runURL+"/load", user, fmt.Sprintf(`{"waybills": [%q], "over": true}`, wb(3)), &res)
	if !slices.Equal(res.Loaded, []string{wb(3)}) || len(res.Refused) != 0 || len(res.Warnings) == 0 || res.Run.Parcels != 3 {
		t.Errorf("load over capacity: %+v", res)
	}
	res = hub.LoadResult{}
	must(t, 200, "POST", runURL+"/load", user, fmt.Sprintf(`{"waybills": [%q]}`, wb(4)), &res)
	if len(res.Loaded) != 0 || len(res.Refused) != 1 || res.Refused[0].Reason != hub.RefuseWrongRoute {
		t.Errorf("load of another route's parcel: %+v", res)
	}

	var items []*hub.Item
	must(t, 200, "GET", api+"/items?run="+run.ID+"&state=loaded", "", "", &items)
	if got := ids(items); !slices.Equal(got, []string{wb(1), wb(2), wb(3)}) {
		t.Errorf("items on the run: %v", got)
	}
	items = nil
	must(t, 200, "GET", api+"/items?township=tw01&state=sorted,confirmed&lot=false", "", "", &items)
	if got := ids(items); !slices.Equal(got, []string{wb(4), wb(5)}) {
		t.Errorf("items waiting: %v", got)
	}
	// The route's one stop: no manifest says the parcels' villages, so
	// none is counted for it until they are scanned in there.
	var got hub.Run
	must(t, 200, "GET", runURL, "", "", &got)
	if got.ID != run.ID || got.State != hub.RunOpen || got.Parcels != 3 || got.WeightKg != 6 || len(got.Stops) != 1 || got.Stops[0].Parcels != 0 {
		t.Errorf("GET the run: %+v", got)
	}
	var runs []*hub.Run
	must(t, 200, "GET", api+"/sites/tw01/runs?state=open&route=r01", "", "", &runs)
	if len(runs) != 1 || runs[0].ID != run.ID || runs[0].Parcels != 3 {
		t.Errorf("open runs: %+v", runs)
	}
	runs = nil
	must(t, 200, "GET", api+"/runs?state=departed,closed", "", "", &runs)
	if len(runs) != 0 {
		t.Errorf("no run has left yet: %+v", runs)
	}

	// It leaves: the r01 parcel still in its bin is left behind.
	var dep departReply
	must(t, 200, "POST", runURL+"/depart", user, "", &dep)
	if dep.Run.State != hub.RunDeparted || dep.Run.Departed.IsZero() {
		t.Errorf("departed %+v", dep.Run)
	}
	if got := ids(dep.LeftBehind); !slices.Equal(got, []string{wb(5)}) {
		t.Errorf("left behind %v, want %s only", got, wb(5))
	}
	if code, body, _ := call(t, "POST", runURL+"/load", user, fmt.Sprintf(`{"waybills": [%q]}`, wb(5))); code != 409 ||
		!strings.Contains(body, "is departed") {
		t.Errorf("load on a departed run: %d %s", code, body)
	}
	if code, body, _ := call(t, "POST", runURL+"/depart", user, "{}"); code != 409 {
		t.Errorf("depart twice: %d %s", code, body)
	}

	// At the village point: one parcel scanned in, one picked up.
	var r scanReply
	must(t, 201, "POST", api+"/sites/tw01-v01/scans", "", fmt.Sprintf(`{"kind": "arrived", "waybill": %q, "by": "赵丽"}`, wb(1)), &r)
	if r.Item == nil || r.Item.State != hub.StateArrived || r.Event.By != "赵丽" || r.Event.Station != "handheld" {
		t.Errorf("arrived: %+v %+v", r.Event, r.Item)
	}
	r = scanReply{}
	must(t, 201, "POST", api+"/sites/tw01-v01/scans", "", fmt.Sprintf(`{"kind": "picked_up", "waybill": %q}`, wb(2)), &r)
	if r.Item == nil || r.Item.State != hub.StatePickedUp || r.Event.By != "api:test" || r.Item.Delivered.IsZero() {
		t.Errorf("picked up: %+v %+v", r.Event, r.Item)
	}

	// Back: what no village point scanned in is listed.
	var cl closeReply
	must(t, 200, "POST", runURL+"/close", user, "", &cl)
	if cl.Run.State != hub.RunClosed || cl.Run.Delivered != 2 || cl.Run.Parcels != 3 {
		t.Errorf("closed %+v", cl.Run)
	}
	if got := ids(cl.Undelivered); !slices.Equal(got, []string{wb(3)}) {
		t.Errorf("undelivered %v, want %s", got, wb(3))
	}
	if len(cl.Run.Stops) != 1 || cl.Run.Stops[0].Village != "tw01-v01" || cl.Run.Stops[0].Arrived != 2 || !cl.Run.Stops[0].Visited {
		t.Errorf("stops %+v", cl.Run.Stops)
	}

	// The parcel, by waybill or as an item: its events oldest first.
	for _, path := range []string{"/items/" + strings.ToLower(wb(1)), "/parcels/" + wb(1)} {
		var v ParcelView
		must(t, 200, "GET", api+path, "", "", &v)
		if v.Waybill != wb(1) || v.Item == nil || v.Item.State != hub.StateArrived || v.State != hub.StateArrived || v.Item.Run != run.ID {
			t.Errorf("%s: %+v %+v", path, v, v.Item)
		}
		var kinds []string
		for i, e := range v.Events {
			kinds = append(kinds, e.Kind)
			if i > 0 && e.TS.Before(v.Events[i-1].TS) {
				t.Errorf("%s: events not oldest first", path)
			}
		}
		if want := []string{"received", "sorted", "loaded", "dispatched", "arrived"}; !slices.Equal(kinds, want) {
			t.Errorf("%s: events %v, want %v", path, kinds, want)
		}
	}
	if code, body, _ := call(t, "GET", api+"/items/SF404", "", ""); code != 404 || !strings.Contains(body, "SF404") {
		t.Errorf("unknown item: %d %s", code, body)
	}

	// The board: one parcel waiting on each route, no run on the road.
	for _, path := range []string{"/sites/tw01/board", "/board"} {
		var b hub.Board
		must(t, 200, "GET", api+path, "", "", &b)
		got := map[string]int{}
		for _, rt := range b.Routes {
			got[rt.Site+"/"+rt.Route] = rt.Waiting
			if len(rt.Runs) != 0 {
				t.Errorf("%s: route %s has runs %+v", path, rt.Route, rt.Runs)
			}
		}
		if len(got) != 2 || got["tw01/r01"] != 1 || got["tw01/r02"] != 1 {
			t.Errorf("%s: %+v", path, b)
		}
	}

	// A farm product lot weighed at the village point.
	r = scanReply{}
	must(t, 201, "POST", api+"/sites/tw01-v01/scans", user,
		`{"kind": "lot_weighed", "waybill": "lot-0001", "producer": "张三", "product": "猕猴桃", "grade": "a", "weight_kg": 12.5}`, &r)
	if r.Item == nil || !r.Item.Lot || r.Item.State != hub.StateLotWeighed || r.Item.Product != "猕猴桃" || r.Item.Village != "tw01-v01" {
		t.Errorf("lot: %+v", r.Item)
	}

	// The figures of the days around now, in the county's time zone.
	day := func(d int) string { return now.In(countyTZ).AddDate(0, 0, d).Format("2006-01-02") }
	period := "from=" + day(-1) + "&to=" + day(1)
	var figs []hub.DayFigures
	must(t, 200, "GET", api+"/figures?township=tw01&"+period, "", "", &figs)
	var sum hub.DayFigures
	for _, f := range figs {
		if f.Township != "tw01" {
			t.Errorf("figures of %s with township=tw01", f.Township)
		}
		sum.Received += f.Received
		sum.Sorted += f.Sorted
		sum.Dispatched += f.Dispatched
		sum.Delivered += f.Delivered
		sum.Exceptions += f.Exceptions
		sum.LotsCollected += f.LotsCollected
		sum.KgCollected += f.KgCollected
	}
	if sum.Received != 5 || sum.Sorted != 5 || sum.Dispatched != 3 || sum.Delivered != 1 || sum.Exceptions != 0 ||
		sum.LotsCollected != 1 || sum.KgCollected != 12.5 {
		t.Errorf("figures %+v", figs)
	}
	figs = nil
	must(t, 200, "GET", api+"/figures?township=tw02&"+period, "", "", &figs)
	if len(figs) != 0 {
		t.Errorf("tw02 has figures: %+v", figs)
	}
	code, body, resp := call(t, "GET", api+"/figures?format=csv&"+period, "", "")
	wantHead := "day,township,received,sorted,dispatched,delivered,exceptions,avg_dispatch_h,lots_collected,kg_collected,lots_shipped,kg_shipped\r\n"
	if code != 200 || !strings.HasPrefix(body, "\ufeff"+wantHead) || !strings.Contains(body, ",tw01,") ||
		resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="figures-`+day(-1)+"-"+day(1)+`.csv"` {
		t.Errorf("figures CSV: %d %q %q\n%s", code, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
	}
	// Today alone, by default.
	figs = nil
	must(t, 200, "GET", api+"/figures", "", "", &figs)
	for _, f := range figs {
		if f.Day != day(0) {
			t.Errorf("default period: a figure of %s", f.Day)
		}
	}
	var produce []hub.ProduceTotal
	must(t, 200, "GET", api+"/produce?township=tw01&"+period, "", "", &produce)
	if len(produce) != 1 || produce[0].Village != "tw01-v01" || produce[0].Township != "tw01" || produce[0].Product != "猕猴桃" ||
		produce[0].Lots != 1 || produce[0].Kg != 12.5 {
		t.Errorf("produce %+v", produce)
	}
	code, body, resp = call(t, "GET", api+"/produce?format=csv&"+period, "", "")
	if code != 200 || !strings.HasPrefix(body, "\ufeffday,village,township,product,lots,kg\r\n") || !strings.Contains(body, ",tw01-v01,tw01,猕猴桃,1,12.5\r\n") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "produce-"+day(-1)+"-"+day(1)+".csv") {
		t.Errorf("produce CSV: %d %s", code, body)
	}

	// The audit log says who did what, newest first.
	var audit []hub.AuditEntry
	must(t, 200, "GET", api+"/audit?site=tw01", "", "", &audit)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
		if e.By != user || e.Seq == 0 || e.At.IsZero() {
			t.Errorf("audit entry %+v", e)
		}
		if e.Action == AuditScan && !strings.HasPrefix(e.Target, "SF10000000000") || e.Action != AuditScan && e.Target != run.ID {
			t.Errorf("audit entry's target: %+v", e)
		}
	}
	if want := []string{"run.close", "run.depart", "run.load", "run.load", "run.load", "run.open", "scan.record", "scan.record", "scan.record"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}
	audit = nil
	must(t, 200, "GET", api+"/audit?action=run.load&limit=1&before="+fmt.Sprint(6), "", "", &audit)
	if len(audit) != 1 || audit[0].Action != "run.load" || audit[0].Seq >= 6 {
		t.Errorf("audit page %+v", audit)
	}
	audit = nil
	must(t, 200, "GET", api+"/audit?action=run.load", "", "", &audit)
	if len(audit) != 3 || !strings.Contains(audit[2].Detail, `"loaded":2`) || !strings.Contains(audit[2].Detail, `"refused":1`) {
		t.Errorf("first load's audit %+v", audit)
	}
}

// TestLogisticsBadRequests checks that every input is checked, with a
// message that names it.
func TestLogisticsBadRequests(t *testing.T) {
	ts, db, _ := newLogisticsServer(t)
	api := ts.URL + "/api/v1"
	var run hub.Run
	must(t, 201, "POST", api+"/sites/tw01/runs", "", `{"route": "r01"}`, &run)
	if run.By != "api:test" {
		t.Errorf("a run opened with the test's API token is by %q", run.By)
	}
	var closed hub.Run
	must(t, 201, "POST", api+"/sites/tw01/runs", "", `{"route": "r02"}`, &closed)
	w := 1.0
	if _, err := db.SaveEvents(context.Background(), []*hub.ParcelEvent{{ID: "tw01-e1-1-1", Site: "tw01", Edge: "tw01-e1", Station: "s1",
		Kind: contract.EventSorted, Waybill: "SF1", Route: "r02", Bin: "b02", WeightKg: &w, TS: time.Now(), Recv: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	must(t, 200, "POST", api+"/runs/"+closed.ID+"/depart", "", "", nil)
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name, method, path, user, body string
		code                           int
		want                           string
	}{
		{"bad run id", "GET", "/runs/Run-1", "", "", 400, `run \"Run-1\" is not a valid id`},
		{"unknown run", "GET", "/runs/tw01-20000101-r01-1", "", "", 404, "no run tw01-20000101-r01-1"},
		{"load unknown run", "POST", "/runs/nope/load", "", `{"waybills": ["SF1"]}`, 404, "no run nope"},
		{"depart unknown run", "POST", "/runs/nope/depart", "", "", 404, "no run nope"},
		{"close an open run", "POST", "/runs/" + run.ID + "/close", "", "", 409, "is open"},
		{"unload a departed run", "POST", "/runs/" + closed.ID + "/unload", "", `{"waybills": ["SF1"]}`, 409, "is departed"},
		{"bad site", "POST", "/sites/TW01/runs", "", `{"route": "r01"}`, 400, "not a valid id"},
		{"unknown site", "POST", "/sites/tw99/runs", "", `{"route": "r01"}`, 404, "unknown site tw99"},
		{"run at a village", "POST", "/sites/tw01-v01/runs", "", `{"route": "r01"}`, 400, "not a township"},
		{"negative capacity", "POST", "/sites/tw01/runs", "", `{"route": "r01", "capacity_parcels": -1}`, 400, "capacity_parcels"},
		{"negative weight capacity", "POST", "/sites/tw01/runs", "", `{"route": "r01", "capacity_kg": -5}`, 400, "capacity_kg"},
		{"bad route", "POST", "/sites/tw01/runs", "", `{"route": "R 1"}`, 400, "route"},
		{"no route", "POST", "/sites/tw01/runs", "", `{}`, 400, "route"},
		{"unknown member", "POST", "/sites/tw01/runs", "", `{"route": "r01", "seats": 3}`, 400, "seats"},
		{"not JSON", "POST", "/sites/tw01/runs", "", `route=r01`, 400, "the body must be"},
		{"no body", "POST", "/sites/tw01/runs", "", ``, 400, "the body must be"},
		{"empty load", "POST", "/runs/" + run.ID + "/load", "", `{}`, 400, "nothing to load"},
		{"empty waybills", "POST", "/runs/" + run.ID + "/load", "", `{"waybills": []}`, 400, "nothing to load"},
		{"waybills and bin", "POST", "/runs/" + run.ID + "/load", "", `{"waybills": ["SF1"], "bin": "b01"}`, 400, "not both"},
		{"bad waybill", "POST", "/runs/" + run.ID + "/load", "", `{"waybills": ["SF 1"]}`, 400, "waybill"},
		{"bad bin", "POST", "/runs/" + run.ID + "/load", "", `{"bin": "B01"}`, 400, "bin"},
		{"empty unload", "POST", "/runs/" + run.ID + "/unload", "", `{"waybills": []}`, 400, "waybills is empty"},
		{"depart with a body", "POST", "/runs/" + run.ID + "/depart", "", `{"now": true}`, 400, "now"},
		{"unknown kind", "POST", "/sites/tw01/scans", "", `{"kind": "teleported", "waybill": "SF1"}`, 400, `kind \"teleported\" must be one of received, loaded`},
		{"sorted by API", "POST", "/sites/tw01/scans", "", `{"kind": "sorted", "waybill": "SF1", "bin": "b01"}`, 400, "only from the scanner stations"},
		{"confirmed by API", "POST", "/sites/tw01/scans", "", `{"kind": "confirmed", "waybill": "SF1", "bin": "b01"}`, 400, "only from the scanner stations"},
		{"lot without product", "POST", "/sites/tw01-v01/scans", "", `{"kind": "lot_weighed", "waybill": "LOT-2", "weight_kg": 3}`, 400, "needs a product and a weight"},
		{"lot without weight", "POST", "/sites/tw01-v01/scans", "", `{"kind": "lot_weighed", "waybill": "LOT-2", "product": "茶叶"}`, 400, "needs a product and a weight"},
		{"loaded without run", "POST", "/sites/tw01/scans", "", `{"kind": "loaded", "waybill": "SF1"}`, 400, "run"},
		{"loaded on unknown run", "POST", "/sites/tw01/scans", "", `{"kind": "loaded", "waybill": "SF1", "run": "nope"}`, 400, "no run nope"},
		{"loaded on departed run", "POST", "/sites/tw01/scans", "", `{"kind": "loaded", "waybill": "SF1", "run": "` + closed.ID + `"}`, 409, "not open"},
		{"implausible weight", "POST", "/sites/tw01/scans", "", `{"kind": "received", "waybill": "SF1", "weight_kg": 1e9}`, 400, "weight_kg"},
		{"scan in the future", "POST", "/sites/tw01/scans", "", `{"kind": "received", "waybill": "SF1", "ts": "` + future + `"}`, 400, "ahead of the hub's clock"},
		{"scan time not RFC 3339", "POST", "/sites/tw01/scans", "", `{"kind": "received", "waybill": "SF1", "ts": "yesterday"}`, 400, "RFC 3339"},
		{"scan at unknown site", "POST", "/sites/tw99/scans", "", `{"kind": "received", "waybill": "SF1"}`, 404, "unknown site"},
		{"scan without waybill", "POST", "/sites/tw01/scans", "", `{"kind": "received"}`, 400, "waybill"},
		{"scan by bad name", "POST", "/sites/tw01/scans", "", `{"kind": "received", "waybill": "SF1", "by": "a\tb"}`, 400, "by"},
		{"scan at bad station", "POST", "/sites/tw01/scans", "", `{"kind": "received", "waybill": "SF1", "station": "Dock 1"}`, 400, "station"},
		{"bad date", "GET", "/figures?from=2026-13-01", "", "", 400, `from \"2026-13-01\" is not a date`},
		{"period backwards", "GET", "/figures?from=2026-11-02&to=2026-11-01", "", "", 400, "must run forward"},
		{"period too long", "GET", "/figures?from=2025-01-01&to=2026-01-02", "", "", 400, "at most 366 days"},
		{"bad format", "GET", "/figures?format=xlsx", "", "", 400, "format"},
		{"figures of a village", "GET", "/figures?township=tw01-v01", "", "", 400, "not a township"},
		{"figures of unknown township", "GET", "/figures?township=tw99", "", "", 404, "unknown site"},
		{"produce bad date", "GET", "/produce?to=11/29/2026", "", "", 400, `to \"11/29/2026\"`},
		{"items bad state", "GET", "/items?state=sorted,flying", "", "", 400, `state \"flying\"`},
		{"items bad lot", "GET", "/items?lot=yes", "", "", 400, "lot"},
		{"items bad route", "GET", "/items?route=R1", "", "", 400, "route"},
		{"items bad flag", "GET", "/items?flag=odd", "", "", 400, "flag"},
		{"items bad limit", "GET", "/items?limit=0", "", "", 400, "limit"},
		{"item bad waybill", "GET", "/items/" + strings.Repeat("A", 65), "", "", 400, "waybill"},
		{"runs bad state", "GET", "/runs?state=gone", "", "", 400, "state"},
		{"runs bad since", "GET", "/runs?since=last-week", "", "", 400, "since"},
		{"runs unknown site", "GET", "/runs?site=tw99", "", "", 404, "unknown site"},
		{"board of a village", "GET", "/sites/tw01-v02/board", "", "", 400, "not a township"},
		{"audit bad before", "GET", "/audit?before=x", "", "", 400, "before"},
		{"audit bad action", "GET", "/audit?action=RUN", "", "", 400, "action"},
		{"audit bad site", "GET", "/audit?site=TW", "", "", 400, "site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, resp := call(t, tc.method, api+tc.path, tc.user, tc.body)
			if code != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
				!strings.Contains(body, `"error":`) || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	// The longest period is a leap year's days.
	must(t, 200, "GET", api+"/figures?from=2024-01-01&to=2024-12-31", "", "", nil)

	// Nothing above reached the store: no event, no run, no audit entry
	// beyond the setup's.
	var items []*hub.Item
	must(t, 200, "GET", api+"/items", "", "", &items)
	if len(items) != 1 {
		t.Errorf("items %v", ids(items))
	}
	var runs []*hub.Run
	must(t, 200, "GET", api+"/runs", "", "", &runs)
	if len(runs) != 2 {
		t.Errorf("%d runs", len(runs))
	}
}

func TestLogisticsUnavailable(t *testing.T) {
	ts, _ := newServer(t, nil)
	for _, path := range []string{"/api/v1/items", "/api/v1/items/SF1", "/api/v1/runs", "/api/v1/board", "/api/v1/figures", "/api/v1/audit"} {
		if code, body, _ := call(t, "GET", ts.URL+path, "", ""); code != 503 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/api/v1/sites/tw01/runs", "/api/v1/sites/tw01/scans"} {
		if code, body, _ := call(t, "POST", ts.URL+path, "", `{}`); code != 503 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, body, _ := call(t, "PUT", ts.URL+"/api/v1/sites/tw01-v09", "", `{}`); code != 503 {
		t.Errorf("PUT a site: %d %s", code, body)
	}
}

func TestPutSite(t *testing.T) {
	ts, _, sites := newLogisticsServer(t)
	api := ts.URL + "/api/v1/sites/"
	body := `{"id": "tw01-v09", "name": "新村", "name_en": "Xincun", "kind": "village", "parent": "tw01", "phase": 2}`
	var got hub.Site
	must(t, 201, "PUT", api+"tw01-v09", "李明", body, &got)
	if want := (hub.Site{ID: "tw01-v09", Name: "新村", NameEN: "Xincun", Kind: hub.Village, Parent: "tw01", Phase: 2}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("created %+v", got)
	}
	must(t, 200, "PUT", api+"tw01-v09", "", body, nil)
	if !slices.Equal(sites.by, []string{"李明", "api:test"}) {
		t.Errorf("edits by %v", sites.by)
	}
	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"id not the path's", "tw01-v10", body, 400, "must be the path's"},
		{"bad id", "TW01", `{"id": "TW01", "name": "x", "kind": "township"}`, 400, "not a valid id"},
		{"no name", "tw01-v10", `{"id": "tw01-v10", "name": " ", "kind": "village", "parent": "tw01"}`, 400, "name"},
		{"bad kind", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "city", "parent": "tw01"}`, 400, "kind"},
		{"own parent", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "village", "parent": "tw01-v10"}`, 400, "parent"},
		{"negative phase", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "village", "parent": "tw01", "phase": -1}`, 400, "phase"},
		{"rooms", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "village", "parent": "tw01", "rooms": []}`, 400, "rooms"},
		{"editor: invalid", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "village", "parent": "tw01-v01"}`, 400, "parent tw01-v01 is a village point"},
		{"editor: not found", "tw01-v10", `{"id": "tw01-v10", "name": "x", "kind": "village", "parent": "tw404"}`, 404, "parent tw404"},
		{"editor: conflict", "tw01", `{"id": "tw01", "name": "x", "kind": "village", "parent": "county"}`, 409, "must stay a township"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out, _ := call(t, "PUT", api+tc.path, "", tc.body); code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("%d %s, want %d with %q", code, out, tc.code, tc.want)
			}
		})
	}
}

func TestSortPlanPutAudited(t *testing.T) {
	ts, _, _ := newLogisticsServer(t)
	api := ts.URL + "/api/v1"
	must(t, 200, "PUT", api+"/sites/tw01/sortplan", "李明", `{}`, nil)
	var audit []hub.AuditEntry
	must(t, 200, "GET", api+"/audit?action=sortplan.put", "", "", &audit)
	if len(audit) != 1 || audit[0].By != "李明" || audit[0].Site != "tw01" || audit[0].Target != "tw01" ||
		audit[0].Detail != `{"sent_to":["tw01-e1"],"version":"7"}` {
		t.Errorf("audit %+v", audit)
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"wang.fang", true}, {"王芳", true}, {"阿依古丽·买买提", true}, {"ops-1@tw01", true}, {strings.Repeat("a", 64), true},
		{"", false}, {"wang fang", false}, {"a\tb", false}, {strings.Repeat("a", 65), false}, {"王\u200b芳", false}, {"\xff", false},
	} {
		if got := validName(tc.name); got != tc.ok {
			t.Errorf("validName(%q) = %v", tc.name, got)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	type row struct {
		Name  string  `json:"name"`
		N     int     `json:"n"`
		Kg    float64 `json:"kg,omitempty"`
		Skip  string  `json:"-"`
		OK    bool    `json:"ok"`
		Plain string
	}
	var b bytes.Buffer
	if err := writeCSV(&b, []row{{Name: "猕猴桃, 红心", N: 2, Kg: 1.25, OK: true}, {Name: "=SUM(A1)", N: -1}}); err != nil {
		t.Fatal(err)
	}
	want := "name,n,kg,ok\r\n\"猕猴桃, 红心\",2,1.25,true\r\n'=SUM(A1),-1,0,false\r\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if err := writeCSV(&b, []struct {
		At time.Time `json:"at"`
	}{{}}); err == nil {
		t.Error("a time column is written")
	}
}

// TestStoreErrorCodes checks the store's errors reach the caller
// with the status of their kind.
func TestStoreErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("x: %w", hub.ErrInvalidIn), 400},
		{fmt.Errorf("x: %w", hub.ErrNotFound), 404},
		{fmt.Errorf("x: %w", hub.ErrConflict), 409},
		{errors.New("disk full"), 0},
	} {
		if got := codeOf(tc.err); got != tc.code {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.code)
		}
	}
}

// TestFiguresCountWrongVillage checks what hub.DayFigures says of
// Exceptions: a parcel scanned in at a village point that is not its
// destination counts, as timeline.Exception says.
func TestFiguresCountWrongVillage(t *testing.T) {
	ts, db, _ := newLogisticsServer(t)
	api := ts.URL + "/api/v1"
	now := time.Now()
	if _, err := db.SaveEvents(context.Background(), []*hub.ParcelEvent{{ID: "tw01-e1-1-1", Site: "tw01", Edge: "tw01-e1",
		Station: "s1", Kind: contract.EventSorted, Waybill: "SF1", Route: "r01", Bin: "b01", TS: now.Add(-time.Minute), Recv: now}}); err != nil {
		t.Fatal(err)
	}
	var r scanReply
	must(t, 201, "POST", api+"/sites/tw01-v02/scans", "", `{"kind": "arrived", "waybill": "SF1"}`, &r)
	if r.Item == nil || !r.Item.Has(hub.FlagWrongVillage) {
		t.Fatalf("item %+v", r.Item)
	}
	var figs []hub.DayFigures
	must(t, 200, "GET", api+"/figures?township=tw01&from="+now.In(countyTZ).AddDate(0, 0, -1).Format("2006-01-02"), "", "", &figs)
	n := 0
	for _, f := range figs {
		n += f.Exceptions
	}
	if n != 1 {
		t.Errorf("figures %+v, want 1 exception", figs)
	}
}

// TestActorIsThePrincipal: the X-User header that said who acts before
// the accounts is ignored; the record names the signed-in person.
func TestActorIsThePrincipal(t *testing.T) {
	ts, _, _ := newLogisticsServer(t)
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/sites/tw01/runs", strings.NewReader(`{"route": "r01"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", url.PathEscape("张三"))
	authorize(req, "王芳")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var run hub.Run
	json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || run.By != "王芳" {
		t.Errorf("%d: run opened by %q, want 王芳", resp.StatusCode, run.By)
	}
}
