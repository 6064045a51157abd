package demo

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/agent"
)

// TestWarehouseSorts runs one demo warehouse with a real agent and a real
// Mosquitto: the staff sort parcels into lit bins and confirm them, the
// rooms' transmitters and the controller on the RS-485 line report.
func TestWarehouseSorts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	var (
		mu      sync.Mutex
		kinds   = map[string]int{}
		devices = map[string]int{}
		bad     []string
	)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("watch"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(contract.DefaultPrefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		_, msg, err := contract.Decode(contract.DefaultPrefix, m.Topic(), m.Payload())
		mu.Lock()
		defer mu.Unlock()
		switch x := msg.(type) {
		case *contract.ParcelEvent:
			kinds[x.Kind]++
			if x.Kind == contract.EventSorted && x.Exception == "" && x.WeightKg == nil {
				bad = append(bad, "unweighed "+x.Waybill+" "+x.WeighError)
			}
		case *contract.Telemetry:
			devices[x.Device]++
		}
		if err != nil {
			bad = append(bad, err.Error())
		}
	}).Wait()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := New(ctx, Options{Site: "tw02", Rooms: []Room{{ID: "cr1", Setpoint: 2}, {ID: "cr2", Setpoint: -20}},
		Broker: broker.URL(), StateDir: t.TempDir(), Interval: 200 * time.Millisecond, Stations: 2, ParcelEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, err := agent.New(w.Config(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.Run(ctx) }()
	go func() { defer wg.Done(); w.Staff(ctx, true) }()
	defer func() { cancel(); wg.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := kinds[contract.EventConfirmed] >= 6 && devices["cr1-ctl"] > 0 && devices["cr2-th"] > 0
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("after 30s: events %v, telemetry %v", kinds, devices)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("bad messages: %q", bad)
	}
	st := a.Stats()
	for id, s := range st.Stations {
		if s.Scans == 0 {
			t.Errorf("station %s scanned nothing: %+v", id, st.Stations)
		}
	}
}
