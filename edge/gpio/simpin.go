package gpio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// SimPrefix starts the name of a simulated pin in a configuration:
// "sim:s1-confirm". OpenPin gives such a name the process-wide SimPin
// of that name on every platform, so the demo and the tests run the
// agent's configuration without a Raspberry Pi.
const SimPrefix = "sim:"

// SimPin is a simulated GPIO line. The edge side uses it as a periph
// gpio.PinIO (Input and Output work on it unchanged); a simulator drives
// it as the field would, pressing a button or opening a door with Drive
// or Pulse, and watches what the edge writes with State, Wait and
// WaitLevel.
//
// It behaves as a line of the GPIO character device does where that
// matters to the agent: In with a pull-up or pull-down moves an undriven
// line to that level; edge detection, once In asked for it, queues every
// edge Drive makes until WaitForEdge takes it, one edge per call, and In
// discards the queue; In, Out and Halt make a pending WaitForEdge return
// false. Out counts its writes, so a simulated worker sees a lamp go on
// even when a blink turned it off again before it looked.
//
// Unlike periph's gpiotest.Pin, a SimPin is safe for concurrent use by
// every method, needs no channel to be set up, and keeps a level Drive set
// when the pin is then configured as an input: a button held at start-up
// reads as held.
type SimPin struct {
	name string

	mu      sync.Mutex
	level   pgpio.Level
	pull    pgpio.Pull
	edge    pgpio.Edge // the edges In asked to detect; NoEdge for an output
	output  bool
	driven  bool   // Drive set the level; a pull no longer moves it
	pending int    // detected edges WaitForEdge has not taken yet
	gen     uint64 // bumped by In, Out and Halt: ends pending WaitForEdge calls
	writes  uint64
	highs   uint64
	lows    uint64
	edges   uint64
	changed chan struct{} // closed and replaced on every change
}

var (
	_ pgpio.PinIO = (*SimPin)(nil)
	_ pin.PinFunc = (*SimPin)(nil)
)

// SimState is a snapshot of a SimPin.
type SimState struct {
	Level  pgpio.Level // the line's level now
	Output bool        // the edge set the pin as an output (Out), not an input (In)
	Pull   pgpio.Pull  // the pull In set
	Writes uint64      // Out calls, both levels
	Highs  uint64      // Out calls that wrote High
	Lows   uint64      // Out calls that wrote Low
	Edges  uint64      // level changes made by Drive and Pulse
}

// NewSimPin returns a simulated pin of its own, not registered: for a test
// that wants no other test to see its pins. name is without SimPrefix.
// The line starts low, as an input without pull.
func NewSimPin(name string) *SimPin {
	return &SimPin{name: strings.TrimPrefix(name, SimPrefix), pull: pgpio.Float, changed: make(chan struct{})}
}

// simPins is the process-wide registry behind Sim and OpenPin.
var simPins struct {
	mu sync.Mutex
	m  map[string]*SimPin
}

// Sim returns the process-wide simulated pin called name, with or without
// SimPrefix ("s1-confirm" and "sim:s1-confirm" are the same pin), creating
// it on first use. The agent opening "sim:s1-confirm" through OpenPin and
// a simulated worker calling Sim("s1-confirm") hold the same pin,
// whichever comes first.
func Sim(name string) *SimPin {
	name = strings.TrimPrefix(name, SimPrefix)
	simPins.mu.Lock()
	defer simPins.mu.Unlock()
	if p := simPins.m[name]; p != nil {
		return p
	}
	if simPins.m == nil {
		simPins.m = make(map[string]*SimPin)
	}
	p := NewSimPin(name)
	simPins.m[name] = p
	return p
}

// SimPins returns every pin Sim or OpenPin has created, sorted by name: a
// demo lists them to show its lamps.
func SimPins() []*SimPin {
	simPins.mu.Lock()
	out := make([]*SimPin, 0, len(simPins.m))
	for _, p := range simPins.m {
		out = append(out, p)
	}
	simPins.mu.Unlock()
	slices.SortFunc(out, func(a, b *SimPin) int { return strings.Compare(a.name, b.name) })
	return out
}

// IsSimName reports whether name is a simulated pin's: it starts with
// SimPrefix.
func IsSimName(name string) bool { return strings.HasPrefix(name, SimPrefix) }

// openSim is OpenPin for a name with SimPrefix.
func openSim(name string) (pgpio.PinIO, error) {
	if strings.TrimPrefix(name, SimPrefix) == "" {
		return nil, fmt.Errorf("gpio: simulated pin %q has no name after %q", name, SimPrefix)
	}
	return Sim(name), nil
}

// String returns the pin's name.
func (p *SimPin) String() string { return p.Name() }

// Name returns the pin's name with SimPrefix, as a configuration writes it.
func (p *SimPin) Name() string { return SimPrefix + p.name }

// Number returns -1: a simulated pin is on no header.
func (p *SimPin) Number() int { return -1 }

// Function returns the pin's function as a string.
//
// Deprecated: periph replaces it with Func; it is here for pin.Pin.
func (p *SimPin) Function() string { return string(p.Func()) }

// Func returns gpio.IN or gpio.OUT.
func (p *SimPin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.output {
		return pgpio.OUT
	}
	return pgpio.IN
}

// SupportedFuncs returns gpio.IN and gpio.OUT.
func (p *SimPin) SupportedFuncs() []pin.Func { return []pin.Func{pgpio.IN, pgpio.OUT} }

