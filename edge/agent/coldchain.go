package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/profile"
)

// coldChain is the edge's own copy of its rooms' alarm rules, evaluated
// with contract.RoomState (the same code as the hub's) on the readings the
// agent takes, so that the stack light and buzzer sound on site while the
// uplink is down, as drug cold-chain rules require. The hub raises, logs
// and notifies; this only signals.
type coldChain struct {
	path string

	mu      sync.Mutex
	version string
	rooms   map[string]*roomAlarm // room id to its rule and state
	silence contract.AlarmSet     // per room union: conditions already silenced
	silent  bool                  // the buzzer is muted until a new condition arises
}

type roomAlarm struct {
	rule  contract.RoomRule
	state contract.RoomState
}

func newColdChain(path string) *coldChain {
	return &coldChain{path: path, rooms: map[string]*roomAlarm{}}
}

// load reads the rules file; a missing file is no rules.
func (c *coldChain) load(site string) error {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rs, err := contract.DecodeRoomRules(b)
	if err != nil {
		return fmt.Errorf("room rules %s: %w", c.path, err)
	}
	if rs.Site != site {
		return fmt.Errorf("room rules %s are for site %q, this edge is at %q", c.path, rs.Site, site)
	}
	c.set(rs, time.Now())
	return nil
}

// set replaces the rules, keeping the state (and timers) of rooms that
// stay.
func (c *coldChain) set(rs *contract.RoomRules, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms := make(map[string]*roomAlarm, len(rs.Rules))
	for _, r := range rs.Rules {
		ra := c.rooms[r.Room]
		if ra == nil {
			ra = &roomAlarm{}
			ra.state.Expect(now)
		}
		ra.rule = r
		rooms[r.Room] = ra
	}
	c.rooms, c.version = rooms, rs.Version
}

// reading evaluates a device's poll for its room.
func (c *coldChain) reading(device, room string, now time.Time, rd *profile.Reading) {
	if room == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ra := c.rooms[room]
	if ra == nil || (ra.rule.Probe != "" && ra.rule.Probe != device) {
		return
	}
	if on, ok := rd.Fields["defrost"]; ok {
		ra.state.Defrost(&ra.rule, now, on != 0)
	}
	if _, faulted := rd.Faults["temperature"]; faulted {
		ra.state.Update(&ra.rule, now, 0, contract.FaultReported)
	} else if v, ok := rd.Fields["temperature"]; ok {
		fault := contract.CheckTemperature(v)
		if p, ok := rd.Fields["alarm_probe"]; ok && p != 0 {
			fault = contract.FaultController
		}
		ra.state.Update(&ra.rule, now, v, fault)
	}
}

// door records a door contact of a room.
func (c *coldChain) door(room string, now time.Time, open bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ra := c.rooms[room]; ra != nil {
		ra.state.Door(&ra.rule, now, open)
	}
}

// tick advances the timers and returns the conditions in alarm over every
// room, the rooms in alarm (sorted), and whether the buzzer should sound.
func (c *coldChain) tick(now time.Time) (active contract.AlarmSet, rooms []string, sound bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ra := range c.rooms {
		ra.state.Tick(&ra.rule, now)
		if ra.state.Active != 0 {
			active |= ra.state.Active
			rooms = append(rooms, id)
		}
	}
	slices.Sort(rooms) // a stable order: the loop logs when the set changes
	if active&^c.silence != 0 {
		c.silent = false // a new condition sounds again
	}
	if active == 0 {
		c.silence, c.silent = 0, false
	}
	return active, rooms, active != 0 && !c.silent
}

// mute silences the buzzer for the conditions active now.
func (c *coldChain) mute() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ra := range c.rooms {
		c.silence |= ra.state.Active
	}
	c.silent = true
}

func (c *coldChain) rulesVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// setRules applies a rules command and keeps it on disk.
func (a *Agent) setRules(raw []byte) (*contract.RoomRules, error) {
	rs, err := contract.DecodeRoomRules(raw)
	if err != nil {
		return nil, err
	}
	if rs.Site != a.cfg.Site {
		return nil, fmt.Errorf("rules are for site %q, this edge is at %q", rs.Site, a.cfg.Site)
	}
	if err := writeFileAtomic(a.cfg.Rules, raw); err != nil {
		return nil, err
	}
	a.cold.set(rs, time.Now())
	a.log.Info("room alarm rules in force", "version", rs.Version, "rooms", len(rs.Rules))
	a.requestStatus()
	return rs, nil
}

// coldLoop evaluates the rooms' rules every second and drives the local
// signal: the stack light (red and its buzzer) and each room's own light
// and buzzer at its door.
func (a *Agent) coldLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			active, rooms, sound := a.cold.tick(now)
			a.alarmActive.Store(active != 0)
			a.alarmSound.Store(sound)
			for _, rs := range a.cfg.RoomSignals {
				on := slices.Contains(rooms, rs.Room)
				if o := a.outputs[rs.Light]; o != nil {
					setIf(o, on, gpio.Blinking(500*time.Millisecond))
				}
				if o := a.outputs[rs.Buzzer]; o != nil {
					setIf(o, on && sound, gpio.Blinking(250*time.Millisecond))
				}
			}
			if s := fmt.Sprint(rooms, active); s != last {
				if active != 0 {
					a.log.Warn("cold-chain alarm on site", "rooms", rooms, "conditions", alarmNames(active), "buzzer", sound)
				} else if last != "" {
					a.log.Info("cold-chain alarms over on site")
				}
				last = s
			}
		}
	}
}

// setIf sets o to mode when on, off otherwise, writing only on a change.
func setIf(o *gpio.Output, on bool, mode gpio.Mode) {
	if o.Mode().On != on {
		if on {
			o.Set(mode)
		} else {
			o.Set(gpio.Off)
		}
	}
}

func alarmNames(s contract.AlarmSet) []string {
	var out []string
	for k := contract.AlarmKind(1); int(k) < contract.NumAlarmKinds; k++ {
		if s.Has(k) {
			out = append(out, k.String())
		}
	}
	return out
}
