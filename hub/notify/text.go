package notify

import (
	"fmt"
	"strings"
	"time"
)

// kindText is each kind's default description, Chinese and English.
var kindText = map[Kind][2]string{
	KindHigh:        {"温度超上限", "temperature above high limit"},
	KindLow:         {"温度低于下限", "temperature below low limit"},
	KindDoorOpen:    {"库门未关", "door open"},
	KindSensorFault: {"传感器故障", "sensor fault"},
	KindNoData:      {"无数据", "no data"},
	KindEdgeOffline: {"边缘网关离线", "edge gateway offline"},
	KindEdgeFlood:   {"边缘网关发送过快", "edge gateway flooding the hub"},
}

var severityText = map[Severity][2]string{
	Critical: {"严重", "CRITICAL"},
	Major:    {"重要", "MAJOR"},
	Minor:    {"次要", "MINOR"},
}

// Footer ends every robot message and email. A DingTalk robot secured by
// keywords needs one of its keywords in each message: "冷链告警" is one
// that always is.
const Footer = "冷链告警 · CountyLink"

// Title is the alarm's one-line Chinese headline, used as the robot
// message title and the email subject: "【严重】城关镇 1号冷库 温度超上限".
func Title(a Alarm) string {
	return tag(a) + placeZH(a) + " " + describeZH(a)
}

// Text is the alarm's notification text: the Chinese line, then the
// English line.
//
//	【严重】城关镇 1号冷库 温度超上限: 6.8 °C (上限 4.0 °C), 持续 5 分钟
//	CRITICAL: Chengguan cold room 1 temperature above high limit: 6.8 °C (limit 4.0 °C), for 5 min
func Text(a Alarm) string {
	return lineZH(a) + "\n" + lineEN(a)
}

func tag(a Alarm) string {
	sev := severityText[a.Severity][0]
	if sev == "" {
		sev = string(a.Severity)
	}
	switch a.Event {
	case EventRealarm:
		return "【" + sev + "·仍未恢复】"
	case EventAcknowledged:
		return "【已确认】"
	case EventCleared:
		return "【已恢复】"
	case EventEscalated:
		return "【升级·" + sev + "】"
	}
	return "【" + sev + "】"
}

func tagEN(a Alarm) string {
	sev := severityText[a.Severity][1]
	if sev == "" {
		sev = strings.ToUpper(string(a.Severity))
	}
	switch a.Event {
	case EventRealarm:
		return sev + " (still active)"
	case EventAcknowledged:
		return "ACKNOWLEDGED"
	case EventCleared:
		return "CLEARED"
	case EventEscalated:
		return "ESCALATED " + sev
	}
	return sev
}

func placeZH(a Alarm) string {
	site := first(a.SiteName, a.Site)
	if room := first(a.RoomName, a.Room); room != "" {
		return site + " " + room
	}
	return site
}

func placeEN(a Alarm) string {
	site := first(a.SiteNameEN, a.Site)
	if room := first(a.RoomNameEN, a.Room); room != "" {
		return site + " " + room
	}
	return site
}

func describeZH(a Alarm) string {
	if a.Message != "" {
		return oneLine(a.Message)
	}
	if t, ok := kindText[a.Kind]; ok {
		return t[0]
	}
	return "告警 " + string(a.Kind)
}

func describeEN(a Alarm) string {
	if a.MessageEN != "" {
		return oneLine(a.MessageEN)
	}
	if t, ok := kindText[a.Kind]; ok {
		return t[1]
	}
	return "alarm " + string(a.Kind)
}

// reading is "6.8 °C (上限 4.0 °C)" and its English form; empty without a
// value.
func reading(a Alarm) (zh, en string) {
	if a.Value == nil {
		return "", ""
	}
	v := number(*a.Value, a.Unit)
	if a.Event == EventCleared {
		return "现为 " + v, "now " + v
	}
	if a.Limit == nil {
		return v, v
	}
	l := number(*a.Limit, a.Unit)
	switch a.Kind {
	case KindHigh:
		return v + " (上限 " + l + ")", v + " (high limit " + l + ")"
	case KindLow:
		return v + " (下限 " + l + ")", v + " (low limit " + l + ")"
	}
	return v + " (限值 " + l + ")", v + " (limit " + l + ")"
}

func number(v float64, unit string) string {
	s := fmt.Sprintf("%.1f", v)
	if unit != "" {
		s += " " + unit
	}
	return s
}

