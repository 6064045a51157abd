package agent

import (
	"context"
	"errors"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/edge/queue"
	"github.com/countylink/countylink/edge/uplink"
)

// inflight is one message handed to the broker and not yet acknowledged.
type inflight struct {
	id   queue.EntryID
	tok  mqtt.Token
	sent time.Time
}

// sendLoop drains the durable queue into the broker with up to
// cfg.Queue.Window messages in flight, in queue order (status and results
// first, then events, then telemetry). A message leaves the queue only
// when its PUBACK arrives. After a failed publish or a lost connection the
// queue is rewound and everything unacknowledged is sent again; the hub
// drops the copies by message id.
func (a *Agent) sendLoop(ctx context.Context) {
	window := a.cfg.Queue.Window
	flights := make(chan inflight, window)
	slots := make(chan struct{}, window) // one token per message in flight
	failed := make(chan struct{}, 1)
	freed := make(chan struct{}, 1) // a slot was released

	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		a.ackLoop(flights, slots, failed, freed)
	}()
	defer func() { close(flights); <-ackDone }()

	wasUp := false
	for ctx.Err() == nil {
		up := a.up.Connected()
		if !up {
			wasUp = false
			if !sleep(ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		select {
		case <-failed:
			wasUp = false
		default:
		}
		if !wasUp {
			// A new connection: wait for the flights of the old one to
			// settle, then send everything unacknowledged again.
			if !drain(ctx, slots) {
				return
			}
			a.q.Rewind()
			wasUp = true
		}
		free := window - len(slots)
		if free == 0 {
			select {
			case <-ctx.Done():
				return
			case <-failed:
				wasUp = false
			case <-freed:
			}
			continue
		}
		entries, err := a.q.Next(free)
		if err != nil {
			a.log.Error("reading the queue", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		a.replaying.Store(len(entries) == free)
		if len(entries) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-a.q.Wait():
			case <-failed:
				wasUp = false
			case <-time.After(time.Second): // notice a lost connection
			}
			continue
		}
		now := time.Now()
		for _, e := range entries {
			tok, err := a.up.PublishAsync(e.Topic, a.outgoing(e.Payload, now), false)
			if err != nil {
				if !errors.Is(err, uplink.ErrOffline) {
					a.publishErrors.Add(1)
				}
				wasUp = false // rewind before sending more
				break
			}
			slots <- struct{}{}
			flights <- inflight{id: e.ID, tok: tok, sent: now}
		}
	}
}

// outgoing prepares a queued payload for sending: the reading time of a
// message of this run stamped before a clock step is moved by the step,
// and the send time is set.
func (a *Agent) outgoing(payload []byte, now time.Time) []byte {
	if boot, seq, ok := messageSeq(payload); ok && boot == a.boot {
		if d := a.clock.shift(seq); d != 0 {
			payload = fixTS(payload, d)
		}
	}
	return stampSent(payload, now)
}

// ackLoop waits for the PUBACKs in the order the messages were sent and
// acknowledges them to the queue. A publish that fails or is not
// acknowledged in time signals failed, so the sender rewinds.
func (a *Agent) ackLoop(flights <-chan inflight, slots chan struct{}, failed, freed chan<- struct{}) {
	timeout := a.cfg.MQTT.PublishTimeout
	for f := range flights {
		// Each flight has its own deadline from when it was sent, so a lost
		// connection costs one timeout for the whole window, not one each.
		ok := f.tok.WaitTimeout(max(0, time.Until(f.sent.Add(timeout)))) && f.tok.Error() == nil
		if ok {
			if err := a.q.Ack(f.id); err != nil {
				a.log.Error("acknowledging to the queue", "err", err)
			}
			a.published.Add(1)
		} else {
			a.publishErrors.Add(1)
			select {
			case failed <- struct{}{}:
			default:
			}
		}
		<-slots
		select {
		case freed <- struct{}{}:
		default:
		}
	}
}

// drain waits until no message is in flight (all window slots free).
func drain(ctx context.Context, slots chan struct{}) bool {
	for len(slots) > 0 {
		if !sleep(ctx, 10*time.Millisecond) {
			return false
		}
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
