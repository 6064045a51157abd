package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// ProbeOpen is the raw temperature a cheap transmitter reports when its
// probe is disconnected or broken: 0x7FFF, the largest int16.
const ProbeOpen uint16 = 0x7FFF

// Layout is where a temperature/humidity transmitter keeps its two
// readings: temperature ×10 °C as a two's complement int16 (ProbeOpen when
// the probe is faulted) and relative humidity ×10 %RH as a uint16, both in
// one register table.
type Layout struct {
	Table       Table  // Holding or Input
	Temperature uint16 // register address of the temperature
	Humidity    uint16 // register address of the humidity
}

// The layouts of the transmitters found in township cold rooms; the edge
// profiles th-renke and th-input read them.
var (
	// LayoutRenke is the common Chinese RS-485 transmitter (Renke RS-WS-N01
	// and clones): holding 0 humidity, holding 1 temperature.
	LayoutRenke = Layout{Table: Holding, Humidity: 0, Temperature: 1}
	// LayoutSwapped is the SHT20/SHT30 board layout (XY-MD02 and clones):
	// input 1 temperature, input 2 humidity.
	LayoutSwapped = Layout{Table: Input, Temperature: 1, Humidity: 2}
)

// ColdRoomConfig sets up a ColdRoom. Start from DefaultColdRoomConfig.
type ColdRoomConfig struct {
	Seed uint64 `yaml:"seed"` // the same seed and the same Steps give the same story

	Setpoint       float64 `yaml:"setpoint"`         // °C the thermostat holds
	Band           float64 `yaml:"band"`             // °C either side of Setpoint: the compressor starts at Setpoint+Band and stops at Setpoint-Band
	Ambient        float64 `yaml:"ambient"`          // °C outside the room
	WarmingPerHour float64 `yaml:"warming_per_hour"` // share of the gap to Ambient that leaks in per hour through walls and seals
	CoolingPerHour float64 `yaml:"cooling_per_hour"` // °C per hour a running compressor removes

	DoorOpeningsPerHour float64       `yaml:"door_openings_per_hour"` // mean rate of door openings at random times; 0 for none
	DoorOpenFor         time.Duration `yaml:"door_open_for"`          // mean time the door stays open; each opening lasts 0.5 to 1.5 times this
	DoorWarmingPerHour  float64       `yaml:"door_warming_per_hour"`  // extra share of the gap to Ambient let in per hour while the door is open

	HumidityMin float64 `yaml:"humidity_min"` // %RH: with the door shut the humidity drifts between HumidityMin and HumidityMax
	HumidityMax float64 `yaml:"humidity_max"` // %RH; an open door spikes it above, and the spike decays back

	ProbeFaultChance float64 `yaml:"probe_fault_chance"` // probability per Step that the probe starts reading ProbeOpen
	ProbeFaultSteps  int     `yaml:"probe_fault_steps"`  // Steps a probe fault lasts
}

// DefaultColdRoomConfig returns a small township cold room for vegetables
// and fruit: 2 ± 1.5 °C in an 18 °C shed, a door opening every two hours
// or so, 75 to 90 %RH, and a flaky probe now and then.
func DefaultColdRoomConfig() ColdRoomConfig {
	return ColdRoomConfig{
		Seed:                1,
		Setpoint:            2,
		Band:                1.5,
		Ambient:             18,
		WarmingPerHour:      0.15,
		CoolingPerHour:      8,
		DoorOpeningsPerHour: 0.5,
		DoorOpenFor:         2 * time.Minute,
		DoorWarmingPerHour:  4,
		HumidityMin:         75,
		HumidityMax:         90,
		ProbeFaultChance:    0.001,
		ProbeFaultSteps:     3,
	}
}

