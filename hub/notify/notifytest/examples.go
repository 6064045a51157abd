package notifytest

import (
	"time"

	"github.com/countylink/countylink/hub/notify"
)

// Example is a named alarm, one of the cases every notification test
// renders.
type Example struct {
	Name  string
	Alarm notify.Alarm
}

func f(v float64) *float64 { return &v }

var (
	shanghai = time.FixedZone("CST", 8*3600)
	raised   = time.Date(2026, 7, 1, 14, 0, 0, 0, shanghai)
)

// HighRaised is a critical high-temperature alarm as first raised.
var HighRaised = notify.Alarm{
	ID: "tw01-cr1-high-20260701T060000Z", Site: "tw01", SiteName: "城关镇", SiteNameEN: "Chengguan",
	Room: "cr1", RoomName: "1号冷库", RoomNameEN: "cold room 1",
	Kind: notify.KindHigh, Severity: notify.Critical, State: notify.Active, Event: notify.EventRaised,
	Value: f(6.8), Limit: f(4.0), Unit: "°C",
	Raised: raised, Updated: raised.Add(5 * time.Minute), Count: 1,
	URL: "https://hub.example.cn/#/alarms/tw01-cr1-high-20260701T060000Z",
}

// Examples are alarms at each event and of each kind.
var Examples = []Example{
	{"high-raised", HighRaised},
	{"high-realarm", with(HighRaised, func(a *notify.Alarm) {
		a.Event, a.Value, a.Updated, a.Count = notify.EventRealarm, f(7.2), raised.Add(35*time.Minute), 3
	})},
	{"high-acknowledged", with(HighRaised, func(a *notify.Alarm) {
		a.Event, a.State, a.Updated = notify.EventAcknowledged, notify.Acknowledged, raised.Add(12*time.Minute)
		a.AckedBy, a.AckComment = "张三", "正在处理,\n压缩机重启"
	})},
	{"high-cleared", with(HighRaised, func(a *notify.Alarm) {
		a.Event, a.State, a.Value, a.Updated = notify.EventCleared, notify.Cleared, f(3.5), raised.Add(100*time.Minute)
	})},
	{"high-escalated", with(HighRaised, func(a *notify.Alarm) {
		a.Event, a.Updated = notify.EventEscalated, raised.Add(15*time.Minute)
	})},
	{"low-major", notify.Alarm{
		ID: "tw02-cr2-low-1", Site: "tw02", SiteName: "河口镇", Room: "cr2", RoomName: "2号冷库",
		Kind: notify.KindLow, Severity: notify.Major, State: notify.Active, Event: notify.EventRaised,
		Value: f(-1.3), Limit: f(0), Unit: "°C", Raised: raised, Updated: raised.Add(40 * time.Second), Count: 1,
	}},
	{"door-open", notify.Alarm{
		ID: "tw02-cr1-door-1", Site: "tw02", SiteName: "河口镇", Room: "cr1", RoomName: "1号冷库",
		Kind: notify.KindDoorOpen, Severity: notify.Major, State: notify.Active, Event: notify.EventRaised,
		Raised: raised, Updated: raised.Add(3 * time.Minute), Count: 1,
	}},
	{"sensor-fault", notify.Alarm{
		ID: "tw03-cr1-fault-1", Site: "tw03", SiteName: "石桥乡", Room: "cr1", RoomName: "药品冷库",
		Kind: notify.KindSensorFault, Severity: notify.Minor, State: notify.Active, Event: notify.EventRaised,
		Message: "温度探头开路", MessageEN: "temperature probe open circuit",
		Raised: raised, Updated: raised, Count: 1,
	}},
	{"edge-offline", notify.Alarm{
		ID: "tw04-offline-1", Site: "tw04", SiteName: "青山乡", Kind: notify.KindEdgeOffline, Severity: notify.Critical,
		State: notify.Active, Event: notify.EventRaised, Raised: raised, Updated: raised.Add(2*time.Hour + 5*time.Minute), Count: 1,
	}},
}

func with(a notify.Alarm, change func(*notify.Alarm)) notify.Alarm {
	change(&a)
	return a
}