// lasted is how long the alarm has been on at its event; zero when the
// times are not known.
func lasted(a Alarm) time.Duration {
	if a.Raised.IsZero() || a.Updated.Before(a.Raised) {
		return 0
	}
	return a.Updated.Sub(a.Raised)
}

func durationZH(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d 秒", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟", int(d/time.Minute))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d 小时", h)
	}
	return fmt.Sprintf("%d 小时 %d 分钟", h, m)
}

func durationEN(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

func lineZH(a Alarm) string {
	if d := detailZH(a); d != "" {
		return Title(a) + ": " + d
	}
	return Title(a)
}

// detailZH is the Chinese line after the title: the reading, how long,
// who acknowledged.
func detailZH(a Alarm) string {
	var parts []string
	if r, _ := reading(a); r != "" {
		parts = append(parts, r)
	}
	d := lasted(a)
	switch a.Event {
	case EventAcknowledged:
		ack := "由 " + first(oneLine(a.AckedBy), "值班人员") + " 确认"
		if a.AckComment != "" {
			ack += ": " + oneLine(a.AckComment)
		}
		parts = append(parts, ack)
	case EventEscalated:
		if d > 0 {
			parts = append(parts, "已 "+durationZH(d)+"未确认")
		} else {
			parts = append(parts, "长时间未确认")
		}
	default:
		if d > 0 {
			parts = append(parts, "持续 "+durationZH(d))
		}
		if a.Event == EventRealarm && a.Count > 1 {
			parts = append(parts, fmt.Sprintf("第 %d 次提醒", a.Count))
		}
	}
	return strings.Join(parts, ", ")
}

func lineEN(a Alarm) string {
	var b strings.Builder
	b.WriteString(tagEN(a) + ": " + placeEN(a) + " " + describeEN(a))
	_, r := reading(a)
	if r != "" {
		b.WriteString(": " + r)
	}
	d := lasted(a)
	switch a.Event {
	case EventAcknowledged:
		b.WriteString(", by " + first(oneLine(a.AckedBy), "the duty officer"))
		if a.AckComment != "" {
			b.WriteString(": " + oneLine(a.AckComment))
		}
	case EventEscalated:
		if d > 0 {
			b.WriteString(", unacknowledged for " + durationEN(d))
		} else {
			b.WriteString(", unacknowledged")
		}
	case EventCleared:
		if d > 0 {
			b.WriteString(", lasted " + durationEN(d))
		}
	case EventRealarm:
		if d > 0 {
			b.WriteString(", for " + durationEN(d))
		}
		if a.Count > 1 {
			fmt.Fprintf(&b, ", reminder %d", a.Count)
		}
	default:
		if d > 0 {
			b.WriteString(", for " + durationEN(d))
		}
	}
	return b.String()
}

// details are the labelled facts below the text in a robot message or an
// email.
func details(a Alarm) [][2]string {
	d := [][2]string{{"站点 Site", placeSite(a)}}
	if a.Room != "" {
		d = append(d, [2]string{"冷库 Room", first(a.RoomName, a.Room) + " (" + a.Room + ")"})
	}
	if !a.Raised.IsZero() {
		d = append(d, [2]string{"发生 Raised", a.Raised.Format("2006-01-02 15:04:05 MST")})
	}
	if !a.Updated.IsZero() && a.Event != EventRaised {
		d = append(d, [2]string{"更新 Updated", a.Updated.Format("2006-01-02 15:04:05 MST")})
	}
	d = append(d, [2]string{"告警 Alarm", a.ID})
	return d
}

func placeSite(a Alarm) string {
	if a.SiteName == "" {
		return a.Site
	}
	return a.SiteName + " (" + a.Site + ")"
}

// markdown is the message for the DingTalk and WeCom robots, whose
// markdown subsets share headings, bold, lists and links.
func markdown(a Alarm, mentions []string) string {
	var b strings.Builder
	b.WriteString("### " + Title(a) + "\n\n")
	if d := detailZH(a); d != "" {
		b.WriteString("**" + d + "**\n\n")
	}
	b.WriteString(lineEN(a) + "\n\n")
	for _, d := range details(a) {
		b.WriteString("- " + d[0] + ": " + d[1] + "\n")
	}
	if a.URL != "" {
		b.WriteString("\n[查看告警 View alarm](" + a.URL + ")\n")
	}
	if len(mentions) > 0 {
		b.WriteString("\n" + strings.Join(mentions, " ") + "\n")
	}
	b.WriteString("\n" + Footer)
	return b.String()
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// oneLine keeps text a person typed (an acknowledgement comment) from
// breaking the message layout.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
