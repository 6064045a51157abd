package sim_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/sim"
)

// kgPer is the size of the display units, from the unit definitions, for
// turning edge/scale's kilograms back into display values.
var kgPer = map[string]float64{"": 1, "kg": 1, "g": 0.001, "t": 1000, "lb": 0.45359237, "oz": 0.028349523125}

func frameOf(r scale.Reading) sim.ScaleFrame {
	f := kgPer[r.Unit]
	return sim.ScaleFrame{Weight: r.Weight / f, Tare: r.Tare / f, Decimals: r.Decimals, Net: r.Net, Motion: r.Motion, Overload: r.Overload, Unit: r.Unit}
}

// The encoders give, byte for byte, the sample frames of edge/scale that
// are in the form the simulator sends (zero padded, constant status bits
// set, checksum on).
func TestEncodersMatchSampleFrames(t *testing.T) {
	checked := 0
	for _, s := range scale.SampleFrames {
		var got []byte
		var err error
		switch {
		case s.Frame[0] == '=':
			got, err = sim.EncodeXK3190(s.Want.Weight, s.Want.Decimals)
		case strings.HasPrefix(s.Name, "line ") && strings.HasSuffix(string(s.Frame), "kg\r\n") && !strings.Contains(s.Name, "blanks"):
			got, err = sim.EncodeXK3190Line(frameOf(s.Want))
		case s.Format == scale.ToledoChecksum && !strings.Contains(s.Name, "parity"):
			got, err = sim.EncodeToledo(frameOf(s.Want), true)
		case s.Name == "toledo 3.000 kg no checksum":
			got, err = sim.EncodeToledo(frameOf(s.Want), false)
		default:
			continue
		}
		checked++
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if !bytes.Equal(got, s.Frame) {
			t.Errorf("%s: encoded %q, sample %q", s.Name, got, s.Frame)
		}
	}
	if checked < 15 {
		t.Errorf("only %d samples checked", checked)
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := sim.EncodeXK3190(10000, 3); err == nil {
		t.Error("10000.000 does not fit seven characters")
	}
	if _, err := sim.EncodeXK3190(math.NaN(), 3); err == nil {
		t.Error("NaN encoded")
	}
	if _, err := sim.EncodeXK3190Line(sim.ScaleFrame{Weight: 1, Unit: "pcs"}); err == nil {
		t.Error("unit pcs encoded")
	}
	if _, err := sim.EncodeToledo(sim.ScaleFrame{Weight: 1000, Decimals: 3}, true); err == nil {
		t.Error("1000.000 does not fit six digits")
	}
	if b, err := sim.EncodeToledo(sim.ScaleFrame{Weight: 1000, Decimals: 3, Overload: true}, true); err != nil || !bytes.Contains(b, []byte("999999")) {
		t.Errorf("overload is clamped: %q, %v", b, err)
	}
}

// fakeClock is a settable clock for the simulator.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var scaleFormats = []struct {
	format sim.ScaleFormat
	parse  func([]byte) (scale.Reading, error)
}{
	{sim.ScaleXK3190, scale.ParseXK3190},
	{sim.ScaleXK3190Line, scale.ParseXK3190},
	{sim.ScaleToledo, scale.ParseToledo},
}

