package coldlog

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// shanghai is China Standard Time under the name the hub would load, fixed
// so the tests need no time zone database.
var shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// at is 2025-03-01 hh:mm:ss in Shanghai.
func at(hh, mm, ss int) time.Time { return time.Date(2025, 3, 1, hh, mm, ss, 0, shanghai) }

// hourParams is a chilled room (0 to 4 °C) from 08:00 to 09:00.
func hourParams() Params {
	return Params{From: at(8, 0, 0), To: at(9, 0, 0), Low: Limit(0), High: Limit(4)}
}

// hourLog is the hand-computed example: a chilled room's log for an hour,
// recorded every 5 minutes and every minute while above 4 °C, with one
// excursion and one gap.
func hourLog() []Sample {
	return []Sample{
		{at(8, 0, 0), 2.0},
		{at(8, 5, 0), 2.5},
		{at(8, 10, 0), 3.0},
		{at(8, 15, 0), 4.0}, // at the limit: in range
		{at(8, 20, 0), 5.0}, // above: the excursion starts
		{at(8, 21, 0), 6.0}, // its peak
		{at(8, 22, 0), 5.5},
		{at(8, 23, 0), 3.5}, // back in range: the excursion ends
		{at(8, 28, 0), 3.0},
		{at(8, 33, 0), 2.5}, // then nothing until 08:50: a gap
		{at(8, 50, 0), 2.0},
		{at(8, 55, 0), 2.5},
	}
}

// TestHandComputedHour checks Compute against the figures worked out by
// hand for hourLog.
//
// Each reading stands until the next, for at most 5 min (the weights w, in
// minutes):
//
//	08:00 2.0 w5   08:05 2.5 w5   08:10 3.0 w5   08:15 4.0 w5
//	08:20 5.0 w1   08:21 6.0 w1   08:22 5.5 w1   08:23 3.5 w5
//	08:28 3.0 w5   08:33 2.5 w5 (stands until 08:38, then the gap)
//	08:50 2.0 w5   08:55 2.5 w5 (stands until 09:00, the period's end)
//
// Σw = 4·5 + 3·1 + 5·5 = 48 min; the gap is 08:38 to 08:50, 12 min;
// 48 + 12 = 60. Coverage 48/60 = 0.8.
//
// Mean = Σ w·v / Σ w
//
//	= (5·2.0 + 5·2.5 + 5·3.0 + 5·4.0 + 1·5.0 + 1·6.0 + 1·5.5 + 5·3.5
//	   + 5·3.0 + 5·2.5 + 5·2.0 + 5·2.5) / 48
//	= (10 + 12.5 + 15 + 20 + 5 + 6 + 5.5 + 17.5 + 15 + 12.5 + 10 + 12.5) / 48
//	= 141.5 / 48 = 2.947917 °C  (the plain average of the 12 readings,
//	41.5 / 12 = 3.458, would count the minute readings five times over)
//
// MKT with ΔH/R = 10000 K, by value with its total weight:
//
//	v    T=v+273.15  10000/T    e^(−10000/T)   w   w·e
//	2.0  275.15      36.343812  1.644685e-16  10  1.644685e-15
//	2.5  275.65      36.277889  1.756763e-16  15  2.635144e-15
//	3.0  276.15      36.212204  1.876030e-16  10  1.876030e-15
//	3.5  276.65      36.146756  2.002919e-16   5  1.001460e-15
//	4.0  277.15      36.081544  2.137885e-16   5  1.068943e-15
//	5.0  278.15      35.951825  2.434002e-16   1  2.434002e-16
//	5.5  278.65      35.887314  2.596197e-16   1  2.596197e-16
//	6.0  279.15      35.823034  2.768560e-16   1  2.768560e-16
//	                                     Σ     48  9.006138e-15
//
// Σ w·e / Σ w = 9.006138e-15 / 48 = 1.876279e-16; −ln of it = 36.212071;
// 10000 / 36.212071 = 276.151010 K; MKT = 276.151010 − 273.15 = 3.001010 °C.
//
// Out of range: 08:20, 08:21 and 08:22 above 4 °C, 1 min each: one
// excursion from 08:20 to 08:23 (the first reading back in range), 3 min,
// peak 6.0 at 08:21.
func TestHandComputedHour(t *testing.T) {
	r := Compute(hourLog(), hourParams())
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("Count", r.Count, 12)
	check("Min", r.Min, Sample{at(8, 0, 0), 2.0})
	check("Max", r.Max, Sample{at(8, 21, 0), 6.0})
	if math.Abs(r.Mean-141.5/48) > 1e-12 {
		t.Errorf("Mean = %v, want 141.5/48 = %v", r.Mean, 141.5/48)
	}
	if math.Abs(r.MKT-3.001010) > 5e-6 {
		t.Errorf("MKT = %.6f, want 3.001010", r.MKT)
	}
	check("TimeOutOfRange", r.TimeOutOfRange, 3*time.Minute)
	check("Excursions", r.Excursions, []Excursion{{
		Kind: Above, Start: at(8, 20, 0), End: at(8, 23, 0), Duration: 3 * time.Minute,
		Peak: 6.0, PeakAt: at(8, 21, 0), Readings: 3,
	}})
	check("Gaps", r.Gaps, []Interval{{at(8, 38, 0), at(8, 50, 0)}})
	check("Sparse", r.Sparse, []Interval(nil))
	check("Covered", r.Covered, 48*time.Minute)
	check("GapTime", r.GapTime(), 12*time.Minute)
	check("Coverage", r.Coverage, 0.8)
	check("Compliant", r.Compliant, false)
	check("Params.MaxGap", r.Params.MaxGap, 5*time.Minute)
	check("Params.OutInterval", r.Params.OutInterval, time.Minute)
}

