package sim

import (
	"context"
	"math"
	"time"
)

// The generic weighing-indicator layout, the one the edge profile
// weigh-modbus reads: holding registers, 32-bit values high word first.
const (
	weighGross    uint16 = 0 // holding 0-1: gross, int32, displayed digits
	weighNet      uint16 = 2 // holding 2-3: net
	weighTare     uint16 = 4 // holding 4-5: tare, writable
	weighStatus   uint16 = 6 // holding 6: status bits
	weighDecimals uint16 = 7 // holding 7: digits after the point
	weighCmdZero  uint16 = 0 // coil 0: write 1 to zero
	weighCmdTare  uint16 = 1 // coil 1: write 1 to tare
)

// Bits of the indicator's status register.
const (
	weighStable    = 1 << 0
	weighOverload  = 1 << 1
	weighUnderload = 1 << 2
	weighAtZero    = 1 << 3
	weighNetMode   = 1 << 4
)

// underloadMargin is how many divisions below zero the indicator shows
// before it gives up and shows under-load.
const underloadMargin = 20

// The int32 values an over- or under-loaded indicator shows.
const (
	weighOL  = math.MaxInt32
	weighUL  = math.MinInt32
	weighMax = math.MaxInt32 - 1 // the largest weight it shows as a number
	weighMin = math.MinInt32 + 1
)

// WeighIndicator simulates a weighing indicator with the RS-485 Modbus RTU
// option, over the load of a Scale, in the generic layout the edge profile
// weigh-modbus reads:
//
//	holding 0-1  gross, int32, high word first, in display digits (the weight ×10^Decimals)
//	holding 2-3  net, the same
//	holding 4-5  tare, the same; writable: presets the tare, 0 clears it
//	holding 6    status: bit 0 stable, 1 overload, 2 under-load, 3 at zero, 4 net mode
//	holding 7    decimals: the Scale's Decimals
//	coil    0    write 1: zero (Scale.Zero); reads 0 again once handled
//	coil    1    write 1: tare (Scale.TakeTare); reads 0 again once handled
//
// On overload gross and net hold the largest int32, on under-load the
// smallest, as the display shows "OL". The Scale's motion and jitter show
// in the registers as in its stream. A command the Scale refuses (not
// settled, outside the zero range) is ignored, as indicators do.
//
// It owns its Bank: attach Bank() to a ModbusTCPServer or an RTUServer.
// Update refreshes the registers; writes over Modbus refresh them at once.
// A WeighIndicator is safe for concurrent use.
type WeighIndicator struct {
	scale *Scale
	bank  *Bank
}

// NewWeighIndicator returns an indicator showing s, its registers filled.
func NewWeighIndicator(s *Scale) *WeighIndicator {
	w := &WeighIndicator{scale: s, bank: NewBank()}
	w.bank.SetCoil(weighCmdZero, false)
	w.bank.SetCoil(weighCmdTare, false)
	w.Update()
	w.bank.OnWrite(w.written)
	return w
}

// Bank returns the indicator's registers.
func (w *WeighIndicator) Bank() *Bank { return w.bank }

// Scale returns the scale the indicator shows.
func (w *WeighIndicator) Scale() *Scale { return w.scale }

// Update writes what the indicator shows now into its registers, in one
// update.
func (w *WeighIndicator) Update() {
	s := w.scale
	s.mu.Lock()
	f := s.frame()
	d, decimals := s.cfg.Division, s.cfg.Decimals
	s.mu.Unlock()

	gross, net := f.Weight, f.Weight
	if f.Net {
		gross = f.Weight + f.Tare
	}
	digits := func(kg float64) int32 {
		return int32(clampRound(kg*math.Pow10(decimals), weighMin, weighMax))
	}
	status := uint16(0)
	if !f.Motion {
		status |= weighStable
	}
	if f.Net {
		status |= weighNetMode
	}
	g, n := digits(gross), digits(net)
	switch {
	case f.Overload:
		status |= weighOverload
		g, n = weighOL, weighOL
	case gross < -underloadMargin*d:
		status |= weighUnderload
		g, n = weighUL, weighUL
	case math.Abs(gross) < d/2:
		status |= weighAtZero
	}
	regs := make([]uint16, 0, 8)
	for _, v := range []int32{g, n, digits(f.Tare)} {
		regs = append(regs, words32(uint32(v), "ABCD")...)
	}
	regs = append(regs, status, uint16(decimals))
	addrs := make([]uint16, len(regs))
	for i := range addrs {
		addrs[i] = weighGross + uint16(i)
	}
	w.bank.setEach(Holding, addrs, regs)
}

// written reacts to a Modbus write: a command coil, or a preset tare.
func (w *WeighIndicator) written(t Table, addr uint16, values []uint16) {
	switch t {
	case Coil:
		for k, v := range values {
			if v == 0 {
				continue
			}
			switch addr + uint16(k) {
			case weighCmdZero:
				w.scale.Zero()
			case weighCmdTare:
				w.scale.TakeTare()
			}
		}
		// The commands are handled: the coils read 0 again.
		w.bank.setEach(Coil, []uint16{weighCmdZero, weighCmdTare}, []uint16{0, 0})
	case Holding:
		if int(addr)+len(values) > int(weighTare) && addr <= weighTare+1 {
			hi, _ := w.bank.Holding(weighTare)
			lo, _ := w.bank.Holding(weighTare + 1)
			kg := float64(int32(uint32(hi)<<16|uint32(lo))) / math.Pow10(w.scale.cfg.Decimals)
			w.scale.SetTare(max(kg, 0))
		}
	}
	w.Update()
}

// Run updates the registers every tick of the wall clock until ctx is
// done: the demo's indicator. Tests call Update instead.
func (w *WeighIndicator) Run(ctx context.Context, tick time.Duration) {
	w.Update()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Update()
		}
	}
}
