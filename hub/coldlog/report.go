package coldlog

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DHR is ΔH/R in kelvin, the activation energy over the gas constant used
// for the mean kinetic temperature (83.144 kJ/mol, as USP <1079> and the
// WHO guidance use).
const DHR = 10000.0

// Kelvin is 0 °C in kelvin.
const Kelvin = 273.15

// Recording cadence defaults.
const (
	// DefaultMaxGap is the longest a log may go without a reading.
	DefaultMaxGap = 5 * time.Minute
	// DefaultOutInterval is the longest a log may go without a reading
	// while the room is out of range.
	DefaultOutInterval = time.Minute
)

// Sample is one temperature reading in °C.
type Sample struct {
	TS    time.Time
	Value float64
}

// Params are what a log is computed against.
type Params struct {
	// From and To bound the period: readings with From <= TS < To count.
	From, To time.Time
	// Low and High are the room's limits in °C; nil means no limit.
	Low, High *float64
	// MaxGap is the longest a reading stands for the room, and so the
	// longest stretch without readings that is not a gap; zero means
	// DefaultMaxGap.
	MaxGap time.Duration
	// OutInterval is the recording interval while out of range: readings
	// out of range further apart than this (but not a gap) are reported as
	// Sparse. Zero means DefaultOutInterval.
	OutInterval time.Duration
}

// Limit returns a pointer to v, for Params.Low and Params.High.
func Limit(v float64) *float64 { return &v }

// Validate says what is wrong with p, naming the field.
func (p Params) Validate() error {
	var errs []error
	if p.From.IsZero() || p.To.IsZero() || !p.To.After(p.From) {
		errs = append(errs, fmt.Errorf("period %v to %v: to must be after from", p.From, p.To))
	}
	for name, l := range map[string]*float64{"low": p.Low, "high": p.High} {
		if l != nil && (math.IsNaN(*l) || math.IsInf(*l, 0)) {
			errs = append(errs, fmt.Errorf("%s limit %v: must be a number", name, *l))
		}
	}
	if p.Low != nil && p.High != nil && *p.Low > *p.High {
		errs = append(errs, fmt.Errorf("limits %v to %v: low must not be above high", *p.Low, *p.High))
	}
	if p.MaxGap < 0 {
		errs = append(errs, fmt.Errorf("max gap %v: must not be negative", p.MaxGap))
	}
	if p.OutInterval < 0 || p.OutInterval > p.withDefaults().MaxGap {
		errs = append(errs, fmt.Errorf("out interval %v: must be between 0 and the max gap", p.OutInterval))
	}
	return errors.Join(errs...)
}

func (p Params) withDefaults() Params {
	if p.MaxGap == 0 {
		p.MaxGap = DefaultMaxGap
	}
	if p.OutInterval == 0 {
		p.OutInterval = min(DefaultOutInterval, p.MaxGap)
	}
	return p
}

// Kind says which limit an excursion went beyond.
type Kind string

// Excursion kinds.
const (
	Above Kind = "high" // above the high limit
	Below Kind = "low"  // below the low limit
)

// state is a reading's place against the limits: "" in range, or a Kind.
func (p Params) state(v float64) Kind {
	// The edge rounds values to 1e-6 of their unit; so does the
	// comparison, so that 4 °C arriving as 4.000000000000001 is in range.
	v = math.Round(v*1e6) / 1e6
	switch {
	case p.High != nil && v > *p.High:
		return Above
	case p.Low != nil && v < *p.Low:
		return Below
	}
	return ""
}

// InRange reports whether v is within p's limits, the limits included.
func (p Params) InRange(v float64) bool { return p.state(v) == "" }

// Interval is a stretch of time, From included, To excluded.
type Interval struct {
	From, To time.Time
}

// Duration is To - From.
func (iv Interval) Duration() time.Duration { return iv.To.Sub(iv.From) }

// Excursion is a stretch out of range (see the package doc).
type Excursion struct {
	Kind       Kind
	Start, End time.Time
	Duration   time.Duration // End - Start
	Peak       float64       // the highest reading (Above) or the lowest (Below)
	PeakAt     time.Time
	Readings   int
	// Ongoing is set when the room was still out of range when the period
	// ended: End is Params.To.
	Ongoing bool
	// EndsInGap is set when the data stopped while the room was out of
	// range: End is where the gap starts, and when the room came back is
	// not known.
	EndsInGap bool
}

// Report is the temperature log's figures for one probe and period.
type Report struct {
	Params Params // with the defaults filled in
	Count  int    // readings in the period; 0 means no data
	// Min and Max are the lowest and highest readings, the first when
	// several are equal. Zero when Count is 0, as are Mean and MKT.
	Min, Max Sample
	Mean     float64 // °C, time-weighted
	MKT      float64 // mean kinetic temperature in °C, time-weighted
	// Covered is the time the readings stand for; Coverage is its share of
	// the period. The gaps make up the rest.
	Covered        time.Duration
	Coverage       float64
	TimeOutOfRange time.Duration
	Excursions     []Excursion
	Gaps           []Interval
	// Sparse are stretches between two readings out of range that are
	// further apart than Params.OutInterval, though not a gap: the
	// recording rule was not met there.
	Sparse []Interval
	// Compliant is set when there is data, no excursion and no gap.
	Compliant bool
}

