package coldlog

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The exports' wording: Chinese first, then English.
var (
	classNames = map[string]string{
		"chilled":  "冷藏 chilled",
		"frozen":   "冷冻 frozen",
		"medicine": "药品 medicine",
		"custom":   "自定义 custom",
	}
	kindNames = map[Kind]string{
		Above: "超上限 / above high limit",
		Below: "低于下限 / below low limit",
	}
)

const (
	textCompliant    = "合格 / compliant"
	textNotCompliant = "不合格 / not compliant"
	textNoData       = "无数据 / no data"
	textNoLimit      = "无 / none"
	textYes          = "是 / yes"
	textNo           = "否 / no"
	textOngoing      = "期末仍超限 / still out of range at the end of the period"
	textEndsInGap    = "超限中数据中断 / data stopped while out of range"
)

// timeLayout is how the exports write a time: local time with its offset.
const timeLayout = "2006-01-02 15:04:05 -07:00"

func fmtTime(t time.Time, tz *time.Location) string { return t.In(tz).Format(timeLayout) }

// fmtValue writes a reading as stored, so a spreadsheet recomputes the
// figures exactly.
func fmtValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// fmt2 writes a computed temperature to 0.01 °C.
func fmt2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// fmtDur writes d as hours:minutes:seconds, to the nearest second.
func fmtDur(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	sign := ""
	if s < 0 {
		sign, s = "-", -s
	}
	return fmt.Sprintf("%s%02d:%02d:%02d", sign, s/3600, s/60%60, s%60)
}

// fmtSeconds writes d in seconds, to the millisecond the stores keep.
func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64)
}

// fmtCoverage writes a fraction as a percentage rounded down to 0.1 %, so
// that a period with a gap never shows 100.0 %.
func fmtCoverage(c float64) string {
	return strconv.FormatFloat(math.Floor(c*1000+1e-9)/10, 'f', 1, 64) + "%"
}

func fmtLimit(l *float64) string {
	if l == nil {
		return textNoLimit
	}
	return fmtValue(*l)
}

func className(c string) string {
	if n, ok := classNames[c]; ok {
		return n
	}
	return c
}

// name writes "中文名 English (id)", leaving out what is empty.
func name(zh, en, id string) string {
	s := zh
	if en != "" && en != zh {
		if s != "" {
			s += " "
		}
		s += en
	}
	if s == "" {
		return id
	}
	return s + " (" + id + ")"
}

func result(r *Report) string {
	switch {
	case r.NoData():
		return textNoData + "，" + textNotCompliant
	case r.Compliant:
		return textCompliant
	}
	return textNotCompliant
}

func logResult(l *Log) string {
	switch {
	case len(l.Probes) == 0:
		return textNoData + "，" + textNotCompliant
	case l.Compliant():
		return textCompliant
	}
	return textNotCompliant
}

func excursionNote(e *Excursion) string {
	switch {
	case e.Ongoing:
		return textOngoing
	case e.EndsInGap:
		return textEndsInGap
	}
	return ""
}

// method says how the figures were computed, for the exports' headers.
func method(p Params) (zh, en string) {
	zh = fmt.Sprintf("每个读数代表至下一读数，最长%s；平均温度与平均动力学温度按代表时长加权，ΔH/R = %g K；超过%s无读数记为数据缺失",
		minutesZH(p.MaxGap), DHR, minutesZH(p.MaxGap))
	en = fmt.Sprintf("each reading stands until the next, for at most %s; mean and MKT are weighted by that time, ΔH/R = %g K; no reading for more than %s is a gap",
		minutes(p.MaxGap), DHR, minutes(p.MaxGap))
	return zh, en
}

func recording(p Params) (zh, en string) {
	zh = fmt.Sprintf("至少每%s一个读数，超限时每%s一个", minutesZH(p.MaxGap), minutesZH(p.OutInterval))
	en = fmt.Sprintf("a reading at least every %s, every %s while out of range", minutes(p.MaxGap), minutes(p.OutInterval))
	return zh, en
}

func minutesZH(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + "分钟"
	}
	return d.String()
}

func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}
