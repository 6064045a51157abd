package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Channel is a place notifications go: a robot in a group chat, a
// mailbox, a webhook. Send delivers one notification or says why not;
// errors wrapping ErrRejected are not retried, and ErrRateLimited ones
// are retried after a longer pause. Send must return when ctx ends.
type Channel interface {
	Name() string
	Send(ctx context.Context, a Alarm) error
}

// ChannelStats are one channel's counters since the dispatcher started.
type ChannelStats struct {
	Channel   string
	Sent      uint64 // notifications delivered
	Failed    uint64 // notifications given up on, after their attempts or refused
	Retried   uint64 // attempts repeated after a failure
	Dropped   uint64 // notifications not queued because the queue was full, or left at shutdown
	Coalesced uint64 // waiting notifications replaced by a newer update of the same alarm
	Delayed   uint64 // sends held back by the rate limit
	Escalated uint64 // escalations delivered
	Queued    int    // notifications waiting now
}

// worker sends one channel's notifications, one at a time, in order.
type worker struct {
	ch      Channel
	q       *queue
	lim     *limiter
	retry   Retry
	timeout time.Duration
	log     *slog.Logger

	sent, failed, retried, dropped, coalesced, delayed, escalated atomic.Uint64
}

// Dispatcher takes alarms from the alarm service and sends them to the
// channels their routes name, with rate limits, retries and escalation.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	workers []*worker            // sorted by channel name
	groups  map[string][]*worker // group -> its channels
	routes  []*Route

	escMu   sync.Mutex
	esc     *escalations
	escWake chan struct{}

	unrouted atomic.Uint64

	mu      sync.Mutex
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds a dispatcher from cfg, whose secret files must have been
// read. extra are channels made in code, which cfg's groups may name
// besides its own channels; they take cfg's rate limit. log may be nil.
func New(cfg Config, log *slog.Logger, extra ...Channel) (*Dispatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names := map[string]bool{}
	for _, ch := range extra {
		if names[ch.Name()] {
			return nil, fmt.Errorf("notify: two channels named %q", ch.Name())
		}
		names[ch.Name()] = true
	}
	if err := cfg.validate(names); err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg, log: log, now: time.Now, groups: map[string][]*worker{},
		esc: newEscalations(), escWake: make(chan struct{}, 1), done: make(chan struct{})}
	now := time.Now()
	byName := map[string]*worker{}
	add := func(ch Channel, rl RateLimit) {
		w := &worker{ch: ch, q: newQueue(cfg.QueueSize), lim: newLimiter(rl, now), retry: cfg.Retry, timeout: cfg.Timeout,
			log: log.With("channel", ch.Name())}
		byName[ch.Name()] = w
		d.workers = append(d.workers, w)
	}
	for _, name := range sortedKeys(cfg.Channels) {
		ch, err := cfg.Channel(name)
		if err != nil {
			return nil, err
		}
		rl := cfg.RateLimit
		if r := cfg.Channels[name].RateLimit; r != nil {
			rl = *r
		}
		add(ch, rl)
	}
	for _, ch := range extra {
		add(ch, cfg.RateLimit)
	}
	slices.SortFunc(d.workers, func(a, b *worker) int { return strings.Compare(a.ch.Name(), b.ch.Name()) })
	for g, members := range cfg.Groups {
		for _, m := range members {
			if w := byName[m]; !slices.Contains(d.groups[g], w) {
				d.groups[g] = append(d.groups[g], w)
			}
		}
	}
	routes := slices.Clone(cfg.Routes) // the caller's slice may change
	for i := range routes {
		d.routes = append(d.routes, &routes[i])
	}
	return d, nil
}

// match returns the routes a matches. An unknown severity is taken as
// critical: better a notification too many than an alarm nobody hears of.
func (d *Dispatcher) match(a Alarm) []*Route {
	rank := a.Severity.Rank()
	if rank == 0 {
		d.log.Warn("alarm of unknown severity routed as critical", "alarm", a.ID, "severity", a.Severity)
		rank = Critical.Rank()
	}
	var out []*Route
	for _, r := range d.routes {
		if (slices.Contains(r.Sites, "*") || slices.Contains(r.Sites, a.Site)) &&
			(len(r.Kinds) == 0 || slices.Contains(r.Kinds, a.Kind)) &&
			rank >= r.MinSeverity.Rank() {
			out = append(out, r)
		}
	}
	return out
}

// Notify queues a for the channels of the routes it matches, and tracks
// it for escalation. It never blocks: sending happens in Run. See the
// package documentation for what happens when a channel falls behind.
func (d *Dispatcher) Notify(a Alarm) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		d.log.Warn("notification after close, not sent", "alarm", a.ID, "event", a.Event, "severity", a.Severity)
		return
	}
	now := d.now()
	routes := d.match(a)
	var targets []*worker
	for _, r := range routes {
		targets = appendNew(targets, d.groups[r.Group]...)
	}
	d.escMu.Lock()
	alsoTo, scheduled := d.esc.observe(a, routes, now)
	d.escMu.Unlock()
	for _, g := range alsoTo {
		targets = appendNew(targets, d.groups[g]...)
	}
	if scheduled {
		select {
		case d.escWake <- struct{}{}:
		default:
		}
	}
	if len(targets) == 0 {
		d.unrouted.Add(1)
		d.log.Debug("alarm matches no route", "alarm", a.ID, "site", a.Site, "severity", a.Severity)
		return
	}
	for _, w := range targets {
		w.push(&item{alarm: a, queued: now})
	}
}