// SetFunc sets the pin as an input (gpio.IN, pull and edges unchanged) or
// an output (gpio.OUT, level unchanged).
func (p *SimPin) SetFunc(f pin.Func) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f {
	case pgpio.IN:
		p.output = false
	case pgpio.OUT:
		p.output, p.edge, p.pending, p.driven = true, pgpio.NoEdge, 0, false
	default:
		return fmt.Errorf("gpio: %s: function %q not supported", p.Name(), f)
	}
	p.gen++
	p.notify()
	return nil
}

// Halt makes a pending WaitForEdge return false.
func (p *SimPin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.notify()
	return nil
}

// In sets the pin as an input with the given pull and edge detection. An
// undriven line goes to the pull's level (PullUp high, PullDown low);
// edges detected before are discarded.
func (p *SimPin) In(pull pgpio.Pull, edge pgpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pull != pgpio.PullNoChange {
		p.pull = pull
	}
	if !p.driven {
		switch p.pull {
		case pgpio.PullUp:
			p.level = pgpio.High
		case pgpio.PullDown:
			p.level = pgpio.Low
		}
	}
	p.output, p.edge, p.pending = false, edge, 0
	p.gen++
	p.notify()
	return nil
}

// Read returns the line's level.
func (p *SimPin) Read() pgpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// WaitForEdge returns true at once if an edge is queued, taking it;
// otherwise it waits for one up to timeout (-1: without limit). It returns
// false on timeout, or when In, Out, SetFunc or Halt is called meanwhile.
func (p *SimPin) WaitForEdge(timeout time.Duration) bool {
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	p.mu.Lock()
	gen := p.gen
	for {
		if p.gen != gen {
			p.mu.Unlock()
			return false
		}
		if p.pending > 0 {
			p.pending--
			p.mu.Unlock()
			return true
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-expired:
			return false
		}
		p.mu.Lock()
	}
}

// Pull returns the pull In set; Float until then.
func (p *SimPin) Pull() pgpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull returns Float.
func (p *SimPin) DefaultPull() pgpio.Pull { return pgpio.Float }

// Out sets the pin as an output at level l and counts the write. Edge
// detection stops and a level Drive set no longer holds.
func (p *SimPin) Out(l pgpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.output {
		p.gen++ // leaving input mode ends a pending WaitForEdge, as In does
	}
	p.output, p.edge, p.pending, p.driven = true, pgpio.NoEdge, 0, false
	p.level = l
	p.writes++
	if l {
		p.highs++
	} else {
		p.lows++
	}
	p.notify()
	return nil
}

// PWM is not simulated: lamps and buzzers are switched.
func (p *SimPin) PWM(pgpio.Duty, physic.Frequency) error {
	return fmt.Errorf("gpio: %s: %w", p.Name(), errSimPWM)
}

var errSimPWM = errors.New("PWM not simulated")

// Drive sets the line from outside, as a button, a door contact or a
// sensor does, to each level in turn: several levels at once are a
// contact bouncing, their edges queued together so that a debouncing
// Input sees them within its window whatever the scheduling. Each change
// of level is an edge; it is queued for WaitForEdge if the edge detection
// In asked for covers it. The last level stays until the next Drive, and
// a later In keeps it.
func (p *SimPin) Drive(levels ...pgpio.Level) {
	if len(levels) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.driven = true
	for _, l := range levels {
		if l == p.level {
			continue
		}
		p.level = l
		p.edges++
		if p.detects(l) {
			p.pending++
		}
	}
	p.notify()
}

// detects reports whether a change to level l is an edge In asked for.
func (p *SimPin) detects(l pgpio.Level) bool {
	switch p.edge {
	case pgpio.BothEdges:
		return true
	case pgpio.RisingEdge:
		return l == pgpio.High
	case pgpio.FallingEdge:
		return l == pgpio.Low
	}
	return false
}

// Pulse drives the line to l, holds it for hold, then drives it back to
// the level it had: a button pressed and let go. hold must exceed the
// Input's debounce (30 ms by default), or the press is taken for a
// bounce. If ctx ends first the line is let go at once and ctx.Err()
// returned.
func (p *SimPin) Pulse(ctx context.Context, l pgpio.Level, hold time.Duration) error {
	prev := p.Read()
	p.Drive(l)
	defer p.Drive(prev)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State returns a snapshot of the pin.
func (p *SimPin) State() SimState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state()
}

func (p *SimPin) state() SimState {
	return SimState{Level: p.level, Output: p.output, Pull: p.pull, Writes: p.writes, Highs: p.highs, Lows: p.lows, Edges: p.edges}
}

// Wait returns the pin's state as soon as cond holds for it, checking now
// and after every change, or ctx.Err() with the last state seen. cond
// sees the state after each change it wakes for, not every one in
// between: to catch a short pulse, test a counter (Highs, Writes) rather
// than Level.
func (p *SimPin) Wait(ctx context.Context, cond func(SimState) bool) (SimState, error) {
	for {
		p.mu.Lock()
		st, changed := p.state(), p.changed
		p.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// WaitLevel waits until the line is at level l: a lamp wired active-high
// is lit at High. It returns at once if the line is there already.
func (p *SimPin) WaitLevel(ctx context.Context, l pgpio.Level) error {
	_, err := p.Wait(ctx, func(s SimState) bool { return s.Level == l })
	return err
}

// notify wakes every waiter; p.mu is held.
func (p *SimPin) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}
