package station

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/scanner"
)

const plan = `{"v":1,"site":"tw01","version":"7",
 "routes":[{"id":"r1","villages":["v011"]},{"id":"r2","villages":["v021"]}],
 "stations":{"s1":{"r1":"b01","r2":"b02"}},
 "exception_bin":{"s1":"b99"}}`

type fakeScale struct {
	kg  float64
	err error
}

func (f fakeScale) WaitStable(context.Context, time.Duration) (float64, error) { return f.kg, f.err }

type beeps struct {
	mu sync.Mutex
	n  []int
}

func (b *beeps) Beep(n int, _ time.Duration) { b.mu.Lock(); b.n = append(b.n, n); b.mu.Unlock() }

type rig struct {
	st     *Station
	pins   map[string]*gpiotest.Pin
	lamps  map[string]*gpio.Output
	buzz   *beeps
	events []Event
	full   bool
}

func newRig(t *testing.T) *rig {
	t.Helper()
	p, err := contract.DecodeSortPlan([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{pins: map[string]*gpiotest.Pin{}, lamps: map[string]*gpio.Output{}, buzz: &beeps{}}
	lights := map[string]Light{}
	for _, bin := range []string{"b01", "b02", "b99"} {
		pin := &gpiotest.Pin{N: bin}
		r.pins[bin] = pin
		r.lamps[bin] = &gpio.Output{Name: bin, Pin: pin}
		lights[bin] = r.lamps[bin]
	}
	t.Cleanup(func() {
		for _, l := range r.lamps {
			l.Close()
		}
	})
	manifest := map[string]string{"SF1234567890123": "v021", "JT0001234567890": "v011"}
	r.st = &Station{ID: "s1", Lamps: lights, Buzzer: r.buzz, Scale: fakeScale{kg: 1.25},
		Manifest: func(w string) (string, bool) { v, ok := manifest[w]; return v, ok },
		Emit: func(e Event) error {
			if r.full {
				return errors.New("queue full")
			}
			r.events = append(r.events, e)
			return nil
		}}
	r.st.SetPlan(p)
	return r
}

func TestScanLightsTheRouteBin(t *testing.T) {
	r := newRig(t)
	ev, err := r.st.Scan(context.Background(), scanner.Scan{Code: "sf1234567890123", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Decision.Bin != "b02" || ev.Carrier == "" || !ev.Weighed || ev.WeightKg != 1.25 || ev.PlanVersion != "7" {
		t.Fatalf("event %+v", ev)
	}
	if r.pins["b02"].Read() != pgpio.High || r.pins["b01"].Read() != pgpio.Low {
		t.Fatal("the wrong lamp is lit")
	}
	if m := r.lamps["b02"].Mode(); m.Blink != 0 || !m.On {
		t.Fatalf("route bin mode %+v, want steady", m)
	}
	// Confirm turns the lamp off and records the confirmation.
	c, err := r.st.Confirm(time.Now())
	if err != nil || c.Kind != Confirmed || c.Waybill != ev.Waybill {
		t.Fatalf("confirm %+v %v", c, err)
	}
	if r.pins["b02"].Read() != pgpio.Low {
		t.Fatal("lamp still lit after confirm")
	}
	if _, err := r.st.Confirm(time.Now()); err == nil {
		t.Fatal("a second confirm had a parcel")
	}
	if len(r.events) != 2 {
		t.Fatalf("%d events", len(r.events))
	}
}

func TestUnknownParcelBlinksExceptionBin(t *testing.T) {
	r := newRig(t)
	ev, err := r.st.Scan(context.Background(), scanner.Scan{Code: "NOT-A-WAYBILL", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Decision.Bin != "b99" || ev.Decision.Exception == "" || ev.Carrier != "" {
		t.Fatalf("event %+v", ev)
	}
	if m := r.lamps["b99"].Mode(); m.Blink == 0 {
		t.Fatal("exception bin not blinking")
	}
	if len(r.buzz.n) != 1 || r.buzz.n[0] != 3 {
		t.Fatalf("buzzer %v, want the error signal", r.buzz.n)
	}
}

func TestWithoutWeightOrPlanOrQueue(t *testing.T) {
	r := newRig(t)
	r.st.Scale = fakeScale{err: errors.New("scale in motion")}
	ev, err := r.st.Scan(context.Background(), scanner.Scan{Code: "JT0001234567890", At: time.Now()})
	if err != nil || ev.Weighed || ev.WeighError == "" || ev.Decision.Bin != "b01" {
		t.Fatalf("unstable scale: %+v %v", ev, err)
	}
	r.full = true
	if _, err := r.st.Scan(context.Background(), scanner.Scan{Code: "JT0001234567890", At: time.Now()}); err == nil {
		t.Fatal("a scan the queue could not keep was accepted")
	}
	if r.st.Stats().EmitErrors != 1 || r.st.Stats().Unweighed != 2 {
		t.Fatalf("stats %+v", r.st.Stats())
	}
	r.st.SetPlan(nil)
	if _, err := r.st.Scan(context.Background(), scanner.Scan{Code: "JT0001234567890", At: time.Now()}); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("no plan: %v", err)
	}
}

// BenchmarkScanToLamp measures, at 1,000 scans a minute, the time from a
// scan line being received to the bin lamp's GPIO write, with the local
// decision (no weight wait: the lamp is lit before weighing).
func BenchmarkScanToLamp(b *testing.B) {
	p, _ := contract.DecodeSortPlan([]byte(plan))
	pin := &gpiotest.Pin{N: "b02"}
	lamp := &gpio.Output{Name: "b02", Pin: pin}
	defer lamp.Close()
	st := &Station{ID: "s1", Lamps: map[string]Light{"b02": lamp},
		Manifest: func(string) (string, bool) { return "v021", true }, Emit: func(Event) error { return nil }}
	st.SetPlan(p)
	const perMinute = 1000
	gap := time.Minute / perMinute
	n := max(b.N, 300)
	lat := make([]time.Duration, 0, n)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		<-tick.C
		ev, err := st.Scan(context.Background(), scanner.Scan{Code: "SF1234567890123", At: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, ev.LampAt.Sub(ev.ScannedAt))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.Logf("scan to lamp over %d scans at %d/min: p50 %v, p99 %v, max %v (goal p99 ≤ 5 ms)", n, perMinute, p50, p99, lat[len(lat)-1])
}

// TestRelight: the hub corrects the last parcel's bin: the right lamp
// lights steady, the wrong one goes off, one beep, and the confirmation
// records the corrected route and bin.
func TestRelight(t *testing.T) {
	r := newRig(t)
	// Not in the manifest and no carrier pattern: the exception bin.
	ev, err := r.st.Scan(context.Background(), scanner.Scan{Code: "zz0000000001", At: time.Now()})
	if err != nil || ev.Decision.Bin != "b99" || ev.Decision.Exception == "" {
		t.Fatalf("scan %+v %v", ev, err)
	}
	if r.pins["b99"].Read() != pgpio.High && r.lamps["b99"].Mode().Blink == 0 {
		t.Fatal("exception bin not lit")
	}
	r.buzz.n = nil
	if err := r.st.Relight("ZZ0000000001", "r2", "b02"); err != nil {
		t.Fatal(err)
	}
	if m := r.lamps["b02"].Mode(); !m.On || m.Blink != 0 || m.For != 8*time.Second {
		t.Fatalf("corrected bin mode %+v, want steady for 8s", m)
	}
	if r.pins["b02"].Read() != pgpio.High {
		t.Fatal("corrected bin not lit")
	}
	if m := r.lamps["b99"].Mode(); m.On {
		t.Fatalf("the bin the parcel was lit into is still on: %+v", m)
	}
	if len(r.buzz.n) != 1 || r.buzz.n[0] != 1 {
		t.Fatalf("buzzer %v, want one beep", r.buzz.n)
	}
	c, err := r.st.Confirm(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != Confirmed || c.Waybill != "ZZ0000000001" || c.Decision != (contract.Decision{Route: "r2", Bin: "b02", Rule: RuleHub}) ||
		c.PlanVersion != "7" {
		t.Fatalf("confirmation after relight %+v", c)
	}
	if r.pins["b02"].Read() != pgpio.Low {
		t.Fatal("corrected bin still lit after confirm")
	}
	if r.st.Stats().Relights != 1 {
		t.Fatalf("stats %+v", r.st.Stats())
	}
}

// TestRelightOlderParcel: a correction for a parcel that is no longer the
// last lights the bin and leaves the last parcel alone.
func TestRelightOlderParcel(t *testing.T) {
	r := newRig(t)
	if _, err := r.st.Scan(context.Background(), scanner.Scan{Code: "JT0001234567890", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Relight("SF9999999999999", "r2", "b02"); err != nil {
		t.Fatal(err)
	}
	if r.pins["b02"].Read() != pgpio.High || r.pins["b01"].Read() != pgpio.High {
		t.Fatal("want the corrected bin lit and the last parcel's bin still lit")
	}
	c, err := r.st.Confirm(time.Now())
	if err != nil || c.Waybill != "JT0001234567890" || c.Decision.Bin != "b01" || c.Decision.Rule != "manifest" {
		t.Fatalf("confirmation of the last parcel %+v %v", c, err)
	}
	// The same bin: nothing goes off.
	if _, err := r.st.Scan(context.Background(), scanner.Scan{Code: "SF1234567890123", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Relight("SF1234567890123", "r2", "b02"); err != nil || r.pins["b02"].Read() != pgpio.High {
		t.Fatalf("relight into the bin already lit: %v, pin %v", err, r.pins["b02"].Read())
	}
}

func TestRelightUnknownBin(t *testing.T) {
	r := newRig(t)
	ev, err := r.st.Scan(context.Background(), scanner.Scan{Code: "SF1234567890123", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r.buzz.n = nil
	if err := r.st.Relight(ev.Waybill, "r3", "b03"); err == nil {
		t.Fatal("relight into a bin without a lamp accepted")
	}
	if r.pins["b02"].Read() != pgpio.High || len(r.buzz.n) != 0 || r.st.Stats().Relights != 0 {
		t.Fatalf("a refused relight changed something: b02 %v, beeps %v", r.pins["b02"].Read(), r.buzz.n)
	}
	if c, err := r.st.Confirm(time.Now()); err != nil || c.Decision.Bin != "b02" {
		t.Fatalf("confirmation %+v %v", c, err)
	}
}
