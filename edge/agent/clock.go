package agent

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// clockWatch notices when the wall clock is stepped while the agent runs:
// a Raspberry Pi has no real-time clock, boots at the time fake-hwclock
// saved at the last shutdown (hours or days ago), and jumps when NTP
// reaches a server, often long after the first readings were queued.
// Readings taken before a step carry the old clock; the sender shifts them
// by the step so the hub stores them at their true time. (Readings queued
// by an earlier run of the agent cannot be shifted this way; the hub
// corrects or flags them.)
type clockWatch struct {
	start time.Time // wall and monotonic reading at start

	mu     sync.Mutex
	offset time.Duration // wall minus monotonic elapsed time, now
	steps  []clockStep
}

// clockStep records that messages with a sequence above seq were stamped
// with the wall clock moved by offset against those before.
type clockStep struct {
	seq    uint64
	offset time.Duration
}

// stepThreshold is the smallest jump taken for a step rather than for the
// slewing NTP does gently.
const stepThreshold = 2 * time.Second

func newClockWatch() *clockWatch { return &clockWatch{start: time.Now()} }

// check compares the wall clock with the monotonic one; seq is the last
// message sequence used, so that later ones are known to carry the new time.
func (c *clockWatch) check(now time.Time, seq uint64) (stepped time.Duration) {
	// Round(0) strips the monotonic reading: the first difference is wall
	// time elapsed, the second monotonic time elapsed.
	return c.observe(now.Round(0).Sub(c.start.Round(0))-now.Sub(c.start), seq)
}

// observe takes the current wall-minus-monotonic offset.
func (c *clockWatch) observe(off time.Duration, seq uint64) (stepped time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := off - c.offset
	if d < stepThreshold && d > -stepThreshold {
		return 0
	}
	c.offset = off
	c.steps = append(c.steps, clockStep{seq: seq, offset: off})
	if len(c.steps) > 64 { // a clock that keeps stepping: keep the recent story
		c.steps = c.steps[len(c.steps)-64:]
	}
	return d
}

// shift is how much a message with sequence seq of this run must be moved
// to agree with the current clock.
func (c *clockWatch) shift(seq uint64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Duration // the offset in force when seq was stamped
	for _, s := range c.steps {
		if seq > s.seq {
			at = s.offset
		}
	}
	return c.offset - at
}

// fixTS moves the "ts" member of an encoded message by d. The header is
// encoded first, so the first "ts" is the header's own.
func fixTS(payload []byte, d time.Duration) []byte {
	const key = `"ts":"`
	i := bytes.Index(payload, []byte(key))
	if i < 0 {
		return payload
	}
	start := i + len(key)
	end := bytes.IndexByte(payload[start:], '"')
	if end < 0 {
		return payload
	}
	ts, err := time.Parse(time.RFC3339Nano, string(payload[start:start+end]))
	if err != nil {
		return payload
	}
	out := make([]byte, 0, len(payload)+8)
	out = append(out, payload[:start]...)
	out = ts.Add(d).UTC().AppendFormat(out, time.RFC3339Nano)
	return append(out, payload[start+end:]...)
}

// messageSeq reads boot and sequence from an encoded message's id
// (edge-boot-seq).
func messageSeq(payload []byte) (boot, seq uint64, ok bool) {
	const key = `"id":"`
	i := bytes.Index(payload, []byte(key))
	if i < 0 {
		return 0, 0, false
	}
	rest := payload[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, 0, false
	}
	id := rest[:end]
	j := bytes.LastIndexByte(id, '-')
	if j < 0 {
		return 0, 0, false
	}
	k := bytes.LastIndexByte(id[:j], '-')
	if k < 0 {
		return 0, 0, false
	}
	boot, err1 := strconv.ParseUint(string(id[k+1:j]), 10, 64)
	seq, err2 := strconv.ParseUint(string(id[j+1:]), 10, 64)
	return boot, seq, err1 == nil && err2 == nil
}
