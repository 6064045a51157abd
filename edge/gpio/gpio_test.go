package gpio

import (
	"context"
	"sync"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var (
	_ pgpio.PinIn  = &gpiotest.Pin{}
	_ pgpio.PinOut = &gpiotest.Pin{}
)

func waitEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// TestDoorContactDebounced: a door contact (to ground, pull-up, active low
// means closed... here active = open, so ActiveLow false on a normally
// closed contact) bounces when the door opens: one event, bounces counted.
func TestDoorContactDebounced(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan pgpio.Level, 32)}
	in := &Input{Name: "cr1-door", Pin: pin, Debounce: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 8)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, events) }()

	if e := waitEvent(t, events); e.Active != true || e.Name != "cr1-door" {
		// With the default pull-up the idle line reads high: active.
		t.Fatalf("initial %+v", e)
	}
	// The door closes: the contact bounces low/high/low before settling low.
	for _, l := range []pgpio.Level{pgpio.Low, pgpio.High, pgpio.Low, pgpio.High, pgpio.Low} {
		pin.EdgesChan <- l
	}
	if e := waitEvent(t, events); e.Active {
		t.Fatalf("after the bounce: %+v, want inactive", e)
	}
	select {
	case e := <-events:
		t.Fatalf("a bounce became an event: %+v", e)
	case <-time.After(60 * time.Millisecond):
	}
	if s := in.Stats(); s.Edges != 5 || s.Bounces != 4 {
		t.Errorf("stats %+v, want 5 edges, 4 bounces", s)
	}
	// A glitch (low-high-low) that ends where it started is no event.
	pin.EdgesChan <- pgpio.High
	pin.EdgesChan <- pgpio.Low
	select {
	case e := <-events:
		t.Fatalf("a glitch became an event: %+v", e)
	case <-time.After(80 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestButtonActiveLow(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO27", EdgesChan: make(chan pgpio.Level, 4)}
	in := &Input{Name: "confirm", Pin: pin, ActiveLow: true, Debounce: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 4)
	go in.Run(ctx, events)
	if e := waitEvent(t, events); e.Active {
		t.Fatalf("released button reads %+v", e)
	}
	pin.EdgesChan <- pgpio.Low
	if e := waitEvent(t, events); !e.Active {
		t.Fatalf("pressed button reads %+v", e)
	}
}

func TestInputNeedsEdges(t *testing.T) {
	in := &Input{Name: "x", Pin: &gpiotest.Pin{N: "GPIO5"}} // no EdgesChan: edge detection unavailable
	if err := in.Run(context.Background(), make(chan Event, 1)); err == nil {
		t.Fatal("a pin without edge detection was accepted")
	}
}

// recPin records every level written, with the time.
type recPin struct {
	gpiotest.Pin
	mu     sync.Mutex
	levels []pgpio.Level
}

func (p *recPin) Out(l pgpio.Level) error {
	p.mu.Lock()
	p.levels = append(p.levels, l)
	p.mu.Unlock()
	return p.Pin.Out(l)
}

func (p *recPin) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.levels)
}

func (p *recPin) last() pgpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.levels[len(p.levels)-1]
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOutputModes(t *testing.T) {
	pin := &recPin{Pin: gpiotest.Pin{N: "GPIO22"}}
	lamp := &Output{Name: "bin-07", Pin: pin, ActiveLow: true}
	lamp.Set(On)
	if pin.last() != pgpio.Low { // active low: on drives the line low
		t.Fatal("on did not drive the line low")
	}
	lamp.Set(Blinking(5 * time.Millisecond))
	eventually(t, "blinking toggles", func() bool { return pin.count() > 8 })
	lamp.Set(Off)
	n := pin.count()
	if pin.last() != pgpio.High {
		t.Fatal("off did not release the line")
	}
	time.Sleep(20 * time.Millisecond)
	if pin.count() != n {
		t.Fatal("still blinking after Off")
	}
	// A timed mode ends by itself.
	lamp.Set(Mode{On: true, For: 10 * time.Millisecond})
	eventually(t, "timed mode ends off", func() bool { return pin.last() == pgpio.High })
	if lamp.Err() != nil {
		t.Fatal(lamp.Err())
	}
}

func TestBeep(t *testing.T) {
	pin := &recPin{Pin: gpiotest.Pin{N: "GPIO23"}}
	buzzer := &Output{Name: "buzzer", Pin: pin}
	buzzer.Beep(3, 3*time.Millisecond)
	// 3 beeps: on, off, on, off, on, then off at the end: 6 writes.
	eventually(t, "three beeps", func() bool { return pin.count() == 6 && pin.last() == pgpio.Low })
	time.Sleep(15 * time.Millisecond)
	if pin.count() != 6 {
		t.Fatalf("%d writes, want 6", pin.count())
	}
	ons := 0
	for _, l := range pin.levels {
		if l == pgpio.High {
			ons++
		}
	}
	if ons != 3 {
		t.Fatalf("%d beeps, want 3", ons)
	}
}

func TestStackLight(t *testing.T) {
	pins := map[string]*recPin{}
	out := func(name string) *Output {
		p := &recPin{Pin: gpiotest.Pin{N: name}}
		pins[name] = p
		return &Output{Name: name, Pin: p}
	}
	s := &StackLight{Red: out("red"), Amber: out("amber"), Green: out("green"), Buzzer: out("buzzer")}
	s.Show(LightOK)
	if pins["green"].last() != pgpio.High || pins["red"].last() != pgpio.Low {
		t.Fatal("ok is not green")
	}
	s.Show(LightAlarm)
	eventually(t, "alarm blinks red", func() bool { return pins["red"].count() > 3 })
	if s.Red.Mode().Blink == 0 || !s.Buzzer.Mode().On || s.Green.Mode().On {
		t.Fatalf("alarm modes: red %+v buzzer %+v green %+v", s.Red.Mode(), s.Buzzer.Mode(), s.Green.Mode())
	}
	s.Show(LightOff)
	for name, p := range pins {
		if p.last() != pgpio.Low {
			t.Errorf("%s still on after LightOff", name)
		}
	}
}
