package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/profile"
)

// testIndicator returns an indicator over a 300 kg × 20 g platform showing
// two decimals, as the weigh-modbus profile expects, on a clock the test
// moves with the returned function.
func testIndicator(t *testing.T) (*WeighIndicator, func(time.Duration)) {
	t.Helper()
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	cfg := DefaultScaleConfig()
	cfg.Decimals, cfg.Division, cfg.Capacity = 2, 0.02, 300
	cfg.Now = func() time.Time { return now }
	s, err := NewScale(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewWeighIndicator(s), func(d time.Duration) { now = now.Add(d) }
}

// TestWeighIndicatorRegisters checks the layout against the scale,
// register by register, without a transport.
func TestWeighIndicatorRegisters(t *testing.T) {
	w, _ := testIndicator(t)
	s, bank := w.Scale(), w.Bank()
	i32 := func(v int32) []uint16 { return []uint16{uint16(uint32(v) >> 16), uint16(v)} }
	for _, tc := range []struct {
		name           string
		load, tare     float64
		gross, net, tr int32
		status         uint16
	}{
		{"empty", 0, 0, 0, 0, 0, weighStable | weighAtZero},
		{"a sack", 123.46, 0, 12346, 12346, 0, weighStable},
		{"above 65535 digits", 700.5, 0, weighOL, weighOL, 0, weighStable | weighOverload},
		{"just within capacity + 9 d", 300.18, 0, 30018, 30018, 0, weighStable},
		{"on a pallet", 150, 25.5, 15000, 12450, 2550, weighStable | weighNetMode},
		{"lifted off, tare kept", 0, 25.5, 0, -2550, 2550, weighStable | weighNetMode | weighAtZero},
		{"slightly negative", -0.4, 0, -40, -40, 0, weighStable},
		{"under-load", -0.42, 0, weighUL, weighUL, 0, weighStable | weighUnderload},
	} {
		s.Set(tc.load)
		s.SetTare(tc.tare)
		w.Update()
		want := append(append(append(i32(tc.gross), i32(tc.net)...), i32(tc.tr)...), tc.status, 2)
		got := bankRegs(t, bank, Holding, 0, 8)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: holding %v, want %v", tc.name, got, want)
				break
			}
		}
	}
}

// TestWeighIndicatorCommands writes the command coils and the tare
// register as Modbus does, through the bank.
func TestWeighIndicatorCommands(t *testing.T) {
	w, advance := testIndicator(t)
	s, bank := w.Scale(), w.Bank()
	write := func(table Table, addr uint16, v ...uint16) {
		t.Helper()
		if !bank.write(table, addr, v) {
			t.Fatalf("write %s %d refused", table, addr)
		}
	}
	gross := func() int32 {
		g := bankRegs(t, bank, Holding, 0, 2)
		return int32(uint32(g[0])<<16 | uint32(g[1]))
	}
	net := func() int32 {
		g := bankRegs(t, bank, Holding, 2, 2)
		return int32(uint32(g[0])<<16 | uint32(g[1]))
	}

	// Zero takes off a small drift, but not a load beyond 4 % of 300 kg.
	s.Set(0.3)
	write(Coil, weighCmdZero, 1)
	if g := gross(); g != 0 {
		t.Fatalf("after zero: gross %d", g)
	}
	if on, _ := bank.Coil(weighCmdZero); on {
		t.Fatal("zero coil still set")
	}
	s.Set(20)
	write(Coil, weighCmdZero, 1)
	if g := gross(); g != 1970 { // 20 kg less the 0.3 kg zeroed
		t.Fatalf("zero of 20 kg was not refused: gross %d", g)
	}

	// Tare needs a settled load.
	s.Place(60.3, 2*time.Second)
	write(Coil, weighCmdTare, 1)
	if s.Tare() != 0 {
		t.Fatalf("tare taken while the load swings: %v", s.Tare())
	}
	advance(2 * time.Second)
	write(Coil, weighCmdTare, 1)
	if s.Tare() != 60 || net() != 0 || gross() != 6000 {
		t.Fatalf("tare %v, gross %d, net %d", s.Tare(), gross(), net())
	}
	// At zero is the gross weight's centre of zero, not the net's.
	if st, _ := bank.Holding(weighStatus); st != weighStable|weighNetMode {
		t.Fatalf("status %05b", st)
	}

	// A preset tare written as two registers (function 16); 0 clears it.
	write(Holding, weighTare, 0, 1250)
	if s.Tare() != 12.5 || net() != 4750 {
		t.Fatalf("preset tare %v, net %d", s.Tare(), net())
	}
	write(Holding, weighTare, 0, 0)
	if s.Tare() != 0 || net() != 6000 {
		t.Fatalf("cleared tare %v, net %d", s.Tare(), net())
	}
	// A negative preset is no tare.
	write(Holding, weighTare, 0xFFFF, 0xFFFF)
	if s.Tare() != 0 {
		t.Fatalf("negative tare %v", s.Tare())
	}
}

// TestWeighIndicatorOverTCP reads the indicator with the shipped
// weigh-modbus profile and drives it with Device.Write.
func TestWeighIndicatorOverTCP(t *testing.T) {
	w, advance := testIndicator(t)
	s := w.Scale()
	dev := shippedDevice(t, serveTCP(t, w.Bank()), 1, "weigh-modbus")
	ctx := context.Background()
	update := func() { w.Update() }

	s.Set(123.46)
	update()
	pollWant(t, dev, map[string]float64{
		"gross": 123.46, "net": 123.46, "tare": 0, "decimals": 2,
		"stable": 1, "overload": 0, "underload": 0, "at_zero": 0, "net_mode": 0,
	})

	// The tare key, over Modbus: the coil reads 0 once handled.
	if got, err := dev.Write(ctx, "cmd_tare", 1); err != nil || got != 0 {
		t.Fatalf("Write(cmd_tare) = %v, %v", got, err)
	}
	pollWant(t, dev, map[string]float64{"gross": 123.46, "net": 0, "tare": 123.46, "net_mode": 1, "at_zero": 0})

	// A preset tare, an int32 written as two registers.
	if got, err := dev.Write(ctx, "tare", 20.5); err != nil || got != 20.5 {
		t.Fatalf("Write(tare, 20.5) = %v, %v", got, err)
	}
	pollWant(t, dev, map[string]float64{"net": 102.96, "tare": 20.5})
	if _, err := dev.Write(ctx, "tare", -1); !errors.Is(err, profile.ErrBadValue) {
		t.Fatalf("Write(tare, -1): %v", err)
	}
	if got, err := dev.Write(ctx, "tare", 0); err != nil || got != 0 {
		t.Fatalf("Write(tare, 0) = %v, %v", got, err)
	}

	// Zero: refused with a load on, done with a small drift.
	if _, err := dev.Write(ctx, "cmd_zero", 1); err != nil {
		t.Fatal(err)
	}
	pollWant(t, dev, map[string]float64{"gross": 123.46, "at_zero": 0})
	s.Set(0.24)
	if _, err := dev.Write(ctx, "cmd_zero", 1); err != nil {
		t.Fatal(err)
	}
	pollWant(t, dev, map[string]float64{"gross": 0, "at_zero": 1, "stable": 1})

	// A load swinging, then over capacity.
	s.Place(80, time.Second)
	update()
	pollWant(t, dev, map[string]float64{"stable": 0})
	advance(time.Second)
	update()
	pollWant(t, dev, map[string]float64{"gross": 79.76, "stable": 1}) // 80 less the 0.24 zeroed
	s.Set(400)
	update()
	pollWant(t, dev, map[string]float64{"overload": 1}, "gross", "net")
}
