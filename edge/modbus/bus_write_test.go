//go:build unix

package modbus

import (
	"context"
	"errors"
	"testing"

	"github.com/countylink/countylink/edge/profile"
	"github.com/countylink/countylink/edge/sim"
)

// TestBusDeviceWrite writes through a Device on an RS-485 line: registers
// (functions 6 and 16), coils (function 5), and a write the slave refuses.
func TestBusDeviceWrite(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Retries = 2 })
	bank := writeBank()
	r.srv.Attach(5, bank)
	r.srv.Attach(6, slaveBank(6)) // a neighbour the writes must not touch
	dev := NewDevice(r.bus, 5, mustProfile(t, writeProfile), 0)
	ctx := context.Background()
	for _, tc := range []struct {
		field       string
		value, want float64
	}{
		{"setpoint", -25.55, -25.6},
		{"total", 123456789, 123456789},
		{"gain", -0.5, -0.5},
		{"relay", 1, 1},
		{"relay", 0, 0},
		{"zero", 1, 1},
	} {
		if got, err := dev.Write(ctx, tc.field, tc.value); err != nil || got != tc.want {
			t.Fatalf("Write(%s, %v) = %v, %v, want %v", tc.field, tc.value, got, err, tc.want)
		}
	}
	if v, _ := bank.Holding(10); int16(v) != -256 {
		t.Fatalf("setpoint register = %d", int16(v))
	}
	if on, _ := bank.Coil(3); !on {
		t.Fatal("coil 3 off")
	}
	rd, err := dev.Poll(ctx)
	if err != nil || rd.Fields["setpoint"] != -25.6 || rd.Fields["total"] != 123456789 || rd.Fields["gain"] != -0.5 || rd.Fields["relay"] != 0 {
		t.Fatalf("poll %+v %v", rd, err)
	}

	before := r.bus.Stats()
	var exc *ExceptionError
	for _, field := range []string{"missing", "ghost"} {
		if _, err := dev.Write(ctx, field, 1); !errors.As(err, &exc) || exc.Code != 2 {
			t.Fatalf("%s: want exception 2, got %v", field, err)
		}
	}
	after := r.bus.Stats()
	if after.Requests-before.Requests != 2 || after.Exceptions-before.Exceptions != 2 {
		t.Fatalf("refused writes: %d requests, %d exceptions; want 2 and 2, never retried",
			after.Requests-before.Requests, after.Exceptions-before.Exceptions)
	}
	if after.FailureCounts != (FailureCounts{}) || r.srv.Stats().Collisions != 0 {
		t.Fatalf("bus %+v, simulator %+v", after, r.srv.Stats())
	}
	if s, _ := r.bus.Slave(5); !s.Online || s.Failures != 0 {
		t.Fatalf("slave %+v", s)
	}
	if got := mustRead(t, r.bus, 6, profile.Holding, 0, 2); got[0] != 600 || got[1] != 601 {
		t.Fatalf("neighbour %v", got)
	}
}

// TestBusWriteCoil: function 5 keeps the line discipline and the health
// accounting of any other request.
func TestBusWriteCoil(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Retries = 1 })
	bank := slaveBank(1)
	r.srv.Attach(1, bank)
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		if err := r.bus.WriteCoil(ctx, 1, 0, on); err != nil {
			t.Fatal(err)
		}
		if got, _ := bank.Coil(0); got != on {
			t.Fatalf("coil 0 = %v, want %v", got, on)
		}
	}
	// A damaged answer is retried, and the retry is counted.
	r.srv.SetFault(1, sim.FaultGarbage)
	if err := r.bus.WriteCoil(ctx, 1, 1, true); !errors.Is(err, ErrCRC) {
		t.Fatalf("want ErrCRC, got %v", err)
	}
	r.srv.SetFault(1, sim.FaultNone)
	if err := r.bus.WriteCoil(ctx, 0, 1, true); err == nil {
		t.Fatal("broadcast address accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.bus.WriteCoil(cancelled, 1, 1, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	st := r.bus.Stats()
	if st.Requests != 4 || st.Answers != 2 || st.CRCErrors != 2 {
		t.Fatalf("stats %+v", st)
	}
	if s, _ := r.bus.Slave(1); !s.Online || s.Failures != 1 || s.CRCErrors != 2 {
		t.Fatalf("slave %+v", s)
	}
}
