package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// The generic cold-room controller layout, the one the edge profile
// coldroom-ctrl reads. Temperatures are int16 tenths of a degree.
const (
	ctrlSetpoint  uint16 = 0 // holding: °C ×10, writable
	ctrlHighLimit uint16 = 1 // holding: high-temperature alarm at or above, °C ×10, writable
	ctrlLowLimit  uint16 = 2 // holding: low-temperature alarm at or below, °C ×10, writable
	ctrlRoom      uint16 = 0 // input: room probe, °C ×10, ProbeOpen when faulted
	ctrlEvap      uint16 = 1 // input: evaporator probe, °C ×10
	ctrlAlarms    uint16 = 2 // input: alarm bits
	ctrlRelays    uint16 = 3 // input: relay bits
	ctrlDoor      uint16 = 0 // discrete: door switch, 1 = open
)

// Bits of the controller's alarm and relay registers.
const (
	alarmHigh  = 1 << 0
	alarmLow   = 1 << 1
	alarmProbe = 1 << 2
	alarmDoor  = 1 << 3

	relayCompressor = 1 << 0
	relayDefrost    = 1 << 1
	relayFan        = 1 << 2
)

// evapRestShare is how far below the room the evaporator rests, as a share
// of EvaporatorDrop, while the compressor is off: the coil is still cold.
const evapRestShare = 0.125

// ColdRoomControllerConfig sets up a ColdRoomController. Start from
// DefaultColdRoomControllerConfig.
type ColdRoomControllerConfig struct {
	HighLimit float64 `yaml:"high_limit"` // °C: high-temperature alarm at or above; the register's start value
	LowLimit  float64 `yaml:"low_limit"`  // °C: low-temperature alarm at or below

	// SetpointMin and SetpointMax are the controller's own setpoint range,
	// °C: a setpoint written outside it is clamped into it, as many
	// controllers do rather than refuse the write.
	SetpointMin float64 `yaml:"setpoint_min"`
	SetpointMax float64 `yaml:"setpoint_max"`

	DoorAlarmAfter time.Duration `yaml:"door_alarm_after"` // the door alarm rises once the door has been open longer than this
	EvaporatorDrop float64       `yaml:"evaporator_drop"`  // °C the evaporator runs below the room while the compressor runs
}

// DefaultColdRoomControllerConfig returns limits that suit the default
// cold room (2 ± 1.5 °C): alarms at 8 and -1 °C, a door alarm after five
// minutes, setpoints from -40 to 20 °C and an evaporator 8 °C below the
// room while cooling.
func DefaultColdRoomControllerConfig() ColdRoomControllerConfig {
	return ColdRoomControllerConfig{
		HighLimit:      8,
		LowLimit:       -1,
		SetpointMin:    -40,
		SetpointMax:    20,
		DoorAlarmAfter: 5 * time.Minute,
		EvaporatorDrop: 8,
	}
}

// Validate reports every bad field of the configuration.
func (c ColdRoomControllerConfig) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("sim: cold room controller: %s %v must be %s", field, v, want))
	}
	// Every temperature must fit an int16 register in tenths.
	fits := func(x float64) bool { return x >= -3276.7 && x <= 3276.6 } // false for NaN; 3276.7 is ProbeOpen
	for _, f := range []struct {
		name string
		v    float64
	}{{"high_limit", c.HighLimit}, {"low_limit", c.LowLimit}, {"setpoint_min", c.SetpointMin}, {"setpoint_max", c.SetpointMax}} {
		if !fits(f.v) {
			bad(f.name, f.v, "within -3276.7..3276.6 °C")
		}
	}
	if !(c.LowLimit < c.HighLimit) {
		bad("low_limit", c.LowLimit, fmt.Sprintf("below high_limit %v", c.HighLimit))
	}
	if !(c.SetpointMin <= c.SetpointMax) {
		bad("setpoint_min", c.SetpointMin, fmt.Sprintf("at most setpoint_max %v", c.SetpointMax))
	}
	if c.DoorAlarmAfter <= 0 {
		bad("door_alarm_after", c.DoorAlarmAfter, "above 0")
	}
	if !(c.EvaporatorDrop >= 0 && c.EvaporatorDrop <= 100) {
		bad("evaporator_drop", c.EvaporatorDrop, "within 0..100 °C")
	}
	return errors.Join(errs...)
}