// Validate reports every bad field of the configuration.
func (c ColdRoomConfig) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("sim: cold room: %s %v must be %s", field, v, want))
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	nonNegative := func(x float64) bool { return x >= 0 && finite(x) } // false for NaN
	if !finite(c.Setpoint) {
		bad("setpoint", c.Setpoint, "a finite number")
	}
	if !finite(c.Ambient) {
		bad("ambient", c.Ambient, "a finite number")
	}
	if !(c.Band > 0) || !finite(c.Band) {
		bad("band", c.Band, "above 0")
	}
	if !nonNegative(c.WarmingPerHour) {
		bad("warming_per_hour", c.WarmingPerHour, "0 or more")
	}
	if !nonNegative(c.CoolingPerHour) {
		bad("cooling_per_hour", c.CoolingPerHour, "0 or more")
	}
	if !nonNegative(c.DoorOpeningsPerHour) {
		bad("door_openings_per_hour", c.DoorOpeningsPerHour, "0 or more")
	}
	if c.DoorOpeningsPerHour > 0 && c.DoorOpenFor <= 0 {
		bad("door_open_for", c.DoorOpenFor, "above 0 when doors open")
	}
	if !nonNegative(c.DoorWarmingPerHour) {
		bad("door_warming_per_hour", c.DoorWarmingPerHour, "0 or more")
	}
	if !(c.HumidityMin >= 0 && c.HumidityMin < c.HumidityMax && c.HumidityMax <= 100) {
		bad("humidity_min..humidity_max", fmt.Sprintf("%v..%v", c.HumidityMin, c.HumidityMax), "a range within 0..100")
	}
	if !(c.ProbeFaultChance >= 0 && c.ProbeFaultChance <= 1) {
		bad("probe_fault_chance", c.ProbeFaultChance, "within 0..1")
	}
	if c.ProbeFaultChance > 0 && c.ProbeFaultSteps < 1 {
		bad("probe_fault_steps", c.ProbeFaultSteps, "1 or more when probe faults happen")
	}
	return errors.Join(errs...)
}

// How the air in the room behaves; not worth configuring.
const (
	maxSubstep            = 10 * time.Second // integration step, small against every time constant
	doorHumidity          = 97.0             // %RH the room tends to with the door open: warm air fogs on cold surfaces
	doorHumidityPerHour   = 20.0             // how fast it gets there
	spikeDecayPerHour     = 3.0              // how fast a spike above HumidityMax decays
	humidityRevertPerHour = 0.2              // pull of the drift toward the middle of the band
	humidityNoise         = 3.0              // %RH per √hour of random drift
)

// ColdRoom simulates a refrigerated room with one temperature/humidity
// transmitter. The temperature leaks toward the ambient, a thermostat
// runs the compressor between Setpoint-Band and Setpoint+Band, doors open
// at random and let warm humid air in, and the probe sometimes reads open.
// Time only passes in Step; nothing in a ColdRoom depends on the clock.
//
// A ColdRoom is safe for concurrent use, so a test can Override while Run
// steps it.
type ColdRoom struct {
	mu         sync.Mutex
	cfg        ColdRoomConfig
	rng        *rand.Rand
	temp, hum  float64
	compressor bool
	doorLeft   time.Duration
	faultLeft  int
	pinned     bool
	pinnedTemp float64
}

// NewColdRoom returns a room at its setpoint with the compressor off, the
// door shut and the humidity in the middle of its band.
func NewColdRoom(cfg ColdRoomConfig) (*ColdRoom, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ColdRoom{
		cfg: cfg,
		// PCG wants two words of seed; the constant keeps seed 0 usable.
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x636f756e74796c6b)),
		temp: cfg.Setpoint,
		hum:  (cfg.HumidityMin + cfg.HumidityMax) / 2,
	}, nil
}

// Step advances the model by dt of simulated time. A Step is also one
// reading of the transmitter: probe faults start and end per Step.
func (c *ColdRoom) Step(dt time.Duration) {
	if dt <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faultLeft > 0 {
		c.faultLeft--
	} else if c.cfg.ProbeFaultChance > 0 && c.rng.Float64() < c.cfg.ProbeFaultChance {
		c.faultLeft = c.cfg.ProbeFaultSteps
	}
	for dt > 0 {
		h := min(dt, maxSubstep)
		c.advance(h)
		dt -= h
	}
}

// advance integrates the model over h, at most maxSubstep.
func (c *ColdRoom) advance(h time.Duration) {
	cfg := &c.cfg
	hours := h.Hours()

	// Door openings arrive as a Poisson process.
	if c.doorLeft <= 0 && cfg.DoorOpeningsPerHour > 0 &&
		c.rng.Float64() < -math.Expm1(-cfg.DoorOpeningsPerHour*hours) {
		c.doorLeft = time.Duration(float64(cfg.DoorOpenFor) * (0.5 + c.rng.Float64()))
	}
	door := c.doorLeft > 0

	if c.temp >= cfg.Setpoint+cfg.Band {
		c.compressor = true
	} else if c.temp <= cfg.Setpoint-cfg.Band {
		c.compressor = false
	}
	gap := cfg.Ambient - c.temp
	rate := cfg.WarmingPerHour * gap // °C per hour
	if door {
		rate += cfg.DoorWarmingPerHour * gap
	}
	if c.compressor {
		rate -= cfg.CoolingPerHour
	}
	c.temp += rate * hours

	mid := (cfg.HumidityMin + cfg.HumidityMax) / 2
	switch {
	case door:
		c.hum += (doorHumidity - c.hum) * -math.Expm1(-doorHumidityPerHour*hours)
	case c.hum > cfg.HumidityMax:
		c.hum += (mid - c.hum) * -math.Expm1(-spikeDecayPerHour*hours)
	default:
		c.hum += humidityRevertPerHour*(mid-c.hum)*hours + humidityNoise*math.Sqrt(hours)*c.rng.NormFloat64()
		c.hum = min(max(c.hum, cfg.HumidityMin), cfg.HumidityMax)
	}

	if door {
		c.doorLeft = max(c.doorLeft-h, 0)
	}
}