func newScale(t *testing.T, format sim.ScaleFormat) (*sim.Scale, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2024, 10, 1, 8, 0, 0, 0, time.UTC)}
	cfg := sim.DefaultScaleConfig()
	cfg.Format = format
	cfg.Now = clk.Now
	s, err := sim.NewScale(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func next(t *testing.T, s *sim.Scale, parse func([]byte) (scale.Reading, error)) scale.Reading {
	t.Helper()
	b := s.Next()
	r, err := parse(b)
	if err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return r
}

func TestScaleSetTareOverload(t *testing.T) {
	for _, f := range scaleFormats {
		t.Run(string(f.format), func(t *testing.T) {
			s, _ := newScale(t, f.format)
			if r := next(t, s, f.parse); r.Weight != 0 || r.Motion || r.Overload {
				t.Errorf("empty scale: %+v", r)
			}
			s.Set(12.502) // rounded to the 5 g division
			if r := next(t, s, f.parse); r.Weight != 12.5 || r.Decimals != 3 {
				t.Errorf("12.502 kg: %+v", r)
			}
			s.Set(-0.25)
			if r := next(t, s, f.parse); r.Weight != -0.25 {
				t.Errorf("-0.25 kg: %+v", r)
			}
			if f.format != sim.ScaleXK3190 {
				s.Set(12.5)
				s.SetTare(2.5)
				if r := next(t, s, f.parse); r.Weight != 10 || !r.Net {
					t.Errorf("net of 2.5 kg: %+v", r)
				}
				s.SetTare(0)
			}
			// Max 60 kg: 60.045 still shows, 60.05 is over.
			s.Set(60.045)
			if r := next(t, s, f.parse); r.Overload || r.Weight != 60.045 {
				t.Errorf("Max + 9e: %+v", r)
			}
			s.Set(75)
			r := next(t, s, f.parse)
			switch f.format {
			case sim.ScaleXK3190:
				// No overload flag in the "=" stream: the weight goes on.
				if r.Overload || r.Weight != 75 {
					t.Errorf("overload in the = stream: %+v", r)
				}
			default:
				if !r.Overload {
					t.Errorf("overload not flagged: %+v", r)
				}
			}
		})
	}
}

func TestScalePlaceSwingsThenSettles(t *testing.T) {
	for _, f := range scaleFormats {
		t.Run(string(f.format), func(t *testing.T) {
			s, clk := newScale(t, f.format)
			s.Place(20, time.Second)
			lo, hi := math.Inf(1), math.Inf(-1)
			for range 10 {
				r := next(t, s, f.parse)
				if f.format != sim.ScaleXK3190 && !r.Motion {
					t.Fatalf("no motion while swinging: %+v", r)
				}
				lo, hi = math.Min(lo, r.Weight), math.Max(hi, r.Weight)
				clk.Advance(100 * time.Millisecond)
			}
			if hi-lo < 10*0.005 {
				t.Errorf("swing %v..%v is under 10 divisions", lo, hi)
			}
			for range 5 {
				if r := next(t, s, f.parse); r.Weight != 20 || r.Motion {
					t.Fatalf("after settling: %+v", r)
				}
			}
			s.Shake(true)
			clk.Advance(time.Hour)
			for range 5 {
				if r := next(t, s, f.parse); f.format != sim.ScaleXK3190 && !r.Motion {
					t.Fatalf("shaking without motion: %+v", r)
				}
			}
			s.Shake(false)
			if r := next(t, s, f.parse); r.Weight != 20 || r.Motion {
				t.Fatalf("after shaking: %+v", r)
			}
		})
	}
}

func TestScaleJitter(t *testing.T) {
	cfg := sim.DefaultScaleConfig()
	cfg.Jitter = 1
	s, err := sim.NewScale(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(5)
	seen := map[float64]bool{}
	for range 200 {
		r, err := scale.ParseXK3190(s.Next())
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Weight] = true
	}
	if len(seen) != 3 || !seen[4.995] || !seen[5] || !seen[5.005] {
		t.Errorf("jitter of one division gave %v", seen)
	}
}

// Noise is deterministic for a seed, and its counts are what a reader that
// resynchronises must see.
func TestScaleNoise(t *testing.T) {
	run := func() ([]byte, sim.ScaleStats) {
		cfg := sim.DefaultScaleConfig()
		cfg.Format = sim.ScaleToledo
		cfg.Noise = sim.ScaleNoise{Garbage: 0.1, Truncated: 0.1, BadChecksum: 0.1}
		s, err := sim.NewScale(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.Set(3)
		var out []byte
		for range 1000 {
			out = append(out, s.Next()...)
		}
		return out, s.Stats()
	}
	a, stats := run()
	b, _ := run()
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different streams")
	}
	if stats.Frames+stats.BadChecksum != 1000 {
		t.Errorf("%+v: every Next sends one whole frame", stats)
	}
	for name, n := range map[string]uint64{"garbage": stats.Garbage, "truncated": stats.Truncated, "bad checksum": stats.BadChecksum} {
		if n < 60 || n > 140 {
			t.Errorf("%s: %d in 1000 at 10%%", name, n)
		}
	}
}

func TestScaleRun(t *testing.T) {
	cfg := sim.DefaultScaleConfig()
	cfg.Interval = time.Millisecond
	s, err := sim.NewScale(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, &buf) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Frames < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := s.Stats().Frames; n < 10 || uint64(buf.Len()) != 9*n {
		t.Errorf("%d frames, %d bytes", n, buf.Len())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func TestScaleConfigValidate(t *testing.T) {
	if err := sim.DefaultScaleConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := sim.ScaleConfig{Format: "ohaus", Decimals: 9, Division: -1, Capacity: math.NaN(), Jitter: -1, Noise: sim.ScaleNoise{Garbage: 2}}
	err := bad.Validate()
	for _, field := range []string{"format", "interval", "decimals", "division_kg", "capacity_kg", "jitter", "noise.garbage"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
	if _, err := sim.NewScale(bad); err == nil {
		t.Error("NewScale accepted a bad config")
	}
}
