package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
)

func newServer(t *testing.T, ready error) (*httptest.Server, *state.State) {
	t.Helper()
	l := live.New()
	st := state.New([]hub.Site{{ID: "county", Name: "县", Kind: hub.County},
		{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county", Rooms: []hub.Room{{ID: "cr1", Name: "1号冷库", Class: "chilled", MaxC: 4}}}}, l)
	reg := new(metrics.Registry)
	reg.NewCounter("countylink_test_total", "A test counter.").Add(2)
	s := &Server{State: st, Live: l, Metrics: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func() error { return ready }, Heartbeat: 50 * time.Millisecond}
	ts := serve(t, s, withAuth(t, s, nil))
	return ts, st
}

// get GETs url, with the admin token of the test server it is of.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	authorize(req, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRoutes(t *testing.T) {
	ts, _ := newServer(t, nil)
	for _, tc := range []struct {
		path, ctype, body string
		code              int
	}{
		{"/healthz", "application/json", `"ok"`, 200},
		{"/metrics", "text/plain", "countylink_test_total 2", 200},
		{"/api/v1/sites", "application/json", `"name":"城关镇"`, 200},
		{"/api/v1/coldrooms", "application/json", `"state":"nodata"`, 200},
		{"/api/v1/nothing", "application/json", `"error"`, 404},
		{"/", "text/html", "<html", 200},
	} {
		resp, body := get(t, ts.URL+tc.path)
		if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %s %.200q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
}

func TestHealthzNotReady(t *testing.T) {
	ts, _ := newServer(t, errors.New("not subscribed"))
	resp, body := get(t, ts.URL+"/healthz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not subscribed") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestBodyLimit(t *testing.T) {
	ts, _ := newServer(t, nil)
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/sites", strings.NewReader(strings.Repeat("x", 2<<20)))
	authorize(req, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB body: %d", resp.StatusCode)
	}
}

func TestStream(t *testing.T) {
	ts, st := newServer(t, nil)
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/stream", nil)
	authorize(req, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	next := func() (typ, data string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && typ != "":
				return typ, data
			}
		}
	}
	if typ, _ := next(); typ != "hello" {
		t.Fatalf("first event %q", typ)
	}
	st.ApplyReading(&hub.Reading{Site: "tw01", Edge: "e", Device: "d", Room: "cr1", TS: time.Now(), Fields: map[string]float64{"temperature": 5.5}})
	typ, data := next()
	var v state.RoomView
	if typ != "coldroom" || json.Unmarshal([]byte(data), &v) != nil || *v.Temperature != 5.5 || v.State != state.RoomHigh {
		t.Fatalf("%s %s", typ, data)
	}
	// The heartbeat keeps an idle stream alive.
	deadline := time.Now().Add(2 * time.Second)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ": ping") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat")
		}
	}
}

// fakeEdge is a command.Publisher standing in for the broker and the edge
// agents: it answers each command by its name from another goroutine, as
// a result arriving through ingest would.
type fakeEdge struct {
	mu        sync.Mutex
	tracker   *command.Tracker
	down      bool
	published []string
}

func (f *fakeEdge) Publish(ctx context.Context, topic string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return hub.ErrNotConnected
	}
	if strings.HasSuffix(topic, "/unacked") { // the broker never acknowledges
		<-ctx.Done()
		return fmt.Errorf("no acknowledgement from the broker: %w", ctx.Err())
	}
	f.published = append(f.published, topic)
	tp, err := contract.ParseTopic(contract.DefaultPrefix, topic)
	if err != nil {
		return err
	}
	cmd, err := contract.DecodeCommand(tp, payload)
	if err != nil {
		return err
	}
	r := &contract.Result{Header: contract.Header{V: 1, ID: tp.Edge + "-1-1", Site: tp.Site, Edge: tp.Edge, TS: time.Now()}, Command: cmd.ID}
	switch cmd.Name {
	case "ping":
		r.OK, r.Data = true, json.RawMessage(`{"boot":3}`)
	case "write":
		r.OK, r.Data = true, cmd.Args
	case "slow":
		r.OK = true
		go func() {
			time.Sleep(100 * time.Millisecond)
			f.tracker.HandleResult(r, time.Now())
		}()
		return nil
	default:
		r.Error = "unknown command " + cmd.Name
	}
	go f.tracker.HandleResult(r, time.Now())
	return nil
}

