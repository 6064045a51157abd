package gpio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// The agent opens "sim:s1-b03" and "sim:s1-confirm" with OpenPin; a
// simulated worker holds the same pins through Sim.
func ExampleSimPin() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	lampPin, _ := OpenPin("sim:s1-b03")
	lamp := &Output{Name: "s1-b03", Pin: lampPin}
	lamp.Set(On)
	fmt.Println("lamp", Sim("s1-b03").Read())

	buttonPin, _ := OpenPin("sim:s1-confirm")
	button := &Input{Name: "s1-confirm", Pin: buttonPin, ActiveLow: true}
	events := make(chan Event, 1)
	go button.Run(ctx, events)
	fmt.Println("pressed", (<-events).Active)
	Sim("s1-confirm").Drive(pgpio.Low)
	fmt.Println("pressed", (<-events).Active)
	// Output:
	// lamp High
	// pressed false
	// pressed true
}

// simWaitTimeout bounds every wait in these tests; nothing is timed by it.
const simWaitTimeout = 5 * time.Second

func simCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), simWaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// runSimInput runs in, whose pin is a SimPin, and returns its events;
// cleanup stops it and checks that Run returned.
func runSimInput(t *testing.T, in *Input) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 8)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		in.Pin.(*SimPin).Halt() // ends the WaitForEdge Run is in, if any
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(simWaitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return events
}

func nextSimEvent(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(simWaitTimeout):
		t.Fatal("no event")
		return Event{}
	}
}