// Temperature returns the room's temperature in °C, or the overriding one.
// It is the true air temperature even while the probe is faulted.
func (c *ColdRoom) Temperature() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinned {
		return c.pinnedTemp
	}
	return c.temp
}

// Humidity returns the relative humidity in %RH.
func (c *ColdRoom) Humidity() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hum
}

// DoorOpen reports whether the door is open.
func (c *ColdRoom) DoorOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doorLeft > 0
}

// CompressorOn reports whether the compressor is running.
func (c *ColdRoom) CompressorOn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compressor
}

// Faulted reports whether the probe reads open. It is false while the
// temperature is overridden.
func (c *ColdRoom) Faulted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.pinned && c.faultLeft > 0
}

// Setpoint returns the °C the thermostat holds.
func (c *ColdRoom) Setpoint() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Setpoint
}

// SetSetpoint changes the °C the thermostat holds, as a person at the
// controller's keypad or a write over Modbus does: from the next Step the
// compressor cycles around sp (±Band) and the room drifts there. A sp that
// is not a finite number is ignored, as a controller ignores nonsense.
func (c *ColdRoom) SetSetpoint(sp float64) {
	if math.IsNaN(sp) || math.IsInf(sp, 0) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.Setpoint = sp
}

// Override pins the temperature the transmitter reports to temp °C until
// ClearOverride; registers then show temp ×10, rounded, and never
// ProbeOpen. The model keeps running underneath.
func (c *ColdRoom) Override(temp float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinned, c.pinnedTemp = true, temp
}

// ClearOverride returns the reported temperature to the model's.
func (c *ColdRoom) ClearOverride() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinned = false
}

// OpenDoor opens the door now for d, or keeps it open at least that long.
func (c *ColdRoom) OpenDoor(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doorLeft = max(c.doorLeft, d)
}

// FailProbe makes the probe read open for the next steps Steps, as a
// random probe fault does.
func (c *ColdRoom) FailProbe(steps int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faultLeft = steps
}

// WriteTo stores the transmitter's current readings in b at the layout's
// registers, both in one update. Values beyond a register's range are
// clamped. It panics if the layout names a bit table.
func (c *ColdRoom) WriteTo(b *Bank, layout Layout) {
	if layout.Table != Holding && layout.Table != Input {
		panic(fmt.Sprintf("sim: layout table %q must be holding or input", layout.Table))
	}
	c.mu.Lock()
	temp, hum := c.temp, c.hum
	if c.pinned {
		temp = c.pinnedTemp
	}
	faulted := !c.pinned && c.faultLeft > 0
	c.mu.Unlock()

	rawT := ProbeOpen
	if !faulted && !math.IsNaN(temp) { // NaN has no register value: show what a dead probe shows
		rawT = uint16(int16(clampRound(temp*10, math.MinInt16, math.MaxInt16)))
	}
	rawH := uint16(clampRound(hum*10, 0, math.MaxUint16))
	b.setEach(layout.Table, []uint16{layout.Temperature, layout.Humidity}, []uint16{rawT, rawH})
}

// clampRound rounds x to the nearest integer within lo..hi.
func clampRound(x, lo, hi float64) float64 {
	return min(max(math.Round(x), lo), hi)
}

// Run writes the readings to b, then steps the room by tick and writes
// again every tick of the wall clock, until ctx is done. It is the demo's
// transmitter; tests call Step and WriteTo instead.
func (c *ColdRoom) Run(ctx context.Context, b *Bank, layout Layout, tick time.Duration) {
	c.RunFast(ctx, b, layout, tick, 1)
}

// RunFast is Run with simulated time passing speed times faster than the
// wall clock: cold rooms change over hours, and a demo watched for minutes
// wants to see compressor cycles and door openings.
func (c *ColdRoom) RunFast(ctx context.Context, b *Bank, layout Layout, tick time.Duration, speed float64) {
	c.WriteTo(b, layout)
	t := time.NewTicker(tick)
	defer t.Stop()
	step := time.Duration(float64(tick) * speed)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Step(step)
			c.WriteTo(b, layout)
		}
	}
}