func newCommandServer(t *testing.T) (*httptest.Server, *fakeEdge, *sqlite.DB) {
	t.Helper()
	st := state.New([]hub.Site{{ID: "county", Name: "县", Kind: hub.County},
		{ID: "tw01", Name: "城关镇", Kind: hub.Township, Parent: "county"}}, nil)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	edge := &fakeEdge{}
	edge.tracker = command.New(edge, contract.DefaultPrefix, 100, nil)
	s := &Server{State: st, Live: live.New(), Metrics: new(metrics.Registry), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: db, Commands: edge.tracker}
	ts := serve(t, s, withAuth(t, s, db))
	return ts, edge, db
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	authorize(req, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// reply is the command API's answer.
type reply struct {
	command.Command
	Error string `json:"error"`
}

func TestCommandRoutes(t *testing.T) {
	ts, edge, _ := newCommandServer(t)
	base := ts.URL + "/api/v1/sites/tw01/edges/tw01-e1/commands/"
	for _, tc := range []struct {
		name, path, body string
		code             int
		state            string
		inBody           string
	}{
		{"ping", base + "ping", "", 200, command.StateOK, `"data":{"boot":3}`},
		{"write", base + "write", `{"device":"cr1-ctl","field":"setpoint","value":-1.5}`, 200, command.StateOK, `"data":{"device":"cr1-ctl","field":"setpoint","value":-1.5}`},
		{"refused", base + "reboot", `{}`, 502, command.StateFailed, `"error":"the edge refused the command: unknown command reboot"`},
		{"no result in time", base + "slow?wait=20ms", "", 504, command.StatePending, `"error":"no result from tw01-e1 within 20ms; a result that comes later is recorded: GET /api/v1/commands/hub-`},
		{"broker silent", base + "unacked?wait=20ms", "", 504, command.StatePending, `within 20ms (the broker did not acknowledge the command); a result`},
		{"unknown site", ts.URL + "/api/v1/sites/tw99/edges/tw99-e1/commands/ping", "", 404, "", `"error":"unknown site tw99"`},
		{"invalid site", ts.URL + "/api/v1/sites/TW01/edges/tw01-e1/commands/ping", "", 400, "", `"error"`},
		{"invalid edge", ts.URL + "/api/v1/sites/tw01/edges/tw01.e1/commands/ping", "", 400, "", `"error":"edge \"tw01.e1\" is not a valid id"`},
		{"invalid name", base + "Ping", "", 400, "", `"error":"command \"Ping\" is not a valid id"`},
		{"wait too long", base + "ping?wait=2m", "", 400, "", `"error":"wait`},
		{"wait not a duration", base + "ping?wait=10", "", 400, "", `"error":"wait`},
		{"args not JSON", base + "ping", "{", 400, "", `"error":"invalid command: the arguments are not JSON"`},
		{"bad write", base + "write", `{"device":"cr1-ctl"}`, 400, "", `"error":"invalid command: write:`},
		{"bad sort plan", base + "sortplan", `{"v":1,"site":"tw01","version":"1","routes":[],"stations":{"st1":{}},"exception_bin":{}}`, 400, "", `has no exception bin`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.path, tc.body)
			if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, tc.inBody) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tc.state == "" {
				return
			}
			var r reply
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if r.State != tc.state || !strings.HasPrefix(r.ID, "hub-") || r.Site != "tw01" || r.Edge != "tw01-e1" {
				t.Fatalf("reply %+v", r)
			}
			// The command stays available with its result.
			resp, body = get(t, ts.URL+"/api/v1/commands/"+r.ID)
			if resp.StatusCode != 200 || !strings.Contains(body, `"id":"`+r.ID+`"`) {
				t.Fatalf("GET the command: %d %s", resp.StatusCode, body)
			}
		})
	}

	// The late result of the command that timed out is recorded.
	_, body := post(t, base+"slow?wait=10ms", "")
	var r reply
	json.Unmarshal([]byte(body), &r)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = get(t, ts.URL+"/api/v1/commands/"+r.ID)
		var got reply
		json.Unmarshal([]byte(body), &got)
		if got.State == command.StateOK && got.Answered != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("late result not recorded: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if resp, body := get(t, ts.URL+"/api/v1/commands/hub-nothing-1"); resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown command: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"ping"); resp.StatusCode != 405 && resp.StatusCode != 404 {
		t.Errorf("GET on the command route: %d %s", resp.StatusCode, body)
	}

	// The broker is not connected: 503, and nothing is kept.
	edge.mu.Lock()
	edge.down, edge.published = true, nil
	edge.mu.Unlock()
	if resp, body := post(t, base+"ping", ""); resp.StatusCode != 503 || !strings.Contains(body, "not connected to the broker") {
		t.Errorf("broker down: %d %s", resp.StatusCode, body)
	}
}

