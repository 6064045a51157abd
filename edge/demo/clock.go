package demo

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock is the demo's simulated time: it starts at a simulated instant and
// runs Factor times faster than the real clock. Only the pace is
// simulated: what the demo sends (events, scans, runs) carries the real
// time, as the hub refuses times from the future.
type Clock struct {
	Factor float64 // simulated seconds per real second
	real0  time.Time
	sim0   time.Time
}

// NewClock starts a clock at start running factor times faster than real
// time.
func NewClock(start time.Time, factor float64) *Clock {
	if factor <= 0 {
		factor = 1
	}
	return &Clock{Factor: factor, real0: time.Now(), sim0: start}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time { return c.At(time.Now()) }

// At is the simulated time at real time t.
func (c *Clock) At(t time.Time) time.Time {
	return c.sim0.Add(time.Duration(float64(t.Sub(c.real0)) * c.Factor))
}

// Real is how long a simulated duration takes in real time.
func (c *Clock) Real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.Factor) }

// Sim is the simulated duration of a real one.
func (c *Clock) Sim(d time.Duration) time.Duration { return time.Duration(float64(d) * c.Factor) }

// Sleep waits for a simulated duration; false when ctx ended first.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(c.Real(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// SleepUntil waits until the simulated time t; false when ctx ended first.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) bool {
	return c.Sleep(ctx, t.Sub(c.Now()))
}

// Start is the simulated instant the clock started at.
func (c *Clock) Start() time.Time { return c.sim0 }

// Day is the simulated day number of t, 1 for the clock's first day.
func (c *Clock) Day(t time.Time) int {
	y, m, d := c.sim0.Date()
	first := time.Date(y, m, d, 0, 0, 0, 0, c.sim0.Location())
	y, m, d = t.In(c.sim0.Location()).Date()
	cur := time.Date(y, m, d, 0, 0, 0, 0, c.sim0.Location())
	return int(cur.Sub(first).Round(24*time.Hour)/(24*time.Hour)) + 1
}

// Midnight is the start of simulated day n (1 for the first).
func (c *Clock) Midnight(n int) time.Time {
	y, m, d := c.sim0.Date()
	return time.Date(y, m, d+n-1, 0, 0, 0, 0, c.sim0.Location())
}

// Stamp shows a simulated time for the log: "day 2 14:05".
func (c *Clock) Stamp(t time.Time) string {
	return fmt.Sprintf("day %d %s", c.Day(t), t.Format("15:04"))
}

// sched runs functions at simulated times, each in its own goroutine,
// until stopped: what a township does later (a parcel picked up hours
// after it arrived) without a goroutine sleeping for each.
type sched struct {
	clock *Clock
	ctx   context.Context

	mu     sync.Mutex
	timers map[*time.Timer]struct{}
	wg     sync.WaitGroup
}

func newSched(ctx context.Context, c *Clock) *sched {
	return &sched{clock: c, ctx: ctx, timers: map[*time.Timer]struct{}{}}
}

// after runs f after a simulated duration.
func (s *sched) after(d time.Duration, f func()) { s.afterReal(s.clock.Real(d), f) }

// at runs f at simulated time t (now if it is past).
func (s *sched) at(t time.Time, f func()) { s.after(t.Sub(s.clock.Now()), f) }

// afterReal runs f after a real duration.
func (s *sched) afterReal(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(max(d, 0), func() {
		defer s.wg.Done()
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		if s.ctx.Err() == nil {
			f()
		}
	})
	s.timers[t] = struct{}{}
}

// goNow runs f now in its own goroutine, waited for by stop.
func (s *sched) goNow(f func()) { s.afterReal(0, f) }

// stop cancels what has not started and waits for what has. The
// context must have ended.
func (s *sched) stop() {
	s.mu.Lock()
	for t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
	}
	clear(s.timers)
	s.mu.Unlock()
	s.wg.Wait()
}
