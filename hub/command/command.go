package command

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/metrics"
)

// Publisher sends a message to the broker at QoS 1, not retained, and
// returns once the broker has it. It returns hub.ErrNotConnected when the
// hub has no broker connection, and an error wrapping ctx's error when the
// broker did not acknowledge the message before ctx ended: the message may
// then still go out (a client keeps an unacknowledged QoS 1 message for
// its next connection). ingest.Ingest is the hub's Publisher.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// PublisherFunc is a function used as a Publisher.
type PublisherFunc func(ctx context.Context, topic string, payload []byte) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, topic string, payload []byte) error {
	return f(ctx, topic, payload)
}

// Errors of Do.
var (
	// ErrInvalid marks a command that cannot be sent as asked: an invalid
	// site, edge or command name, arguments that are not JSON, or a
	// payload over the contract's size limit.
	ErrInvalid = errors.New("invalid command")
	// ErrTimeout is returned when no result came within the wait. The
	// command was sent; a result that comes later is still recorded.
	ErrTimeout = errors.New("no result in time")
)

// DefaultKeep is how many recent commands a Tracker keeps by default.
const DefaultKeep = 1000

// Command states.
const (
	StatePending = "pending" // sent, no result yet
	StateOK      = "ok"      // the edge answered ok
	StateFailed  = "failed"  // the edge answered with an error
)

// Command is a sent command and, once it came, its result.
type Command struct {
	ID       string           `json:"id"`
	Site     string           `json:"site"`
	Edge     string           `json:"edge"`
	Name     string           `json:"name"`
	Args     json.RawMessage  `json:"args,omitempty"`
	Sent     time.Time        `json:"sent"`
	State    string           `json:"state"` // StatePending, StateOK or StateFailed
	Answered *time.Time       `json:"answered,omitempty"`
	Result   *contract.Result `json:"result,omitempty"`
}

type entry struct {
	cmd  Command
	done chan struct{} // closed when the result came
	// waited says Do still waits for the result; an entry pushed out of
	// the ring meanwhile is forgotten only once Do returns (forgotten).
	waited, forgotten bool
}

// Tracker sends commands and keeps the recent ones with their results. It
// is safe for concurrent use.
type Tracker struct {
	// Now is the clock, replaceable in tests.
	Now func() time.Time

	pub    Publisher
	prefix string
	idBase string
	seq    atomic.Uint64

	mu   sync.Mutex
	byID map[string]*entry
	ring []string // ids in sending order, the oldest overwritten first
	next int

	sent, timeouts, unmatched *metrics.Counter
	results                   *metrics.CounterVec
}

// New returns a tracker that publishes with pub under the topic prefix and
// keeps the last keep commands (DefaultKeep when keep <= 0). Its counters
// are registered in reg.
func New(pub Publisher, prefix string, keep int, reg *metrics.Registry) *Tracker {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if prefix == "" {
		prefix = contract.DefaultPrefix
	}
	if reg == nil {
		reg = new(metrics.Registry)
	}
	var b [4]byte
	rand.Read(b[:])
	return &Tracker{Now: time.Now, pub: pub, prefix: prefix, idBase: "hub-" + hex.EncodeToString(b[:]) + "-",
		byID: make(map[string]*entry, keep), ring: make([]string, keep),
		sent:      reg.NewCounter("countylink_hub_commands_sent_total", "Commands published to edges."),
		timeouts:  reg.NewCounter("countylink_hub_command_timeouts_total", "Commands whose caller stopped waiting before the result came."),
		unmatched: reg.NewCounter("countylink_hub_command_results_unmatched_total", "Results for no command this hub keeps (another hub's, forgotten, or from the wrong edge)."),
		results:   reg.NewCounterVec("countylink_hub_command_results_total", "Command results received, by outcome.", "outcome", StateOK, StateFailed),
	}
}

