package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// newRoom returns a room from the default config changed by edit.
func newRoom(t *testing.T, edit func(*ColdRoomConfig)) *ColdRoom {
	t.Helper()
	cfg := DefaultColdRoomConfig()
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewColdRoom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// quiet is a room with no random doors and no probe faults.
func quiet(cfg *ColdRoomConfig) {
	cfg.DoorOpeningsPerHour = 0
	cfg.ProbeFaultChance = 0
}

func TestColdRoom24Hours(t *testing.T) {
	cfg := DefaultColdRoomConfig()
	for _, seed := range []uint64{1, 2, 3, 42, 2024} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			c := newRoom(t, func(cfg *ColdRoomConfig) { cfg.Seed = seed })
			var starts, stops, crossings, doors int
			lo, hi := c.Temperature(), c.Temperature()
			wasOn, wasAbove, wasOpen := false, c.Temperature() > cfg.Setpoint, false
			for i := range 24 * 60 {
				c.Step(time.Minute)
				temp, hum := c.Temperature(), c.Humidity()
				if temp < -5 || temp > 25 {
					t.Fatalf("minute %d: temperature %.2f °C outside -5..25", i, temp)
				}
				if hum < cfg.HumidityMin || hum > 100 {
					t.Fatalf("minute %d: humidity %.1f %%RH outside %v..100", i, hum, cfg.HumidityMin)
				}
				lo, hi = min(lo, temp), max(hi, temp)
				on, above, open := c.CompressorOn(), temp > cfg.Setpoint, c.DoorOpen()
				if on && !wasOn {
					starts++
				}
				if !on && wasOn {
					stops++
				}
				if above != wasAbove {
					crossings++
				}
				if open && !wasOpen {
					doors++
				}
				wasOn, wasAbove, wasOpen = on, above, open
			}
			t.Logf("%.2f..%.2f °C, compressor started %d and stopped %d times, setpoint crossed %d times, %d door openings",
				lo, hi, starts, stops, crossings, doors)
			if starts < 6 || stops < 6 || crossings < 12 {
				t.Errorf("compressor started %d and stopped %d times, setpoint crossed %d times; want a cycle every few hours", starts, stops, crossings)
			}
			// The thermostat holds the band: the room reaches both edges
			// and strays beyond only by what an open door lets in.
			if lo > cfg.Setpoint-cfg.Band+0.2 || lo < cfg.Setpoint-cfg.Band-0.2 || hi < cfg.Setpoint+cfg.Band {
				t.Errorf("temperature ranged %.2f..%.2f °C for a band of %v±%v", lo, hi, cfg.Setpoint, cfg.Band)
			}
			if doors == 0 {
				t.Error("no door opened in 24 hours")
			}
		})
	}
}

func TestColdRoomDeterministic(t *testing.T) {
	type reading struct {
		temp, hum    float64
		door, faulty bool
	}
	story := func(seed uint64) []reading {
		c := newRoom(t, func(cfg *ColdRoomConfig) { cfg.Seed = seed; cfg.ProbeFaultChance = 0.05 })
		var out []reading
		for range 6 * 60 {
			c.Step(time.Minute)
			out = append(out, reading{c.Temperature(), c.Humidity(), c.DoorOpen(), c.Faulted()})
		}
		return out
	}
	a, b, other := story(7), story(7), story(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("minute %d: %+v and %+v from the same seed", i, a[i], b[i])
		}
	}
	same := true
	for i := range a {
		same = same && a[i] == other[i]
	}
	if same {
		t.Error("seeds 7 and 8 tell the same story")
	}
}

func TestColdRoomDoorWarms(t *testing.T) {
	open, shut := newRoom(t, quiet), newRoom(t, quiet)
	for _, c := range []*ColdRoom{open, shut} {
		c.Step(30 * time.Minute)
	}
	open.OpenDoor(3 * time.Minute)
	if !open.DoorOpen() {
		t.Fatal("DoorOpen() = false right after OpenDoor")
	}
	for range 18 { // 3 minutes
		open.Step(10 * time.Second)
		shut.Step(10 * time.Second)
	}
	if open.DoorOpen() {
		t.Error("door still open after 3 minutes")
	}
	if d := open.Temperature() - shut.Temperature(); d < 1 {
		t.Errorf("3 minutes of open door warmed the room by %.2f °C, want at least 1", d)
	}
	if d := open.Humidity() - shut.Humidity(); d < 3 {
		t.Errorf("3 minutes of open door raised the humidity by %.1f %%RH, want at least 3", d)
	}
	// The spike decays and the compressor pulls the room back.
	for range 6 * 60 {
		open.Step(time.Minute)
	}
	cfg := DefaultColdRoomConfig()
	if temp, hum := open.Temperature(), open.Humidity(); temp > cfg.Setpoint+cfg.Band+0.1 || hum > cfg.HumidityMax {
		t.Errorf("6 hours after the door shut: %.2f °C, %.1f %%RH", temp, hum)
	}
}

