package alarm

import (
	"fmt"
	"time"

	"github.com/countylink/countylink/contract"
)

// message says what a room's alarm is about, Chinese first, then English.
// The current value is not in it (Alarm.Value is), so it changes only
// when the alarm's nature does.
func (e *Engine) message(rm *room, k contract.AlarmKind) string {
	room := rm.key.room
	lo, hi, _, _ := rm.rule.Limits()
	switch k {
	case contract.AlarmHigh:
		return fmt.Sprintf("冷库 %s 温度高于上限 %g °C / Room %s: temperature above the high limit of %g °C", room, hi, room, hi)
	case contract.AlarmLow:
		return fmt.Sprintf("冷库 %s 温度低于下限 %g °C / Room %s: temperature below the low limit of %g °C", room, lo, room, lo)
	case contract.AlarmDoorOpen:
		zh, en := human(rm.rule.DoorOpenAfter)
		return fmt.Sprintf("冷库 %s 门开启超过 %s / Room %s: door open longer than %s", room, zh, room, en)
	case contract.AlarmNoData:
		zh, en := human(rm.rule.NoDataAfter)
		return fmt.Sprintf("冷库 %s 超过 %s没有温度数据 / Room %s: no temperature for more than %s", room, zh, room, en)
	case contract.AlarmSensorFault:
		dev := rm.device
		if dev == "" {
			dev = room
		}
		zh, en := faultWords(rm)
		return fmt.Sprintf("冷库 %s 探头 %s 故障：%s / Room %s: probe %s fault: %s", room, dev, zh, room, dev, en)
	}
	return k.String()
}

func faultWords(rm *room) (zh, en string) {
	switch rm.st.Fault {
	case contract.FaultReported:
		return "设备报告无有效读数（" + rm.faultText + "）", "no valid reading (" + rm.faultText + ")"
	case contract.FaultRange:
		return fmt.Sprintf("读数 %g °C 超出合理范围 %g..%g °C", rm.badValue, contract.PlausibleMinC, contract.PlausibleMaxC),
			fmt.Sprintf("reading %g °C outside the plausible %g..%g °C", rm.badValue, contract.PlausibleMinC, contract.PlausibleMaxC)
	case contract.FaultController:
		return "控制器报告探头故障", "the controller reports a probe fault"
	case contract.FaultFrozen:
		zh, en := human(rm.rule.FrozenAfter)
		return fmt.Sprintf("读数停在 %g °C 超过 %s", rm.st.Value, zh), fmt.Sprintf("reading stuck at %g °C for more than %s", rm.st.Value, en)
	case contract.FaultFuture:
		return "读数时间在未来，设备时钟有误", "reading time in the future: the device clock is wrong"
	}
	return "未知", "unknown"
}

func edgeMessage(edge string, since time.Time, rooms int) string {
	at := since.Local().Format("01-02 15:04")
	return fmt.Sprintf("边缘网关 %s 自 %s 离线，其后 %d 个冷库的告警已抑制 / Edge %s offline since %s; the alarms of the %d rooms behind it are suppressed",
		edge, at, rooms, edge, at, rooms)
}

func floodMessage(edge string, dropped uint64) string {
	return fmt.Sprintf("边缘网关 %s 发送过快，中心已丢弃其 %d 条实时读数，请检查其配置 / Edge %s sends far too fast: the hub dropped %d of its live readings; check its configuration",
		edge, dropped, edge, dropped)
}

// human writes a duration for people: "10 分钟" and "10 min".
func human(d time.Duration) (zh, en string) {
	switch {
	case d%time.Hour == 0 && d > 0:
		return fmt.Sprintf("%d 小时", d/time.Hour), fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d 分钟", d/time.Minute), fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%g 秒", d.Seconds()), fmt.Sprintf("%g s", d.Seconds())
}
