package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// ScaleFormat is the continuous output a simulated weighing indicator
// streams. The encoders are written from the indicator manuals, not from
// edge/scale, so a misreading on one side is not mirrored on the other.
type ScaleFormat string

// The formats a Scale streams.
const (
	// ScaleXK3190 is the Yaohua XK3190 "=" stream (continuous format 1 of
	// the A9/A26 manuals): '=', the seven display characters least
	// significant first, then the sign place. 3.000 kg is "=000.3000",
	// -1.00 kg is "=00.1000-". No separator, no unit, no status.
	ScaleXK3190 ScaleFormat = "xk3190"
	// ScaleXK3190Line is the status line many Chinese indicators send:
	// "ST,GS,+0003.000kg" CR LF, ST or US for stable or unstable, OL with
	// a blank number for overload; GS or NT for gross or net.
	ScaleXK3190Line ScaleFormat = "xk3190-line"
	// ScaleToledo is Mettler-Toledo continuous output: STX, status words
	// A, B and C, six digits of weight, six of tare, CR, and the checksum
	// byte when ScaleConfig.Checksum is set.
	ScaleToledo ScaleFormat = "toledo"
)

// ScaleFrame is what one frame says, in the units on the display.
type ScaleFrame struct {
	Weight   float64 // in Unit; net when Net; negative below zero
	Tare     float64 // in Unit; Toledo only
	Decimals int     // digits after the point; Toledo also takes -1 and -2 (fixed zeros)
	Net      bool
	Motion   bool
	Overload bool
	Unit     string // "kg", "lb", "g", "t"; Toledo also "oz", "ozt", "dwt", "ton"; "" is kg
}

// xkDisplay is the number of characters (digits and point) of an XK3190
// display in the "=" frame.
const xkDisplay = 7

