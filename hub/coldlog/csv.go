package coldlog

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// WriteCSV writes l as CSV for a spreadsheet: UTF-8 with a byte order mark
// (which Excel needs to read UTF-8), CRLF line ends, header rows with the
// room, period, limits and method, then a section per probe: its figures,
// its excursions, and its readings one per row with the time it stands
// for, so that a spreadsheet reproduces the mean and MKT. A gap is a row of
// its own where it falls: "数据缺失 / no data from .. to ..".
func WriteCSV(w io.Writer, l *Log) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return fmt.Errorf("temperature log csv: %w", err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	tz := l.Meta.tz()
	p := l.Params.withDefaults()
	m := &l.Meta
	row := func(fields ...string) { cw.Write(fields) }

	row("冷库温度记录 / Cold room temperature log")
	row("站点 / Site", name(m.SiteName, m.SiteNameEN, m.Site))
	row("冷库 / Room", name(m.RoomName, m.RoomNameEN, m.Room))
	row("类别 / Class", className(m.Class))
	row("下限 / Low limit (°C)", fmtLimit(p.Low))
	row("上限 / High limit (°C)", fmtLimit(p.High))
	row("期间 / Period", fmtTime(p.From, tz), fmtTime(p.To, tz))
	row("时区 / Time zone", tz.String())
	rzh, ren := recording(p)
	row("记录规则 / Recording", rzh+" / "+ren)
	mzh, men := method(p)
	row("计算方法 / Method", mzh+" / "+men)
	row("生成时间 / Generated", fmtTime(l.Meta.GeneratedAt, tz))
	row("探头数 / Probes", strconv.Itoa(len(l.Probes)))
	row("结论 / Result", logResult(l))
	if len(l.Probes) == 0 {
		row("")
		row("数据缺失 / no data from " + fmtTime(p.From, tz) + " to " + fmtTime(p.To, tz))
	}

	for i := range l.Probes {
		pr := &l.Probes[i]
		r := &pr.Report
		row("")
		row("探头 / Probe", pr.Device)
		row("结论 / Result", result(r))
		row("读数 / Readings", strconv.Itoa(r.Count))
		if !r.NoData() {
			row("最低 / Min (°C)", fmtValue(r.Min.Value), fmtTime(r.Min.TS, tz))
			row("最高 / Max (°C)", fmtValue(r.Max.Value), fmtTime(r.Max.TS, tz))
			row("平均 / Mean (°C)", fmt2(r.Mean))
			row("平均动力学温度 / MKT (°C)", fmt2(r.MKT))
		}
		row("超限时长 / Time out of range", fmtDur(r.TimeOutOfRange))
		row("超限次数 / Excursions", strconv.Itoa(len(r.Excursions)))
		row("数据缺失 / Gaps", strconv.Itoa(len(r.Gaps)), fmtDur(r.GapTime()))
		row("数据覆盖率 / Coverage", fmtCoverage(r.Coverage))
		if len(r.Excursions) > 0 {
			row("")
			row("超限 / Excursion", "类型 / Kind", "开始 / Start", "结束 / End", "时长 / Duration",
				"峰值 / Peak (°C)", "峰值时间 / Peak at", "备注 / Note")
			for j, e := range r.Excursions {
				row(strconv.Itoa(j+1), kindNames[e.Kind], fmtTime(e.Start, tz), fmtTime(e.End, tz), fmtDur(e.Duration),
					fmtValue(e.Peak), fmtTime(e.PeakAt, tz), excursionNote(&e))
			}
		}

		row("")
		row("时间 / Time", "温度 / Temperature (°C)", "在范围内 / In range", "代表时长 / Weight (s)", "备注 / Note")
		log := Clean(pr.Log, p)
		sp := spans(log, p)
		sparse := map[int64]Interval{}
		for _, s := range r.Sparse {
			sparse[s.From.UnixNano()] = s
		}
		gaps := r.Gaps
		gapRows := func(before func(Interval) bool) {
			for len(gaps) > 0 && before(gaps[0]) {
				g := gaps[0]
				gaps = gaps[1:]
				row(fmtTime(g.From, tz), "", "", "", fmt.Sprintf("数据缺失 / no data from %s to %s (%s)",
					fmtTime(g.From, tz), fmtTime(g.To, tz), fmtDur(g.Duration())))
			}
		}
		for j, s := range log {
			gapRows(func(g Interval) bool { return g.From.Before(s.TS) })
			in, note := textYes, ""
			if k := p.state(s.Value); k != "" {
				in, note = textNo, kindNames[k]
			}
			if sg, ok := sparse[s.TS.UnixNano()]; ok {
				d := fmtDur(sg.Duration())
				note += "；超限时记录间隔 " + d + " / out of range, next reading after " + d
			}
			row(fmtTime(s.TS, tz), fmtValue(s.Value), in, fmtSeconds(sp[j].Duration()), note)
		}
		gapRows(func(Interval) bool { return true })
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("temperature log csv: %w", err)
	}
	return nil
}
