package influx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
)

// start returns a test InfluxDB and a Writer for it.
func start(t testing.TB) (*testenv.InfluxDB, *Writer) {
	t.Helper()
	db := testenv.StartInfluxDB(t)
	w, err := New(Config{URL: db.URL(), Token: db.Token(), Org: db.Org(), Bucket: db.Bucket(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return db, w
}

// series is how a row is told apart in these tests.
func series(r testenv.Row) string {
	return fmt.Sprintf("%s/%s/%s/%s@%d", r.Tags["site"], r.Tags["edge"], r.Tags["device"], r.Tags["room"], r.Time.UnixMilli())
}

func byRow(rows []testenv.Row) map[string]testenv.Row {
	m := make(map[string]testenv.Row, len(rows))
	for _, r := range rows {
		m[series(r)] = r
	}
	return m
}

func TestWriteReadings(t *testing.T) {
	db, w := start(t)
	ctx := context.Background()
	if err := w.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// Sub-millisecond parts are dropped: the writer uses ms precision.
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 123_456_789, time.UTC)
	rs := []*hub.Reading{
		{ID: "e1-1", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0,
			Fields: map[string]float64{"t": 3.25, "rh": 81.5}},
		{ID: "e1-2", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: t0.Add(time.Second),
			Fields: map[string]float64{"t": -0.5, "rh": 80}},
		// No room: the tag is left out.
		{ID: "e2-1", Site: "t02", Edge: "e2", Device: "scale1", TS: t0,
			Fields: map[string]float64{"kg": 12.345}},
	}
	if err := w.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	rows := db.WaitRows(t, `SELECT * FROM telemetry GROUP BY *`, 3, 10*time.Second)
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3: %+v", len(rows), rows)
	}
	got := byRow(rows)
	want := map[string]map[string]any{
		"t01/e1/th1/cold1@1740816000123": {"t": 3.25, "rh": 81.5, "kg": nil, "fault": nil},
		"t01/e1/th1/cold1@1740816001123": {"t": -0.5, "rh": 80.0, "kg": nil, "fault": nil},
		"t02/e2/scale1/@1740816000123":   {"t": nil, "rh": nil, "kg": 12.345, "fault": nil},
	}
	for key, vals := range want {
		row, ok := got[key]
		if !ok {
			t.Errorf("no row %s; got %v", key, keys(got))
			continue
		}
		if row.Measurement != Measurement {
			t.Errorf("%s: measurement %q", key, row.Measurement)
		}
		for f, v := range vals {
			if row.Values[f] != v {
				t.Errorf("%s: %s = %v, want %v", key, f, row.Values[f], v)
			}
		}
	}
}

func keys(m map[string]testenv.Row) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestWriteTwiceKeepsOneValue(t *testing.T) {
	db, w := start(t)
	ctx := context.Background()
	rs := testReadings(200, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	for i := range 2 {
		if err := w.WriteReadings(ctx, rs); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	rows := db.WaitRows(t, `SELECT * FROM telemetry GROUP BY *`, len(rs), 10*time.Second)
	if len(rows) != len(rs) {
		t.Fatalf("got %d rows after writing %d readings twice, want %d", len(rows), len(rs), len(rs))
	}
	withT := 0
	for _, r := range rs {
		if _, ok := r.Fields["t"]; ok {
			withT++
		}
	}
	count := db.Query(t, `SELECT count(t) FROM telemetry`)
	if len(count) != 1 || count[0].Values["count"] != float64(withT) {
		t.Errorf("count(t) = %+v, want %d", count, withT)
	}
}

func TestFaultOnlyReading(t *testing.T) {
	db, w := start(t)
	ts := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	rs := []*hub.Reading{
		{ID: "e1-9", Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: ts,
			Faults: map[string]string{"t": "modbus timeout", "rh": `sensor "open" circuit`}},
		// Values and a fault: the fault explains the missing field.
		{ID: "e1-10", Site: "t01", Edge: "e1", Device: "th2", Room: "cold1", TS: ts,
			Fields: map[string]float64{"t": 2}, Faults: map[string]string{"rh": "out of range"}},
	}
	if err := w.WriteReadings(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	rows := byRow(db.WaitRows(t, `SELECT * FROM telemetry GROUP BY *`, 2, 10*time.Second))
	if r := rows["t01/e1/th1/cold1@1740821400000"]; r.Values["fault"] != `rh: sensor "open" circuit; t: modbus timeout` || r.Values["t"] != nil {
		t.Errorf("fault-only row: %+v", r)
	}
	if r := rows["t01/e1/th2/cold1@1740821400000"]; r.Values["fault"] != "rh: out of range" || r.Values["t"] != 2.0 {
		t.Errorf("row with a fault: %+v", r)
	}
}

func TestServerDown(t *testing.T) {
	db, w := start(t)
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := w.WriteReadings(ctx, testReadings(10, t0)); err != nil {
		t.Fatal(err)
	}

	db.Stop()
	began := time.Now()
	err := w.WriteReadings(ctx, testReadings(10, t0.Add(time.Hour)))
	if err == nil {
		t.Fatal("write with the server stopped succeeded")
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("write with the server stopped took %v, Timeout is 2s", d)
	}
	if !strings.Contains(err.Error(), "influx write of 10 points") || errors.Is(err, ErrRejected) {
		t.Errorf("error = %v", err)
	}
	if err := w.Ping(ctx); err == nil {
		t.Error("Ping with the server stopped succeeded")
	}

	db.Start()
	if err := w.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	if err := w.WriteReadings(ctx, testReadings(10, t0.Add(time.Hour))); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	db.WaitRows(t, `SELECT * FROM telemetry GROUP BY *`, 20, 10*time.Second)
}

// A server that accepts and never answers must not hold a write longer
// than Timeout, including sub-second ones (the client's own timeout has
// whole seconds only).
func TestWriteTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	w, err := New(Config{URL: srv.URL, Bucket: "countylink/autogen", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	began := time.Now()
	err = w.WriteReadings(context.Background(), testReadings(5, time.Now()))
	if d := time.Since(began); err == nil || d > 2*time.Second {
		t.Fatalf("write to a silent server: err %v after %v, want an error after about 300ms", err, d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not a deadline", err)
	}
}

func TestRejected(t *testing.T) {
	db, w := start(t)
	ctx := context.Background()
	ts := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	// A device reporting a value called "fault" makes it a float field, so
	// a later fault text conflicts with it.
	if err := w.WriteReadings(ctx, []*hub.Reading{{Site: "t01", Edge: "e1", Device: "d1", TS: ts, Fields: map[string]float64{"fault": 1}}}); err != nil {
		t.Fatal(err)
	}
	err := w.WriteReadings(ctx, []*hub.Reading{
		{Site: "t01", Edge: "e1", Device: "d2", TS: ts, Faults: map[string]string{"t": "no answer"}},
		{Site: "t01", Edge: "e1", Device: "d3", TS: ts, Fields: map[string]float64{"t": 4}},
	})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("conflicting write: err = %v, want ErrRejected", err)
	}
	t.Log(err)
	// InfluxDB kept the point it could accept.
	db.WaitRows(t, `SELECT t FROM telemetry WHERE device = 'd3'`, 1, 10*time.Second)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no url":           {Bucket: "b"},
		"not http":         {URL: "tcp://127.0.0.1:8086", Bucket: "b"},
		"no host":          {URL: "http://", Bucket: "b"},
		"no bucket":        {URL: "http://127.0.0.1:8086"},
		"negative timeout": {URL: "http://127.0.0.1:8086", Bucket: "b", Timeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if w, err := New(cfg); err == nil {
				w.Close()
				t.Errorf("New(%+v) succeeded", cfg)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	ts := time.Date(2025, 3, 1, 0, 0, 0, 999_999, time.UTC) // ms 1740787200000
	rs := []*hub.Reading{
		nil,
		{Site: "t01", Edge: "e1", Device: "th1", Room: "cold1", TS: ts, Fields: map[string]float64{"t": 3, "rh": 80.25, "a": -1e-7}},
		{Site: "t01", Edge: "e1", Device: "th1", TS: ts, Fields: map[string]float64{"t": math.NaN(), "rh": 1}},
		{Site: "t 1,x=y", Edge: "e1", Device: "d", TS: ts, Faults: map[string]string{"t": "a \"quoted\" \\ text\nline"}},
		{Site: "t01", Edge: "e1", Device: "th1", Fields: map[string]float64{"t": 1}}, // no time
		{Site: "t01", Edge: "e1", Device: "th1", TS: ts},                             // nothing to store
	}
	got, n := encode(rs)
	want := `telemetry,device=th1,edge=e1,room=cold1,site=t01 a=-0.0000001,rh=80.25,t=3 1740787200000
telemetry,device=th1,edge=e1,site=t01 rh=1,fault="t: value NaN" 1740787200000
telemetry,device=d,edge=e1,site=t\ 1\,x\=y fault="t: a \"quoted\" \\ text line" 1740787200000
`
	if got != want || n != 3 {
		t.Errorf("encode: %d lines\n%s\nwant 3 lines\n%s", n, got, want)
	}
}

// testReadings returns n readings of n/4 temperature-humidity devices across
// sites, one every 10 s per device from t0, like a county's cold rooms.
func testReadings(n int, t0 time.Time) []*hub.Reading {
	rs := make([]*hub.Reading, n)
	devices := max(n/4, 1)
	for i := range rs {
		d := i % devices
		site := fmt.Sprintf("t%02d", d%19+1)
		r := &hub.Reading{
			ID:     fmt.Sprintf("e%d-%d", d, i),
			Site:   site,
			Edge:   "edge-" + site,
			Device: fmt.Sprintf("th%d", d),
			Room:   fmt.Sprintf("cold%d", d%3+1),
			TS:     t0.Add(time.Duration(i/devices) * 10 * time.Second).Add(time.Duration(d) * time.Millisecond),
			Fields: map[string]float64{"t": 2 + float64(i%40)/10, "rh": 70 + float64(i%200)/10, "door": float64(i % 2)},
		}
		if i%100 == 99 {
			r.Fields = nil
			r.Faults = map[string]string{"t": "modbus timeout", "rh": "modbus timeout", "door": "gpio read failed"}
		}
		rs[i] = r
	}
	return rs
}

// pointsOf builds the batch as write.Point values, the client's own way,
// for comparison with encode.
func pointsOf(rs []*hub.Reading) []*write.Point {
	pts := make([]*write.Point, 0, len(rs))
	for _, r := range rs {
		tags := map[string]string{"site": r.Site, "edge": r.Edge, "device": r.Device}
		if r.Room != "" {
			tags["room"] = r.Room
		}
		fields := make(map[string]any, len(r.Fields)+1)
		for k, v := range r.Fields {
			fields[k] = v
		}
		if f := faultText(r); f != "" {
			fields[FaultField] = f
		}
		pts = append(pts, write.NewPoint(Measurement, tags, fields, r.TS))
	}
	return pts
}

const benchBatch = 5000

// BenchmarkEncode compares building a batch's body: line protocol written
// directly (encode) or write.Point values encoded by the client.
func BenchmarkEncode(b *testing.B) {
	rs := testReadings(benchBatch, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	b.Run("lines", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encode(rs)
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "readings/s")
	})
	b.Run("points", func(b *testing.B) {
		// As the client's WritePoint encodes them.
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			e := lp.NewEncoder(&buf)
			e.SetFieldTypeSupport(lp.UintSupport)
			e.FailOnFieldErr(true)
			e.SetPrecision(time.Millisecond)
			for _, p := range pointsOf(rs) {
				if _, err := e.Encode(p); err != nil {
					b.Fatal(err)
				}
			}
			_ = buf.String()
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "readings/s")
	})
}

// BenchmarkWriteReadings writes batches of 5,000 readings to a real
// InfluxDB 1.8, through WriteReadings (line protocol built by encode) and,
// for comparison, through the client's WritePoint.
func BenchmarkWriteReadings(b *testing.B) {
	_, w := start(b)
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	round := 0
	batches := func(b *testing.B, write func([]*hub.Reading) error) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			// New times each round, so the server stores new points
			// rather than overwriting those of an earlier round.
			rs := testReadings(benchBatch, t0.Add(time.Duration(round)*time.Hour))
			round++
			b.StartTimer()
			if err := write(rs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "readings/s")
	}
	b.Run("lines", func(b *testing.B) {
		batches(b, func(rs []*hub.Reading) error { return w.WriteReadings(ctx, rs) })
	})
	b.Run("points", func(b *testing.B) {
		batches(b, func(rs []*hub.Reading) error { return w.write.WritePoint(ctx, pointsOf(rs)...) })
	})
	b.Run("lines-gzip", func(b *testing.B) {
		db := testenv.StartInfluxDB(b)
		gw, err := New(Config{URL: db.URL(), Token: db.Token(), Bucket: db.Bucket(), Gzip: true})
		if err != nil {
			b.Fatal(err)
		}
		defer gw.Close()
		batches(b, func(rs []*hub.Reading) error { return gw.WriteReadings(ctx, rs) })
	})
}
