package sim

import (
	"math"
	"slices"
	"sync"
	"testing"
)

func TestBankSetGet(t *testing.T) {
	b := NewBank()
	b.SetHolding(10, 1, 2, 3)
	b.SetInput(65534, 7, 8)
	b.SetCoil(0, true)
	b.SetDiscrete(5, false)
	b.Set(Coil, 1, 2) // nonzero is on

	tests := []struct {
		name  string
		table Table
		addr  uint16
		want  uint16
		ok    bool
	}{
		{"holding first", Holding, 10, 1, true},
		{"holding last", Holding, 12, 3, true},
		{"holding unset", Holding, 13, 0, false},
		{"input at the top", Input, 65535, 8, true},
		{"input unset", Input, 10, 0, false},
		{"coil on", Coil, 0, 1, true},
		{"coil stored as 1", Coil, 1, 1, true},
		{"discrete off", Discrete, 5, 0, true},
		{"discrete unset", Discrete, 6, 0, false},
		{"unknown table", Table("fifo"), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := b.Get(tt.table, tt.addr)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Get(%s, %d) = %d, %v; want %d, %v", tt.table, tt.addr, got, ok, tt.want, tt.ok)
			}
		})
	}
	if v, ok := b.Holding(11); v != 2 || !ok {
		t.Errorf("Holding(11) = %d, %v", v, ok)
	}
	if v, ok := b.Input(65534); v != 7 || !ok {
		t.Errorf("Input(65534) = %d, %v", v, ok)
	}
	if on, ok := b.Coil(0); !on || !ok {
		t.Errorf("Coil(0) = %v, %v", on, ok)
	}
	if on, ok := b.Discrete(5); on || !ok {
		t.Errorf("Discrete(5) = %v, %v", on, ok)
	}
}

func TestZeroBank(t *testing.T) {
	var b Bank
	if _, ok := b.Holding(0); ok {
		t.Error("empty bank has holding 0")
	}
	b.SetHolding(0, 1)
	if v, _ := b.Holding(0); v != 1 {
		t.Errorf("Holding(0) = %d, want 1", v)
	}
}

func TestBankSetHoldingInt16(t *testing.T) {
	b := NewBank()
	b.SetHoldingInt16(1, -183, 25, math.MinInt16)
	got, _ := b.read(Holding, 1, 3)
	if want := []uint16{65353, 25, 0x8000}; !slices.Equal(got, want) {
		t.Errorf("registers = %v, want %v", got, want)
	}
}

func TestBankSetHoldingFloat32(t *testing.T) {
	f := math.Float32frombits(0x4048F5C3) // 3.14, four distinct bytes
	tests := []struct {
		order string
		want  []uint16
	}{
		{"ABCD", []uint16{0x4048, 0xF5C3}},
		{"CDAB", []uint16{0xF5C3, 0x4048}},
		{"BADC", []uint16{0x4840, 0xC3F5}},
		{"DCBA", []uint16{0xC3F5, 0x4840}},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			b := NewBank()
			b.SetHoldingFloat32(100, f, tt.order)
			got, ok := b.read(Holding, 100, 2)
			if !ok || !slices.Equal(got, tt.want) {
				t.Errorf("registers = %#04x, want %#04x", got, tt.want)
			}
		})
	}
}

func TestBankPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func(b *Bank)
	}{
		{"overrun", func(b *Bank) { b.SetHolding(65535, 1, 2) }},
		{"bad order", func(b *Bank) { b.SetHoldingFloat32(0, 1, "ABDC") }},
		{"unknown table", func(b *Bank) { b.Set(Table("fifo"), 0, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f(NewBank())
		})
	}
}

func TestBankReadWriteRange(t *testing.T) {
	b := NewBank()
	b.SetHolding(0, 0, 0, 0)
	if _, ok := b.read(Holding, 1, 3); ok {
		t.Error("read past the last set register succeeded")
	}
	if b.write(Holding, 2, []uint16{9, 9}) {
		t.Error("write past the last set register succeeded")
	}
	if v, _ := b.Holding(2); v != 0 {
		t.Errorf("failed write changed holding 2 to %d; writes are all or nothing", v)
	}
	if !b.write(Holding, 1, []uint16{5, 6}) {
		t.Error("write within the set registers failed")
	}
	if got, _ := b.read(Holding, 0, 3); !slices.Equal(got, []uint16{0, 5, 6}) {
		t.Errorf("registers = %v", got)
	}
}

// TestBankConcurrent is for the race detector.
func TestBankConcurrent(t *testing.T) {
	b := NewBank()
	b.SetHolding(0, make([]uint16, 10)...)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				b.SetHolding(uint16(i), uint16(j))
				b.write(Holding, 0, []uint16{uint16(j)})
				b.read(Holding, 0, 10)
				b.Holding(uint16(i))
			}
		})
	}
	wg.Wait()
	// Each writer's last value stands in its own register.
	for i := 1; i < 8; i++ {
		if v, ok := b.Holding(uint16(i)); !ok || v != 199 {
			t.Errorf("holding %d = %d, %v after the writers; want 199", i, v, ok)
		}
	}
}

// TestBankOnWrite: the hook sees Modbus writes, after they land, and not
// the simulator's own Set.
func TestBankOnWrite(t *testing.T) {
	b := NewBank()
	b.SetHolding(0, 1, 2, 3)
	b.SetCoil(5, false)
	type call struct {
		t    Table
		addr uint16
		v    []uint16
	}
	var calls []call
	b.OnWrite(func(tb Table, addr uint16, v []uint16) {
		// The bank has the values already, and may be changed here.
		got, _ := b.Get(tb, addr)
		if got != v[0] {
			t.Errorf("hook sees %d at %s %d before the write landed", got, tb, addr)
		}
		b.SetHolding(2, 99)
		v[0] = 7 // the hook's copy
		calls = append(calls, call{tb, addr, v})
	})
	b.SetHolding(0, 5) // not a Modbus write
	if !b.write(Holding, 0, []uint16{10, 11}) || !b.write(Coil, 5, []uint16{1}) {
		t.Fatal("write refused")
	}
	if b.write(Holding, 2, []uint16{1, 2}) { // 3 does not exist: refused, no call
		t.Fatal("write past the map accepted")
	}
	if len(calls) != 2 || calls[0].t != Holding || calls[0].addr != 0 || len(calls[0].v) != 2 || calls[1].t != Coil || calls[1].addr != 5 {
		t.Fatalf("calls %+v", calls)
	}
	if v, _ := b.Holding(0); v != 10 {
		t.Fatalf("holding 0 = %d: the hook's copy aliased the bank", v)
	}
	if v, _ := b.Holding(2); v != 99 {
		t.Fatalf("holding 2 = %d", v)
	}
	b.OnWrite(nil)
	b.write(Holding, 0, []uint16{1})
	if len(calls) != 2 {
		t.Fatal("removed hook called")
	}
}