// fixed formats |x| with decimals places, zero padded to width (0 for
// none). It returns the digits as an integer too.
func fixed(x float64, decimals, width int) (string, int64) {
	n := int64(math.Round(math.Abs(x) * math.Pow10(decimals)))
	s := strconv.FormatInt(n, 10)
	if decimals > 0 {
		for len(s) <= decimals {
			s = "0" + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	for len(s) < width {
		s = "0" + s
	}
	return s, n
}

// EncodeXK3190 returns the reversed "=" frame for a weight in kg shown
// with decimals places (0 to 5). It fails when the display does not fit
// seven characters.
func EncodeXK3190(kg float64, decimals int) ([]byte, error) {
	if decimals < 0 || decimals > xkDisplay-2 || math.IsNaN(kg) || math.IsInf(kg, 0) {
		return nil, fmt.Errorf("sim: xk3190: cannot show %v with %d decimals", kg, decimals)
	}
	s, n := fixed(kg, decimals, xkDisplay)
	if len(s) > xkDisplay {
		return nil, fmt.Errorf("sim: xk3190: %s does not fit %d characters", s, xkDisplay)
	}
	sign := byte('0')
	if kg < 0 && n != 0 {
		sign = '-'
	}
	display := append([]byte{sign}, s...)
	out := []byte{'='}
	for i := len(display) - 1; i >= 0; i-- {
		out = append(out, display[i])
	}
	return out, nil
}

// EncodeXK3190Line returns the status line for f, CR LF included: the
// number zero padded to eight characters (longer if it must be), or blank
// on overload. Decimals may be 0 to 6.
func EncodeXK3190Line(f ScaleFrame) ([]byte, error) {
	unit := f.Unit
	if unit == "" {
		unit = "kg"
	}
	switch unit {
	case "kg", "lb", "g", "t":
	default:
		return nil, fmt.Errorf("sim: xk3190 line: unit %q", f.Unit)
	}
	if f.Decimals < 0 || f.Decimals > 6 || math.IsNaN(f.Weight) || math.IsInf(f.Weight, 0) {
		return nil, fmt.Errorf("sim: xk3190 line: cannot show %v with %d decimals", f.Weight, f.Decimals)
	}
	status, mode, sign := "ST", "GS", byte('+')
	if f.Motion {
		status = "US"
	}
	if f.Net {
		mode = "NT"
	}
	s, n := fixed(f.Weight, f.Decimals, 8)
	if f.Weight < 0 && n != 0 {
		sign = '-'
	}
	if f.Overload {
		status, s = "OL", "        "
	}
	return []byte(status + "," + mode + "," + string(sign) + s + unit + "\r\n"), nil
}

// Toledo status word bits (Mettler-Toledo continuous output).
const (
	toledoSWA     = 0x20 // bit 5 always 1 in A, B and C
	toledoSWAx1   = 0x08 // increment size ×1 (bits 3-4 = 01)
	toledoNet     = 0x01 // B
	toledoNeg     = 0x02 // B
	toledoRange   = 0x04 // B: out of range
	toledoMotion  = 0x08 // B
	toledoKg      = 0x10 // B: kg, or metric (else lb, or imperial); C's unit code 0 means kg or lb by this bit
	toledoMaxFive = 999999
)

// toledoUnitCodes are the unit codes of status word C.
var toledoUnitCodes = map[string]byte{"lb": 0, "kg": 0, "g": 1, "t": 2, "oz": 3, "ozt": 4, "dwt": 5, "ton": 6}

// EncodeToledo returns the Toledo continuous frame for f, with the
// checksum byte when checksum is set. Weights that do not fit six digits
// fail unless f.Overload, when they are clamped as a terminal shows its
// over-range display.
func EncodeToledo(f ScaleFrame, checksum bool) ([]byte, error) {
	unit := f.Unit
	if unit == "" {
		unit = "kg"
	}
	code, ok := toledoUnitCodes[unit]
	if !ok {
		return nil, fmt.Errorf("sim: toledo: unit %q", f.Unit)
	}
	if f.Decimals < -2 || f.Decimals > 5 {
		return nil, fmt.Errorf("sim: toledo: %d decimals outside -2..5", f.Decimals)
	}
	digits := func(x float64, what string) (int64, error) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("sim: toledo: %s %v", what, x)
		}
		n := int64(math.Round(math.Abs(x) * math.Pow10(f.Decimals)))
		if n > toledoMaxFive {
			if !f.Overload {
				return 0, fmt.Errorf("sim: toledo: %s %v does not fit six digits", what, x)
			}
			n = toledoMaxFive
		}
		return n, nil
	}
	w, err := digits(f.Weight, "weight")
	if err != nil {
		return nil, err
	}
	t, err := digits(f.Tare, "tare")
	if err != nil {
		return nil, err
	}
	a := byte(toledoSWA | toledoSWAx1 | byte(f.Decimals+2))
	b := byte(toledoSWA)
	if f.Net {
		b |= toledoNet
	}
	if f.Weight < 0 && w != 0 {
		b |= toledoNeg
	}
	if f.Overload {
		b |= toledoRange
	}
	if f.Motion {
		b |= toledoMotion
	}
	if unit != "lb" && unit != "oz" && unit != "ozt" && unit != "dwt" && unit != "ton" {
		b |= toledoKg // metric
	}
	c := byte(toledoSWA) | code
	out := fmt.Appendf([]byte{0x02, a, b, c}, "%06d%06d\r", w, t)
	if checksum {
		var sum byte
		for _, x := range out {
			sum += x
		}
		out = append(out, (^(sum&0x7F)+1)&0x7F)
	}
	return out, nil
}

// ScaleNoise is how often a Scale corrupts its stream: the chance per
// frame of each fault, drawn independently. A fault comes before a good
// frame, so a reader that resynchronises loses nothing but the fault.
type ScaleNoise struct {
	Garbage     float64 `yaml:"garbage"`      // a burst of 1 to 8 bytes that belong to no frame
	Truncated   float64 `yaml:"truncated"`    // a frame cut short before its end
	BadChecksum float64 `yaml:"bad_checksum"` // a frame with a wrong checksum (Toledo with Checksum only), sent instead of the good one
}

