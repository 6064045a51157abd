package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fuzzRoutes are the routes taking a JSON body, as FuzzJSONRoutes calls
// them: {run1} is a run of tw01, {alarm1} an alarm of tw01.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/kiosk"},
	{"POST", "/api/v1/users"},
	{"PATCH", "/api/v1/users/li"},
	{"POST", "/api/v1/tokens"},
	{"PUT", "/api/v1/sites/tw01-v09"},
	{"POST", "/api/v1/alarms/{alarm1}/ack"},
	{"POST", "/api/v1/sites/tw01/edges/tw01-e1/commands/write?wait=50ms"},
	{"POST", "/api/v1/manifests?site=tw01&format=json"},
	{"PUT", "/api/v1/sites/tw01/sortplan"},
	{"POST", "/api/v1/sites/tw01/runs"},
	{"POST", "/api/v1/runs/{run1}/load"},
	{"POST", "/api/v1/runs/{run1}/unload"},
	{"POST", "/api/v1/runs/{run1}/depart"},
	{"POST", "/api/v1/runs/{run1}/close"},
	{"POST", "/api/v1/sites/tw01/scans"},
}

// FuzzJSONRoutes sends arbitrary bodies to every route taking JSON, as
// the admin, through the whole handler (route rules, limits, decoding,
// the store): no answer may be a 5xx, nothing may panic (the recover
// middleware would turn a panic into a 500).
func FuzzJSONRoutes(f *testing.F) {
	for i := range fuzzRoutes {
		for _, seed := range []string{
			``, `{}`, `null`, `[]`, `{"name": "li", "password": "a good long password"}`,
			`{"name": "li", "display_name": "李", "role": "township_coordinator", "township": "tw01", "password": "a good long password"}`,
			`{"role": "county_coordinator", "disabled": true}`,
			`{"kind": "kiosk", "name": "hall-tv"}`, `{"kind": "api", "name": "x", "role": "admin"}`, `{"token": "clk_x"}`,
			`{"id": "tw01-v09", "name": "新村", "name_en": "Xincun", "kind": "village", "parent": "tw01", "phase": 2}`,
			`{"comment": "done"}`, `{"register": "setpoint", "value": 3}`,
			`[{"waybill": "SF0000000000301", "village": "李家村"}]`, `{"parcels": [{"waybill": 1}]}`,
			`{"version": 1, "routes": []}`, `{"route": "r01", "vehicle": "赣C12345", "capacity_kg": 800}`,
			`{"waybills": ["SF0000000000101"], "from_bin": "b01"}`, `{"bin": "b01"}`,
			`{"kind": "arrived", "waybill": "SF0000000000101"}`, `{"kind": "handed_over", "waybill": "\u0000"}`,
			`{"capacity_kg": -1e308, "capacity_parcels": 1e300}`, `{"waybills": [` + strings.Repeat(`"SF1",`, 50) + `"x"]}`,
			`{"a":` + strings.Repeat("[", 5000) + `}`, "\xff\xfe{", `{"name": "` + strings.Repeat("字", 100) + `"}`,
		} {
			f.Add(uint8(i), []byte(seed))
		}
	}
	c := newCounty(f)
	h := c.s.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := r.path
		for k, v := range c.ids {
			path = strings.ReplaceAll(path, k, v)
		}
		req := httptest.NewRequest(r.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.1:1234"
		c.access.send(req, "")
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { h.ServeHTTP(rec, req); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("%s %s %.200q: no answer within 10 s\n%s", r.method, path, body, buf[:runtime.Stack(buf, true)])
		}
		// The edge's answer to a command: it refused (502) or was late (504).
		edgeSaid := strings.Contains(path, "/commands/") && (rec.Code == http.StatusBadGateway || rec.Code == http.StatusGatewayTimeout)
		if rec.Code >= 500 && !edgeSaid {
			t.Fatalf("%s %s %.200q: %d %s", r.method, path, body, rec.Code, rec.Body)
		}
	})
}
