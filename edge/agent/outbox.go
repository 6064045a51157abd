package agent

import (
	"sync"
)

// message is one publish waiting in the outbox.
type message struct {
	topic   string
	payload []byte
	n       uint64 // position in the outbox, so pop never removes a successor
}

// outbox is a bounded FIFO between the producers and the sender. When full
// it drops the oldest message and counts it.
//
// It lives in memory: a power cut loses what it holds. The durable on-disk
// queue that replaces it is the zero-loss issue's work.
type outbox struct {
	mu      sync.Mutex
	buf     []message
	head, n int
	next    uint64
	dropped uint64
	ready   chan struct{} // signalled when a message is added
}

func newOutbox(capacity int) *outbox {
	return &outbox{buf: make([]message, capacity), ready: make(chan struct{}, 1)}
}

func (o *outbox) put(m message) {
	o.mu.Lock()
	if o.n == len(o.buf) {
		o.head = (o.head + 1) % len(o.buf)
		o.n--
		o.dropped++
	}
	o.next++
	m.n = o.next
	o.buf[(o.head+o.n)%len(o.buf)] = m
	o.n++
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// peek returns the oldest message without removing it.
func (o *outbox) peek() (message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == 0 {
		return message{}, false
	}
	return o.buf[o.head], true
}

// pop removes m, the oldest message, after it was sent. If m was
// dropped meanwhile to make room, nothing is removed.
func (o *outbox) pop(m message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == 0 || o.buf[o.head].n != m.n {
		return
	}
	o.buf[o.head] = message{}
	o.head = (o.head + 1) % len(o.buf)
	o.n--
}

func (o *outbox) stats() (backlog int, dropped uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n, o.dropped
}
