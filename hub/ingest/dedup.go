package ingest

import "sync"

// dedup remembers recently seen message ids in two generations: when the
// current one reaches its size it becomes the previous one and the oldest
// is forgotten. Memory stays bounded (at most 2×size ids) and an id is
// remembered for at least size further messages, far more than a broker
// redelivers after a reconnect.
type dedup struct {
	mu        sync.Mutex
	size      int
	cur, prev map[string]struct{}
}

func newDedup(size int) *dedup {
	return &dedup{size: size, cur: make(map[string]struct{}, size)}
}

// seen reports whether id was seen before, and remembers it.
func (d *dedup) seen(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cur[id]; ok {
		return true
	}
	if _, ok := d.prev[id]; ok {
		return true
	}
	if len(d.cur) >= d.size {
		d.prev, d.cur = d.cur, make(map[string]struct{}, d.size)
	}
	d.cur[id] = struct{}{}
	return false
}
