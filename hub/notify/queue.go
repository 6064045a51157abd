package notify

import (
	"sync"
	"time"
)

// item is one notification waiting for its channel.
type item struct {
	alarm  Alarm
	queued time.Time // when Notify took the first of the updates it holds
}

// queue is a channel's pending notifications, in order, holding at most
// one per alarm ID: an update of an alarm still waiting replaces it in
// place (the receiver gets the latest state, in the old one's turn).
type queue struct {
	mu    sync.Mutex
	items []*item
	byID  map[string]*item
	size  int           // capacity for notifications that may be dropped
	ready chan struct{} // signalled when an item is added
}

func newQueue(size int) *queue {
	return &queue{byID: map[string]*item{}, size: size, ready: make(chan struct{}, 1)}
}

type pushResult int

const (
	pushed    pushResult = iota
	coalesced            // replaced a waiting update of the same alarm
	dropped              // the queue was full
	overfull             // queued beyond capacity: a critical alarm is never dropped
)

// push queues it; see the package documentation for the policy.
func (q *queue) push(it *item) (pushResult, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if old, ok := q.byID[it.alarm.ID]; ok {
		old.alarm = it.alarm
		return coalesced, len(q.items)
	}
	res := pushed
	if len(q.items) >= q.size {
		if !it.alarm.mustDeliver() {
			return dropped, len(q.items)
		}
		res = overfull
	}
	q.items = append(q.items, it)
	q.byID[it.alarm.ID] = it
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return res, len(q.items)
}

// pop takes the oldest item; nil when there is none.
func (q *queue) pop() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	it := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	delete(q.byID, it.alarm.ID)
	return it
}

// waiting reports whether an update of alarm id waits.
func (q *queue) waiting(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.byID[id]
	return ok
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
