package ingest

import (
	"sync"
	"time"
)

// Edge clocks. A message's recv−sent is the edge clock's offset plus the
// network delay plus whatever time the message waited at the broker: the
// hub was down, or behind, and its persistent session kept it. One message
// cannot tell a slow clock from a wait, and mistaking a wait for a clock
// would move every reading the broker kept during a hub outage forward by
// the outage. So the offset is learned per edge from its flow: over a
// window of clockWindow of receive time, the smallest recv−sent is the
// offset (some message of a live flow waits for nothing), taken only when
// the edge's sent times advanced at about the pace of the hub's clock
// (sentPaceMax): a backlog being drained goes through sent time faster
// than real time, and its waits shrink as it goes, so a window of it
// teaches nothing and the last offset learned stands. A hub that stays
// behind by more than MaxSkew for a whole window still looks like a slow
// clock; nothing in the timestamps can tell the two apart.

const (
	clockWindow = 30 * time.Second
	sentPaceMax = 1.5
)

// edgeClock is what the hub has learned of one edge's clock.
type edgeClock struct {
	firstRecv, firstSent time.Time     // the current window's first message
	minDelay             time.Duration // smallest recv−sent in the window
	offset               time.Duration // the last offset learned
	known                bool
}

// clocks holds the edges' clocks.
type clocks struct {
	mu    sync.Mutex
	edges map[string]*edgeClock
}

// observe takes a message of edge sent at sent and received at recv into
// the edge's window, and returns the edge's offset as learned so far
// (known false until a window of live flow was seen).
func (c *clocks) observe(edge string, sent, recv time.Time) (offset time.Duration, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.edges == nil {
		c.edges = map[string]*edgeClock{}
	}
	e := c.edges[edge]
	d := recv.Sub(sent)
	if e == nil {
		e = &edgeClock{firstRecv: recv, firstSent: sent, minDelay: d}
		c.edges[edge] = e
		return 0, false
	}
	e.minDelay = min(e.minDelay, d)
	if span := recv.Sub(e.firstRecv); span >= clockWindow {
		pace := float64(sent.Sub(e.firstSent)) / float64(span)
		if pace >= 0 && pace <= sentPaceMax {
			e.offset, e.known = e.minDelay, true
		}
		e.firstRecv, e.firstSent, e.minDelay = recv, sent, d
	} else if recv.Before(e.firstRecv) {
		// The receive clock went back (a test, or the hub's clock was
		// stepped): start the window again.
		e.firstRecv, e.firstSent, e.minDelay = recv, sent, d
	}
	return e.offset, e.known
}
