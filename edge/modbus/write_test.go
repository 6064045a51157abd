package modbus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/profile"
	"github.com/countylink/countylink/edge/sim"
)

// writeProfile has a writable register of each kind, and two whose
// addresses the test slave does not have.
const writeProfile = `model: rig
registers:
  - {field: setpoint, table: holding, address: 10, type: int16, scale: 0.1, unit: Cel, access: rw, min: -40, max: 20, invalid: [32767]}
  - {field: total, table: holding, address: 11, type: uint32, order: CDAB, access: rw}
  - {field: gain, table: holding, address: 13, type: float32, order: DCBA, access: rw}
  - {field: mode, table: holding, address: 15, type: uint16}
  - {field: relay, table: coil, address: 2, access: rw}
  - {field: zero, table: coil, address: 3, access: rw, poll: false}
  - {field: missing, table: holding, address: 300, type: uint16, access: rw, poll: false}
  - {field: ghost, table: coil, address: 300, access: rw, poll: false}
`

// writeBank is the slave writeProfile describes.
func writeBank() *sim.Bank {
	b := sim.NewBank()
	b.SetHoldingInt16(10, 20)
	b.SetHolding(11, 0, 0, 0, 0, 7)
	b.SetCoil(2, false)
	b.SetCoil(3, false)
	return b
}

func mustProfile(t *testing.T, y string) *profile.Profile {
	t.Helper()
	p, err := profile.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startWriteSim serves writeBank at unit 1 over Modbus TCP.
func startWriteSim(t *testing.T) (*sim.ModbusTCPServer, *sim.Bank, *Endpoint) {
	t.Helper()
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b := writeBank()
	srv.Attach(1, b)
	ep := NewTCP(srv.Addr(), 200*time.Millisecond)
	t.Cleanup(func() { ep.Close() })
	return srv, b, ep
}

// TestDeviceWrite writes each kind of field over Modbus TCP and checks
// what the slave holds, what Write reports and what the next poll reads.
func TestDeviceWrite(t *testing.T) {
	srv, bank, ep := startWriteSim(t)
	dev := NewDevice(ep, 1, mustProfile(t, writeProfile), 1)
	ctx := context.Background()
	for _, tc := range []struct {
		field       string
		value, want float64
		table       sim.Table
		addr        uint16
		raw         []uint16
	}{
		{"setpoint", -18.34, -18.3, sim.Holding, 10, []uint16{0xFF49}},
		{"setpoint", 4, 4, sim.Holding, 10, []uint16{40}},
		{"total", 70000, 70000, sim.Holding, 11, []uint16{70000 & 0xFFFF, 1}},
		{"gain", 1.5, 1.5, sim.Holding, 13, []uint16{0x0000, 0xC03F}},
		{"relay", 1, 1, sim.Coil, 2, []uint16{1}},
		{"zero", 1, 1, sim.Coil, 3, []uint16{1}},
		{"zero", 0, 0, sim.Coil, 3, []uint16{0}},
	} {
		got, err := dev.Write(ctx, tc.field, tc.value)
		if err != nil || got != tc.want {
			t.Fatalf("Write(%s, %v) = %v, %v, want %v", tc.field, tc.value, got, err, tc.want)
		}
		for i, w := range tc.raw {
			if v, _ := bank.Get(tc.table, tc.addr+uint16(i)); v != w {
				t.Fatalf("%s: %s %d = %#04x, want %#04x", tc.field, tc.table, tc.addr+uint16(i), v, w)
			}
		}
	}
	rd, err := dev.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"setpoint": 4, "total": 70000, "gain": 1.5, "mode": 7, "relay": 1}
	for k, v := range want {
		if rd.Fields[k] != v {
			t.Errorf("polled %s = %v, want %v", k, rd.Fields[k], v)
		}
	}
	if _, polled := rd.Fields["zero"]; polled {
		t.Error("a poll: false coil was polled")
	}
	if st := srv.Stats(); st.Exceptions != 0 {
		t.Fatalf("server %+v", st)
	}
}

