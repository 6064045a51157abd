package coldlog

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed page.html
var pageSource string

var page = template.Must(template.New("page").Parse(pageSource))

type pageView struct {
	Site, Room, Class string
	Low, High         string
	From, To, TZ      string
	Generated         string
	Recording, Method [2]string
	Result            string
	OK                bool
	Probes            []probeView
}

type probeView struct {
	Device, Result string
	OK, NoData     bool
	Count          int
	Min, MinAt     string
	Max, MaxAt     string
	Mean, MKT      string
	OutOfRange     string
	Excursions     []excursionView
	Gaps           []intervalView
	GapTime        string
	Sparse         []intervalView
	Coverage       string
	Chart          chartView
}

type excursionView struct {
	N                          int
	Kind, Start, End, Duration string
	Peak, PeakAt, Note         string
}

type intervalView struct{ From, To, Duration string }

// WriteHTML writes l as a printable A4 page: the room, the period and the
// limits, then a section per probe with its figures, a chart of the period
// (the readings as recorded, the limits, gaps left blank), its excursions
// and its gaps. The page is one file: inline CSS, an inline SVG chart, no
// script, nothing fetched, so it prints (and saves as PDF from the
// browser's print dialog) the same anywhere.
func WriteHTML(w io.Writer, l *Log) error {
	tz := l.Meta.tz()
	p := l.Params.withDefaults()
	m := &l.Meta
	v := pageView{
		Site:      name(m.SiteName, m.SiteNameEN, m.Site),
		Room:      name(m.RoomName, m.RoomNameEN, m.Room),
		Class:     className(m.Class),
		Low:       fmtLimit(p.Low),
		High:      fmtLimit(p.High),
		From:      fmtTime(p.From, tz),
		To:        fmtTime(p.To, tz),
		TZ:        tz.String(),
		Generated: fmtTime(m.GeneratedAt, tz),
		Result:    logResult(l),
		OK:        l.Compliant(),
	}
	v.Recording[0], v.Recording[1] = recording(p)
	v.Method[0], v.Method[1] = method(p)
	interval := func(iv Interval) intervalView {
		return intervalView{fmtTime(iv.From, tz), fmtTime(iv.To, tz), fmtDur(iv.Duration())}
	}
	for i := range l.Probes {
		pr := &l.Probes[i]
		r := &pr.Report
		pv := probeView{
			Device: pr.Device, Result: result(r), OK: r.Compliant, NoData: r.NoData(),
			Count:      r.Count,
			OutOfRange: fmtDur(r.TimeOutOfRange),
			GapTime:    fmtDur(r.GapTime()),
			Coverage:   fmtCoverage(r.Coverage),
			Chart:      chart(Clean(pr.Log, p), r, tz),
		}
		if !r.NoData() {
			pv.Min, pv.MinAt = fmtValue(r.Min.Value), fmtTime(r.Min.TS, tz)
			pv.Max, pv.MaxAt = fmtValue(r.Max.Value), fmtTime(r.Max.TS, tz)
			pv.Mean, pv.MKT = fmt2(r.Mean), fmt2(r.MKT)
		}
		for j, e := range r.Excursions {
			pv.Excursions = append(pv.Excursions, excursionView{
				N: j + 1, Kind: kindNames[e.Kind], Start: fmtTime(e.Start, tz), End: fmtTime(e.End, tz),
				Duration: fmtDur(e.Duration), Peak: fmtValue(e.Peak), PeakAt: fmtTime(e.PeakAt, tz),
				Note: excursionNote(&e),
			})
		}
		for _, g := range r.Gaps {
			pv.Gaps = append(pv.Gaps, interval(g))
		}
		for _, s := range r.Sparse {
			pv.Sparse = append(pv.Sparse, interval(s))
		}
		v.Probes = append(v.Probes, pv)
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("temperature log page: %w", err)
	}
	return nil
}