// every returns readings of value v every step from from, before to.
func every(from, to time.Time, step time.Duration, v float64) []Sample {
	var s []Sample
	for t := from; t.Before(to); t = t.Add(step) {
		s = append(s, Sample{t, v})
	}
	return s
}

func TestComputeCases(t *testing.T) {
	p := hourParams()
	frozen := Params{From: p.From, To: p.To, Low: Limit(-30), High: Limit(-18)}
	cases := []struct {
		name    string
		samples []Sample
		p       Params
		want    Report // Params, Mean and MKT are not compared
		mean    float64
	}{
		{
			name: "no data",
			p:    p,
			want: Report{Gaps: []Interval{{p.From, p.To}}},
		},
		{
			name:    "only readings outside the period",
			samples: []Sample{{at(7, 59, 0), 3}, {at(9, 0, 0), 3}, {at(10, 0, 0), 3}},
			p:       p,
			want:    Report{Gaps: []Interval{{p.From, p.To}}},
		},
		{
			name:    "single reading",
			samples: []Sample{{at(8, 30, 0), 3}},
			p:       p,
			want: Report{Count: 1, Min: Sample{at(8, 30, 0), 3}, Max: Sample{at(8, 30, 0), 3},
				Covered: 5 * time.Minute, Coverage: 5.0 / 60,
				Gaps: []Interval{{p.From, at(8, 30, 0)}, {at(8, 35, 0), p.To}}},
			mean: 3,
		},
		{
			name:    "single reading near the start stands from the start",
			samples: []Sample{{at(8, 3, 0), 3}},
			p:       p,
			want: Report{Count: 1, Min: Sample{at(8, 3, 0), 3}, Max: Sample{at(8, 3, 0), 3},
				Covered: 8 * time.Minute, Coverage: 8.0 / 60,
				Gaps: []Interval{{at(8, 8, 0), p.To}}},
			mean: 3,
		},
		{
			name:    "at the limits is in range",
			samples: append(every(p.From, at(8, 30, 0), 5*time.Minute, 0), every(at(8, 30, 0), p.To, 5*time.Minute, 4)...),
			p:       p,
			want: Report{Count: 12, Min: Sample{p.From, 0}, Max: Sample{at(8, 30, 0), 4},
				Covered: time.Hour, Coverage: 1, Compliant: true},
			mean: 2,
		},
		{
			name: "readings outside the period are left out",
			samples: append(every(p.From, p.To, 5*time.Minute, 3),
				Sample{at(7, 59, 59), 30}, Sample{p.To, 30}, Sample{at(9, 1, 0), -30}),
			p: p,
			want: Report{Count: 12, Min: Sample{p.From, 3}, Max: Sample{p.From, 3},
				Covered: time.Hour, Coverage: 1, Compliant: true},
			mean: 3,
		},
		{
			name:    "all out of range",
			samples: every(p.From, p.To, time.Minute, 5),
			p:       p,
			want: Report{Count: 60, Min: Sample{p.From, 5}, Max: Sample{p.From, 5},
				Covered: time.Hour, Coverage: 1, TimeOutOfRange: time.Hour,
				Excursions: []Excursion{{Kind: Above, Start: p.From, End: p.To, Duration: time.Hour,
					Peak: 5, PeakAt: p.From, Readings: 60, Ongoing: true}}},
			mean: 5,
		},
		{
			name: "excursion ends in a gap",
			samples: []Sample{{at(8, 0, 0), 3}, {at(8, 5, 0), 3}, {at(8, 10, 0), 5}, {at(8, 11, 0), 7},
				{at(8, 30, 0), 3}, {at(8, 35, 0), 3}, {at(8, 40, 0), 3}, {at(8, 45, 0), 3}, {at(8, 50, 0), 3}, {at(8, 55, 0), 3}},
			p: p,
			want: Report{Count: 10, Min: Sample{at(8, 0, 0), 3}, Max: Sample{at(8, 11, 0), 7},
				Covered: 46 * time.Minute, Coverage: 46.0 / 60, TimeOutOfRange: 6 * time.Minute,
				Excursions: []Excursion{{Kind: Above, Start: at(8, 10, 0), End: at(8, 16, 0), Duration: 6 * time.Minute,
					Peak: 7, PeakAt: at(8, 11, 0), Readings: 2, EndsInGap: true}},
				Gaps: []Interval{{at(8, 16, 0), at(8, 30, 0)}}},
			// (3·5 + 3·5 + 5·1 + 7·5 (until the gap) + 3·5·6) / 46
			mean: (15 + 15 + 5 + 35 + 90) / 46.0,
		},
		{
			name: "a gap splits an excursion",
			samples: []Sample{{at(8, 0, 0), 5}, {at(8, 1, 0), 6}, {at(8, 20, 0), 5.5},
				{at(8, 21, 0), 3}, {at(8, 26, 0), 3}, {at(8, 31, 0), 3}, {at(8, 36, 0), 3}, {at(8, 41, 0), 3},
				{at(8, 46, 0), 3}, {at(8, 51, 0), 3}, {at(8, 56, 0), 3}},
			p: p,
			want: Report{Count: 11, Min: Sample{at(8, 21, 0), 3}, Max: Sample{at(8, 1, 0), 6},
				Covered: 46 * time.Minute, Coverage: 46.0 / 60, TimeOutOfRange: 7 * time.Minute,
				Excursions: []Excursion{
					{Kind: Above, Start: p.From, End: at(8, 6, 0), Duration: 6 * time.Minute, Peak: 6, PeakAt: at(8, 1, 0), Readings: 2, EndsInGap: true},
					{Kind: Above, Start: at(8, 20, 0), End: at(8, 21, 0), Duration: time.Minute, Peak: 5.5, PeakAt: at(8, 20, 0), Readings: 1},
				},
				Gaps: []Interval{{at(8, 6, 0), at(8, 20, 0)}}},
			mean: (5*1 + 6*5 + 5.5*1 + 3*39) / 46.0,
		},
		{
			name: "out of range readings too far apart",
			samples: []Sample{{at(8, 0, 0), 3}, {at(8, 5, 0), 4.5}, {at(8, 8, 0), 4.6}, {at(8, 10, 0), 3},
				{at(8, 15, 0), 3}, {at(8, 20, 0), 3}, {at(8, 25, 0), 3}, {at(8, 30, 0), 3}, {at(8, 35, 0), 3},
				{at(8, 40, 0), 3}, {at(8, 45, 0), 3}, {at(8, 50, 0), 3}, {at(8, 55, 0), 3}},
			p: p,
			want: Report{Count: 13, Min: Sample{at(8, 0, 0), 3}, Max: Sample{at(8, 8, 0), 4.6},
				Covered: time.Hour, Coverage: 1, TimeOutOfRange: 5 * time.Minute,
				Excursions: []Excursion{{Kind: Above, Start: at(8, 5, 0), End: at(8, 10, 0), Duration: 5 * time.Minute,
					Peak: 4.6, PeakAt: at(8, 8, 0), Readings: 2}},
				Sparse: []Interval{{at(8, 5, 0), at(8, 8, 0)}, {at(8, 8, 0), at(8, 10, 0)}}},
			mean: (3*55 + 4.5*3 + 4.6*2) / 60.0,
		},
		{
			name: "frozen room below its low limit, then above its high",
			samples: append([]Sample{{at(8, 0, 0), -31}, {at(8, 1, 0), -32.5}, {at(8, 2, 0), -31},
				{at(8, 3, 0), -17}, {at(8, 4, 0), -20}}, every(at(8, 9, 0), p.To, 5*time.Minute, -20)...),
			p: frozen,
			want: Report{Count: 16, Min: Sample{at(8, 1, 0), -32.5}, Max: Sample{at(8, 3, 0), -17},
				Covered: time.Hour, Coverage: 1, TimeOutOfRange: 4 * time.Minute,
				Excursions: []Excursion{
					{Kind: Below, Start: at(8, 0, 0), End: at(8, 3, 0), Duration: 3 * time.Minute, Peak: -32.5, PeakAt: at(8, 1, 0), Readings: 3},
					{Kind: Above, Start: at(8, 3, 0), End: at(8, 4, 0), Duration: time.Minute, Peak: -17, PeakAt: at(8, 3, 0), Readings: 1},
				}},
			mean: (-31 - 32.5 - 31 - 17 - 20*56) / 60,
		},
		{
			name:    "no limits",
			samples: every(p.From, p.To, 5*time.Minute, 40),
			p:       Params{From: p.From, To: p.To},
			want: Report{Count: 12, Min: Sample{p.From, 40}, Max: Sample{p.From, 40},
				Covered: time.Hour, Coverage: 1, Compliant: true},
			mean: 40,
		},
		{
			name: "unsorted, repeated and not a temperature",
			samples: []Sample{{at(8, 30, 0), 2}, {at(8, 0, 0), 3}, {at(8, 30, 0), 9}, {at(8, 15, 0), math.NaN()},
				{at(8, 20, 0), math.Inf(1)}, {at(8, 25, 0), -300}},
			p: p,
			want: Report{Count: 2, Min: Sample{at(8, 30, 0), 2}, Max: Sample{at(8, 0, 0), 3},
				Covered: 10 * time.Minute, Coverage: 10.0 / 60,
				Gaps: []Interval{{at(8, 5, 0), at(8, 30, 0)}, {at(8, 35, 0), p.To}}},
			mean: 2.5,
		},
		{
			name:    "empty period",
			samples: []Sample{{at(8, 0, 0), 3}},
			p:       Params{From: p.From, To: p.From},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Compute(c.samples, c.p)
			if math.Abs(r.Mean-c.mean) > 1e-9 {
				t.Errorf("Mean = %v, want %v", r.Mean, c.mean)
			}
			if r.Count > 0 && (r.MKT < r.Mean-1e-9 || r.MKT > r.Max.Value+1e-9) {
				t.Errorf("MKT %v is not between the mean %v and the max %v", r.MKT, r.Mean, r.Max.Value)
			}
			if c.want.Compliant && (r.Count == 0 || len(r.Gaps) > 0) {
				t.Fatal("bad case: compliant with gaps or no data")
			}
			if r.Count > 0 && r.Covered+r.GapTime() != c.p.To.Sub(c.p.From) {
				t.Errorf("covered %v + gaps %v is not the period", r.Covered, r.GapTime())
			}
			r.Params, r.Mean, r.MKT = Params{}, 0, 0
			if !reflect.DeepEqual(r, c.want) {
				t.Errorf("got\n%+v\nwant\n%+v", r, c.want)
			}
		})
	}
}