// ScaleStats counts what a Scale has sent.
type ScaleStats struct {
	Frames      uint64 // good frames
	Garbage     uint64 // bursts of garbage
	Truncated   uint64 // frames cut short
	BadChecksum uint64 // frames with a wrong checksum
}

// ScaleConfig sets up a Scale. Start from DefaultScaleConfig.
type ScaleConfig struct {
	Seed     uint64        `yaml:"seed"`
	Format   ScaleFormat   `yaml:"format"`
	Interval time.Duration `yaml:"interval"`    // between frames in Run
	Decimals int           `yaml:"decimals"`    // digits after the point on the display
	Division float64       `yaml:"division_kg"` // kg: the display steps by this; weights are rounded to it
	Capacity float64       `yaml:"capacity_kg"` // kg: Max; above Max + 9 divisions the scale is overloaded. 0 for none
	Checksum bool          `yaml:"checksum"`    // Toledo: send the checksum byte
	Jitter   int           `yaml:"jitter"`      // divisions a settled weight flickers by, at random
	Noise    ScaleNoise    `yaml:"noise"`

	// Now is the clock motion is timed by; nil is time.Now.
	Now func() time.Time `yaml:"-"`
}

// DefaultScaleConfig returns a 60 kg × 5 g parcel scale with an XK3190
// indicator sending ten frames a second.
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{
		Seed:     1,
		Format:   ScaleXK3190,
		Interval: 100 * time.Millisecond,
		Decimals: 3,
		Division: 0.005,
		Capacity: 60,
		Checksum: true,
	}
}

// Validate reports every bad field of the configuration.
func (c ScaleConfig) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("sim: scale: %s %v must be %s", field, v, want))
	}
	switch c.Format {
	case ScaleXK3190, ScaleXK3190Line, ScaleToledo:
	default:
		bad("format", fmt.Sprintf("%q", c.Format), fmt.Sprintf("%q, %q or %q", ScaleXK3190, ScaleXK3190Line, ScaleToledo))
	}
	if c.Interval <= 0 {
		bad("interval", c.Interval, "above 0")
	}
	if c.Decimals < 0 || c.Decimals > 4 {
		bad("decimals", c.Decimals, "within 0..4")
	}
	if !(c.Division > 0) || math.IsInf(c.Division, 0) {
		bad("division_kg", c.Division, "above 0")
	}
	if !(c.Capacity >= 0) || math.IsInf(c.Capacity, 0) {
		bad("capacity_kg", c.Capacity, "0 or more")
	}
	if c.Jitter < 0 {
		bad("jitter", c.Jitter, "0 or more")
	}
	for name, p := range map[string]float64{"noise.garbage": c.Noise.Garbage, "noise.truncated": c.Noise.Truncated, "noise.bad_checksum": c.Noise.BadChecksum} {
		if !(p >= 0 && p <= 1) {
			bad(name, p, "within 0..1")
		}
	}
	return errors.Join(errs...)
}

// How a load moves; not worth configuring.
const (
	wobbleShare     = 0.5 // a load placed swings by up to this share of the change at first ...
	wobbleFloor     = 5   // ... and never less than this many divisions until it settles
	shakeDivisions  = 20  // a live animal or the wind swings the weight by this many divisions
	overloadMargin  = 9   // divisions above Max before the indicator shows overload (OIML R76)
	maxGarbageBurst = 8
)

// garbageBytes are what a Scale sends as line noise: bytes that cannot
// start or continue a frame of any of its formats ('=', STX, "ST,", "US,",
// "OL,", "ww", blanks and line ends left out), with the XON/XOFF and
// control bytes a tty would act on in cooked mode.
var garbageBytes = []byte("!#$%&()*/:;<>?@ABCDEFGHIJKLMNPQRVXYZ[]^_abcdefghijklmopqrstuvxyz{|}~\x00\x01\x03\x04\x11\x13\x1a\x7f\xff\xfe\x80")