// simPoll waits until cond holds, checking every few milliseconds.
func simPoll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(simWaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSimButtonDebounced runs the agent's Input on a simulated confirm
// button wired to ground with a pull-up (active low).
func TestSimButtonDebounced(t *testing.T) {
	pin := NewSimPin("s1-confirm")
	in := &Input{Name: "s1-confirm", Pin: pin, ActiveLow: true, Debounce: 10 * time.Millisecond}
	events := runSimInput(t, in)

	if e := nextSimEvent(t, events); e.Active || e.Name != "s1-confirm" {
		t.Fatalf("initial %+v, want released (the pull-up holds the line high)", e)
	}
	if st := pin.State(); st.Level != pgpio.High || st.Pull != pgpio.PullUp || st.Output {
		t.Fatalf("after In: %+v", st)
	}

	// Pressed: the contact bounces before it settles low.
	pin.Drive(pgpio.Low, pgpio.High, pgpio.Low, pgpio.High, pgpio.Low)
	if e := nextSimEvent(t, events); !e.Active {
		t.Fatalf("after the press: %+v, want active", e)
	}
	if s := in.Stats(); s != (InputStats{Edges: 5, Bounces: 4}) {
		t.Errorf("stats %+v, want 5 edges, 4 bounces", s)
	}

	pin.Drive(pgpio.High)
	if e := nextSimEvent(t, events); e.Active {
		t.Fatalf("after the release: %+v, want inactive", e)
	}

	// A glitch that ends where it started is no event: the next event is
	// the press that follows it.
	before := in.Stats()
	pin.Drive(pgpio.Low, pgpio.High)
	simPoll(t, "the glitch settled", func() bool { return in.Stats().Bounces == before.Bounces+2 })
	pin.Drive(pgpio.Low)
	if e := nextSimEvent(t, events); !e.Active {
		t.Fatalf("after glitch and press: %+v, want active", e)
	}
	if st := pin.State(); st.Edges != 9 || st.Writes != 0 {
		t.Errorf("state %+v, want 9 edges, no writes", st)
	}
}

// TestSimDoorHeldAtStart: a level driven before the agent starts is what
// the agent reads first; the pull does not override it.
func TestSimDoorHeldAtStart(t *testing.T) {
	pin := NewSimPin("cr1-door")
	pin.Drive(pgpio.Low) // door closed: the contact pulls the line to ground
	in := &Input{Name: "cr1-door", Pin: pin}
	events := runSimInput(t, in)
	if e := nextSimEvent(t, events); e.Active {
		t.Fatalf("initial %+v, want inactive (closed)", e)
	}
	pin.Drive(pgpio.High) // opened
	if e := nextSimEvent(t, events); !e.Active {
		t.Fatalf("after opening: %+v", e)
	}
}

func TestSimOutputBlinks(t *testing.T) {
	ctx := simCtx(t)
	pin := NewSimPin("s1-b03")
	o := &Output{Name: "s1-b03", Pin: pin}

	o.Set(On)
	if err := pin.WaitLevel(ctx, pgpio.High); err != nil {
		t.Fatalf("lamp not lit: %v", err)
	}
	if st := pin.State(); !st.Output || st.Writes != 1 || st.Highs != 1 {
		t.Fatalf("after On: %+v", st)
	}

	// Blinking: the worker sees the lamp go on and off again and again.
	o.Set(Blinking(time.Millisecond))
	st, err := pin.Wait(ctx, func(s SimState) bool { return s.Highs >= 5 && s.Lows >= 5 })
	if err != nil {
		t.Fatalf("no blinking seen: %+v, %v", st, err)
	}
	o.Set(Off)
	if st := pin.State(); st.Level != pgpio.Low || st.Writes != o.Writes() {
		t.Errorf("after Off: %+v; the output counted %d writes", st, o.Writes())
	}

	// A relay board switched by a low line.
	relay := NewSimPin("relay")
	r := &Output{Name: "relay", Pin: relay, ActiveLow: true}
	r.Set(On)
	if st := relay.State(); st.Level != pgpio.Low || st.Lows != 1 {
		t.Errorf("active-low output on: %+v", st)
	}
	r.Close()
	if relay.Read() != pgpio.High {
		t.Error("active-low output off is not high")
	}
}

func TestSimPinEdges(t *testing.T) {
	tests := []struct {
		name  string
		edge  pgpio.Edge
		drive []pgpio.Level
		want  int // edges WaitForEdge returns
	}{
		{"both", pgpio.BothEdges, []pgpio.Level{pgpio.High, pgpio.Low, pgpio.High}, 3},
		{"rising", pgpio.RisingEdge, []pgpio.Level{pgpio.High, pgpio.Low, pgpio.High}, 2},
		{"falling", pgpio.FallingEdge, []pgpio.Level{pgpio.High, pgpio.Low, pgpio.High}, 1},
		{"none", pgpio.NoEdge, []pgpio.Level{pgpio.High, pgpio.Low}, 0},
		{"no change is no edge", pgpio.BothEdges, []pgpio.Level{pgpio.Low, pgpio.Low}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewSimPin("x")
			if err := p.In(pgpio.PullDown, tt.edge); err != nil {
				t.Fatal(err)
			}
			p.Drive(tt.drive...)
			got := 0
			for p.WaitForEdge(0) {
				got++
			}
			if got != tt.want {
				t.Errorf("%d edges, want %d", got, tt.want)
			}
		})
	}

	p := NewSimPin("x")
	p.In(pgpio.Float, pgpio.BothEdges)
	p.Drive(pgpio.High)
	p.In(pgpio.Float, pgpio.BothEdges) // discards the queued edge
	if p.WaitForEdge(0) {
		t.Error("In did not discard a queued edge")
	}
	if p.Read() != pgpio.High || p.Pull() != pgpio.Float {
		t.Errorf("level %v pull %v", p.Read(), p.Pull())
	}
	p.Drive(pgpio.Low) // while not waiting: queued, then taken
	if !p.WaitForEdge(-1) {
		t.Error("a queued edge was not returned")
	}
}

// TestSimPinWakes: an edge, Halt and In end a WaitForEdge that waits
// without limit.
func TestSimPinWakes(t *testing.T) {
	for _, tt := range []struct {
		name string
		do   func(p *SimPin)
		want bool
	}{
		{"edge", func(p *SimPin) { p.Drive(pgpio.High) }, true},
		{"halt", func(p *SimPin) { p.Halt() }, false},
		{"in", func(p *SimPin) { p.In(pgpio.PullUp, pgpio.BothEdges) }, false},
		{"out", func(p *SimPin) { p.In(pgpio.PullDown, pgpio.BothEdges); p.Out(pgpio.Low) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewSimPin("x")
			p.In(pgpio.PullDown, pgpio.BothEdges)
			got := make(chan bool, 1)
			started := make(chan struct{})
			go func() {
				close(started)
				got <- p.WaitForEdge(-1)
			}()
			<-started
			// The waiter may not be waiting yet: Halt, In and Out made
			// before it reads the generation would be missed, so repeat
			// them until it returns.
			for {
				tt.do(p)
				select {
				case g := <-got:
					if g != tt.want {
						t.Errorf("WaitForEdge = %v, want %v", g, tt.want)
					}
					return
				case <-time.After(time.Millisecond):
				}
				if tt.name == "edge" {
					p.Drive(pgpio.Low)
				}
			}
		})
	}
}