func TestParcelEvents(t *testing.T) {
	ts, _, db := newCommandServer(t)
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	var evs []*hub.ParcelEvent
	for i := range 60 {
		w := 1.5
		evs = append(evs, &hub.ParcelEvent{ID: fmt.Sprintf("tw01-e1-1-%d", i), Site: "tw01", Edge: "tw01-e1", Station: "st1",
			Kind: contract.EventSorted, Waybill: fmt.Sprintf("SF%013d", i), Route: "r3", Bin: "b3", Rule: "manifest",
			PlanVersion: "1", WeightKg: &w, TS: t0.Add(time.Duration(i) * time.Second), Recv: t0.Add(time.Duration(i) * time.Second)})
	}
	if _, err := db.SaveEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	ids := func(body string) []string {
		var got []hub.ParcelEvent
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, e := range got {
			out = append(out, strings.TrimPrefix(e.ID, "tw01-e1-1-"))
		}
		return out
	}
	for _, tc := range []struct {
		query string
		code  int
		want  string // ids, or a part of the error
	}{
		{"site=tw01&limit=3", 200, "59 58 57"},
		{"site=tw01&limit=2&before=2026-11-29T08:00:10Z", 200, "9 8"},
		{"waybill=SF0000000000007", 200, "7"},
		{"site=county", 200, ""},
		{"", 200, "50"}, // the default limit: 50 events
		{"site=tw01&limit=0", 400, "limit"},
		{"site=tw01&limit=501", 400, "limit"},
		{"site=tw01&limit=ten", 400, "limit"},
		{"site=tw01&before=yesterday", 400, "before"},
		{"site=Tw01", 400, "not a valid id"},
		{"site=tw99", 404, "unknown site"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := get(t, ts.URL+"/api/v1/parcels/events?"+tc.query)
			if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tc.code != 200 {
				if !strings.Contains(body, `"error":`) || !strings.Contains(body, tc.want) {
					t.Errorf("error body %s", body)
				}
				return
			}
			got := ids(body)
			if tc.want == "50" {
				if len(got) != 50 || got[0] != "59" {
					t.Errorf("%d events from %v", len(got), got)
				}
				return
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
	_, body := get(t, ts.URL+"/api/v1/parcels/events?waybill=SF0000000000007")
	for _, member := range []string{`"kind":"sorted"`, `"station":"st1"`, `"weight_kg":1.5`, `"plan_version":"1"`, `"ts":"2026-11-29T08:00:07Z"`} {
		if !strings.Contains(body, member) {
			t.Errorf("event JSON lacks %s: %s", member, body)
		}
	}
	// Without an event store the route says so.
	ts2, _ := newServer(t, nil)
	if resp, body := get(t, ts2.URL+"/api/v1/parcels/events"); resp.StatusCode != 503 || !strings.Contains(body, `"error"`) {
		t.Errorf("no store: %d %s", resp.StatusCode, body)
	}
}
