package influx

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/coldlog"
)

// startReader returns a test InfluxDB with a Writer and a Reader for it.
func startReader(t *testing.T) (*testenv.InfluxDB, *Writer, *Reader) {
	t.Helper()
	db, w := start(t)
	r, err := NewReader(Config{URL: db.URL(), Token: db.Token(), Org: db.Org(), Bucket: db.Bucket(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return db, w, r
}

func temp(site, edge, device, room string, ts time.Time, v float64) *hub.Reading {
	return &hub.Reading{Site: site, Edge: edge, Device: device, Room: room, TS: ts,
		Fields: map[string]float64{coldlog.Field: v, "humidity": 80}}
}

func TestRoomTemperatures(t *testing.T) {
	_, w, r := startReader(t)
	ctx := context.Background()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	rs := []*hub.Reading{
		// The room's two probes, written out of order.
		temp("tw01", "e1", "cr1-th", "cr1", from.Add(20*time.Second), 3.5),
		temp("tw01", "e1", "cr1-th", "cr1", from, 3.25), // at from: in
		temp("tw01", "e1", "cr1-th", "cr1", from.Add(10*time.Second+123*time.Millisecond), -0.5),
		temp("tw01", "e1", "cr1-ctl", "cr1", from.Add(5*time.Second), 4.1),
		// A fault-only reading of the probe: no temperature to return.
		{Site: "tw01", Edge: "e1", Device: "cr1-th", Room: "cr1", TS: from.Add(30 * time.Second),
			Faults: map[string]string{coldlog.Field: "probe open"}},
		// Outside the period: before from, at to (stop is exclusive).
		temp("tw01", "e1", "cr1-th", "cr1", from.Add(-time.Millisecond), 9),
		temp("tw01", "e1", "cr1-th", "cr1", to, 9),
		// Another room, another site, no room, another field.
		temp("tw01", "e1", "cr2-th", "cr2", from.Add(time.Minute), -18),
		temp("tw02", "e2", "cr1-th", "cr1", from.Add(time.Minute), 2),
		temp("tw01", "e1", "dock-th", "", from.Add(time.Minute), 12),
		{Site: "tw01", Edge: "e1", Device: "cr1-ctl", Room: "cr1", TS: from.Add(time.Minute),
			Fields: map[string]float64{"evaporator_temperature": -8}},
	}
	if err := w.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	got, err := r.RoomTemperatures(ctx, "tw01", "cr1", from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := []coldlog.Series{
		{Device: "cr1-ctl", Samples: []coldlog.Sample{{TS: from.Add(5 * time.Second), Value: 4.1}}},
		{Device: "cr1-th", Samples: []coldlog.Sample{
			{TS: from, Value: 3.25},
			{TS: from.Add(10*time.Second + 123*time.Millisecond), Value: -0.5},
			{TS: from.Add(20 * time.Second), Value: 3.5},
		}},
	}
	if !equalSeries(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	none, err := r.RoomTemperatures(ctx, "tw01", "cr9", from, to)
	if err != nil || len(none) != 0 {
		t.Errorf("a room without readings: %+v, %v", none, err)
	}
}

// equalSeries compares series, times by instant.
func equalSeries(a, b []coldlog.Series) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Device != b[i].Device || len(a[i].Samples) != len(b[i].Samples) {
			return false
		}
		for j, s := range a[i].Samples {
			if !s.TS.Equal(b[i].Samples[j].TS) || s.Value != b[i].Samples[j].Value {
				return false
			}
		}
	}
	return true
}

// Identities are quoted in the Flux query, never spliced into it: one with
// quotes, a backslash and an interpolation finds its own readings only.
func TestRoomTemperaturesQuoting(t *testing.T) {
	_, w, r := startReader(t)
	ctx := context.Background()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	odd := `t"1\ ${r.site}`
	if err := w.WriteReadings(ctx, []*hub.Reading{
		temp(odd, "e1", "th", "cr1", from, 1),
		temp("tw01", "e1", "th", "cr1", from, 2),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := r.RoomTemperatures(ctx, odd, "cr1", from, from.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestFluxString(t *testing.T) {
	for in, want := range map[string]string{
		"tw01":         `"tw01"`,
		`a"b`:          `"a\"b"`,
		`a\b`:          `"a\\b"`,
		"${x} $y {z}$": `"\${x} $y {z}$"`,
		"冷库\n1":        "\"冷库\n1\"",
	} {
		if got := fluxString(in); got != want {
			t.Errorf("fluxString(%q) = %s, want %s", in, got, want)
		}
	}
	q := roomQuery("countylink/autogen", "tw01", "cr1", "temperature",
		time.Date(2025, 3, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)), time.Date(2025, 3, 1, 1, 0, 0, 500, time.UTC))
	for _, part := range []string{`from(bucket: "countylink/autogen")`, "range(start: 2025-03-01T00:00:00Z, stop: 2025-03-01T01:00:00.0000005Z)",
		`r._measurement == "telemetry" and r._field == "temperature" and r.site == "tw01" and r.room == "cr1"`} {
		if !strings.Contains(q, part) {
			t.Errorf("query lacks %s:\n%s", part, q)
		}
	}
}

// The hand-computed hour of the coldlog tests, written to InfluxDB and
// read back through Build, gives the same report.
func TestRoomTemperaturesLog(t *testing.T) {
	_, w, r := startReader(t)
	ctx := context.Background()
	cst := time.FixedZone("Asia/Shanghai", 8*3600)
	at := func(hh, mm int) time.Time { return time.Date(2025, 3, 1, hh, mm, 0, 0, cst) }
	log := []coldlog.Sample{
		{TS: at(8, 0), Value: 2.0}, {TS: at(8, 5), Value: 2.5}, {TS: at(8, 10), Value: 3.0}, {TS: at(8, 15), Value: 4.0},
		{TS: at(8, 20), Value: 5.0}, {TS: at(8, 21), Value: 6.0}, {TS: at(8, 22), Value: 5.5}, {TS: at(8, 23), Value: 3.5},
		{TS: at(8, 28), Value: 3.0}, {TS: at(8, 33), Value: 2.5}, {TS: at(8, 50), Value: 2.0}, {TS: at(8, 55), Value: 2.5},
	}
	var rs []*hub.Reading
	for _, s := range log {
		rs = append(rs, temp("tw01", "e1", "cr1-th", "cr1", s.TS, s.Value))
	}
	if err := w.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	site := hub.Site{ID: "tw01", Name: "城关镇", Kind: hub.Township}
	room := hub.Room{ID: "cr1", Name: "1号冷库", Class: "chilled", MinC: 0, MaxC: 4}
	meta, p := coldlog.ForRoom(site, room, at(8, 0), at(9, 0))
	l, err := coldlog.Build(ctx, r, meta, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Probes) != 1 {
		t.Fatalf("probes %+v", l.Probes)
	}
	got, want := l.Probes[0].Report, coldlog.Compute(log, p)
	if got.Count != 12 || math.Abs(got.MKT-3.001010) > 5e-6 || got.TimeOutOfRange != 3*time.Minute ||
		len(got.Gaps) != 1 || !got.Gaps[0].From.Equal(at(8, 38)) {
		t.Errorf("report %+v", got)
	}
	// Times come back in UTC; the instants are the same.
	got.Min.TS, got.Max.TS = got.Min.TS.In(cst), got.Max.TS.In(cst)
	if got.Min != want.Min || got.Max != want.Max || got.Mean != want.Mean || got.MKT != want.MKT ||
		got.Covered != want.Covered || len(got.Excursions) != 1 || !got.Excursions[0].Start.Equal(want.Excursions[0].Start) ||
		!got.Excursions[0].End.Equal(want.Excursions[0].End) || got.Excursions[0].Peak != 6 {
		t.Errorf("read back:\n%+v\nwant\n%+v", got, want)
	}
}

func TestRoomTemperaturesErrors(t *testing.T) {
	// A server that answers the query with an error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"code":"invalid","message":"error calling function \"filter\""}`))
	}))
	t.Cleanup(srv.Close)
	r, err := NewReader(Config{URL: srv.URL, Bucket: "countylink/autogen"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.RoomTemperatures(context.Background(), "tw01", "cr1", time.Now().Add(-time.Hour), time.Now())
	if err == nil || !strings.Contains(err.Error(), "influx query of tw01/cr1 temperature") || !strings.Contains(err.Error(), "filter") {
		t.Errorf("error = %v", err)
	}

	// A server that never answers: the query gives up after Timeout.
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	r2, err := NewReader(Config{URL: silent.URL, Bucket: "b", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	began := time.Now()
	_, err = r2.RoomTemperatures(context.Background(), "tw01", "cr1", time.Now().Add(-time.Hour), time.Now())
	if d := time.Since(began); err == nil || d > 2*time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("query to a silent server: %v after %v", err, d)
	}

	if _, err := NewReader(Config{URL: "tcp://x", Bucket: "b"}); err == nil {
		t.Error("NewReader accepted a bad URL")
	}
	if r, err := NewReader(Config{URL: "http://127.0.0.1:1", Bucket: "b"}); err != nil || r.w.timeout != DefaultQueryTimeout {
		t.Errorf("default timeout: %v", err)
	}
}
