package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/metrics"
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
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, st
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
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
	resp, err := http.Post(ts.URL+"/api/v1/sites", "application/json", strings.NewReader(strings.Repeat("x", 2<<20)))
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
	resp, err := http.Get(ts.URL + "/api/v1/stream")
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