// Scale simulates a weighing indicator streaming its weight: a load can be
// set at once, placed (it swings, then settles), shaken for good, or be
// beyond capacity; the stream can carry garbage, cut frames and bad
// checksums. Everything is deterministic for a given seed and clock.
// A Scale is safe for concurrent use.
type Scale struct {
	cfg ScaleConfig

	mu       sync.Mutex
	rng      *rand.Rand
	target   float64       // kg on the platform
	from     float64       // kg before the last Place
	placedAt time.Time     // when the last Place happened
	settle   time.Duration // how long its swinging lasts
	shaking  bool
	zero     float64 // kg on the platform that the indicator shows as 0
	tare     float64
	noise    ScaleNoise
	stats    ScaleStats
}

// NewScale returns an empty scale.
func NewScale(cfg ScaleConfig) (*Scale, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scale{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x5ca1e)),
		noise: cfg.Noise,
	}, nil
}

// Set puts kg on the platform at once, settled.
func (s *Scale) Set(kg float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target, s.from, s.settle = kg, kg, 0
}

// Place puts kg on the platform the way a person does: the weight swings
// and the indicator reports motion for settle, then it holds.
func (s *Scale) Place(kg float64, settle time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.target = s.target, kg
	s.placedAt, s.settle = s.cfg.Now(), settle
}

// Shake keeps the load swinging, and the indicator reporting motion,
// until Shake(false): a live animal, or wind on an outdoor platform.
func (s *Scale) Shake(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shaking = on
}

// SetTare sets the tare in kg; above 0 the indicator shows the net weight.
func (s *Scale) SetTare(kg float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tare = kg
}

// zeroRange is the share of Capacity the zero key may take off: a load
// further from the empty platform cannot be zeroed (OIML R76 allows up to
// 4 % of Max for zero-setting).
const zeroRange = 0.04

// Zero makes the indicator show the load now on the platform as zero, as
// its zero key does, and reports whether it did: only when the load is
// settled and, with a Capacity, within 4 % of it from the empty platform.
func (s *Scale) Zero() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stable() || (s.cfg.Capacity > 0 && math.Abs(s.target) > zeroRange*s.cfg.Capacity) {
		return false
	}
	s.zero = s.target
	return true
}

// TakeTare makes the gross weight now on the platform the tare, as the
// indicator's tare key does, and reports whether it did: only when the
// load is settled and weighs more than zero. The indicator then shows the
// net weight, 0.
func (s *Scale) TakeTare() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.cfg.Division
	gross := math.Round((s.target-s.zero)/d) * d
	if !s.stable() || gross <= 0 {
		return false
	}
	s.tare = gross
	return true
}

// Tare returns the tare in kg, 0 when none is set.
func (s *Scale) Tare() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tare
}

// stable reports whether the load has settled. Called with mu held.
func (s *Scale) stable() bool {
	return !s.shaking && s.cfg.Now().Sub(s.placedAt) >= s.settle
}

// SetNoise changes how often the stream is corrupted.
func (s *Scale) SetNoise(n ScaleNoise) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noise = n
}

