package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
)

// edge is a fake Publisher: it records what is sent and, when answer is
// set, answers each command as the edge agent would, from another goroutine.
type edge struct {
	mu     sync.Mutex
	sent   []string // topic and payload
	err    error
	answer func(topic string, cmd contract.Command) *contract.Result
	t      *Tracker
}

func (e *edge) Publish(_ context.Context, topic string, payload []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	e.sent = append(e.sent, topic+" "+string(payload))
	tp, err := contract.ParseTopic(contract.DefaultPrefix, topic)
	if err != nil {
		return err
	}
	cmd, err := contract.DecodeCommand(tp, payload)
	if err != nil {
		return err
	}
	if e.answer != nil {
		if r := e.answer(topic, *cmd); r != nil {
			go e.t.HandleResult(r, time.Now())
		}
	}
	return nil
}

func result(site, edgeID, cmd string, ok bool, errText, data string) *contract.Result {
	r := &contract.Result{Header: contract.Header{V: 1, ID: edgeID + "-1-9", Site: site, Edge: edgeID, TS: time.Now()},
		Command: cmd, OK: ok, Error: errText}
	if data != "" {
		r.Data = json.RawMessage(data)
	}
	return r
}

func newTracker(t *testing.T, keep int) (*Tracker, *edge) {
	t.Helper()
	e := &edge{}
	tr := New(e, "", keep, new(metrics.Registry))
	e.t = tr
	return tr, e
}

func TestDoAnswered(t *testing.T) {
	tr, e := newTracker(t, 0)
	e.answer = func(topic string, cmd contract.Command) *contract.Result {
		if cmd.Name == "write" {
			return result("tw01", "tw01-e1", cmd.ID, true, "", `{"device":"cr1-ctl","field":"setpoint","value":-1.5}`)
		}
		return result("tw01", "tw01-e1", cmd.ID, false, "unknown command "+cmd.Name, "")
	}
	args := json.RawMessage(`{ "device": "cr1-ctl", "field": "setpoint", "value": -1.5 }`)
	c, err := tr.Do(context.Background(), "tw01", "tw01-e1", "write", args, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StateOK || c.Result == nil || !c.Result.OK || c.Answered == nil || !strings.Contains(string(c.Result.Data), `"value":-1.5`) {
		t.Fatalf("command %+v", c)
	}
	if !strings.HasPrefix(c.ID, "hub-") || string(c.Args) != `{"device":"cr1-ctl","field":"setpoint","value":-1.5}` {
		t.Errorf("id %q args %s", c.ID, c.Args)
	}
	if len(e.sent) != 1 || !strings.HasPrefix(e.sent[0], "countylink/tw01/tw01-e1/cmd/write {") {
		t.Errorf("sent %q", e.sent)
	}
	if got, ok := tr.Get(c.ID); !ok || got.State != StateOK {
		t.Errorf("get %+v %v", got, ok)
	}

	c, err = tr.Do(context.Background(), "tw01", "tw01-e1", "reboot", nil, 5*time.Second)
	if err != nil || c.State != StateFailed || c.Result.Error != "unknown command reboot" {
		t.Fatalf("refused command: %+v %v", c, err)
	}
}

// TestTimeoutThenLateResult: the caller stops waiting; the result that
// comes later is recorded all the same.
func TestTimeoutThenLateResult(t *testing.T) {
	tr, e := newTracker(t, 0)
	c, err := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, 20*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || c.State != StatePending || c.ID == "" {
		t.Fatalf("%+v %v", c, err)
	}
	if len(e.sent) != 1 {
		t.Fatalf("sent %d", len(e.sent))
	}
	if !tr.HandleResult(result("tw01", "tw01-e1", c.ID, true, "", `{"boot":3}`), time.Now()) {
		t.Fatal("late result not taken")
	}
	got, ok := tr.Get(c.ID)
	if !ok || got.State != StateOK || string(got.Result.Data) != `{"boot":3}` {
		t.Fatalf("after the late result: %+v", got)
	}
}

func TestResultsIgnored(t *testing.T) {
	tr, _ := newTracker(t, 0)
	c, _ := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, time.Millisecond)
	for name, r := range map[string]*contract.Result{
		"unknown command": result("tw01", "tw01-e1", "hub-other-1", true, "", ""),
		"other edge":      result("tw01", "tw01-e2", c.ID, true, "", ""),
		"other site":      result("tw02", "tw01-e1", c.ID, true, "", ""),
	} {
		if tr.HandleResult(r, time.Now()) {
			t.Errorf("%s: taken", name)
		}
	}
	if !tr.HandleResult(result("tw01", "tw01-e1", c.ID, false, "busy", ""), time.Now()) {
		t.Fatal("the right result was not taken")
	}
	// QoS 1 may deliver the result again; the first one stands.
	if tr.HandleResult(result("tw01", "tw01-e1", c.ID, true, "", ""), time.Now()) {
		t.Error("a second result replaced the first")
	}
	if got, _ := tr.Get(c.ID); got.State != StateFailed || got.Result.Error != "busy" {
		t.Errorf("%+v", got)
	}
	if n := tr.unmatched.Value(); n != 4 {
		t.Errorf("unmatched %d, want 4", n)
	}
}

func TestNotSent(t *testing.T) {
	tr, e := newTracker(t, 0)
	e.err = hub.ErrNotConnected
	_, err := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, time.Second)
	if !errors.Is(err, hub.ErrNotConnected) {
		t.Fatalf("err %v", err)
	}
	if len(tr.byID) != 0 {
		t.Errorf("an unsent command is kept: %v", tr.byID)
	}
}

// brokerSilent is a Publisher whose broker never acknowledges.
type brokerSilent struct{}

