package alarm_test

import (
	"fmt"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
)

// The hub sets the rules from its configuration, feeds the engine every
// stored reading and a tick every second, and stores, publishes and
// notifies the events its sink receives.
func Example() {
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sink := alarm.SinkFunc(func(ev alarm.Event) {
		fmt.Printf("%s %s %s notify=%v: %s\n", ev.At.Format("15:04:05"), ev.Transition, ev.Alarm.Kind, ev.Notify(), ev.Alarm.Message)
	})
	e := alarm.New(alarm.DefaultConfig(), sink, clock)
	rules, err := contract.DecodeRoomRules([]byte(contract.ExampleRoomRules))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := e.SetRules(rules.Rules); err != nil {
		fmt.Println(err)
		return
	}

	// cr1's probe reads 6.5 °C for six minutes; its on-delay is 5 minutes.
	// Room med has sent nothing for longer than its no_data_after.
	for range 36 {
		now = now.Add(10 * time.Second)
		e.Reading(&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1", TS: now,
			Fields: map[string]float64{"temperature": 6.5, "humidity": 80}})
		e.Tick(now)
	}
	a := e.Active()[0]
	if err := e.Ack(a.ID, "王芳", "站长已去查看", now); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 07:05:10 raised high notify=true: 冷库 cr1 温度高于上限 4 °C / Room cr1: temperature above the high limit of 4 °C
	// 07:05:10 raised no_data notify=true: 冷库 med 超过 5 分钟没有温度数据 / Room med: no temperature for more than 5 min
	// 07:06:00 acknowledged high notify=false: 冷库 cr1 温度高于上限 4 °C / Room cr1: temperature above the high limit of 4 °C
}
