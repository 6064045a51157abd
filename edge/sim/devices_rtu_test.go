//go:build unix

package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/modbus"
)

// TestDevicesOverRTU puts the cold-room controller and the weighing
// indicator on one RS-485 line (a pseudo-terminal), read and written by
// the edge's Bus with the shipped profiles.
func TestDevicesOverRTU(t *testing.T) {
	srv, path := startRTU(t)
	ctrl := testController(t, nil)
	weigh, _ := testIndicator(t)
	srv.Attach(1, ctrl.Bank())
	srv.Attach(2, weigh.Bank())

	cfg := modbus.DefaultRTUConfig()
	cfg.Device, cfg.Baud, cfg.Timeout = path, 115200, 300*time.Millisecond
	bus, err := modbus.NewRTU(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	room := shippedDevice(t, bus, 1, "coldroom-ctrl")
	scale := shippedDevice(t, bus, 2, "weigh-modbus")
	ctx := context.Background()

	pollWant(t, room, map[string]float64{"temperature": 2, "setpoint": 2, "compressor": 0, "door": 0})
	weigh.Scale().Set(55.5)
	weigh.Update()
	pollWant(t, scale, map[string]float64{"gross": 55.5, "net": 55.5, "stable": 1})

	if got, err := room.Write(ctx, "setpoint", -18.04); err != nil || got != -18 {
		t.Fatalf("Write(setpoint, -18.04) = %v, %v", got, err)
	}
	ctrl.Step(time.Hour)
	ctrl.Update()
	rd := pollWant(t, room, map[string]float64{"setpoint": -18, "compressor": 1, "fan": 1})
	if temp := rd.Fields["temperature"]; temp >= 0 {
		t.Fatalf("an hour after a -18 °C setpoint the room is at %v °C", temp)
	}

	if got, err := scale.Write(ctx, "cmd_tare", 1); err != nil || got != 0 {
		t.Fatalf("Write(cmd_tare) = %v, %v", got, err)
	}
	pollWant(t, scale, map[string]float64{"net": 0, "tare": 55.5, "net_mode": 1})
	if got, err := scale.Write(ctx, "tare", 5.55); err != nil || got != 5.55 {
		t.Fatalf("Write(tare, 5.55) = %v, %v", got, err)
	}
	pollWant(t, scale, map[string]float64{"net": 49.96}) // 49.95 shown in 20 g divisions

	// A slave that refuses: the controller's map has no coils.
	srv.Attach(3, ctrl.Bank())
	var exc *modbus.ExceptionError
	if err := bus.WriteCoil(ctx, 3, 0, true); !errors.As(err, &exc) || exc.Code != 2 {
		t.Fatalf("want exception 2, got %v", err)
	}
	if st := srv.Stats(); st.Collisions != 0 || st.Discarded != 0 {
		t.Fatalf("simulator %+v", st)
	}
	if st := bus.Stats(); st.FailureCounts != (modbus.FailureCounts{}) {
		t.Fatalf("bus %+v", st)
	}
}
