package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Scan is one code read by a scanner.
type Scan struct {
	Code   string    // the code as read, AIM prefix removed if configured
	At     time.Time // when the reader received the code's terminator
	Source string    // the reader's name (Options.Source)
}

// Reader is a scanner that delivers its scans on out until ctx is done.
// Readers that own their connection reopen it after a failure, so Run
// returns only when ctx ends.
type Reader interface {
	Run(ctx context.Context, out chan<- Scan) error
}

// Stats are one source's counters. Every code a reader accepts is counted
// in Scans, including those the de-duplicator then suppresses, which are
// also counted in Repeats: Scans - Repeats went downstream.
type Stats struct {
	Scans   uint64 // codes accepted and delivered by the reader
	Repeats uint64 // deliveries the de-duplicator suppressed
	Noise   uint64 // lines rejected: too long, control characters, unknown keys, cut off
	Errors  uint64 // failed opens, reads and connections, disconnects
}

// Counters holds Stats per source, shared by the readers and the
// de-duplicator of a station. It is safe for concurrent use; the zero value
// is ready.
type Counters struct {
	mu sync.Mutex
	m  map[string]*Stats
}

// Stats returns a copy of every source's counters.
func (c *Counters) Stats() map[string]Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Stats, len(c.m))
	for k, v := range c.m {
		out[k] = *v
	}
	return out
}

// Source returns one source's counters.
func (c *Counters) Source(name string) Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[name]; s != nil {
		return *s
	}
	return Stats{}
}

func (c *Counters) add(source string, f func(*Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*Stats)
	}
	s := c.m[source]
	if s == nil {
		s = new(Stats)
		c.m[source] = s
	}
	f(s)
}

// DefaultMaxLen is the longest line accepted as a code, in characters.
const DefaultMaxLen = 128

// Options configure every kind of reader.
type Options struct {
	// Source names the reader in Scan.Source and in Counters; empty means
	// the device path or address.
	Source string `yaml:"source"`
	// StripAIM removes a leading AIM symbology identifier ("]C1" for
	// Code 128, "]E0" for EAN-13, "]Q1" for QR) from each code.
	StripAIM bool `yaml:"strip_aim"`
	// MaxLen is the longest line accepted, in characters; 0 means
	// DefaultMaxLen. A longer line is noise.
	MaxLen int `yaml:"max_len"`
	// MinBackoff and MaxBackoff bound the wait before reopening a device
	// or reconnecting; it doubles after each failure and falls back to
	// MinBackoff after a successful open. 0 means 500ms and 30s.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`

	// Counters receives the counts; nil means a set private to the reader.
	Counters *Counters `yaml:"-"`
	// Now is the clock that stamps scans; nil means time.Now.
	Now func() time.Time `yaml:"-"`
	// Logger receives connect and disconnect events; nil means
	// slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// Validate reports the first bad field.
func (o Options) Validate() error {
	switch {
	case o.MaxLen < 0:
		return fmt.Errorf("scanner %q: max_len %d is negative", o.Source, o.MaxLen)
	case o.MinBackoff < 0:
		return fmt.Errorf("scanner %q: min_backoff %v is negative", o.Source, o.MinBackoff)
	case o.MaxBackoff < 0:
		return fmt.Errorf("scanner %q: max_backoff %v is negative", o.Source, o.MaxBackoff)
	case o.MaxBackoff > 0 && o.MinBackoff > o.MaxBackoff:
		return fmt.Errorf("scanner %q: min_backoff %v exceeds max_backoff %v", o.Source, o.MinBackoff, o.MaxBackoff)
	}
	return nil
}

// withDefaults fills in what is unset; name is the device path or address.
func (o Options) withDefaults(name string) Options {
	if o.Source == "" {
		o.Source = name
	}
	if o.MaxLen <= 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Counters == nil {
		o.Counters = new(Counters)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("scanner", o.Source)
	return o
}
