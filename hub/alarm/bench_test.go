package alarm

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// BenchmarkEvaluate1000Rooms measures the alarm evaluation of 1,000 cold
// rooms (19 townships' worth and more) sending one reading every 10 s:
// 100 readings a second. Each round feeds one reading per room, of a
// cold-room controller (temperature, humidity, door, defrost, alarm and
// relay bits), with 5% of the rooms in a high alarm. Its cost per reading is set
// against baselines in the same run: an empty handler, and copying the
// reading's fields into a new map (what keeping the latest reading
// costs). The engine runs with and without its Tick once a second. The metric "%core@100/s" is the share of one core that 100
// readings a second take: ns/reading × 100 / 10⁹ × 100 %.
func BenchmarkEvaluate1000Rooms(b *testing.B) {
	const rooms = 1000
	var rules []contract.RoomRule
	readings := make([]*hub.Reading, rooms)
	for i := range rooms {
		site, room := fmt.Sprintf("tw%02d", i/50), fmt.Sprintf("cr%d", i%50)
		rules = append(rules, contract.DefaultRoomRule(site, room, contract.ClassChilled))
		readings[i] = &hub.Reading{ID: "x", Site: site, Edge: site + "-e1", Device: room + "-ctl", Room: room,
			Fields: map[string]float64{
				contract.FieldTemperature: 2.5, "humidity": 81, "evaporator_temperature": -6,
				"setpoint": 2, "high_limit": 6, "low_limit": 0,
				contract.FieldDoor: 0, contract.FieldDefrost: 0, "compressor": 1, "fan": 1,
				"alarm_high": 0, "alarm_low": 0, contract.FieldProbeAlarm: 0, "alarm_door": 0,
			}}
	}
	report := func(b *testing.B, n int) {
		ns := float64(b.Elapsed().Nanoseconds()) / float64(n)
		b.ReportMetric(ns, "ns/reading")
		b.ReportMetric(ns*100/1e9*100, "%core@100/s")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("baseline=empty-handler", func(b *testing.B) {
		var h func(*hub.Reading) = func(*hub.Reading) {}
		n := 0
		for b.Loop() {
			for _, r := range readings {
				h(r)
			}
			n += rooms
		}
		report(b, n)
	})

	b.Run("baseline=copy-fields", func(b *testing.B) {
		var keep map[string]float64
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range readings {
				keep = maps.Clone(r.Fields)
			}
			n += rooms
		}
		_ = keep
		report(b, n)
	})

	for _, tc := range []struct {
		name  string
		ticks bool
	}{{"engine=readings", false}, {"engine=readings+tick-every-1s", true}} {
		b.Run(tc.name, func(b *testing.B) {
			clk := &simClock{now: t0}
			e := New(DefaultConfig(), nil, clk.Now)
			if err := e.SetRules(rules); err != nil {
				b.Fatal(err)
			}
			now := t0
			round := func(tick bool) {
				for i, r := range readings {
					// 5% of the rooms warm, with some noise.
					v := 2.5 + float64(i%7)*0.1
					if i%20 == 0 {
						v = 7 + float64(i%3)*0.1
					}
					r.Fields[contract.FieldTemperature] = v
					r.TS = now.Add(time.Duration(i) * 10 * time.Millisecond)
				}
				for s := range 10 {
					clk.set(now.Add(time.Duration(s+1) * time.Second))
					for _, r := range readings[s*100 : (s+1)*100] {
						e.Reading(r)
					}
					if tick {
						e.Tick(clk.Now())
					}
				}
				now = now.Add(10 * time.Second)
			}
			for range 60 { // ten minutes: the warm rooms are in alarm
				round(true)
			}
			if s := e.Stats(); s.Active != rooms/20 {
				b.Fatalf("%d alarms active, want %d", s.Active, rooms/20)
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				round(tc.ticks)
				n += rooms
			}
			report(b, n)
		})
	}
}

// BenchmarkEdgesAppear is a storm of edges coming online at once, each
// with its site's cold room: every edge is first heard of (its status),
// sends a reading, goes offline and comes back, with the engine ticking
// ten times during each pass (a Tick walks every room and edge, so it is
// ticked as often for either size). The cost per edge must not grow with
// the number of edges: compare ns/edge of the two sizes (what is left
// between them is the caches, not the work). Sorting every edge for each
// new one (n² log n in all) and looking through every room for those
// behind an edge (n²) made an edge cost 0.18 ms among 1,000 and 2.8 ms
// among 10,000; now a few µs in both.
func BenchmarkEdgesAppear(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("edges=%d", n), func(b *testing.B) {
			rules := make([]contract.RoomRule, n)
			readings := make([]*hub.Reading, n)
			for i := range n {
				site := fmt.Sprintf("t%04d-v%02d", i/21, i%21)
				rules[i] = contract.DefaultRoomRule(site, "cr1", contract.ClassChilled)
				readings[i] = &hub.Reading{ID: "x", Site: site, Edge: "vp", Device: "cr1-th", Room: "cr1",
					Fields: map[string]float64{contract.FieldTemperature: 4, "humidity": 80}}
			}
			edges := 0
			for b.Loop() {
				b.StopTimer()
				clk := &simClock{now: t0}
				e := New(DefaultConfig(), nil, clk.Now)
				if err := e.SetRules(rules); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, online := range []bool{true, false, true} {
					for i, r := range readings {
						if i%(n/10) == 0 {
							clk.set(clk.Now().Add(time.Second))
							e.Tick(clk.Now())
						}
						e.EdgeStatus(r.Site, r.Edge, online, clk.Now())
						if online {
							r.TS = clk.Now()
							e.Reading(r)
						}
					}
				}
				e.Tick(clk.Now())
				edges += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(edges), "ns/edge")
			b.ReportMetric(0, "ns/op")
		})
	}
}