// TestDeviceWriteRefused: what the profile refuses is never sent; what
// the slave refuses comes back as its exception, not retried.
func TestDeviceWriteRefused(t *testing.T) {
	srv, bank, ep := startWriteSim(t)
	dev := NewDevice(ep, 1, mustProfile(t, writeProfile), 2)
	ctx := context.Background()

	before := srv.Stats().Requests
	for _, tc := range []struct {
		field string
		value float64
		want  error
	}{
		{"setpoint", 25, profile.ErrBadValue},
		{"setpoint", 3276.7, profile.ErrBadValue},
		{"relay", 2, profile.ErrBadValue},
		{"mode", 1, profile.ErrNotWritable},
		{"humidity", 1, profile.ErrUnknownField},
	} {
		if _, err := dev.Write(ctx, tc.field, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Write(%s, %v): got %v, want %v", tc.field, tc.value, err, tc.want)
		}
	}
	if got := srv.Stats().Requests; got != before {
		t.Fatalf("%d requests sent for refused writes", got-before)
	}
	if v, _ := bank.Holding(10); v != 20 {
		t.Fatalf("setpoint register changed to %d", v)
	}

	for _, field := range []string{"missing", "ghost"} {
		before := srv.Stats()
		_, err := dev.Write(ctx, field, 1)
		var exc *ExceptionError
		if !errors.As(err, &exc) || exc.Code != 2 {
			t.Fatalf("%s: want exception 2 (illegal data address), got %v", field, err)
		}
		if !strings.Contains(err.Error(), "write "+field) || errors.Is(err, ErrReadBack) {
			t.Fatalf("%s: %v", field, err)
		}
		if after := srv.Stats(); after.Requests-before.Requests != 1 || after.Exceptions-before.Exceptions != 1 {
			t.Fatalf("%s: %d requests, %d exceptions; want one of each", field, after.Requests-before.Requests, after.Exceptions-before.Exceptions)
		}
	}
	srv.SetFault(1, sim.FaultException)
	var exc *ExceptionError
	if _, err := dev.Write(ctx, "relay", 1); !errors.As(err, &exc) || exc.Code != 4 {
		t.Fatalf("failing slave: want exception 4, got %v", err)
	}
}

// TestDeviceWriteReadsBack: Write reports what the device holds, not what
// was asked, and says so when it cannot tell.
func TestDeviceWriteReadsBack(t *testing.T) {
	srv, bank, ep := startWriteSim(t)
	dev := NewDevice(ep, 1, mustProfile(t, writeProfile), 0)
	ctx := context.Background()

	// A controller that clamps its setpoint to its own 10 °C limit, and a
	// command coil that clears itself once done.
	srv.OnWrite(func(unit byte, table sim.Table, addr uint16, values []uint16) {
		switch {
		case table == sim.Holding && addr == 10 && int16(values[0]) > 100:
			bank.SetHoldingInt16(10, 100)
		case table == sim.Coil && addr == 3:
			bank.SetCoil(3, false)
		}
	})
	if got, err := dev.Write(ctx, "setpoint", 15); err != nil || got != 10 {
		t.Fatalf("clamped setpoint: %v %v, want 10", got, err)
	}
	if got, err := dev.Write(ctx, "zero", 1); err != nil || got != 0 {
		t.Fatalf("command coil: %v %v, want 0 (done)", got, err)
	}

	// The device now holds a value its profile calls invalid.
	srv.OnWrite(func(byte, sim.Table, uint16, []uint16) { bank.SetHolding(10, 32767) })
	if _, err := dev.Write(ctx, "setpoint", 5); !errors.Is(err, ErrReadBack) || !strings.Contains(err.Error(), "raw value 32767") {
		t.Fatalf("invalid read-back: got %v", err)
	}

	// The write is answered, then the slave goes silent.
	srv.OnWrite(func(byte, sim.Table, uint16, []uint16) { srv.SetFault(1, sim.FaultTimeout) })
	_, err := dev.Write(ctx, "setpoint", 6)
	if !errors.Is(err, ErrReadBack) {
		t.Fatalf("silent read-back: got %v", err)
	}
	if v, _ := bank.Holding(10); v != 60 {
		t.Fatalf("setpoint register = %d, want 60: the write was applied", v)
	}
}

