package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"
)

// Format is the wire format of an indicator's continuous output.
type Format string

// The formats a Reader understands.
const (
	// XK3190 is the Yaohua XK3190 family and its clones: reversed "="
	// frames, status lines ("ST,GS,+0003.000kg") and A12 lines
	// ("ww0003.000kg"), in any mix.
	XK3190 Format = "xk3190"
	// Toledo is Mettler-Toledo continuous output without the checksum byte.
	Toledo Format = "toledo"
	// ToledoChecksum is Toledo continuous output with the checksum byte
	// after CR.
	ToledoChecksum Format = "toledo-checksum"
)

// ErrNotStable is returned by WaitStable when the weight did not settle in
// time: the scale stayed in motion, or sent nothing.
var ErrNotStable = errors.New("scale: weight not stable")

// ErrNothingLoaded is returned by WaitLoaded when the platform stayed
// empty, settled at zero.
var ErrNothingLoaded = errors.New("scale: nothing on the platform")

// Config sets up a Reader. Start from DefaultConfig.
type Config struct {
	Format          Format        `yaml:"format"`
	Division        float64       `yaml:"division_kg"`      // kg: the scale interval e; the stability band and zero are counted in it
	StableDivisions int           `yaml:"stable_divisions"` // the weight is stable while it stays within this many divisions ...
	StableFor       time.Duration `yaml:"stable_for"`       // ... for this long, without the scale reporting motion
	Capacity        float64       `yaml:"capacity_kg"`      // kg: Max; above Max + 9 divisions the reading is an overload (OIML R76). 0 when the indicator says it itself

	// Now is the clock; tests set it, nil is time.Now.
	Now func() time.Time `yaml:"-"`
}

// DefaultConfig returns the settings for a parcel or produce platform
// scale of 60 kg × 5 g: stable within two divisions for half a second.
func DefaultConfig() Config {
	return Config{
		Format:          XK3190,
		Division:        0.005,
		StableDivisions: 2,
		StableFor:       500 * time.Millisecond,
	}
}

// Validate reports every bad field of the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("scale: %s %v must be %s", field, v, want))
	}
	if splitters[c.Format] == nil {
		bad("format", fmt.Sprintf("%q", c.Format), fmt.Sprintf("%q, %q or %q", XK3190, Toledo, ToledoChecksum))
	}
	if !(c.Division > 0) || !finite(c.Division) {
		bad("division_kg", c.Division, "above 0")
	}
	if c.StableDivisions < 0 {
		bad("stable_divisions", c.StableDivisions, "0 or more")
	}
	if c.StableFor < 0 {
		bad("stable_for", c.StableFor, "0 or more")
	}
	if !(c.Capacity >= 0) || !finite(c.Capacity) {
		bad("capacity_kg", c.Capacity, "0 or more")
	}
	return errors.Join(errs...)
}

// Stats counts what a Reader took from the line: apart from the blanks
// and line ends between frames, every byte is in a good frame, a bad one
// or a garbage run.
type Stats struct {
	Frames       uint64 // frames parsed into a reading
	Framing      uint64 // frames cut short or with a field that does not fit
	Checksum     uint64 // complete frames whose checksum did not match
	Garbage      uint64 // runs of bytes that belong to no frame
	GarbageBytes uint64 // bytes in those runs
}

// token is what a splitFunc found at the start of a buffer.
type token int

const (
	tokMore      token = iota // not enough bytes to tell
	tokFrame                  // a complete frame, to parse
	tokBroken                 // a frame start cut short by the next frame or a byte that cannot belong
	tokGarbage                // bytes before the next frame start
	tokSeparator              // blanks between frames: neither frame nor garbage
)

// splitFunc looks at the start of b (never empty) and says how many bytes
// the token there takes. It returns tokMore, taking nothing, when the
// token may go on past b; with atEOF set it never does.
type splitFunc func(b []byte, atEOF bool) (int, token)

var splitters = map[Format]splitFunc{
	XK3190:         splitXK3190,
	Toledo:         splitToledo(false),
	ToledoChecksum: splitToledo(true),
}

var parsers = map[Format]func([]byte) (Reading, error){
	XK3190:         ParseXK3190,
	Toledo:         ParseToledo,
	ToledoChecksum: ParseToledo,
}

// maxBuffer bounds the bytes a Reader holds: every splitter decides within
// a few dozen bytes, so more means a bug, not a slow frame.
const maxBuffer = 4096

// Reader reads an indicator's continuous output from a serial line,
// resynchronises after garbage and cut frames, and keeps the latest
// reading and whether the weight has settled. Its methods are safe for
// concurrent use; Run must be called once.
type Reader struct {
	src   io.Reader
	cfg   Config
	split splitFunc
	parse func([]byte) (Reading, error)

	mu        sync.Mutex
	latest    Reading
	stats     Stats
	inGarbage bool      // the last token was garbage: the next garbage byte continues its run
	runFrom   time.Time // start of the current run of readings within the band; zero when there is none
	runLo     float64
	runHi     float64
	changed   chan struct{} // closed and replaced at each reading
	done      chan struct{} // closed when Run returns
	runErr    error
	started   bool
}

