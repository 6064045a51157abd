package scanner

import (
	"context"
	"sync"
	"time"
)

// DefaultWindow is the de-duplication window: a scanner in continuous mode
// reads a parcel several times a second while it lies under the beam.
const DefaultWindow = 2 * time.Second

// Dedup makes the same code read again by the same source within Window
// one scan; the extra reads are counted as Repeats. The window slides: it
// runs from the latest read, so a parcel left under a fixed-mount scanner
// stays one scan however long it lies there. Set the fields before first
// use; Dedup is safe for concurrent use.
type Dedup struct {
	// Window is how long after a read the same code is a repeat; 0 means
	// DefaultWindow.
	Window time.Duration
	// AcrossSources makes a code read by one source a repeat of the same
	// code read by another within the window: for several scanners that
	// see the same parcel (a scan tunnel). By default sources are apart.
	AcrossSources bool
	// Now is the clock the window is measured with; nil means time.Now.
	Now func() time.Time
	// Counters receives Repeats, under the repeated scan's source.
	Counters *Counters

	mu        sync.Mutex
	last      map[dedupKey]time.Time
	lastSweep time.Time
}

type dedupKey struct{ source, code string }

// Accept reports whether s is a new scan, and remembers it. A repeat is
// counted and refused.
func (d *Dedup) Accept(s Scan) bool {
	now := d.now()
	w := d.window()
	k := dedupKey{code: s.Code}
	if !d.AcrossSources {
		k.source = s.Source
	}
	d.mu.Lock()
	if d.last == nil {
		d.last, d.lastSweep = make(map[dedupKey]time.Time), now
	}
	if now.Sub(d.lastSweep) >= w { // forget expired codes, at most once a window
		for key, t := range d.last {
			if age := now.Sub(t); age >= w || age < 0 {
				delete(d.last, key)
			}
		}
		d.lastSweep = now
	}
	t, seen := d.last[k]
	// A clock that stepped back (an injected one; time.Now's monotonic
	// reading cannot) makes the age negative: take the read as new.
	age := now.Sub(t)
	repeat := seen && age >= 0 && age < w
	d.last[k] = now
	d.mu.Unlock()
	if repeat && d.Counters != nil {
		d.Counters.add(s.Source, func(st *Stats) { st.Repeats++ })
	}
	return !repeat
}

// Run passes the new scans from in to out until in is closed (it returns
// nil) or ctx is done (it returns ctx.Err()).
func (d *Dedup) Run(ctx context.Context, in <-chan Scan, out chan<- Scan) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-in:
			if !ok {
				return nil
			}
			if !d.Accept(s) {
				continue
			}
			select {
			case out <- s:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func (d *Dedup) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dedup) window() time.Duration {
	if d.Window > 0 {
		return d.Window
	}
	return DefaultWindow
}
