package ingest

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Flood protection. One misbehaving edge (a poll interval of a
// millisecond, an agent in a loop) must not fill the store writer's queue
// that every other edge's readings wait in. Each edge's live readings (a
// reading time within liveWindow of its arrival) pass through a token
// bucket of Config.EdgeRate a second with Config.EdgeBurst of slack; those
// over it are acknowledged and dropped, counted for the edge, and reported
// (Config.OnFlood) so a coordinator is told.
//
// The bucket fills with the readings' own times, not with their arrival:
// an edge replaying the backlog of an outage sends fast, but its readings
// are as far apart in time as when they were taken, so none is dropped
// however fast the backlog drains; an edge taking readings too often is
// throttled however it sends them. Parcel events, statuses and results are
// never limited.

// liveWindow separates live readings from a replayed backlog.
const liveWindow = 2 * time.Minute

// maxTracked bounds the edges counted one by one: topics naming ever new
// edges of known sites cannot grow the table past it.
const maxTracked = 100_000

// EdgeTraffic is what one edge sent.
type EdgeTraffic struct {
	Site     string `json:"site"`
	Edge     string `json:"edge"`
	Received uint64 `json:"received"` // messages, valid or not
	Rejected uint64 `json:"rejected"` // invalid: malformed, oversize, wrong identity...
	Dropped  uint64 `json:"dropped"`  // live readings over the edge's rate
}

type edgeCount struct {
	site, edge string
	received   atomic.Uint64
	rejected   atomic.Uint64
	dropped    atomic.Uint64
	reported   uint64 // dropped already reported; the reporter's alone

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// allow takes a token for a live reading taken at ts (the edge's clock);
// the bucket fills as the edge's reading times advance.
func (c *edgeCount) allow(ts time.Time, rate, burst float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		c.tokens, c.last = burst, ts
	} else if d := ts.Sub(c.last).Seconds(); d > 0 {
		c.tokens = min(burst, c.tokens+d*rate)
		c.last = ts
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

type traffic struct {
	mu    sync.RWMutex
	edges map[[2]string]*edgeCount
	other edgeCount // edges past maxTracked
}

func newTraffic() *traffic { return &traffic{edges: map[[2]string]*edgeCount{}} }

// of returns the counts of an edge, creating them.
func (t *traffic) of(site, edge string) *edgeCount {
	k := [2]string{site, edge}
	t.mu.RLock()
	c := t.edges[k]
	t.mu.RUnlock()
	if c != nil {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c = t.edges[k]; c != nil {
		return c
	}
	if len(t.edges) >= maxTracked {
		return &t.other
	}
	c = &edgeCount{site: site, edge: edge}
	t.edges[k] = c
	return c
}

// list returns every edge's counts, the most troublesome first.
func (t *traffic) list() []EdgeTraffic {
	t.mu.RLock()
	out := make([]EdgeTraffic, 0, len(t.edges)+1)
	for _, c := range t.edges {
		out = append(out, EdgeTraffic{Site: c.site, Edge: c.edge, Received: c.received.Load(), Rejected: c.rejected.Load(), Dropped: c.dropped.Load()})
	}
	t.mu.RUnlock()
	if n := t.other.received.Load(); n > 0 {
		out = append(out, EdgeTraffic{Site: "*", Edge: "*", Received: n, Rejected: t.other.rejected.Load(), Dropped: t.other.dropped.Load()})
	}
	slices.SortFunc(out, func(a, b EdgeTraffic) int {
		return cmp.Or(cmp.Compare(b.Dropped+b.Rejected, a.Dropped+a.Rejected), cmp.Compare(b.Received, a.Received),
			cmp.Compare(a.Site, b.Site), cmp.Compare(a.Edge, b.Edge))
	})
	return out
}

// report hands each edge's drops since the last report to f.
func (t *traffic) report(now time.Time, f func(site, edge string, dropped uint64, at time.Time)) {
	t.mu.RLock()
	var due []*edgeCount
	for _, c := range t.edges {
		if c.dropped.Load() > c.reported {
			due = append(due, c)
		}
	}
	t.mu.RUnlock()
	for _, c := range due {
		d := c.dropped.Load()
		f(c.site, c.edge, d-c.reported, now)
		c.reported = d
	}
}

// Traffic returns what each edge sent, the edges with most dropped and
// rejected messages first.
func (in *Ingest) Traffic() []EdgeTraffic { return in.traffic.list() }
