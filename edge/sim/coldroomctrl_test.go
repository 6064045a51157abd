package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/modbus"
	"github.com/countylink/countylink/edge/profile"
	"github.com/countylink/countylink/edge/profiles"
)

// testController returns a controller for a quiet default room (no random
// doors or probe faults), its config changed by edit.
func testController(t *testing.T, edit func(*ColdRoomControllerConfig)) *ColdRoomController {
	t.Helper()
	cfg := DefaultColdRoomControllerConfig()
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewColdRoomController(newRoom(t, quiet), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bankRegs reads n registers of table t from b, failing on a hole.
func bankRegs(t *testing.T, b *Bank, table Table, addr, n uint16) []uint16 {
	t.Helper()
	v, ok := b.read(table, addr, n)
	if !ok {
		t.Fatalf("%s %d+%d missing", table, addr, n)
	}
	return v
}

// TestColdRoomControllerRegisters checks the layout against the model,
// register by register, without a transport.
func TestColdRoomControllerRegisters(t *testing.T) {
	c := testController(t, nil)
	room, bank := c.Room(), c.Bank()
	check := func(name string, temp, evap int16, alarms, relays uint16, door bool) {
		t.Helper()
		in := bankRegs(t, bank, Input, 0, 4)
		if int16(in[0]) != temp || int16(in[1]) != evap || in[2] != alarms || in[3] != relays {
			t.Errorf("%s: input %d %d %04b %03b, want %d %d %04b %03b", name, int16(in[0]), int16(in[1]), in[2], in[3], temp, evap, alarms, relays)
		}
		if d, _ := bank.Discrete(0); d != door {
			t.Errorf("%s: door %v, want %v", name, d, door)
		}
	}
	if h := bankRegs(t, bank, Holding, 0, 3); int16(h[0]) != 20 || int16(h[1]) != 80 || int16(h[2]) != -10 {
		t.Fatalf("holding %v", h)
	}
	check("at setpoint, idle", 20, 10, 0, 0, false) // evaporator 1/8 of 8 °C below the room

	room.SetSetpoint(-5) // 2 °C is above -5 + 1.5: the compressor starts
	c.Step(time.Second)
	c.Update()
	if h, _ := bank.Holding(ctrlSetpoint); int16(h) != -50 {
		t.Fatalf("setpoint register %d", int16(h))
	}
	room.Override(3.5) // what the probe shows; the thermostat follows the model underneath
	c.Update()
	check("cooling", 35, -45, 0, relayCompressor|relayFan, false)

	room.Override(8)
	c.Update()
	check("at the high limit", 80, 0, alarmHigh, relayCompressor|relayFan, false)

	room.Override(-1)
	c.Update()
	check("at the low limit", -10, -90, alarmLow, relayCompressor|relayFan, false)

	room.Override(2)
	room.OpenDoor(10 * time.Minute)
	c.Step(4 * time.Minute)
	c.Update()
	check("door open 4 min", 20, -60, 0, relayCompressor|relayFan, true)
	c.Step(2 * time.Minute)
	c.Update()
	check("door open 6 min", 20, -60, alarmDoor, relayCompressor|relayFan, true)

	room.ClearOverride()
	room.FailProbe(5)
	c.Step(5 * time.Minute) // the door shuts, the probe stays faulted
	c.Update()
	in := bankRegs(t, bank, Input, 0, 4)
	if in[0] != ProbeOpen || in[2] != alarmProbe || int16(in[1]) == int16(ProbeOpen) {
		t.Fatalf("probe fault: %v", in)
	}
	if d, _ := bank.Discrete(0); d {
		t.Fatal("door still open")
	}
}

func TestColdRoomControllerConfig(t *testing.T) {
	for name, edit := range map[string]func(*ColdRoomControllerConfig){
		"limits crossed":       func(c *ColdRoomControllerConfig) { c.LowLimit = 9 },
		"setpoint range empty": func(c *ColdRoomControllerConfig) { c.SetpointMin = 30 },
		"no door delay":        func(c *ColdRoomControllerConfig) { c.DoorAlarmAfter = 0 },
		"huge limit":           func(c *ColdRoomControllerConfig) { c.HighLimit = 5000 },
		"negative drop":        func(c *ColdRoomControllerConfig) { c.EvaporatorDrop = -1 },
	} {
		cfg := DefaultColdRoomControllerConfig()
		edit(&cfg)
		if _, err := NewColdRoomController(newRoom(t, quiet), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A room set below the controller's range is brought into it.
	c := testController(t, func(c *ColdRoomControllerConfig) { c.SetpointMin = 4 })
	if sp := c.Room().Setpoint(); sp != 4 {
		t.Fatalf("room setpoint %v, want 4", sp)
	}
}

// serveTCP serves bank as slave 1 over Modbus TCP and returns an endpoint
// to it.
func serveTCP(t *testing.T, bank *Bank) *modbus.Endpoint {
	t.Helper()
	srv, err := NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Attach(1, bank)
	ep := modbus.NewTCP(srv.Addr(), time.Second)
	t.Cleanup(func() { ep.Close() })
	return ep
}

// shippedDevice returns a device for the shipped profile name, slave unit on tr.
func shippedDevice(t *testing.T, tr modbus.Transport, unit byte, name string) *modbus.Device {
	t.Helper()
	p, err := profiles.Load("", name)
	if err != nil {
		t.Fatal(err)
	}
	return modbus.NewDevice(tr, unit, p, 0)
}

// pollWant polls dev and compares the fields in want; a field wanted as
// fault must be faulted.
func pollWant(t *testing.T, dev *modbus.Device, want map[string]float64, faults ...string) *profile.Reading {
	t.Helper()
	rd, err := dev.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got, ok := rd.Fields[k]; !ok || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, rd.Faults[k], v)
		}
	}
	for _, k := range faults {
		if _, ok := rd.Faults[k]; !ok {
			t.Errorf("%s = %v, want a fault", k, rd.Fields[k])
		}
	}
	return rd
}

// TestColdRoomControllerOverTCP reads the controller with the shipped
// coldroom-ctrl profile and writes its setpoint, which the room follows.
func TestColdRoomControllerOverTCP(t *testing.T) {
	c := testController(t, func(c *ColdRoomControllerConfig) { c.SetpointMax = 10 })
	room := c.Room()
	dev := shippedDevice(t, serveTCP(t, c.Bank()), 1, "coldroom-ctrl")
	ctx := context.Background()

	pollWant(t, dev, map[string]float64{
		"temperature": 2, "evaporator_temperature": 1, "setpoint": 2, "high_limit": 8, "low_limit": -1,
		"compressor": 0, "fan": 0, "defrost": 0, "door": 0,
		"alarm_high": 0, "alarm_low": 0, "alarm_probe": 0, "alarm_door": 0,
	})

	// A freezer setpoint: the register and the room's thermostat change
	// at once, and the room gets there as time passes.
	if got, err := dev.Write(ctx, "setpoint", -5); err != nil || got != -5 {
		t.Fatalf("Write(setpoint, -5) = %v, %v", got, err)
	}
	if sp := room.Setpoint(); sp != -5 {
		t.Fatalf("room setpoint %v", sp)
	}
	if got, err := dev.Write(ctx, "low_limit", -9); err != nil || got != -9 {
		t.Fatalf("Write(low_limit, -9) = %v, %v", got, err)
	}
	c.Step(30 * time.Minute)
	c.Update()
	rd := pollWant(t, dev, map[string]float64{"setpoint": -5, "compressor": 1, "fan": 1, "alarm_low": 0})
	if temp, evap := rd.Fields["temperature"], rd.Fields["evaporator_temperature"]; !(temp < 0 && evap < temp-7) {
		t.Fatalf("after 30 min cooling: room %v, evaporator %v", temp, evap)
	}
	c.Step(3 * time.Hour)
	c.Update()
	rd = pollWant(t, dev, map[string]float64{"setpoint": -5})
	if temp := rd.Fields["temperature"]; temp < -6.6 || temp > -3.4 {
		t.Fatalf("after 3.5 h the room is at %v °C, want -5 ± 1.5", temp)
	}

	// The controller clamps to its own range; Write reports what it holds.
	if got, err := dev.Write(ctx, "setpoint", 15); err != nil || got != 10 {
		t.Fatalf("Write(setpoint, 15) = %v, %v; want 10, the controller's maximum", got, err)
	}
	if sp := room.Setpoint(); sp != 10 {
		t.Fatalf("room setpoint %v", sp)
	}
	// The profile refuses what no controller of the layout accepts.
	if _, err := dev.Write(ctx, "setpoint", 25); !errors.Is(err, profile.ErrBadValue) {
		t.Fatalf("Write(setpoint, 25): %v", err)
	}
	if _, err := dev.Write(ctx, "temperature", 1); !errors.Is(err, profile.ErrNotWritable) {
		t.Fatalf("Write(temperature): %v", err)
	}

	// A lowered high limit raises the alarm at once.
	if _, err := dev.Write(ctx, "high_limit", -8); err != nil {
		t.Fatal(err)
	}
	pollWant(t, dev, map[string]float64{"high_limit": -8, "alarm_high": 1})

	// Door left open, then a probe fault.
	room.OpenDoor(10 * time.Minute)
	c.Step(6 * time.Minute)
	c.Update()
	pollWant(t, dev, map[string]float64{"door": 1, "alarm_door": 1})
	room.FailProbe(3)
	c.Update()
	pollWant(t, dev, map[string]float64{"alarm_probe": 1, "alarm_high": 0}, "temperature")
}

// TestColdRoomControllerRun: Run keeps the registers moving with the room.
func TestColdRoomControllerRun(t *testing.T) {
	c := testController(t, nil)
	c.Room().SetSetpoint(-10) // writes over Modbus and a person at the keypad alike
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, time.Millisecond, float64(time.Hour/time.Millisecond)) // an hour a millisecond
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := c.Bank().Input(ctrlRoom); int16(v) < -50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the room never cooled below -5 °C")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if sp, _ := c.Bank().Holding(ctrlSetpoint); int16(sp) != -100 {
		t.Fatalf("setpoint register %d", int16(sp))
	}
}
