package coldlog

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The chart's geometry in SVG user units; the page scales it to its width.
const (
	chartW      = 720
	chartH      = 250
	chartLeft   = 48
	chartRight  = 24
	chartTop    = 12
	chartBottom = 30
	chartTicks  = 8 // at most this many ticks on an axis
)

// chartView is a probe's chart: the readings as a step line (each reading
// held for the time it stands for, as the figures count it), broken where
// the data has a gap and red where out of range; the limits as dashed
// lines; gaps as blank hatched bands.
type chartView struct {
	W, H                    int
	Left, Top, PlotW, PlotH string
	Right, Bottom           string
	Lines                   []chartLine
	Gaps                    []chartRect
	Limits                  []chartLimit
	Peaks                   []chartPoint
	XTicks, YTicks          []chartTick
}

type chartLine struct {
	Out    bool // out of range
	Points string
}

type chartRect struct{ X, Y, W, H, LabelX, LabelY string }

type chartLimit struct{ Y, LabelX, Label string }

type chartPoint struct{ X, Y string }

type chartTick struct{ Pos, Label string }

func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// chart draws log (Clean's result) with its report r.
func chart(log []Sample, r *Report, tz *time.Location) chartView {
	p := r.Params
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	c := chartView{
		W: chartW, H: chartH,
		Left: num(chartLeft), Top: num(chartTop), PlotW: num(plotW), PlotH: num(plotH),
		Right: num(chartW - chartRight), Bottom: num(chartH - chartBottom),
	}
	period := p.To.Sub(p.From).Seconds()
	if period <= 0 {
		return c
	}
	x := func(t time.Time) float64 { return chartLeft + plotW*t.Sub(p.From).Seconds()/period }

	// The value axis holds the readings and the limits.
	lo, hi := math.Inf(1), math.Inf(-1)
	if !r.NoData() {
		lo, hi = r.Min.Value, r.Max.Value
	}
	for _, l := range []*float64{p.Low, p.High} {
		if l != nil {
			lo, hi = min(lo, *l), max(hi, *l)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 10
	}
	pad := max((hi-lo)*0.08, 0.5)
	lo, hi = lo-pad, hi+pad
	y := func(v float64) float64 { return chartTop + plotH*(hi-v)/(hi-lo) }

	step := 50.0
	for _, s := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50} {
		if (hi-lo)/s <= chartTicks {
			step = s
			break
		}
	}
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		v = math.Round(v/step)*step + 0 // + 0 turns -0 into 0
		c.YTicks = append(c.YTicks, chartTick{num(y(v)), strconv.FormatFloat(v, 'f', -1, 64)})
	}
	c.XTicks = timeTicks(p.From, p.To, tz, x)

	for _, l := range []struct {
		v     *float64
		label string
	}{{p.High, "上限 High "}, {p.Low, "下限 Low "}} {
		if l.v != nil {
			c.Limits = append(c.Limits, chartLimit{num(y(*l.v)), num(chartW - chartRight - 4), l.label + fmtValue(*l.v)})
		}
	}
	for _, g := range r.Gaps {
		x0, x1 := x(g.From), x(g.To)
		c.Gaps = append(c.Gaps, chartRect{num(x0), num(chartTop), num(x1 - x0), num(plotH), num((x0 + x1) / 2), num(chartTop + 14)})
	}
	for _, e := range r.Excursions {
		c.Peaks = append(c.Peaks, chartPoint{num(x(e.PeakAt)), num(y(e.Peak))})
	}

	// The step line: a new polyline where the data has a gap or crosses a
	// limit; at a crossing the new line starts with the rise to the new
	// value.
	sp := spans(log, p)
	var b strings.Builder
	var cur *chartLine
	point := func(t time.Time, v float64) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(x(t)))
		b.WriteByte(',')
		b.WriteString(num(y(v)))
	}
	flush := func() {
		if cur != nil {
			cur.Points = b.String()
			c.Lines = append(c.Lines, *cur)
			cur, b = nil, strings.Builder{}
		}
	}
	for i, s := range log {
		out := p.state(s.Value) != ""
		joined := i > 0 && sp[i-1].To.Equal(sp[i].From)
		if cur != nil && (!joined || cur.Out != out) {
			flush()
		}
		if cur == nil {
			cur = &chartLine{Out: out}
			if joined {
				point(sp[i].From, log[i-1].Value)
			}
		}
		point(sp[i].From, s.Value)
		point(sp[i].To, s.Value)
	}
	flush()
	return c
}

// timeTicks returns at most chartTicks ticks from from to to on round
// local times.
func timeTicks(from, to time.Time, tz *time.Location, x func(time.Time) float64) []chartTick {
	period := to.Sub(from)
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if period/s <= chartTicks {
			step = s
			break
		}
	}
	layout := "15:04"
	switch {
	case step >= 24*time.Hour:
		layout = "01-02"
	case period > 24*time.Hour:
		layout = "01-02 15:04"
	}
	local := from.In(tz)
	t := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, tz)
	if step > 24*time.Hour {
		// Whole days from the first midnight of the period.
		if t.Before(from) {
			t = t.AddDate(0, 0, 1)
		}
	} else {
		for t.Before(from) {
			t = t.Add(step)
		}
	}
	var ticks []chartTick
	for ; !t.After(to); t = t.Add(step) {
		ticks = append(ticks, chartTick{num(x(t)), t.In(tz).Format(layout)})
	}
	return ticks
}