// ColdRoomController simulates the panel controller of a ColdRoom on
// RS-485, in the generic layout the edge profile coldroom-ctrl reads:
//
//	holding  0  setpoint, °C ×10 (int16), writable
//	holding  1  high-temperature alarm limit, °C ×10, writable
//	holding  2  low-temperature alarm limit, °C ×10, writable
//	input    0  room probe, °C ×10; ProbeOpen while the probe is faulted
//	input    1  evaporator probe, °C ×10
//	input    2  alarms: bit 0 high, 1 low, 2 room probe, 3 door open too long
//	input    3  relays: bit 0 compressor, 1 defrost, 2 evaporator fan
//	discrete 0  door, 1 = open
//
// It owns its Bank: attach Bank() to a ModbusTCPServer or an RTUServer.
// The room's thermostat is the controller's: a setpoint written over
// Modbus is clamped to SetpointMin..SetpointMax, becomes the room's
// setpoint at once (the room then drifts to it as Step passes time), and
// the register holds the clamped value. Alarm limits written over Modbus
// take effect at once. Nothing depends on the clock; time passes in Step.
//
// The fan runs with the compressor; the model has no defrost cycle, so the
// defrost relay stays off. A ColdRoomController is safe for concurrent use.
type ColdRoomController struct {
	room *ColdRoom
	cfg  ColdRoomControllerConfig
	bank *Bank

	mu       sync.Mutex // serialises Update and Step
	doorOpen time.Duration
}

// NewColdRoomController returns a controller for room, its registers
// filled. The room's setpoint is clamped to the controller's range.
func NewColdRoomController(room *ColdRoom, cfg ColdRoomControllerConfig) (*ColdRoomController, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &ColdRoomController{room: room, cfg: cfg, bank: NewBank()}
	room.SetSetpoint(c.clampSetpoint(room.Setpoint()))
	c.bank.SetHolding(ctrlHighLimit, tenths(cfg.HighLimit), tenths(cfg.LowLimit))
	c.Update()
	c.bank.OnWrite(c.written)
	return c, nil
}

// Bank returns the controller's registers.
func (c *ColdRoomController) Bank() *Bank { return c.bank }

// Room returns the room the controller runs.
func (c *ColdRoomController) Room() *ColdRoom { return c.room }

// Step advances the room by dt and times how long the door has been open.
func (c *ColdRoomController) Step(dt time.Duration) {
	if dt <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.room.Step(dt)
	if c.room.DoorOpen() {
		c.doorOpen += dt
	} else {
		c.doorOpen = 0
	}
}

// Update writes the room's state into the registers, in one update, and
// computes the alarms against the limits the registers hold.
func (c *ColdRoomController) Update() {
	c.mu.Lock()
	defer c.mu.Unlock()
	temp, faulted := c.room.Temperature(), c.room.Faulted()
	compressor, door := c.room.CompressorOn(), c.room.DoorOpen()
	high, _ := c.bank.Holding(ctrlHighLimit)
	low, _ := c.bank.Holding(ctrlLowLimit)

	// The alarms compare what the probe shows, in tenths, with the limits.
	var alarms, relays uint16
	switch shown := int16(tenths(temp)); {
	case faulted || math.IsNaN(temp):
		alarms |= alarmProbe
	case shown >= int16(high):
		alarms |= alarmHigh
	case shown <= int16(low):
		alarms |= alarmLow
	}
	if door && c.doorOpen > c.cfg.DoorAlarmAfter {
		alarms |= alarmDoor
	}
	evap := temp - evapRestShare*c.cfg.EvaporatorDrop
	if compressor {
		relays |= relayCompressor | relayFan
		evap = temp - c.cfg.EvaporatorDrop
	}
	room := ProbeOpen
	if alarms&alarmProbe == 0 {
		room = tenths(temp)
	}
	evapRaw := ProbeOpen
	if !math.IsNaN(evap) {
		evapRaw = tenths(evap)
	}
	c.bank.Set(Holding, ctrlSetpoint, tenths(c.room.Setpoint()))
	c.bank.setEach(Input, []uint16{ctrlRoom, ctrlEvap, ctrlAlarms, ctrlRelays}, []uint16{room, evapRaw, alarms, relays})
	c.bank.Set(Discrete, ctrlDoor, bit(door))
}

// written reacts to a Modbus write of the controller's holding registers.
func (c *ColdRoomController) written(t Table, addr uint16, values []uint16) {
	if t != Holding {
		return
	}
	for k, v := range values {
		if addr+uint16(k) == ctrlSetpoint {
			sp := c.clampSetpoint(float64(int16(v)) / 10)
			c.room.SetSetpoint(sp)
		}
	}
	// The setpoint register shows the clamped value, and the alarms the
	// new limits.
	c.Update()
}

func (c *ColdRoomController) clampSetpoint(sp float64) float64 {
	return min(max(sp, c.cfg.SetpointMin), c.cfg.SetpointMax)
}

// Run updates the registers, then steps the room by tick×speed of
// simulated time and updates them again every tick of the wall clock,
// until ctx is done. It is the demo's controller; tests call Step and
// Update instead.
func (c *ColdRoomController) Run(ctx context.Context, tick time.Duration, speed float64) {
	c.Update()
	t := time.NewTicker(tick)
	defer t.Stop()
	step := time.Duration(float64(tick) * speed)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Step(step)
			c.Update()
		}
	}
}

// tenths is x °C as an int16 register of tenths, clamped; never ProbeOpen.
func tenths(x float64) uint16 {
	return uint16(int16(clampRound(x*10, math.MinInt16, math.MaxInt16-1)))
}