// With readings at equal steps, the time-weighted MKT is the usual
// formula over the readings.
func TestMKTEqualSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := hourParams()
	s := every(p.From, p.To, 5*time.Minute, 0)
	var sum float64
	for i := range s {
		s[i].Value = 2 + 4*rng.Float64()
		sum += math.Exp(-DHR / (s[i].Value + Kelvin))
	}
	want := DHR/-math.Log(sum/float64(len(s))) - Kelvin
	if got := Compute(s, p).MKT; math.Abs(got-want) > 1e-9 {
		t.Errorf("MKT = %v, want %v", got, want)
	}
	// A constant temperature is its own MKT, cold or warm.
	for _, v := range []float64{-25, 0, 5, 40} {
		if got := Compute(every(p.From, p.To, time.Minute, v), p).MKT; math.Abs(got-v) > 1e-9 {
			t.Errorf("MKT of a constant %v = %v", v, got)
		}
	}
}

func TestValidate(t *testing.T) {
	p := hourParams()
	bad := map[string]Params{
		"no period":              {},
		"reversed":               {From: p.To, To: p.From},
		"low above high":         {From: p.From, To: p.To, Low: Limit(5), High: Limit(4)},
		"NaN limit":              {From: p.From, To: p.To, High: Limit(math.NaN())},
		"negative gap":           {From: p.From, To: p.To, MaxGap: -time.Minute},
		"out interval above gap": {From: p.From, To: p.To, OutInterval: 10 * time.Minute},
	}
	for name, bp := range bad {
		if err := bp.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, bp)
		}
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", p, err)
	}
}