// Do sends the command name with args (JSON, may be empty) to one edge and
// waits up to wait for its result. It returns the command as it stands:
// with its result, or pending together with ErrTimeout (no result, or not
// even the broker's acknowledgement, within wait), or the context's error
// when ctx ended first. Any other error from the publisher (such as
// hub.ErrNotConnected) means the command was not sent and is not kept.
func (t *Tracker) Do(ctx context.Context, site, edge, name string, args json.RawMessage, wait time.Duration) (Command, error) {
	cmd, payload, err := t.build(site, edge, name, args)
	if err != nil {
		return Command{}, err
	}
	e := &entry{cmd: cmd, done: make(chan struct{}), waited: true}
	// Kept before it is sent, so that a result cannot overtake it.
	t.add(e)
	defer t.release(e)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	pctx, cancel := context.WithTimeout(ctx, wait)
	err = t.pub.Publish(pctx, contract.CommandTopic(t.prefix, site, edge, name), payload)
	cancel()
	switch {
	case err == nil:
		t.sent.Inc()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		// Not acknowledged by the broker in time: it may still reach the
		// edge, so the command is kept to record a result that comes.
		t.timeouts.Inc()
		if ctx.Err() != nil {
			return t.snapshot(e), ctx.Err()
		}
		return t.snapshot(e), fmt.Errorf("%w: the broker did not acknowledge the command", ErrTimeout)
	default:
		t.remove(cmd.ID)
		return Command{}, fmt.Errorf("command %s to %s/%s: %w", name, site, edge, err)
	}
	select {
	case <-e.done:
		return t.snapshot(e), nil
	case <-timer.C:
		t.timeouts.Inc()
		return t.snapshot(e), ErrTimeout
	case <-ctx.Done():
		t.timeouts.Inc()
		return t.snapshot(e), ctx.Err()
	}
}

