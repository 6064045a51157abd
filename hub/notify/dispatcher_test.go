package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

// fastConfig retries and limits on a test's time scale.
func fastConfig() notify.Config {
	c := notify.DefaultConfig()
	c.Retry = notify.Retry{Attempts: 3, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, RateLimitedBackoff: 20 * time.Millisecond}
	c.RateLimit = notify.RateLimit{PerMinute: 60000, Burst: 100}
	c.Timeout = 2 * time.Second
	c.DrainTimeout = 2 * time.Second
	c.Channels = map[string]notify.ChannelConfig{}
	c.Groups = map[string][]string{}
	return c
}

// testLog writes the dispatcher's log to the test's.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// drain runs d with an ended context: Run sends what is queued, within
// DrainTimeout, and returns.
func drain(d *notify.Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Run(ctx)
}

// start builds and runs a dispatcher, closed when the test ends.
func start(t *testing.T, cfg notify.Config, extra ...notify.Channel) *notify.Dispatcher {
	t.Helper()
	d, err := notify.New(cfg, testLog(t), extra...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	t.Cleanup(func() {
		d.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

func stats(d *notify.Dispatcher, channel string) notify.ChannelStats {
	for _, s := range d.Stats() {
		if s.Channel == channel {
			return s
		}
	}
	return notify.ChannelStats{}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func webhookChannel(r *notifytest.WebhookReceiver) notify.ChannelConfig {
	return notify.ChannelConfig{Type: notify.TypeWebhook, URL: r.URL(), Secret: r.Secret}
}

func newReceiver(t *testing.T) *notifytest.WebhookReceiver {
	r := notifytest.NewWebhookReceiver("whsec-" + t.Name())
	t.Cleanup(r.Close)
	return r
}

func raise(id, site string, sev notify.Severity) notify.Alarm {
	a := notifytest.HighRaised
	a.ID, a.Site, a.Severity, a.Raised, a.Updated = id, site, sev, time.Now(), time.Now()
	return a
}

func event(a notify.Alarm, ev notify.Event) notify.Alarm {
	a.Event, a.Updated = ev, time.Now()
	switch ev {
	case notify.EventAcknowledged:
		a.State, a.AckedBy = notify.Acknowledged, "张三"
	case notify.EventCleared:
		a.State = notify.Cleared
	}
	return a
}

// gate is a Channel whose sends wait for the test: each Send shows its
// alarm on calls and returns when release gets a value (or ctx ends).
type gate struct {
	name    string
	calls   chan notify.Alarm
	release chan error
}

func newGate(name string) *gate {
	return &gate{name: name, calls: make(chan notify.Alarm, 100), release: make(chan error, 100)}
}

func (g *gate) Name() string { return g.name }

func (g *gate) Send(ctx context.Context, a notify.Alarm) error {
	g.calls <- a
	select {
	case err := <-g.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ids(as []notify.Alarm) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.ID+"/"+string(a.Event))
	}
	return s
}

func TestRoutingPerTownship(t *testing.T) {
	tw01 := newReceiver(t)
	tw02 := notifytest.NewDingTalk("SECtw02")
	defer tw02.Close()
	county := notifytest.NewWeCom()
	defer county.Close()

	cfg := fastConfig()
	cfg.Channels["tw01-hook"] = webhookChannel(tw01)
	cfg.Channels["tw02-ding"] = notify.ChannelConfig{Type: notify.TypeDingTalk, URL: tw02.URL(), Secret: "SECtw02"}
	cfg.Channels["county-wecom"] = notify.ChannelConfig{Type: notify.TypeWeCom, URL: county.URL()}
	cfg.Groups = map[string][]string{"tw01": {"tw01-hook"}, "tw02": {"tw02-ding"}, "county": {"county-wecom"}}
	cfg.Routes = []notify.Route{
		{Sites: []string{"tw01"}, Group: "tw01"},
		{Sites: []string{"tw02"}, Group: "tw02", MinSeverity: notify.Major},
		{Sites: []string{"*"}, Group: "county", MinSeverity: notify.Critical},
	}
	d, err := notify.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []notify.Alarm{
		raise("a1", "tw01", notify.Major),    // tw01
		raise("a2", "tw02", notify.Critical), // tw02, county
		raise("a3", "tw03", notify.Minor),    // nobody
		raise("a4", "tw01", notify.Critical), // tw01, county
		raise("a5", "tw02", notify.Minor),    // below tw02's least severity
		raise("a6", "tw03", "warning"),       // unknown severity: taken as critical, to county
	} {
		d.Notify(a) // before Run: queued
	}
	drain(d)

	var got01, got02, gotCounty []string
	for len(tw01.Deliveries) > 0 {
		got01 = append(got01, (<-tw01.Deliveries).Alarm.ID)
	}
	for len(tw02.Messages) > 0 {
		m := <-tw02.Messages
		got02 = append(got02, m.Title)
	}
	for len(county.Messages) > 0 {
		gotCounty = append(gotCounty, (<-county.Messages).Text)
	}
	if want := []string{"a1", "a4"}; !slices.Equal(got01, want) {
		t.Errorf("tw01 got %v, want %v", got01, want)
	}
	if len(got02) != 1 {
		t.Errorf("tw02 got %v, want a2 only", got02)
	}
	if len(gotCounty) != 3 || !strings.Contains(gotCounty[0], "a2") || !strings.Contains(gotCounty[1], "a4") || !strings.Contains(gotCounty[2], "a6") {
		t.Errorf("county got %d: %v", len(gotCounty), gotCounty)
	}
	if d.Unrouted() != 2 {
		t.Errorf("unrouted %d, want 2", d.Unrouted())
	}
	var names []string
	for _, s := range d.Stats() {
		names = append(names, fmt.Sprintf("%s:%d", s.Channel, s.Sent))
	}
	if want := []string{"county-wecom:3", "tw01-hook:2", "tw02-ding:1"}; !slices.Equal(names, want) {
		t.Errorf("stats %v, want %v", names, want)
	}
}

func TestChannelInTwoGroupsSendsOnce(t *testing.T) {
	r := newReceiver(t)
	cfg := fastConfig()
	cfg.Channels["hook"] = webhookChannel(r)
	cfg.Groups = map[string][]string{"a": {"hook"}, "b": {"hook"}}
	cfg.Routes = []notify.Route{{Sites: []string{"tw01"}, Group: "a"}, {Sites: []string{"*"}, Group: "b"}}
	d, err := notify.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(raise("a1", "tw01", notify.Major))
	drain(d)
	if n := len(r.Deliveries); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

func TestRetryAfter500(t *testing.T) {
	r := newReceiver(t)
	r.FailNext(500)
	cfg := fastConfig()
	cfg.Channels["hook"] = webhookChannel(r)
	cfg.Groups["duty"] = []string{"hook"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg)
	d.Notify(raise("a1", "tw01", notify.Critical))
	if first := receive(t, r.Deliveries); first.Status != 500 {
		t.Errorf("first answer %d", first.Status)
	}
	if second := receive(t, r.Deliveries); second.Status != 204 || second.Alarm.ID != "a1" {
		t.Errorf("second answer %d for %s", second.Status, second.Alarm.ID)
	}
	waitFor(t, "sent", func() bool { return stats(d, "hook").Sent == 1 })
	if s := stats(d, "hook"); s.Retried != 1 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestFailures(t *testing.T) {
	for _, c := range []struct {
		name            string
		answers         []int
		deliveries      int
		retried, failed uint64
	}{
		{"refused, not retried", []int{403}, 1, 0, 1},
		{"given up after the attempts", []int{500, 502, 503}, 3, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReceiver(t)
			r.FailNext(c.answers...)
			cfg := fastConfig()
			cfg.Channels["hook"] = webhookChannel(r)
			cfg.Groups["duty"] = []string{"hook"}
			cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
			d, err := notify.New(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			d.Notify(raise("a1", "tw01", notify.Critical))
			go d.Run(context.Background())
			waitFor(t, "failure", func() bool { return stats(d, "hook").Failed == 1 })
			d.Close()
			if s := stats(d, "hook"); s.Retried != c.retried || s.Sent != 0 || len(r.Deliveries) != c.deliveries {
				t.Errorf("stats %+v, %d deliveries", s, len(r.Deliveries))
			}
		})
	}
}

func TestDingTalkTooFastRetried(t *testing.T) {
	robot := notifytest.NewDingTalk("")
	defer robot.Close()
	robot.FailNext(notify.DingTalkTooFast)
	cfg := fastConfig()
	cfg.Channels["ding"] = notify.ChannelConfig{Type: notify.TypeDingTalk, URL: robot.URL()}
	cfg.Groups["duty"] = []string{"ding"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg)
	d.Notify(raise("a1", "tw01", notify.Critical))
	first, second := receive(t, robot.Messages), receive(t, robot.Messages)
	if first.Errcode != notify.DingTalkTooFast || second.Errcode != 0 {
		t.Errorf("errcodes %d, %d", first.Errcode, second.Errcode)
	}
	// The pause after "too fast" is RateLimitedBackoff at the least.
	if gap := second.Received.Sub(first.Received); gap < cfg.Retry.RateLimitedBackoff {
		t.Errorf("retried after %v, before the rate-limited backoff %v", gap, cfg.Retry.RateLimitedBackoff)
	}
	waitFor(t, "sent", func() bool { return stats(d, "ding").Sent == 1 })
	if s := stats(d, "ding"); s.Retried != 1 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRateLimitDelaysNotDrops(t *testing.T) {
	r := newReceiver(t)
	cfg := fastConfig()
	ch := webhookChannel(r)
	ch.RateLimit = &notify.RateLimit{PerMinute: 600, Burst: 1} // one every 100 ms
	cfg.Channels["hook"] = ch
	cfg.Groups["duty"] = []string{"hook"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg)
	for i := range 5 {
		d.Notify(raise(fmt.Sprintf("a%d", i), "tw01", notify.Minor))
	}
	var got []notifytest.Delivery
	for range 5 {
		got = append(got, receive(t, r.Deliveries))
	}
	for i, g := range got {
		if g.Alarm.ID != fmt.Sprintf("a%d", i) {
			t.Errorf("delivery %d is %s", i, g.Alarm.ID)
		}
	}
	// The bucket spaces the four after the first by 100 ms each: a lower
	// bound the limiter guarantees, whatever the machine's load.
	span := got[4].Received.Sub(got[0].Received)
	if span < 350*time.Millisecond {
		t.Errorf("5 sends within %v at 600 a minute", span)
	}
	t.Logf("5 notifications at 600/min, burst 1: sent over %v", span.Round(time.Millisecond))
	waitFor(t, "sent", func() bool { return stats(d, "hook").Sent == 5 })
	if s := stats(d, "hook"); s.Delayed == 0 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestBackedUpChannelCoalesces(t *testing.T) {
	g := newGate("gate")
	cfg := fastConfig()
	cfg.Groups["duty"] = []string{"gate"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg, g)

	x := raise("x", "tw01", notify.Major)
	d.Notify(x)
	receive(t, g.calls) // x is being sent; the rest wait
	a := raise("a", "tw01", notify.Critical)
	d.Notify(a)
	d.Notify(event(a, notify.EventRealarm))
	d.Notify(event(a, notify.EventAcknowledged))
	d.Notify(raise("b", "tw01", notify.Minor))
	d.Notify(event(a, notify.EventCleared))
	if s := stats(d, "gate"); s.Coalesced != 3 || s.Queued != 2 {
		t.Errorf("stats %+v", s)
	}
	got := []notify.Alarm{}
	for range 3 {
		g.release <- nil
	}
	for range 2 {
		got = append(got, receive(t, g.calls))
	}
	// a keeps its place, with its latest state.
	if want := []string{"a/cleared", "b/raised"}; !slices.Equal(ids(got), want) {
		t.Errorf("sent %v, want %v", ids(got), want)
	}
}

func TestFullQueueNeverDropsCriticalRaised(t *testing.T) {
	g := newGate("gate")
	cfg := fastConfig()
	cfg.QueueSize = 2
	cfg.Groups["duty"] = []string{"gate"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg, g)

	d.Notify(raise("x", "tw01", notify.Major))
	receive(t, g.calls)
	d.Notify(raise("a", "tw01", notify.Minor))
	d.Notify(raise("b", "tw01", notify.Major))
	d.Notify(raise("c", "tw01", notify.Major))    // dropped
	d.Notify(raise("d", "tw01", notify.Critical)) // queued beyond the size
	if s := stats(d, "gate"); s.Dropped != 1 || s.Queued != 3 {
		t.Errorf("stats %+v", s)
	}
	for range 4 {
		g.release <- nil
	}
	var got []notify.Alarm
	for range 3 {
		got = append(got, receive(t, g.calls))
	}
	if want := []string{"a/raised", "b/raised", "d/raised"}; !slices.Equal(ids(got), want) {
		t.Errorf("sent %v, want %v", ids(got), want)
	}
}

// escalationSetup is a township group and a county group it escalates to.
func escalationSetup(t *testing.T, after time.Duration) (d *notify.Dispatcher, tw01, county *notifytest.WebhookReceiver) {
	tw01, county = newReceiver(t), newReceiver(t)
	cfg := fastConfig()
	cfg.Channels["tw01-hook"] = webhookChannel(tw01)
	cfg.Channels["county-hook"] = webhookChannel(county)
	cfg.Groups = map[string][]string{"tw01": {"tw01-hook"}, "county": {"county-hook"}}
	cfg.Routes = []notify.Route{{Sites: []string{"tw01"}, Group: "tw01", EscalateTo: "county", EscalateAfter: after}}
	return start(t, cfg), tw01, county
}

func TestEscalation(t *testing.T) {
	d, tw01, county := escalationSetup(t, 50*time.Millisecond)
	a := raise("a", "tw01", notify.Critical)
	d.Notify(a)
	if got := receive(t, tw01.Deliveries); got.Alarm.Event != notify.EventRaised {
		t.Errorf("tw01 got %s", got.Alarm.Event)
	}
	esc := receive(t, county.Deliveries)
	if esc.Alarm.ID != "a" || esc.Alarm.Event != notify.EventEscalated || esc.Header.Get("X-CountyLink-Event") != "escalated" ||
		!strings.HasPrefix(esc.Text, "【升级·严重】") {
		t.Errorf("county got %s %s: %s", esc.Alarm.ID, esc.Alarm.Event, esc.Text)
	}
	if waited := esc.Received.Sub(a.Raised); waited < 50*time.Millisecond {
		t.Errorf("escalated after %v", waited)
	}
	waitFor(t, "escalated counted", func() bool { return stats(d, "county-hook").Escalated == 1 })

	// Both groups hear the acknowledgement and the end.
	for _, ev := range []notify.Event{notify.EventAcknowledged, notify.EventCleared} {
		d.Notify(event(a, ev))
		if got := receive(t, tw01.Deliveries); got.Alarm.Event != ev {
			t.Errorf("tw01 got %s, want %s", got.Alarm.Event, ev)
		}
		if got := receive(t, county.Deliveries); got.Alarm.Event != ev {
			t.Errorf("county got %s, want %s", got.Alarm.Event, ev)
		}
	}
	if n := d.Tracked(); n != 0 {
		t.Errorf("%d escalations tracked after the alarm cleared", n)
	}
}

func TestAcknowledgementCancelsEscalation(t *testing.T) {
	// Long enough that the acknowledgement, a statement later, is surely
	// in before a's escalation would fall due.
	d, tw01, county := escalationSetup(t, 200*time.Millisecond)
	a := raise("a", "tw01", notify.Critical)
	d.Notify(a)
	d.Notify(event(a, notify.EventAcknowledged))
	c := raise("c", "tw01", notify.Critical)
	d.Notify(c)
	d.Notify(event(c, notify.EventCleared))
	b := raise("b", "tw01", notify.Critical) // raised last, so due last
	d.Notify(b)
	// Escalations go out in the order they fall due: had a's or c's not
	// been cancelled, it would reach the county before b's.
	if got := receive(t, county.Deliveries); got.Alarm.ID != "b" || got.Alarm.Event != notify.EventEscalated {
		t.Errorf("county's first notification is %s/%s, want b/escalated", got.Alarm.ID, got.Alarm.Event)
	}
	if n := d.Tracked(); n != 1 {
		t.Errorf("%d escalations tracked, want b's", n)
	}
	receive(t, tw01.Deliveries)
}

// TestLatency measures the time from Notify to the webhook receiving the
// request. The hub promises under a second from an alarm to the call; the
// dispatcher adds no batching, so this is a few milliseconds at most.
func TestLatency(t *testing.T) {
	r := newReceiver(t)
	cfg := fastConfig()
	cfg.Channels["hook"] = webhookChannel(r)
	cfg.Groups["duty"] = []string{"hook"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d, err := notify.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(context.Background())
	defer d.Close()
	const n = 50
	var lat []time.Duration
	for i := range n {
		t0 := time.Now()
		d.Notify(raise(fmt.Sprintf("a%d", i), "tw01", notify.Critical))
		got := receive(t, r.Deliveries)
		lat = append(lat, got.Received.Sub(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("Notify to webhook receipt over %d alarms: min %v, median %v, p95 %v, max %v",
		n, lat[0], lat[n/2], lat[n*95/100], lat[n-1])
}

// BenchmarkNotifyToWebhook is the time from Notify to the webhook
// receiving the signed request, one alarm at a time.
func BenchmarkNotifyToWebhook(b *testing.B) {
	r := notifytest.NewWebhookReceiver("whsec")
	defer r.Close()
	cfg := fastConfig()
	cfg.Channels["hook"] = notify.ChannelConfig{Type: notify.TypeWebhook, URL: r.URL(), Secret: "whsec"}
	cfg.Groups["duty"] = []string{"hook"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	cfg.RateLimit = notify.RateLimit{PerMinute: 60000, Burst: 1000000}
	d, err := notify.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	go d.Run(context.Background())
	defer d.Close()
	a := raise("a", "tw01", notify.Critical)
	i := 0
	for b.Loop() {
		a.ID = fmt.Sprint(i)
		i++
		d.Notify(a)
		<-r.Deliveries
	}
}

func TestCloseDrainsThenStops(t *testing.T) {
	r := newReceiver(t)
	cfg := fastConfig()
	cfg.Channels["hook"] = webhookChannel(r)
	cfg.Groups["duty"] = []string{"hook"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d, err := notify.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for i := range 3 {
		d.Notify(raise(fmt.Sprintf("a%d", i), "tw01", notify.Major))
	}
	cancel()
	<-done
	if n := len(r.Deliveries); n != 3 {
		t.Errorf("%d delivered before Run returned, want 3", n)
	}
	d.Close()
	d.Notify(raise("late", "tw01", notify.Critical))
	if s := stats(d, "hook"); s.Queued != 0 || s.Sent != 3 {
		t.Errorf("after close: %+v", s)
	}
}

func TestDrainTimeout(t *testing.T) {
	g := newGate("gate")
	cfg := fastConfig()
	cfg.DrainTimeout = 20 * time.Millisecond
	cfg.Groups["duty"] = []string{"gate"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d, err := notify.New(cfg, testLog(t), g)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	d.Notify(raise("x", "tw01", notify.Critical))
	receive(t, g.calls) // never released
	d.Notify(raise("a", "tw01", notify.Critical))
	d.Notify(raise("b", "tw01", notify.Critical))
	cancel()
	wg.Wait()
	if s := stats(d, "gate"); s.Failed != 1 || s.Dropped != 2 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestEmailThroughDispatcher(t *testing.T) {
	s := startSMTP(t, &notifytest.SMTPServer{})
	s.Reply = nil
	var fails sync.Once
	s2 := startSMTP(t, &notifytest.SMTPServer{Reply: func(verb string) (int, string) {
		code := 0
		if verb == "DATA" {
			fails.Do(func() { code = 451 }) // the first DATA fails for now
		}
		return code, "try again later"
	}})
	cfg := fastConfig()
	cfg.Channels["mail"] = notify.ChannelConfig{Type: notify.TypeEmail, Addr: s.Addr, From: "alarm@example.cn", To: []string{"a@example.cn"}}
	cfg.Channels["mail2"] = notify.ChannelConfig{Type: notify.TypeEmail, Addr: s2.Addr, From: "alarm@example.cn", To: []string{"b@example.cn"}}
	cfg.Groups["duty"] = []string{"mail", "mail2"}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "duty"}}
	d := start(t, cfg)
	d.Notify(notifytest.HighRaised)
	for _, m := range []notifytest.Mail{receive(t, s.Mails), receive(t, s2.Mails)} {
		if p := parseMail(t, m.Data); p.Subject != notify.Title(notifytest.HighRaised) {
			t.Errorf("subject %q", p.Subject)
		}
	}
	waitFor(t, "sent", func() bool { return stats(d, "mail2").Sent == 1 })
	if st := stats(d, "mail2"); st.Retried != 1 {
		t.Errorf("mail2 %+v", st)
	}
}
