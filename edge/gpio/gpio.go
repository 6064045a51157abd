// Package gpio drives a warehouse's digital I/O through periph.io: door
// contacts and buttons as debounced inputs, bin lamps, stack lights and
// buzzers as outputs that can be steady, blinking or pulsed. It works on
// periph's interfaces (gpio.PinIn, gpio.PinOut), so tests drive it with
// gpiotest fakes and a Raspberry Pi with the GPIO character device through
// host_linux.go.
package gpio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// Event is a debounced change of an input.
type Event struct {
	Name   string
	Active bool // door open, button pressed (after ActiveLow is applied)
	At     time.Time
}

// Input is a contact or button, read with edge detection and debounced.
type Input struct {
	Name      string
	Pin       pgpio.PinIn
	ActiveLow bool          // active when the line is low (a contact to ground with a pull-up)
	Debounce  time.Duration // a change counts once the line has been quiet this long; default 30 ms
	Pull      pgpio.Pull    // default pull-up

	edges, bounces atomic.Uint64
}

// InputStats counts what an input saw.
type InputStats struct{ Edges, Bounces uint64 }

// Stats returns the input's counters: raw edges, and edges that did not
// change the debounced state (contact bounce, noise).
func (in *Input) Stats() InputStats {
	return InputStats{Edges: in.edges.Load(), Bounces: in.bounces.Load()}
}

func (in *Input) active(l pgpio.Level) bool { return bool(l) != in.ActiveLow }

// Run watches the input until ctx ends, sending the initial state and then
// every debounced change on events. It returns the pin's configuration
// error, if any.
func (in *Input) Run(ctx context.Context, events chan<- Event) error {
	debounce := in.Debounce
	if debounce <= 0 {
		debounce = 30 * time.Millisecond
	}
	pull := in.Pull
	if pull == pgpio.PullNoChange {
		pull = pgpio.PullUp
	}
	if err := in.Pin.In(pull, pgpio.BothEdges); err != nil {
		return err
	}
	state := in.active(in.Pin.Read())
	send := func(active bool) bool {
		select {
		case events <- Event{Name: in.Name, Active: active, At: time.Now()}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !send(state) {
		return nil
	}
	for ctx.Err() == nil {
		// Wake now and then to notice ctx; WaitForEdge cannot be interrupted.
		if !in.Pin.WaitForEdge(200 * time.Millisecond) {
			continue
		}
		in.edges.Add(1)
		// Let the contact settle: every edge within the window restarts it.
		for in.Pin.WaitForEdge(debounce) {
			in.edges.Add(1)
			in.bounces.Add(1)
		}
		now := in.active(in.Pin.Read())
		if now == state {
			in.bounces.Add(1)
			continue
		}
		state = now
		if !send(state) {
			return nil
		}
	}
	return nil
}

// Mode is what an output shows.
type Mode struct {
	On    bool          // steady on (Blink zero) or blinking
	Blink time.Duration // half-period of blinking; zero for steady
	For   time.Duration // back to off after this long; zero for until changed
}

// Common modes.
var (
	Off = Mode{}
	On  = Mode{On: true}
)

// Blinking returns a mode that blinks with the given half-period.
func Blinking(half time.Duration) Mode { return Mode{On: true, Blink: half} }

// Output is a lamp, a stack light segment or a buzzer.
type Output struct {
	Name      string
	Pin       pgpio.PinOut
	ActiveLow bool // on when the line is low (many relay boards)

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	mode    Mode
	writes  atomic.Uint64
	lastErr atomic.Value
}

// Set changes what the output shows, at once.
func (o *Output) Set(m Mode) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cancel != nil {
		o.cancel()
		<-o.done
		o.cancel = nil
	}
	o.mode = m
	if !m.On {
		o.write(false)
		return
	}
	o.write(true)
	if m.Blink == 0 && m.For == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel, o.done = cancel, make(chan struct{})
	go o.run(ctx, m, o.done)
}

// run blinks and ends a timed mode; the first write (on) is done by Set.
func (o *Output) run(ctx context.Context, m Mode, done chan struct{}) {
	defer close(done)
	var end <-chan time.Time
	// A timed blink ends after a number of half-periods, not at a time: a
	// busy box may deliver ticks late, and three beeps must stay three.
	toggles := -1
	if m.For > 0 && m.Blink > 0 && m.For >= m.Blink {
		toggles = int(m.For/m.Blink) - 1
	} else if m.For > 0 {
		t := time.NewTimer(m.For)
		defer t.Stop()
		end = t.C
	}
	var tick <-chan time.Time
	if m.Blink > 0 {
		t := time.NewTicker(m.Blink)
		defer t.Stop()
		tick = t.C
	}
	on := true
	for {
		if toggles == 0 {
			o.write(false)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-end:
			o.write(false)
			return
		case <-tick:
			on = !on
			o.write(on)
			if toggles > 0 {
				toggles--
			}
		}
	}
}

// Mode is what the output was last set to.
func (o *Output) Mode() Mode {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mode
}

// Writes counts the GPIO writes made, for tests and latency checks.
func (o *Output) Writes() uint64 { return o.writes.Load() }

// Err is the last write error, or nil.
func (o *Output) Err() error {
	if e, ok := o.lastErr.Load().(error); ok {
		return e
	}
	return nil
}

func (o *Output) write(on bool) {
	err := o.Pin.Out(pgpio.Level(on != o.ActiveLow))
	o.writes.Add(1)
	if err != nil {
		o.lastErr.Store(err)
	}
}

// Close turns the output off and stops its blinking.
func (o *Output) Close() { o.Set(Off) }

// Beep sounds a buzzer n times, each beep and each pause lasting d, then
// falls silent. It returns at once; a later Set or Beep replaces it.
func (o *Output) Beep(n int, d time.Duration) {
	if n < 1 {
		return
	}
	o.Set(Mode{On: true, Blink: d, For: time.Duration(2*n-1) * d})
}

// StackLight is the three-colour tower light with a buzzer above a
// station or a cold-room door.
type StackLight struct {
	Red, Amber, Green, Buzzer *Output
}

// Light states, from calm to urgent.
type Light int

// Stack light states.
const (
	LightOff     Light = iota
	LightOK            // green
	LightWarning       // amber
	LightAlarm         // red blinking and the buzzer
)

// Show sets the tower for state.
func (s *StackLight) Show(state Light) {
	set := func(o *Output, m Mode) {
		if o != nil {
			o.Set(m)
		}
	}
	switch state {
	case LightOK:
		set(s.Red, Off)
		set(s.Amber, Off)
		set(s.Green, On)
		set(s.Buzzer, Off)
	case LightWarning:
		set(s.Red, Off)
		set(s.Amber, On)
		set(s.Green, Off)
		set(s.Buzzer, Off)
	case LightAlarm:
		set(s.Red, Blinking(500*time.Millisecond))
		set(s.Amber, Off)
		set(s.Green, Off)
		set(s.Buzzer, Blinking(time.Second))
	default:
		for _, o := range []*Output{s.Red, s.Amber, s.Green, s.Buzzer} {
			set(o, Off)
		}
	}
}