func (t *Tracker) build(site, edge, name string, args json.RawMessage) (Command, []byte, error) {
	for _, id := range [][2]string{{"site", site}, {"edge", edge}, {"command name", name}} {
		if !contract.ValidID(id[1]) {
			return Command{}, nil, fmt.Errorf("%w: %s %q is not a valid id (1 to %d of a-z 0-9 - _)", ErrInvalid, id[0], clip(id[1]), contract.MaxIDLen)
		}
	}
	if len(args) > 0 && !json.Valid(args) {
		return Command{}, nil, fmt.Errorf("%w: the arguments are not JSON", ErrInvalid)
	}
	if check := checks[name]; check != nil {
		if err := check(site, args); err != nil {
			return Command{}, nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
	}
	cmd := Command{ID: t.idBase + fmt.Sprint(t.seq.Add(1)), Site: site, Edge: edge, Name: name,
		Args: args, Sent: t.Now().UTC(), State: StatePending}
	payload, err := contract.Encode(contract.Command{V: contract.SchemaVersion, ID: cmd.ID, TS: cmd.Sent, Name: name, Args: args})
	if err != nil {
		return Command{}, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// Kept as sent: compact, so the record shows what the edge received.
	var m contract.Command
	json.Unmarshal(payload, &m)
	cmd.Args = m.Args
	return cmd, payload, nil
}

// checks refuse the arguments of the commands the hub knows that the edge
// would refuse, so that a mistake is reported at once rather than after a
// round trip, or never when the edge is offline. Other commands go as they
// are: the edge answers a command it does not know with an error.
var checks = map[string]func(site string, args json.RawMessage) error{
	// sortplan: args is the plan, for the site the command goes to.
	"sortplan": func(site string, args json.RawMessage) error {
		p, err := contract.DecodeSortPlan(args)
		if err != nil {
			return err
		}
		if p.Site != site {
			return fmt.Errorf("the plan is for site %q, the command goes to %q", clip(p.Site), site)
		}
		return nil
	},
	// rules: the room alarm rules of the site the command goes to.
	contract.RulesCommand: func(site string, args json.RawMessage) error {
		rs, err := contract.DecodeRoomRules(args)
		if err != nil {
			return err
		}
		if rs.Site != site {
			return fmt.Errorf("the rules are for site %q, the command goes to %q", clip(rs.Site), site)
		}
		return nil
	},
	// manifest: {"parcels": {waybill: village id}}.
	"manifest": func(_ string, args json.RawMessage) error {
		var m struct {
			Parcels map[string]string `json:"parcels"`
		}
		if err := json.Unmarshal(args, &m); err != nil || m.Parcels == nil {
			return errors.New(`arguments must be {"parcels":{"<waybill>":"<village id>",…}}`)
		}
		return nil
	},
	// relight: {"station", "waybill", "route", "bin", "village"?}: light
	// the right bin for a parcel a station sent elsewhere.
	"relight": func(_ string, args json.RawMessage) error {
		var r struct{ Station, Waybill, Route, Bin, Village string }
		if err := json.Unmarshal(args, &r); err != nil {
			return fmt.Errorf("arguments must be {\"station\",\"waybill\",\"route\",\"bin\"}: %v", err)
		}
		if !contract.ValidID(r.Station) || !contract.ValidID(r.Bin) || !contract.ValidID(r.Route) ||
			r.Waybill == "" || len(r.Waybill) > contract.MaxWaybillLen || (r.Village != "" && !contract.ValidID(r.Village)) {
			return errors.New("relight needs a station, a route and a bin (ids) and a waybill")
		}
		return nil
	},
	// write: {"device": id, "field": id, "value": number}.
	"write": func(_ string, args json.RawMessage) error {
		var w struct {
			Device, Field string
			Value         *float64
		}
		if err := json.Unmarshal(args, &w); err != nil {
			return fmt.Errorf("arguments must be {\"device\":…,\"field\":…,\"value\":number}: %v", err)
		}
		if !contract.ValidID(w.Device) || !contract.ValidID(w.Field) || w.Value == nil {
			return errors.New(`arguments must name a device and a field (ids) and give a number "value"`)
		}
		return nil
	},
}

func (t *Tracker) add(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.ring[t.next]; old != "" {
		// A command whose caller still waits stays until it stops
		// waiting: with more commands in flight than keep (the pushes
		// to thousands of edges coming online at once), forgetting them
		// made every result that came for them unmatched, and each of
		// their callers wait its whole timeout.
		if oe := t.byID[old]; oe != nil && oe.waited {
			oe.forgotten = true
		} else {
			delete(t.byID, old)
		}
	}
	t.ring[t.next] = e.cmd.ID
	t.next = (t.next + 1) % len(t.ring)
	t.byID[e.cmd.ID] = e
}

// release records that Do stopped waiting for e, forgetting it if it
// left the ring meanwhile.
func (t *Tracker) release(e *entry) {
	t.mu.Lock()
	e.waited = false
	if e.forgotten && t.byID[e.cmd.ID] == e {
		delete(t.byID, e.cmd.ID)
	}
	t.mu.Unlock()
}

// remove forgets a command that was never sent; its ring slot stays
// behind, naming an id no longer kept.
func (t *Tracker) remove(id string) {
	t.mu.Lock()
	delete(t.byID, id)
	t.mu.Unlock()
}

func (t *Tracker) snapshot(e *entry) Command {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.cmd
}

// HandleResult records r, received at recv, as the result of the command
// it names, and wakes the command's waiter. It reports whether r was taken:
// a result for a command this tracker does not keep, from another edge
// than the command's, or after a first result for the same command is
// ignored. Ingest calls it for every result it receives.
func (t *Tracker) HandleResult(r *contract.Result, recv time.Time) bool {
	t.mu.Lock()
	e := t.byID[r.Command]
	if e == nil || e.cmd.Site != r.Site || e.cmd.Edge != r.Edge || e.cmd.Result != nil {
		t.mu.Unlock()
		t.unmatched.Inc()
		return false
	}
	res := *r
	at := recv.UTC()
	state := StateFailed
	if r.OK {
		state = StateOK
	}
	e.cmd.Result, e.cmd.Answered, e.cmd.State = &res, &at, state
	t.mu.Unlock()
	t.results.Inc(state)
	close(e.done)
	return true
}

// Get returns a recent command by id.
func (t *Tracker) Get(id string) (Command, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byID[id]
	if e == nil {
		return Command{}, false
	}
	return e.cmd, true
}

func clip(s string) string {
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}