// flaky fails the requests of its Transport whose numbers (from 1) are in
// fail with a transport error, as a noisy link does, and counts them.
type flaky struct {
	Transport
	fail  []int32
	calls atomic.Int32
}

func (f *flaky) next() error {
	if slices.Contains(f.fail, f.calls.Add(1)) {
		return errors.New("link dropped")
	}
	return nil
}

func (f *flaky) Read(ctx context.Context, unit byte, table profile.Table, addr, qty uint16) ([]uint16, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return f.Transport.Read(ctx, unit, table, addr, qty)
}

func (f *flaky) WriteRegisters(ctx context.Context, unit byte, addr uint16, values []uint16) error {
	if err := f.next(); err != nil {
		return err
	}
	return f.Transport.WriteRegisters(ctx, unit, addr, values)
}

func (f *flaky) WriteCoil(ctx context.Context, unit byte, addr uint16, on bool) error {
	if err := f.next(); err != nil {
		return err
	}
	return f.Transport.WriteCoil(ctx, unit, addr, on)
}

// TestDeviceWriteRetries: transport errors are retried, the write and the
// read-back each with the Device's retries.
func TestDeviceWriteRetries(t *testing.T) {
	_, bank, ep := startWriteSim(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		fail  []int32 // request numbers that fail: 1 is the write's first attempt
		calls int32
		fails string // "", "write" or "read-back"
	}{
		{"clean", nil, 2, ""},
		{"write retried", []int32{1}, 3, ""},
		{"read-back retried", []int32{2}, 3, ""},
		{"write retries spent", []int32{1, 2}, 2, "write"},
		{"read-back retries spent", []int32{2, 3}, 3, "read-back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bank.SetCoil(2, false)
			link := &flaky{Transport: ep, fail: tc.fail}
			got, err := NewDevice(link, 1, mustProfile(t, writeProfile), 1).Write(ctx, "relay", 1)
			if n := link.calls.Load(); n != tc.calls {
				t.Fatalf("%d requests, want %d", n, tc.calls)
			}
			on, _ := bank.Coil(2)
			switch tc.fails {
			case "write":
				if err == nil || errors.Is(err, ErrReadBack) || on {
					t.Fatalf("got %v, coil %v; want the write's error and the coil off", err, on)
				}
			case "read-back":
				if !errors.Is(err, ErrReadBack) || !on {
					t.Fatalf("got %v, coil %v; want ErrReadBack and the coil on", err, on)
				}
			default:
				if err != nil || got != 1 || !on {
					t.Fatalf("got %v %v, coil %v", got, err, on)
				}
			}
		})
	}
}

// TestEndpointWriteCoil drives function 5 directly.
func TestEndpointWriteCoil(t *testing.T) {
	_, bank, ep := startWriteSim(t)
	ctx := context.Background()
	for _, on := range []bool{true, false, true} {
		if err := ep.WriteCoil(ctx, 1, 2, on); err != nil {
			t.Fatal(err)
		}
		if got, _ := bank.Coil(2); got != on {
			t.Fatalf("coil = %v, want %v", got, on)
		}
	}
	bits, err := ep.Read(ctx, 1, profile.Coil, 2, 2)
	if err != nil || !slices.Equal(bits, []uint16{1, 0}) {
		t.Fatalf("read %v %v", bits, err)
	}
	var exc *ExceptionError
	if err := ep.WriteCoil(ctx, 1, 9, true); !errors.As(err, &exc) || exc.Code != 2 {
		t.Fatalf("want exception 2, got %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ep.WriteCoil(cancelled, 1, 2, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