func (brokerSilent) Publish(ctx context.Context, _ string, _ []byte) error {
	<-ctx.Done()
	return fmt.Errorf("no acknowledgement from the broker: %w", ctx.Err())
}

// TestBrokerSilent: a command the broker did not acknowledge in time may
// still reach the edge, so it is kept and its result recorded if it comes.
func TestBrokerSilent(t *testing.T) {
	tr := New(brokerSilent{}, "", 0, nil)
	c, err := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, 20*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || c.State != StatePending {
		t.Fatalf("%+v %v", c, err)
	}
	if !tr.HandleResult(result("tw01", "tw01-e1", c.ID, true, "", ""), time.Now()) {
		t.Fatal("the result of a command sent late was not recorded")
	}
	if tr.sent.Value() != 0 || tr.timeouts.Value() != 1 {
		t.Errorf("sent %d timeouts %d", tr.sent.Value(), tr.timeouts.Value())
	}
}

func TestInvalid(t *testing.T) {
	tr, e := newTracker(t, 0)
	plan := `{"v":1,"site":"tw01","version":"2026-11-29.1","routes":[{"id":"r3","name":"r","villages":["v1"]}],` +
		`"stations":{"st1":{"r3":"b3"}},"exception_bin":{"st1":"x"}}`
	for _, tc := range []struct {
		name, site, edge, cmd, args string
		ok                          bool
	}{
		{"ping", "tw01", "tw01-e1", "ping", "", true},
		{"bad site", "TW01", "tw01-e1", "ping", "", false},
		{"bad edge", "tw01", "tw01/e1", "ping", "", false},
		{"bad name", "tw01", "tw01-e1", "", "", false},
		{"args not JSON", "tw01", "tw01-e1", "ping", "{", false},
		{"too large", "tw01", "tw01-e1", "ping", `"` + strings.Repeat("x", contract.MaxPayloadBytes) + `"`, false},
		{"sort plan", "tw01", "tw01-e1", "sortplan", plan, true},
		{"sort plan of another site", "tw02", "tw02-e1", "sortplan", plan, false},
		{"sort plan broken", "tw01", "tw01-e1", "sortplan", `{"v":1,"site":"tw01"}`, false},
		{"manifest", "tw01", "tw01-e1", "manifest", `{"parcels":{"SF1234567890123":"v0301"}}`, true},
		{"manifest without parcels", "tw01", "tw01-e1", "manifest", `{"SF1234567890123":"v0301"}`, false},
		{"write", "tw01", "tw01-e1", "write", `{"device":"cr1-ctl","field":"setpoint","value":-1.5}`, true},
		{"write without value", "tw01", "tw01-e1", "write", `{"device":"cr1-ctl","field":"setpoint"}`, false},
		{"write of a text", "tw01", "tw01-e1", "write", `{"device":"cr1-ctl","field":"setpoint","value":"-1.5"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.sent)
			_, err := tr.Do(context.Background(), tc.site, tc.edge, tc.cmd, json.RawMessage(tc.args), time.Millisecond)
			if tc.ok != errors.Is(err, ErrTimeout) || (!tc.ok && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("err %v", err)
			}
			if sent := len(e.sent) - before; sent != map[bool]int{true: 1}[tc.ok] {
				t.Errorf("%d sent", sent)
			}
		})
	}
}

func TestKeepsTheLastN(t *testing.T) {
	tr, _ := newTracker(t, 3)
	var ids []string
	for range 5 {
		c, _ := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, time.Millisecond)
		ids = append(ids, c.ID)
	}
	for i, id := range ids {
		if _, ok := tr.Get(id); ok != (i >= 2) {
			t.Errorf("command %d kept: %v", i, ok)
		}
	}
	if len(tr.byID) != 3 {
		t.Errorf("%d kept", len(tr.byID))
	}
	other := New(&edge{}, "", 0, nil)
	if strings.HasPrefix(ids[0], other.idBase) {
		t.Errorf("two trackers share the id prefix %q", other.idBase)
	}
}

// TestConcurrent: many callers at once each get their own result.
func TestConcurrent(t *testing.T) {
	tr, e := newTracker(t, 0)
	e.answer = func(_ string, cmd contract.Command) *contract.Result {
		return result("tw01", "tw01-e1", cmd.ID, true, "", `"`+cmd.ID+`"`)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c, err := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, 5*time.Second)
			if err != nil || string(c.Result.Data) != `"`+c.ID+`"` {
				t.Errorf("%+v %v", c, err)
			}
		})
	}
	wg.Wait()
}

// TestWaitedForKeptPastKeep: with more commands waiting for their results
// than the tracker keeps (pushes to thousands of edges coming online at
// once), each still gets its result; the ring forgets them only once
// nobody waits.
func TestWaitedForKeptPastKeep(t *testing.T) {
	tr, e := newTracker(t, 3)
	const n = 20
	sent := make(chan string, n)
	e.answer = func(_ string, cmd contract.Command) *contract.Result {
		sent <- cmd.ID // answered below, once all were sent
		return nil
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := tr.Do(context.Background(), "tw01", "tw01-e1", "ping", nil, 10*time.Second)
			if err != nil || c.State != StateOK || string(c.Result.Data) != `"`+c.ID+`"` {
				t.Errorf("%+v %v", c, err)
			}
		})
	}
	var ids []string
	for range n {
		ids = append(ids, <-sent)
	}
	for _, id := range ids {
		if !tr.HandleResult(result("tw01", "tw01-e1", id, true, "", `"`+id+`"`), time.Now()) {
			t.Errorf("result for %s not taken", id)
		}
	}
	wg.Wait()
	tr.mu.Lock()
	kept := len(tr.byID)
	tr.mu.Unlock()
	if kept != 3 {
		t.Errorf("%d commands kept once answered, want the last 3", kept)
	}
}