// Stats returns what the scale has sent so far.
func (s *Scale) Stats() ScaleStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// frame returns what the display shows now. Called with mu held.
func (s *Scale) frame() ScaleFrame {
	d := s.cfg.Division
	gross, motion := s.target-s.zero, false
	elapsed := s.cfg.Now().Sub(s.placedAt)
	switch {
	case s.shaking:
		gross += shakeDivisions * d * (2*s.rng.Float64() - 1)
		motion = true
	case elapsed < s.settle:
		left := 1 - float64(elapsed)/float64(s.settle)
		amp := math.Max(wobbleShare*math.Abs(s.target-s.from)*left, wobbleFloor*d)
		gross += amp * (2*s.rng.Float64() - 1)
		motion = true
	case s.cfg.Jitter > 0:
		gross += float64(s.rng.IntN(2*s.cfg.Jitter+1)-s.cfg.Jitter) * d
	}
	f := ScaleFrame{Decimals: s.cfg.Decimals, Motion: motion, Unit: "kg"}
	f.Overload = s.cfg.Capacity > 0 && gross > s.cfg.Capacity+overloadMargin*d
	shown := gross
	if s.tare > 0 {
		shown, f.Net, f.Tare = gross-s.tare, true, s.tare
	}
	f.Weight = math.Round(shown/d) * d
	return f
}

// encode encodes a frame in the configured format. A weight too large
// for an XK3190 display is clamped to the largest it shows: the "=" stream
// has no overload flag, so a reader needs the capacity to tell.
func (s *Scale) encode(f ScaleFrame, checksum bool) []byte {
	var b []byte
	var err error
	switch s.cfg.Format {
	case ScaleXK3190:
		b, err = EncodeXK3190(f.Weight, f.Decimals)
		if err != nil {
			most := math.Pow10(xkDisplay) - 1 // 9999999
			if f.Decimals > 0 {
				most = math.Pow10(xkDisplay-1-f.Decimals) - math.Pow10(-f.Decimals) // 999.999
			}
			b, err = EncodeXK3190(math.Copysign(most, f.Weight), f.Decimals)
		}
	case ScaleXK3190Line:
		b, err = EncodeXK3190Line(f)
	case ScaleToledo:
		if math.Abs(f.Weight)*math.Pow10(f.Decimals) > toledoMaxFive {
			f.Overload = true
		}
		b, err = EncodeToledo(f, checksum)
	}
	if err != nil {
		// Validate keeps the settings in range; only an absurd weight gets here.
		panic(fmt.Sprintf("sim: scale: encode %+v: %v", f, err))
	}
	return b
}

// Next returns the bytes for the next frame time: maybe a fault, then a
// frame (a good one, or one with a bad checksum).
func (s *Scale) Next() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	checksum := s.cfg.Format == ScaleToledo && s.cfg.Checksum
	var out []byte
	switch p := s.rng.Float64(); {
	case p < s.noise.Garbage:
		n := 1 + s.rng.IntN(maxGarbageBurst)
		for range n {
			out = append(out, garbageBytes[s.rng.IntN(len(garbageBytes))])
		}
		s.stats.Garbage++
	case p < s.noise.Garbage+s.noise.Truncated:
		b := s.encode(s.frame(), checksum)
		// Keep the whole frame start, so the cut frame is recognisably a
		// frame, and stop before the end, so it is recognisably cut.
		// The cut keeps lo to hi bytes.
		lo, hi := 1, len(b)-1 // "=" ... one short of the nine
		switch s.cfg.Format {
		case ScaleXK3190Line:
			lo, hi = 3, len(b)-2 // "ST," ... up to the CR
		case ScaleToledo:
			hi = len(b) - 1 // STX ... up to the CR
			if checksum {
				hi = len(b) - 2
			}
		}
		out = append(out, b[:lo+s.rng.IntN(hi-lo+1)]...)
		s.stats.Truncated++
	}
	b := s.encode(s.frame(), checksum)
	if checksum && s.rng.Float64() < s.noise.BadChecksum {
		b[len(b)-1] = (b[len(b)-1] + byte(1+s.rng.IntN(127))) & 0x7F
		s.stats.BadChecksum++
	} else {
		s.stats.Frames++
	}
	return append(out, b...)
}

// Run writes a frame every Interval to w until ctx ends (returning nil)
// or a write fails.
func (s *Scale) Run(ctx context.Context, w io.Writer) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.Write(s.Next()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sim: scale: write: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
