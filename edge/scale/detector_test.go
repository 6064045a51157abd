package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the detector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// detector returns a Reader fed by hand through feed, which takes a weight
// in kg (as an XK3190 status line, ST or US) and advances the clock 100 ms
// after it.
func detector(t *testing.T, cfg Config) (*Reader, *clock, func(kg float64, motion bool) Reading) {
	t.Helper()
	clk := &clock{t: time.Date(2024, 10, 1, 8, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	r, err := NewReader(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(kg float64, motion bool) Reading {
		t.Helper()
		status, sign := "ST", "+"
		if motion {
			status = "US"
		}
		if kg < 0 {
			sign, kg = "-", -kg
		}
		before := r.Stats().Frames
		r.consume([]byte(fmt.Sprintf("%s,GS,%s%08.3fkg\r\n", status, sign, kg)), false)
		if r.Stats().Frames != before+1 {
			t.Fatalf("frame for %v kg not taken: %+v", kg, r.Stats())
		}
		got := r.Latest()
		clk.Advance(100 * time.Millisecond)
		return got
	}
	return r, clk, feed
}

func TestDetectorSettlesAfterStableFor(t *testing.T) {
	_, _, feed := detector(t, DefaultConfig()) // 5 g divisions, 2 of them, 500 ms
	// Readings 100 ms apart within 10 g: the run starts at the first and
	// is settled once 500 ms have passed, at the sixth.
	for i, kg := range []float64{12.500, 12.505, 12.510, 12.505, 12.500} {
		if r := feed(kg, false); r.Settled {
			t.Fatalf("reading %d (%v kg) settled after %d ms", i, kg, i*100)
		}
	}
	if r := feed(12.505, false); !r.Settled {
		t.Fatalf("not settled after 500 ms within the band: %+v", r)
	}
	// A reading 15 g off breaks the band; the run starts again there.
	if r := feed(12.520, false); r.Settled {
		t.Fatal("still settled after a jump of three divisions")
	}
	for range 4 {
		feed(12.520, false)
	}
	if r := feed(12.520, false); !r.Settled {
		t.Fatal("not settled 500 ms after the jump")
	}
}

func TestDetectorMotionAndOverloadReset(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Capacity = 60
	_, _, feed := detector(t, cfg)
	for range 6 {
		feed(3, false)
	}
	if r := feed(3, true); r.Settled || !r.Motion {
		t.Fatalf("reported motion must unsettle even at the same weight: %+v", r)
	}
	for range 5 {
		if r := feed(3, false); r.Settled {
			t.Fatal("settled before StableFor after motion")
		}
	}
	if r := feed(3, false); !r.Settled {
		t.Fatal("not settled again")
	}
	// Max 60 kg: 60.045 is Max + 9e, still weighing; 60.050 is overload.
	if r := feed(60.045, false); r.Overload {
		t.Fatalf("Max + 9e is not an overload: %+v", r)
	}
	for range 8 {
		if r := feed(60.050, false); !r.Overload || r.Settled || r.Zero {
			t.Fatalf("above Max + 9e: %+v", r)
		}
	}
}

func TestDetectorZero(t *testing.T) {
	_, _, feed := detector(t, DefaultConfig())
	for _, c := range []struct {
		kg   float64
		zero bool
	}{{0, true}, {0.005, true}, {-0.005, true}, {0.010, false}, {-0.010, false}, {3, false}} {
		if r := feed(c.kg, false); r.Zero != c.zero {
			t.Errorf("%v kg: Zero %t, want %t", c.kg, r.Zero, c.zero)
		}
	}
}

func TestWaitStable(t *testing.T) {
	cfg := DefaultConfig()
	r, clk, feed := detector(t, cfg)
	ctx := context.Background()

	t.Run("nothing yet", func(t *testing.T) {
		_, err := r.WaitStable(ctx, 20*time.Millisecond)
		if !errors.Is(err, ErrNotStable) {
			t.Fatalf("got %v, want ErrNotStable", err)
		}
	})
	t.Run("settled", func(t *testing.T) {
		for range 6 {
			feed(7.5, false)
		}
		got, err := r.WaitStable(ctx, time.Second)
		if err != nil || got.Weight != 7.5 || !got.Settled {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		// The line went quiet a second ago: the old settled reading may no
		// longer be on the platform.
		clk.Advance(time.Second)
		if _, err := r.WaitStable(ctx, 20*time.Millisecond); !errors.Is(err, ErrNotStable) {
			t.Fatalf("stale reading accepted: %v", err)
		}
	})
	t.Run("woken by a reading", func(t *testing.T) {
		type result struct {
			r   Reading
			err error
		}
		done := make(chan result, 1)
		go func() {
			got, err := r.WaitStable(ctx, 5*time.Second)
			done <- result{got, err}
		}()
		feed(7.5, false) // within the band, and fresh
		select {
		case res := <-done:
			if res.err != nil || res.r.Weight != 7.5 {
				t.Fatalf("got %+v, %v", res.r, res.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitStable not woken by a settled reading")
		}
	})
	t.Run("context", func(t *testing.T) {
		feed(20, true)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.WaitStable(cctx, time.Second); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestWaitStableReaderStopped(t *testing.T) {
	pr, pw := io.Pipe()
	r, err := NewReader(pr, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(context.Background()) }()
	pw.Close()
	if err := <-runErr; !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v, want EOF", err)
	}
	if _, err := r.WaitStable(context.Background(), time.Second); err == nil || errors.Is(err, ErrNotStable) || !errors.Is(err, io.EOF) {
		t.Fatalf("WaitStable after Run ended = %v, want the reader's EOF", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := Config{Format: "mettler", Division: 0, StableDivisions: -1, StableFor: -1, Capacity: -5}
	err := bad.Validate()
	for _, field := range []string{"format", "division_kg", "stable_divisions", "stable_for", "capacity_kg"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
	if _, err := NewReader(nil, bad); err == nil {
		t.Error("NewReader accepted a bad config")
	}
}

func TestLineValidate(t *testing.T) {
	if err := DefaultLine().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	err := Line{Baud: 9601, DataBits: 9, Parity: "mark"}.Validate()
	for _, field := range []string{"baud", "data_bits", "parity"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

// TestWaitLoaded: an empty platform settled at zero is no load; a load put
// down afterwards is.
func TestWaitLoaded(t *testing.T) {
	r, _, feed := detector(t, DefaultConfig())
	ctx := context.Background()
	for range 6 {
		feed(0, false)
	}
	if got, err := r.WaitStable(ctx, time.Second); err != nil || !got.Zero {
		t.Fatalf("WaitStable on an empty platform: %+v, %v", got, err)
	}
	if _, err := r.WaitLoaded(ctx, 20*time.Millisecond); !errors.Is(err, ErrNothingLoaded) {
		t.Fatalf("WaitLoaded on an empty platform: %v, want ErrNothingLoaded", err)
	}
	done := make(chan Reading, 1)
	go func() {
		got, err := r.WaitLoaded(ctx, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	for range 6 {
		feed(2.35, false)
	}
	select {
	case got := <-done:
		if got.Weight != 2.35 || got.Zero || !got.Settled {
			t.Fatalf("loaded: %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitLoaded not woken by a settled load")
	}
}
