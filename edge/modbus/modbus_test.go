package modbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/profile"
	"github.com/countylink/countylink/edge/profiles"
	"github.com/countylink/countylink/edge/sim"
)

func startSim(t *testing.T) (*sim.ModbusTCPServer, *sim.Bank) {
	t.Helper()
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b := sim.NewBank()
	b.SetHolding(0, 815)
	b.SetHoldingInt16(1, -183)
	b.SetInput(1, 250, 600)
	b.SetCoil(3, true)
	srv.Attach(1, b)
	return srv, b
}

func TestPollProfiles(t *testing.T) {
	srv, _ := startSim(t)
	ep := NewTCP(srv.Addr(), 200*time.Millisecond)
	defer ep.Close()
	for name, want := range map[string]map[string]float64{
		"th-renke": {"humidity": 81.5, "temperature": -18.3},
		"th-input": {"temperature": 25, "humidity": 60},
	} {
		p, err := profiles.Load("", name)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := NewDevice(ep, 1, p, 0).Poll(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for k, v := range want {
			if rd.Fields[k] != v {
				t.Errorf("%s: %s = %v, want %v", name, k, rd.Fields[k], v)
			}
		}
	}
	bits, err := ep.Read(context.Background(), 1, profile.Coil, 3, 1)
	if err != nil || bits[0] != 1 {
		t.Fatalf("coil: %v %v", bits, err)
	}
}

func TestErrorsClassified(t *testing.T) {
	srv, _ := startSim(t)
	ep := NewTCP(srv.Addr(), 150*time.Millisecond)
	defer ep.Close()
	ctx := context.Background()

	// Unset address: the slave answers with exception 2; no retry needed.
	_, err := ep.Read(ctx, 1, profile.Holding, 500, 1)
	var exc *ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 {
		t.Fatalf("want exception 2, got %v", err)
	}
	// Slave failure, then timeout: the timeout drops the connection, and the
	// next request after recovery gets its own answer, not a stale one.
	srv.SetFault(1, sim.FaultException)
	if _, err := ep.Read(ctx, 1, profile.Holding, 0, 2); !errors.As(err, &exc) || exc.Code != 4 {
		t.Fatalf("want exception 4, got %v", err)
	}
	srv.SetFault(1, sim.FaultTimeout)
	start := time.Now()
	if _, err := ep.Read(ctx, 1, profile.Holding, 0, 2); err == nil || errors.As(err, &exc) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("timeout took %v", d)
	}
	srv.SetFault(1, sim.FaultNone)
	w, err := ep.Read(ctx, 1, profile.Holding, 1, 1)
	if err != nil || int16(w[0]) != -183 {
		t.Fatalf("after recovery: %v %v", w, err)
	}
	// A retried device poll survives one garbage answer.
	srv.SetFault(1, sim.FaultGarbage)
	p, _ := profiles.Load("", "th-renke")
	if _, err := NewDevice(ep, 1, p, 2).Poll(ctx); err == nil {
		t.Fatal("garbage accepted")
	}
	srv.SetFault(1, sim.FaultNone)
	if _, err := NewDevice(ep, 1, p, 2).Poll(ctx); err != nil {
		t.Fatalf("after garbage: %v", err)
	}
}

func TestWriteRegisters(t *testing.T) {
	srv, b := startSim(t)
	ep := NewTCP(srv.Addr(), 200*time.Millisecond)
	defer ep.Close()
	if err := ep.WriteRegisters(context.Background(), 1, 0, []uint16{700}); err != nil {
		t.Fatal(err)
	}
	if err := ep.WriteRegisters(context.Background(), 1, 0, []uint16{701, 30}); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Holding(0); v != 701 {
		t.Fatalf("holding 0 = %d", v)
	}
	if v, _ := b.Holding(1); v != 30 {
		t.Fatalf("holding 1 = %d", v)
	}
}

func TestCancelledContext(t *testing.T) {
	srv, _ := startSim(t)
	ep := NewTCP(srv.Addr(), 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ep.Read(ctx, 1, profile.Holding, 0, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