// NoData reports whether the period has no reading.
func (r *Report) NoData() bool { return r.Count == 0 }

// GapTime is the time in gaps, the period less Covered.
func (r *Report) GapTime() time.Duration {
	var d time.Duration
	for _, g := range r.Gaps {
		d += g.Duration()
	}
	return d
}

// Clean returns the samples of s in p's period with a value that can be a
// temperature (finite, above absolute zero), in time order, one per time
// (the first given). It does not change s.
func Clean(s []Sample, p Params) []Sample {
	out := make([]Sample, 0, len(s))
	for _, x := range s {
		if !x.TS.Before(p.From) && x.TS.Before(p.To) && x.Value > -Kelvin && !math.IsInf(x.Value, 0) {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b Sample) int { return a.TS.Compare(b.TS) })
	return slices.CompactFunc(out, func(a, b Sample) bool { return a.TS.Equal(b.TS) })
}

// spans returns the stretch each reading of log stands for, log being
// Clean's result for p (see the package doc).
func spans(log []Sample, p Params) []Interval {
	out := make([]Interval, len(log))
	for i, s := range log {
		start := s.TS
		if i == 0 && s.TS.Sub(p.From) <= p.MaxGap {
			start = p.From
		}
		end := s.TS.Add(p.MaxGap)
		if next := nextTime(log, i, p); next.Before(end) {
			end = next
		}
		out[i] = Interval{start, end}
	}
	return out
}

// nextTime is the time of the reading after log[i], or the period's end.
func nextTime(log []Sample, i int, p Params) time.Time {
	if i+1 < len(log) {
		return log[i+1].TS
	}
	return p.To
}

// Compute returns the figures of the readings in samples that fall in p's
// period (see the package doc for how). Samples need not be in order;
// those outside the period or without a finite value are left out, and of
// several at one time the first counts. A period that is empty or reversed
// gives a report with no data.
func Compute(samples []Sample, p Params) Report {
	p = p.withDefaults()
	r := Report{Params: p}
	period := p.To.Sub(p.From)
	if period <= 0 {
		return r
	}
	log := Clean(samples, p)
	r.Count = len(log)
	if r.Count == 0 {
		r.Gaps = []Interval{{p.From, p.To}}
		return r
	}
	sp := spans(log, p)
	if gap := log[0].TS.Sub(p.From); gap > p.MaxGap {
		r.Gaps = append(r.Gaps, Interval{p.From, log[0].TS})
	}
	r.Min, r.Max = log[0], log[0]
	// MKT's sum of exponentials is taken relative to the largest exponent,
	// which keeps it exact whatever the temperatures.
	expo := make([]float64, len(log))
	top := math.Inf(-1)
	for i, s := range log {
		expo[i] = -DHR / (s.Value + Kelvin)
		top = max(top, expo[i])
	}
	var sumW, sumV, sumE float64
	var cur *Excursion
	closeExc := func() {
		if cur != nil {
			cur.Duration = cur.End.Sub(cur.Start)
			r.TimeOutOfRange += cur.Duration
			r.Excursions = append(r.Excursions, *cur)
			cur = nil
		}
	}
	for i, s := range log {
		if s.Value < r.Min.Value {
			r.Min = s
		}
		if s.Value > r.Max.Value {
			r.Max = s
		}
		start, end, next := sp[i].From, sp[i].To, nextTime(log, i, p)
		w := sp[i].Duration()
		r.Covered += w
		sumW += w.Seconds()
		sumV += w.Seconds() * s.Value
		sumE += w.Seconds() * math.Exp(expo[i]-top)

		kind := p.state(s.Value)
		if cur != nil && (kind != cur.Kind || !cur.End.Equal(start)) {
			closeExc()
		}
		if kind != "" {
			if cur == nil {
				cur = &Excursion{Kind: kind, Start: start, Peak: s.Value, PeakAt: s.TS}
			}
			cur.End = end
			cur.Readings++
			if (kind == Above && s.Value > cur.Peak) || (kind == Below && s.Value < cur.Peak) {
				cur.Peak, cur.PeakAt = s.Value, s.TS
			}
			if end.Before(next) {
				cur.EndsInGap = true
			} else if i+1 == len(log) {
				cur.Ongoing = true
			}
			if i+1 < len(log) && end.Equal(next) && next.Sub(s.TS) > p.OutInterval {
				r.Sparse = append(r.Sparse, Interval{s.TS, next})
			}
		}
		if end.Before(next) {
			closeExc()
			r.Gaps = append(r.Gaps, Interval{end, next})
		}
	}
	closeExc()
	r.Mean = sumV / sumW
	r.MKT = DHR/-(top+math.Log(sumE/sumW)) - Kelvin
	r.Coverage = r.Covered.Seconds() / period.Seconds()
	r.Compliant = len(r.Excursions) == 0 && len(r.Gaps) == 0 && len(r.Sparse) == 0
	return r
}
