package coldlog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// rawPoll returns readings as the edge polls them: every 10 s with up to
// ±300 ms of jitter, from from to to, skipping the stretches in holes, of
// the temperature f gives for a time.
func rawPoll(rng *rand.Rand, from, to time.Time, holes []Interval, f func(time.Time) float64) []Sample {
	var s []Sample
	for t := from; t.Before(to); t = t.Add(10 * time.Second) {
		ts := t.Add(time.Duration(rng.IntN(600)-300) * time.Millisecond).Truncate(time.Millisecond)
		if ts.Before(from) {
			ts = from
		}
		if slices.ContainsFunc(holes, func(h Interval) bool { return !ts.Before(h.From) && ts.Before(h.To) }) {
			continue
		}
		s = append(s, Sample{ts, math.Round(f(t)*10) / 10})
	}
	return s
}

// checkRecord checks Record's promises for raw and p, and that the mean
// and MKT of the log are within tol of the raw data's.
func checkRecord(t *testing.T, raw []Sample, p Params, tol float64) []Sample {
	t.Helper()
	log := Record(raw, p)
	p = p.withDefaults()
	clean := Clean(raw, p)
	for _, s := range log {
		if !slices.Contains(clean, s) {
			t.Fatalf("log reading %v is not a raw reading", s)
		}
	}
	// The cadence, wherever the raw data allows it.
	for i := 1; i < len(log); i++ {
		a, b := log[i-1], log[i]
		every := p.MaxGap
		if !p.InRange(a.Value) {
			every = p.OutInterval
		}
		if b.TS.Sub(a.TS) <= every {
			continue
		}
		j := slices.Index(clean, a)
		if clean[j+1].TS.Sub(a.TS) <= every {
			t.Errorf("log readings %v and %v are %v apart; raw had %v", a, b, b.TS.Sub(a.TS), clean[j+1])
		}
	}
	// The same figures, but for mean and MKT.
	rr, rl := Compute(raw, p), Compute(log, p)
	if math.Abs(rr.Mean-rl.Mean) > tol || math.Abs(rr.MKT-rl.MKT) > tol {
		t.Errorf("raw mean %.3f MKT %.3f, log mean %.3f MKT %.3f", rr.Mean, rr.MKT, rl.Mean, rl.MKT)
	}
	for i := range rr.Excursions {
		if i < len(rl.Excursions) {
			rl.Excursions[i].Readings = rr.Excursions[i].Readings
		}
	}
	rr.Count, rr.Mean, rr.MKT = rl.Count, rl.Mean, rl.MKT
	if !reflect.DeepEqual(rr, rl) {
		t.Errorf("raw and log reports differ:\nraw %+v\nlog %+v", rr, rl)
	}
	return log
}

func TestRecordHour(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	p := hourParams()
	// 2.5 °C with a slow wobble; a door left open from 08:20 sends it to
	// 6.3 °C and back by 08:26; the uplink drops from 08:40 to 08:47.
	temp := func(t time.Time) float64 {
		m := t.Sub(p.From).Minutes()
		v := 2.5 + 0.4*math.Sin(m/7)
		if m >= 20 && m < 26 {
			v += 4 * math.Sin(math.Pi*(m-20)/6)
		}
		return v
	}
	raw := rawPoll(rng, p.From, p.To, []Interval{{at(8, 40, 0), at(8, 47, 0)}}, temp)
	// The log holds each reading up to 5 min, so after the room cools
	// back from 6.4 °C its mean is a little above the raw data's.
	log := checkRecord(t, raw, p, 0.15)
	r := Compute(log, p)
	if len(r.Excursions) != 1 || len(r.Gaps) != 1 || r.Excursions[0].Peak != 6.4 {
		t.Errorf("excursions %+v, gaps %+v", r.Excursions, r.Gaps)
	}
	// About 12 readings a hour in range and one a minute above 4 °C: from
	// 345 raw readings.
	if len(log) > 30 {
		t.Errorf("log has %d of %d raw readings", len(log), len(raw))
	}
	t.Logf("%d raw readings, %d in the log; %+v", len(raw), len(log), r.Excursions)
}

// A log already at the cadence is kept whole.
func TestRecordKeepsALog(t *testing.T) {
	if got := Record(hourLog(), hourParams()); !reflect.DeepEqual(got, hourLog()) {
		t.Errorf("Record(hourLog) =\n%v\nwant\n%v", got, hourLog())
	}
	if got := Record(nil, hourParams()); len(got) != 0 {
		t.Errorf("Record(nil) = %v", got)
	}
}

// Random walks across the limits, with holes, keep Record's promises.
func TestRecordRandom(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			p := Params{From: at(0, 0, 0), To: at(6, 0, 0), Low: Limit(2), High: Limit(8)}
			if seed%5 == 0 {
				p.Low = nil
			}
			var holes []Interval
			for range rng.IntN(4) {
				h := p.From.Add(time.Duration(rng.IntN(360)) * time.Minute)
				holes = append(holes, Interval{h, h.Add(time.Duration(rng.IntN(12*60)) * time.Second)})
			}
			v := 5.0
			raw := rawPoll(rng, p.From, p.To, holes, func(time.Time) float64 {
				v += rng.NormFloat64() * 0.3
				return v
			})
			// A random walk of 0.3 °C every 10 s is far wilder than a
			// room, and the log's mean follows it less closely.
			checkRecord(t, raw, p, 0.5)
		})
	}
}