// NewReader returns a Reader of src, typically a serial port set up with
// SetRaw, or a pseudo-terminal in tests.
func NewReader(src io.Reader, cfg Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reader{
		src:     src,
		cfg:     cfg,
		split:   splitters[cfg.Format],
		parse:   parsers[cfg.Format],
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Run reads until ctx ends or the line fails, and returns why: ctx's
// error, or the read error (io.EOF for a stream that ended). A source with
// SetReadDeadline (an *os.File on a tty) is woken when ctx ends; any other
// source must be closed to stop a Read in progress.
func (r *Reader) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("scale: Reader.Run called twice")
	}
	r.started = true
	r.mu.Unlock()

	err := r.run(ctx)
	r.mu.Lock()
	r.runErr = err
	close(r.done)
	r.mu.Unlock()
	return err
}

func (r *Reader) run(ctx context.Context) error {
	if d, ok := r.src.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	var buf []byte
	chunk := make([]byte, 512)
	for {
		n, err := r.src.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		buf = r.consume(buf, err != nil)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// consume takes every complete token from buf and returns what is left,
// moved to the front.
func (r *Reader) consume(buf []byte, atEOF bool) []byte {
	i := 0
	for i < len(buf) {
		n, tok := r.split(buf[i:], atEOF)
		if tok == tokMore {
			break
		}
		r.take(buf[i:i+n], tok)
		i += n
	}
	rest := copy(buf, buf[i:])
	if rest > maxBuffer {
		// Unreachable with the splitters above; guard the memory anyway.
		r.take(buf[:rest], tokBroken)
		rest = 0
	}
	return buf[:rest]
}

// take accounts for one token.
func (r *Reader) take(b []byte, tok token) {
	var rd Reading
	var err error
	if tok == tokFrame {
		rd, err = r.parse(b)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch tok {
	case tokSeparator:
		return
	case tokGarbage:
		r.stats.GarbageBytes += uint64(len(b))
		if !r.inGarbage {
			r.stats.Garbage++
		}
		r.inGarbage = true
		return
	case tokBroken:
		r.stats.Framing++
	case tokFrame:
		switch {
		case err == nil:
			r.stats.Frames++
			r.accept(rd)
		case errors.Is(err, ErrChecksum):
			r.stats.Checksum++
		default:
			r.stats.Framing++
		}
	}
	r.inGarbage = false
}

// accept records a good reading and runs the stable-weight detector.
// Called with mu held.
func (r *Reader) accept(rd Reading) {
	now := r.cfg.Now()
	d := r.cfg.Division
	eps := d * 1e-6 // the weights are decimals in binary; don't let 0.005 miss 0.005
	rd.At = now
	if r.cfg.Capacity > 0 && rd.Weight > r.cfg.Capacity+9*d+eps {
		rd.Overload = true
	}
	rd.Zero = !rd.Overload && math.Abs(rd.Weight) <= d+eps

	// The detector follows the current run of readings that all fit in a
	// band of StableDivisions divisions; motion, an overload or a reading
	// outside the band ends it, and a new run starts at the next reading
	// that could be stable.
	band := float64(r.cfg.StableDivisions)*d + eps
	w := rd.Weight
	switch {
	case rd.Motion || rd.Overload:
		r.runFrom = time.Time{}
	case !r.runFrom.IsZero() && math.Max(r.runHi, w)-math.Min(r.runLo, w) <= band:
		r.runLo, r.runHi = math.Min(r.runLo, w), math.Max(r.runHi, w)
	default:
		r.runFrom, r.runLo, r.runHi = now, w, w
	}
	rd.Settled = !r.runFrom.IsZero() && now.Sub(r.runFrom) >= r.cfg.StableFor

	r.latest = rd
	close(r.changed)
	r.changed = make(chan struct{})
}

// Latest returns the most recent good reading; its At is zero before the
// first.
func (r *Reader) Latest() Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// Stats returns the counters so far.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// WaitStable waits up to timeout (and no longer than ctx) for a settled
// weight and returns it. A weight already settled returns at once, so to
// weigh a new load wait first for Latest to show the change (Settled or
// Zero turning false). A settled reading older than StableFor does not
// count: the line may have gone quiet since. When the time runs out it
// returns an error wrapping ErrNotStable with the last reading; when ctx
// ends, ctx's error; when Run has returned, an error wrapping Run's.
func (r *Reader) WaitStable(ctx context.Context, timeout time.Duration) (Reading, error) {
	return r.wait(ctx, timeout, false)
}

// WaitLoaded is WaitStable for a load: an empty platform settled at zero
// does not count, so an item scanned before it was put down is weighed
// once it is on the scale and settled. When the time runs out on an empty
// platform the error wraps ErrNothingLoaded.
func (r *Reader) WaitLoaded(ctx context.Context, timeout time.Duration) (Reading, error) {
	return r.wait(ctx, timeout, true)
}

func (r *Reader) wait(ctx context.Context, timeout time.Duration, loaded bool) (Reading, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		last, changed, done, runErr := r.latest, r.changed, r.done, r.runErr
		r.mu.Unlock()
		settled := last.Settled && r.cfg.Now().Sub(last.At) <= r.cfg.StableFor
		if settled && !(loaded && last.Zero) {
			return last, nil
		}
		select {
		case <-changed:
		case <-done:
			return last, fmt.Errorf("scale: reader stopped: %w", runErr)
		case <-ctx.Done():
			return last, ctx.Err()
		case <-timer.C:
			switch {
			case last.At.IsZero():
				return last, fmt.Errorf("%w after %s: no reading", ErrNotStable, timeout)
			case settled:
				return last, fmt.Errorf("%w after %s", ErrNothingLoaded, timeout)
			}
			return last, fmt.Errorf("%w after %s: last %.3f kg, motion %t, overload %t", ErrNotStable, timeout, last.Weight, last.Motion, last.Overload)
		}
	}
}