func TestColdRoomOverrideRegisters(t *testing.T) {
	tests := []struct {
		name   string
		temp   float64
		layout Layout
		addr   uint16
		want   uint16
	}{
		{"renke 2.5", 2.5, LayoutRenke, 1, 25},
		{"renke -18.3", -18.3, LayoutRenke, 1, uint16(0x10000 - 183)},
		{"renke 0", 0, LayoutRenke, 1, 0},
		{"renke rounds -0.05 away from zero", -0.05, LayoutRenke, 1, 0xFFFF},
		{"renke clamps high", 5000, LayoutRenke, 1, 0x7FFF},
		{"renke clamps low", -5000, LayoutRenke, 1, 0x8000},
		{"swapped 2.5", 2.5, LayoutSwapped, 1, 25},
		{"swapped -18.3", -18.3, LayoutSwapped, 1, uint16(0x10000 - 183)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRoom(t, quiet)
			c.Step(time.Hour)
			c.Override(tt.temp)
			c.FailProbe(3) // the override wins over a probe fault
			b := NewBank()
			c.WriteTo(b, tt.layout)
			got, ok := b.Get(tt.layout.Table, tt.addr)
			if !ok || got != tt.want {
				t.Errorf("%s %d = %d (%v), want %d (int16 %d)", tt.layout.Table, tt.addr, got, ok, tt.want, int16(tt.want))
			}
			if c.Temperature() != tt.temp || c.Faulted() {
				t.Errorf("Temperature() = %v, Faulted() = %v", c.Temperature(), c.Faulted())
			}
		})
	}
}

func TestColdRoomLayouts(t *testing.T) {
	c := newRoom(t, quiet)
	c.Override(-18.3)
	b := NewBank()
	c.WriteTo(b, LayoutRenke)
	c.WriteTo(b, LayoutSwapped)
	hum := uint16(c.Humidity()*10 + 0.5)
	tests := []struct {
		table Table
		addr  uint16
		want  uint16
	}{
		{Holding, 0, hum},
		{Holding, 1, uint16(0x10000 - 183)},
		{Input, 1, uint16(0x10000 - 183)},
		{Input, 2, hum},
	}
	for _, tt := range tests {
		if got, ok := b.Get(tt.table, tt.addr); !ok || got != tt.want {
			t.Errorf("%s %d = %d (%v), want %d", tt.table, tt.addr, got, ok, tt.want)
		}
	}
	if _, ok := b.Holding(2); ok {
		t.Error("WriteTo set a register outside the layout")
	}
}

func TestColdRoomProbeFault(t *testing.T) {
	c := newRoom(t, quiet)
	b := NewBank()
	c.FailProbe(2)
	for step := range 3 {
		c.WriteTo(b, LayoutRenke)
		raw, _ := b.Holding(1)
		if faulted := step < 2; c.Faulted() != faulted || (raw == ProbeOpen) != faulted {
			t.Errorf("step %d: Faulted() = %v, register %#04x; want faulted %v", step, c.Faulted(), raw, faulted)
		}
		if hum, _ := b.Holding(0); hum < 750 || hum > 900 {
			t.Errorf("step %d: humidity register %d during a temperature probe fault", step, hum)
		}
		c.Step(time.Minute)
	}

	// Random faults come and last ProbeFaultSteps each.
	c = newRoom(t, func(cfg *ColdRoomConfig) { cfg.ProbeFaultChance = 0.02; cfg.ProbeFaultSteps = 4 })
	run, runs := 0, 0
	for range 24 * 60 {
		c.Step(time.Minute)
		if c.Faulted() {
			run++
			continue
		}
		if run != 0 && run != 4 {
			t.Fatalf("a probe fault lasted %d steps, want 4", run)
		}
		if run != 0 {
			runs++
		}
		run = 0
	}
	if runs == 0 {
		t.Error("no probe fault in a day at 2 % per step")
	}
}

func TestColdRoomConfigValidate(t *testing.T) {
	if err := DefaultColdRoomConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		field string
		edit  func(*ColdRoomConfig)
	}{
		{"band", func(c *ColdRoomConfig) { c.Band = 0 }},
		{"setpoint", func(c *ColdRoomConfig) { c.Setpoint = 1 / zero() }},
		{"cooling_per_hour", func(c *ColdRoomConfig) { c.CoolingPerHour = -1 }},
		{"door_open_for", func(c *ColdRoomConfig) { c.DoorOpenFor = 0 }},
		{"humidity_min..humidity_max", func(c *ColdRoomConfig) { c.HumidityMin, c.HumidityMax = 90, 75 }},
		{"probe_fault_chance", func(c *ColdRoomConfig) { c.ProbeFaultChance = 1.5 }},
		{"probe_fault_steps", func(c *ColdRoomConfig) { c.ProbeFaultSteps = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := DefaultColdRoomConfig()
			tt.edit(&cfg)
			_, err := NewColdRoom(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.field+" ") {
				t.Errorf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
	// Doors that never open need no duration; faults that never happen no length.
	cfg := DefaultColdRoomConfig()
	cfg.DoorOpeningsPerHour, cfg.DoorOpenFor, cfg.ProbeFaultChance, cfg.ProbeFaultSteps = 0, 0, 0, 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("quiet config: %v", err)
	}
}

func zero() float64 { return 0 }

func TestColdRoomRun(t *testing.T) {
	c := newRoom(t, nil)
	b := NewBank()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, b, LayoutSwapped, time.Millisecond)
		close(done)
	}()
	eventually(t, "Run to write the registers", func() bool {
		_, ok := b.Input(2)
		return ok
	})
	c.Override(-18.3)
	eventually(t, "Run to write the override", func() bool {
		v, _ := b.Input(1)
		return int16(v) == -183
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestColdRoomWriteToBitTablePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	newRoom(t, nil).WriteTo(NewBank(), Layout{Table: Coil})
}
