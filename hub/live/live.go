// Package live fans out state changes to the dashboards connected over
// server-sent events. A subscriber that cannot keep up is cut off rather
// than buffered without bound; its browser reconnects and re-reads the
// full state, so nothing it shows stays wrong.
package live

import (
	"sync"
	"sync/atomic"
)

// Event is one change: a type (the SSE event name) and its JSON data.
type Event struct {
	Type string
	Data []byte
}

// Hub distributes events to subscribers.
type Hub struct {
	mu      sync.Mutex
	subs    map[*Sub]struct{}
	dropped atomic.Uint64
}

// Sub is one subscriber.
type Sub struct {
	C    chan Event    // events, in order
	Done chan struct{} // closed when the hub cut the subscriber off
	once sync.Once
}

// New returns an empty hub.
func New() *Hub { return &Hub{subs: map[*Sub]struct{}{}} }

// Subscribe adds a subscriber with room for buf pending events.
func (h *Hub) Subscribe(buf int) *Sub {
	s := &Sub{C: make(chan Event, buf), Done: make(chan struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe removes s.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
	s.once.Do(func() { close(s.Done) })
}

// Publish sends e to every subscriber without blocking; a subscriber whose
// buffer is full is cut off.
func (h *Hub) Publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.C <- e:
		default:
			delete(h.subs, s)
			s.once.Do(func() { close(s.Done) })
			h.dropped.Add(1)
		}
	}
}

// Subscribers is the number of connected subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// CutOff counts subscribers cut off for being slow.
func (h *Hub) CutOff() uint64 { return h.dropped.Load() }