func appendNew(ws []*worker, add ...*worker) []*worker {
	for _, w := range add {
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	return ws
}

func (w *worker) push(it *item) {
	res, n := w.q.push(it)
	a := &it.alarm
	switch res {
	case coalesced:
		w.coalesced.Add(1)
	case dropped:
		w.dropped.Add(1)
		w.log.Warn("notification dropped: channel queue full", "alarm", a.ID, "event", a.Event,
			"severity", a.Severity, "queued", n, "dropped_total", w.dropped.Load())
	case overfull:
		w.log.Warn("critical alarm queued beyond the channel's queue size", "alarm", a.ID, "event", a.Event, "queued", n)
	}
}

// Run sends until ctx ends or Close is called, then spends up to
// DrainTimeout sending what waits, and returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("notify: Run called twice")
	}
	d.running = true
	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	if d.closed {
		cancel()
	}
	d.mu.Unlock()
	defer close(d.done)

	// Sends in progress and the drain outlive ctx by DrainTimeout.
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { w.run(ctx, sendCtx) })
	}
	wg.Go(func() { d.escalate(ctx) })
	<-ctx.Done()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	drain := time.AfterFunc(d.cfg.DrainTimeout, stopSending)
	defer drain.Stop()
	wg.Wait()
	return nil
}

// Close stops Run, as the end of its ctx does, and waits for it to
// return. Notify after Close sends nothing. Close before Run makes Run
// only send what is queued, within DrainTimeout, and return.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	d.closed = true
	running, cancel := d.running, d.cancel
	d.mu.Unlock()
	if running {
		cancel()
		<-d.done
	}
	return nil
}

// escalate sends each escalation when it falls due.
func (d *Dispatcher) escalate(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.escMu.Lock()
		due := d.esc.due(d.now())
		next, ok := d.esc.next()
		d.escMu.Unlock()
		for _, e := range due {
			ws := d.groups[e.group]
			d.log.Info("escalating unacknowledged alarm", "alarm", e.alarm.ID, "site", e.alarm.Site,
				"severity", e.alarm.Severity, "group", e.group, "channels", len(ws))
			for _, w := range ws {
				w.push(&item{alarm: e.alarm, queued: e.alarm.Updated})
			}
		}
		wait := time.Hour
		if ok {
			wait = max(next.Sub(d.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.escWake:
		case <-timer.C:
		}
	}
}

// run sends the channel's notifications until ctx ends, then what is left
// until sendCtx ends.
func (w *worker) run(ctx, sendCtx context.Context) {
	for ctx.Err() == nil {
		if it := w.q.pop(); it != nil {
			w.deliver(sendCtx, it)
			continue
		}
		select {
		case <-w.q.ready:
		case <-ctx.Done():
		}
	}
	for it := w.q.pop(); it != nil; it = w.q.pop() {
		if sendCtx.Err() != nil {
			w.dropped.Add(1)
			w.log.Error("notification not sent before shutdown", "alarm", it.alarm.ID, "event", it.alarm.Event,
				"severity", it.alarm.Severity)
			continue
		}
		w.deliver(sendCtx, it)
	}
}

// deliver sends one notification, waiting for the rate limit and retrying
// as w.retry says.
func (w *worker) deliver(ctx context.Context, it *item) {
	a := it.alarm
	log := w.log.With("alarm", a.ID, "event", a.Event, "severity", a.Severity)
	for attempt := 1; ; attempt++ {
		if wait := w.lim.reserve(time.Now()); wait > 0 {
			w.delayed.Add(1)
			log.Debug("rate limit: send delayed", "wait", wait)
			if !sleep(ctx, wait) {
				w.giveUp(log, attempt-1, ctx.Err())
				return
			}
		}
		actx, cancel := context.WithTimeout(ctx, w.timeout)
		err := w.ch.Send(actx, a)
		cancel()
		if err == nil {
			w.sent.Add(1)
			if a.Event == EventEscalated {
				w.escalated.Add(1)
			}
			log.Debug("notification sent", "latency", time.Since(it.queued), "attempts", attempt)
			return
		}
		if errors.Is(err, ErrRejected) || attempt >= w.retry.Attempts || ctx.Err() != nil {
			w.giveUp(log, attempt, err)
			return
		}
		if w.q.waiting(a.ID) {
			// A newer update of this alarm waits: send that instead.
			w.coalesced.Add(1)
			log.Info("failed notification superseded by a newer update", "err", err)
			return
		}
		backoff := w.retry.delay(attempt, errors.Is(err, ErrRateLimited))
		w.retried.Add(1)
		log.Warn("notification failed, retrying", "attempt", attempt, "retry_in", backoff, "err", err)
		if !sleep(ctx, backoff) {
			w.giveUp(log, attempt, err)
			return
		}
	}
}

func (w *worker) giveUp(log *slog.Logger, attempts int, err error) {
	w.failed.Add(1)
	log.Error("notification failed", "attempts", attempts, "err", err)
}

// sleep waits for d or ctx; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats are the counters of every channel, by channel name.
func (d *Dispatcher) Stats() []ChannelStats {
	out := make([]ChannelStats, 0, len(d.workers))
	for _, w := range d.workers {
		out = append(out, ChannelStats{
			Channel: w.ch.Name(), Sent: w.sent.Load(), Failed: w.failed.Load(), Retried: w.retried.Load(),
			Dropped: w.dropped.Load(), Coalesced: w.coalesced.Load(), Delayed: w.delayed.Load(),
			Escalated: w.escalated.Load(), Queued: w.q.len(),
		})
	}
	return out
}

// Unrouted counts alarms that matched no route.
func (d *Dispatcher) Unrouted() uint64 { return d.unrouted.Load() }

// Tracked is how many alarm escalations are tracked: pending, or fired
// and waiting for the alarm to clear.
func (d *Dispatcher) Tracked() int {
	d.escMu.Lock()
	defer d.escMu.Unlock()
	return d.esc.len()
}