func TestSimPulse(t *testing.T) {
	p := NewSimPin("btn")
	p.In(pgpio.PullUp, pgpio.FallingEdge)
	if err := p.Pulse(context.Background(), pgpio.Low, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := p.State(); st.Level != pgpio.High || st.Edges != 2 {
		t.Errorf("after Pulse: %+v, want high again and 2 edges", st)
	}
	if !p.WaitForEdge(0) || p.WaitForEdge(0) {
		t.Error("want exactly the falling edge queued")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Pulse(ctx, pgpio.Low, time.Hour); err != context.Canceled || p.Read() != pgpio.High {
		t.Errorf("cancelled Pulse: %v, level %v", err, p.Read())
	}
}

func TestOpenPinSim(t *testing.T) {
	p, err := OpenPin("sim:test-open-lamp")
	if err != nil {
		t.Fatal(err)
	}
	if p != Sim("test-open-lamp") || p != Sim("sim:test-open-lamp") {
		t.Error("OpenPin and Sim give different pins for one name")
	}
	if p.Name() != "sim:test-open-lamp" || p.String() != p.Name() || p.Number() != -1 {
		t.Errorf("name %q string %q number %d", p.Name(), p.String(), p.Number())
	}
	if _, err := OpenPin("sim:"); err == nil {
		t.Error("OpenPin(sim:) gave a pin")
	}
	found := false
	for _, q := range SimPins() {
		found = found || q == p
	}
	if !found {
		t.Error("SimPins does not list the opened pin")
	}
	if err := p.PWM(pgpio.DutyHalf, 0); err == nil {
		t.Error("PWM did not fail")
	}
	sp := p.(*SimPin)
	sp.In(pgpio.PullNoChange, pgpio.NoEdge) // the pin outlives the test (go test -count)
	if sp.Func() != pgpio.IN || sp.Function() != "IN" {
		t.Errorf("func %v", sp.Func())
	}
	sp.Out(pgpio.High)
	if sp.Func() != pgpio.OUT {
		t.Errorf("func after Out %v", sp.Func())
	}
}

func TestSimWaitCancelled(t *testing.T) {
	p := NewSimPin("x")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitLevel(ctx, pgpio.High); err != context.Canceled {
		t.Errorf("WaitLevel = %v", err)
	}
	if err := p.WaitLevel(ctx, pgpio.Low); err != nil {
		t.Errorf("WaitLevel for the level it is at: %v", err)
	}
}

// TestSimPinConcurrent runs an agent-side Input and Output and a
// simulated worker on shared pins while others read them, for the race
// detector.
func TestSimPinConcurrent(t *testing.T) {
	ctx := simCtx(t)
	button, lamp := Sim("test-concurrent-button"), Sim("test-concurrent-lamp")
	in := &Input{Name: "button", Pin: button, ActiveLow: true, Debounce: time.Millisecond}
	events := runSimInput(t, in)
	out := &Output{Name: "lamp", Pin: lamp}
	defer out.Close()
	nextSimEvent(t, events)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // the edge: the lamp blinks while the button is held
		for {
			select {
			case <-stop:
				return
			case e := <-events:
				if e.Active {
					out.Set(Blinking(time.Millisecond))
				} else {
					out.Set(Off)
				}
			}
		}
	})
	for range 4 {
		wg.Go(func() { // onlookers
			for {
				select {
				case <-stop:
					return
				default:
				}
				lamp.Read()
				lamp.Func()
				button.State()
				SimPins()
				Sim("test-concurrent-lamp")
			}
		})
	}
	// The worker presses, waits for the lamp, lets go, waits for it to go
	// off: each step waits on the one before, so nothing here is timed.
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		st := lamp.State()
		button.Drive(pgpio.Low)
		if _, err = lamp.Wait(ctx, func(s SimState) bool { return s.Highs > st.Highs && s.Lows > st.Lows }); err != nil {
			break
		}
		button.Drive(pgpio.High)
		_, err = lamp.Wait(ctx, func(s SimState) bool { return s.Level == pgpio.Low && out.Mode() == Off })
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("the lamp did not follow the button: %v, %+v", err, lamp.State())
	}
}
