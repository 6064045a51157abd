package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/edge/station"
)

// hubClient is a plain MQTT client playing the hub.
func hubClient(t *testing.T, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("hub-" + t.Name()))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c mqtt.Client, topic string, retained bool, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// planVariant is a copy of p for site with version, encoded.
func planVariant(t *testing.T, p *contract.SortPlan, site, version string, edit func(*contract.SortPlan)) []byte {
	t.Helper()
	b, _ := json.Marshal(p)
	var q contract.SortPlan
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	q.Site, q.Version = site, version
	if edit != nil {
		edit(&q)
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contract.DecodeSortPlan(b); err != nil {
		t.Fatalf("plan variant %s: %v", version, err)
	}
	return b
}

// TestPlanTopic: the site's sort plan, retained on its plan topic before
// the edge connects, is in force once the edge is up (the status says
// so, the file holds it); a new version published live replaces it; the
// same version again is not rewritten; an invalid plan, another site's
// plan and a cleared topic are refused or ignored, and the plan in force
// stays.
func TestPlanTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	w := newWarehouse(t, broker.URL())
	const site, edge = "tw03", "tw03-e1"
	planTopic := contract.PlanTopic(contract.DefaultPrefix, site)
	statusTopic := contract.StatusTopic(contract.DefaultPrefix, site, edge)
	hub := hubClient(t, broker.URL())
	rec, _ := record(t, broker.URL())
	ev := collect(t, broker.URL())

	// The hub published the plan while the edge was away.
	v1 := planVariant(t, w.plan, site, "retained-1", nil)
	publish(t, hub, planTopic, true, v1)

	a := startAgent(t, w.cfg)
	inForce := func(version string) func() bool {
		return func() bool {
			s := rec.status(t, statusTopic)
			return s != nil && s.State == contract.StateOnline && s.SortPlan == version
		}
	}
	poll(t, 10*time.Second, "status names the retained plan", inForce("retained-1"))
	if b, err := os.ReadFile(w.cfg.SortPlan); err != nil || !bytes.Equal(b, v1) {
		t.Fatalf("plan file after the retained plan: %v\n%s", err, b)
	}
	if v := a.stations[0].st.Plan().Version; v != "retained-1" {
		t.Fatalf("station decides from %q", v)
	}

	// A new version, live: in force, on disk, in the status and in the
	// decisions.
	v2 := planVariant(t, w.plan, site, "live-2", nil)
	publish(t, hub, planTopic, true, v2)
	poll(t, 10*time.Second, "status names the live plan", inForce("live-2"))
	if b, _ := os.ReadFile(w.cfg.SortPlan); !bytes.Equal(b, v2) {
		t.Fatalf("plan file after the live plan:\n%s", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.scan.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	p := w.parcels[0]
	if err := w.scan.Send(p.Waybill); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "sorted event", func() bool { return ev.parcel(contract.EventSorted, p.Waybill) != nil })
	if x := ev.parcel(contract.EventSorted, p.Waybill); x.PlanVersion != "live-2" {
		t.Errorf("parcel decided from plan %q, want live-2", x.PlanVersion)
	}
	inUse := a.stations[0].st.Plan()

	// The same version again (other content: it is not looked at), then
	// an invalid plan. The subscription's messages are taken in order, so
	// once the invalid one is counted the same-version one was handled.
	same := planVariant(t, w.plan, site, "live-2", func(q *contract.SortPlan) { q.Routes[0].Name = "renamed" })
	publish(t, hub, planTopic, true, same)
	publish(t, hub, planTopic, true, []byte(`{"v":1,"site":"tw03","version":"broken","routes":"none"}`))
	poll(t, 10*time.Second, "invalid plan refused", func() bool { return a.Stats().BadPlans == 1 })
	// The topic cleared, then another site's plan.
	publish(t, hub, planTopic, true, nil)
	publish(t, hub, planTopic, false, planVariant(t, w.plan, "tw09", "other-site", nil))
	poll(t, 10*time.Second, "other site's plan refused", func() bool { return a.Stats().BadPlans == 2 })
	// A plan sending a route to a bin this edge has no lamp for.
	publish(t, hub, planTopic, true, planVariant(t, w.plan, site, "no-lamp", func(q *contract.SortPlan) {
		q.Stations["s1"][q.Routes[0].ID] = "b77"
	}))
	poll(t, 10*time.Second, "plan with a bin without a lamp refused", func() bool { return a.Stats().BadPlans == 3 })

	if a.stations[0].st.Plan() != inUse {
		t.Errorf("plan in force replaced: now %q", a.stations[0].st.Plan().Version)
	}
	if b, _ := os.ReadFile(w.cfg.SortPlan); !bytes.Equal(b, v2) {
		t.Errorf("plan file rewritten:\n%s", b)
	}
	if s := rec.status(t, statusTopic); s == nil || s.SortPlan != "live-2" {
		t.Errorf("status %+v, want plan live-2", s)
	}
	if n := a.Stats().BadCommands; n != 0 {
		t.Errorf("%d bad commands", n)
	}
}

// TestWarehouseRelight: a parcel the station sent to the exception bin
// (its manifest came late to the edge) is corrected by the hub's relight
// command: the right bin lights, the exception bin goes off, the confirm
// button records the corrected bin, and a rescan decides it locally from
// the village the command recorded. A relight for an unknown station or a
// bin without a lamp is refused.
func TestWarehouseRelight(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	w := newWarehouse(t, broker.URL())
	w.cfg.Scanners[0].Window = 50 * time.Millisecond // the rescan below is not a repeat
	ev := collect(t, broker.URL())
	a := startAgent(t, w.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.scan.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	waitPin(t, w.pin("green"), "stack light green once connected", high)
	hub := hubClient(t, broker.URL())
	send := func(id, name, args string) {
		b := fmt.Sprintf(`{"v":1,"id":%q,"ts":%q,"name":%q,"args":%s}`, id, time.Now().UTC().Format(time.RFC3339Nano), name, args)
		publish(t, hub, contract.CommandTopic(contract.DefaultPrefix, "tw03", "tw03-e1", name), false, []byte(b))
	}

	// Not in the edge's manifest: the exception bin.
	const late = "JT0001234567897"
	xbin := w.plan.ExceptionBin[sim.DemoStation1]
	xhighs := w.pin(xbin).State().Highs
	w.scale.Set(0.9)
	if err := w.scan.Send(late); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "sorted event", func() bool { return ev.parcel(contract.EventSorted, late) != nil })
	if x := ev.parcel(contract.EventSorted, late); x.Bin != xbin || x.Exception != contract.ExceptionUnknown {
		t.Fatalf("sorted event %+v", x)
	}
	waitPin(t, w.pin(xbin), "exception bin lit", func(s gpio.SimState) bool { return s.Highs > xhighs })

	// The hub knows better.
	beeps := w.pin("buzz").State().Highs
	send("hub-r1", CmdRelight, `{"station":"s1","waybill":"`+late+`","route":"r05","bin":"b05","village":"v05"}`)
	poll(t, 10*time.Second, "relight result", func() bool { return ev.result("hub-r1") != nil })
	if r := ev.result("hub-r1"); !r.OK || string(r.Data) != `{"bin":"b05","station":"s1","waybill":"`+late+`"}` {
		t.Fatalf("relight result %+v %s", r, r.Data)
	}
	waitPin(t, w.pin("b05"), "corrected bin lit", high)
	waitPin(t, w.pin(xbin), "exception bin off", func(s gpio.SimState) bool { return s.Level == pgpio.Low })
	waitPin(t, w.pin("buzz"), "a beep", func(s gpio.SimState) bool { return s.Highs > beeps })
	if v, ok := a.manifest.village(late); !ok || v != "v05" {
		t.Errorf("manifest has %q %v for the relit parcel", v, ok)
	}

	// Confirmed into the corrected bin.
	if err := w.pin("ok").Pulse(ctx, pgpio.Low, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "confirmed event", func() bool { return ev.parcel(contract.EventConfirmed, late) != nil })
	if x := ev.parcel(contract.EventConfirmed, late); x.Bin != "b05" || x.Route != "r05" || x.Rule != station.RuleHub || x.Exception != "" {
		t.Errorf("confirmed event %+v, want bin b05 route r05 rule hub", x)
	}
	waitPin(t, w.pin("b05"), "lamp off after confirm", func(s gpio.SimState) bool { return s.Level == pgpio.Low })

	// A rescan decides it from the recorded village.
	time.Sleep(100 * time.Millisecond) // past the de-duplication window
	if err := w.scan.Send(late); err != nil {
		t.Fatal(err)
	}
	sorted := func() []*contract.ParcelEvent {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		var out []*contract.ParcelEvent
		for _, p := range ev.parcels {
			if p.Kind == contract.EventSorted && p.Waybill == late {
				out = append(out, p)
			}
		}
		return out
	}
	poll(t, 10*time.Second, "rescan sorted", func() bool { return len(sorted()) == 2 })
	if x := sorted()[1]; x.Bin != "b05" || x.Route != "r05" || x.Rule != "manifest" {
		t.Errorf("rescan %+v", x)
	}

	// Refusals.
	send("hub-r2", CmdRelight, `{"station":"s9","waybill":"`+late+`","route":"r05","bin":"b05"}`)
	send("hub-r3", CmdRelight, `{"station":"s1","waybill":"`+late+`","route":"r05","bin":"b77"}`)
	send("hub-r4", CmdRelight, `{"station":"s1","waybill":"`+late+`","bin":"b05","colour":"red"}`)
	poll(t, 10*time.Second, "refusals", func() bool {
		return ev.result("hub-r2") != nil && ev.result("hub-r3") != nil && ev.result("hub-r4") != nil
	})
	for id, want := range map[string]string{"hub-r2": `no station "s9"`, "hub-r3": `no lamp for bin "b77"`, "hub-r4": "unknown field"} {
		if r := ev.result(id); r.OK || !strings.Contains(r.Error, want) {
			t.Errorf("%s: %+v, want an error with %q", id, r, want)
		}
	}
	if n := a.Stats().Stations["s1"].Relights; n != 1 {
		t.Errorf("%d relights", n)
	}
}
