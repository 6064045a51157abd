package sim

import (
	"fmt"
	"math"
	"sync"
)

// Table names one of the four Modbus data tables. The values are the
// strings package profile uses, so a profile.Table converts with Table(t).
type Table string

// The Modbus tables.
const (
	Coil     Table = "coil"     // read/write bits: function 1 reads, 5 and 15 write
	Discrete Table = "discrete" // read-only bits: function 2
	Holding  Table = "holding"  // read/write registers: function 3 reads, 6 and 16 write
	Input    Table = "input"    // read-only registers: function 4
)

// Bits reports whether the table holds bits rather than 16-bit registers.
func (t Table) Bits() bool { return t == Coil || t == Discrete }

// index maps a table to its slot in Bank.tables; -1 for an unknown table.
func (t Table) index() int {
	switch t {
	case Coil:
		return 0
	case Discrete:
		return 1
	case Holding:
		return 2
	case Input:
		return 3
	}
	return -1
}

// Bank is one Modbus slave's memory: coils, discrete inputs, holding
// registers and input registers, each over the full 0..65535 address space.
// Only addresses that have been set exist; reading or writing any other is
// an "illegal data address" on the wire, as on a real device whose register
// map has holes.
//
// A Bank is safe for concurrent use. The zero Bank is empty and ready.
type Bank struct {
	mu sync.RWMutex
	// tables holds Coil, Discrete, Holding, Input in that order (see
	// Table.index). Bits are stored as 0 or 1 so one code path serves all.
	tables [4]map[uint16]uint16
	// onWrite is called after a Modbus write changed the bank.
	onWrite func(t Table, addr uint16, values []uint16)
}

// NewBank returns an empty bank.
func NewBank() *Bank { return &Bank{} }

// Set stores consecutive values from addr in table t. In a bit table a
// nonzero value is on. It panics on an unknown table or if the values run
// past address 65535.
func (b *Bank) Set(t Table, addr uint16, v ...uint16) {
	i := t.index()
	if i < 0 {
		panic(fmt.Sprintf("sim: unknown table %q", t))
	}
	if int(addr)+len(v) > 1<<16 {
		panic(fmt.Sprintf("sim: %d values at %s address %d run past 65535", len(v), t, addr))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tables[i] == nil {
		b.tables[i] = make(map[uint16]uint16)
	}
	for k, x := range v {
		if t.Bits() && x != 0 {
			x = 1
		}
		b.tables[i][addr+uint16(k)] = x
	}
}

// Get returns the value at addr in table t (0 or 1 in a bit table) and
// whether the address exists.
func (b *Bank) Get(t Table, addr uint16) (uint16, bool) {
	i := t.index()
	if i < 0 {
		return 0, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.tables[i][addr]
	return v, ok
}

// SetHolding stores consecutive holding registers from addr.
func (b *Bank) SetHolding(addr uint16, v ...uint16) { b.Set(Holding, addr, v...) }

// SetInput stores consecutive input registers from addr.
func (b *Bank) SetInput(addr uint16, v ...uint16) { b.Set(Input, addr, v...) }

// SetCoil stores one coil.
func (b *Bank) SetCoil(addr uint16, v bool) { b.Set(Coil, addr, bit(v)) }

// SetDiscrete stores one discrete input.
func (b *Bank) SetDiscrete(addr uint16, v bool) { b.Set(Discrete, addr, bit(v)) }

// SetHoldingInt16 stores consecutive signed values as two's complement
// holding registers from addr.
func (b *Bank) SetHoldingInt16(addr uint16, v ...int16) {
	w := make([]uint16, len(v))
	for i, x := range v {
		w[i] = uint16(x)
	}
	b.Set(Holding, addr, w...)
}

// SetHoldingFloat32 stores f as an IEEE 754 float in holding registers addr
// and addr+1, in the byte order a profile's order field names: "ABCD" big
// endian, "CDAB" word swap (low word first), "BADC" byte swap within each
// word, "DCBA" little endian. It panics on any other order.
func (b *Bank) SetHoldingFloat32(addr uint16, f float32, order string) {
	b.Set(Holding, addr, words32(math.Float32bits(f), order)...)
}

// words32 splits u into two registers in the given byte order.
func words32(u uint32, order string) []uint16 {
	switch order {
	case "ABCD", "CDAB", "BADC", "DCBA":
	default:
		panic(fmt.Sprintf("sim: byte order %q must be ABCD, CDAB, BADC or DCBA", order))
	}
	// Letter k of order names the wire byte that carries value byte k,
	// value byte 0 being the most significant: "CDAB" sends the low word
	// first. This is the inverse of how package profile decodes.
	value := [4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
	var wire [4]byte
	for k := range value {
		wire[order[k]-'A'] = value[k]
	}
	return []uint16{uint16(wire[0])<<8 | uint16(wire[1]), uint16(wire[2])<<8 | uint16(wire[3])}
}

// Holding returns the holding register at addr and whether it exists.
func (b *Bank) Holding(addr uint16) (uint16, bool) { return b.Get(Holding, addr) }

// Input returns the input register at addr and whether it exists.
func (b *Bank) Input(addr uint16) (uint16, bool) { return b.Get(Input, addr) }

// Coil returns the coil at addr and whether it exists.
func (b *Bank) Coil(addr uint16) (on, ok bool) {
	v, ok := b.Get(Coil, addr)
	return v != 0, ok
}

// Discrete returns the discrete input at addr and whether it exists.
func (b *Bank) Discrete(addr uint16) (on, ok bool) {
	v, ok := b.Get(Discrete, addr)
	return v != 0, ok
}

// read returns n values from addr in table t, or false if any address in
// the range does not exist.
func (b *Bank) read(t Table, addr, n uint16) ([]uint16, bool) {
	i := t.index()
	if i < 0 || int(addr)+int(n) > 1<<16 {
		return nil, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]uint16, n)
	for k := range out {
		v, ok := b.tables[i][addr+uint16(k)]
		if !ok {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// OnWrite registers fn to be called after each Modbus write (functions 5,
// 6, 15 and 16, from any server the bank is attached to) has changed the
// bank, with the values written (coils as 0 and 1). This is how a device
// simulator reacts to its registers being written: a new setpoint, a
// command coil. fn runs before the server answers, without the bank's
// lock held, so it may read and set the bank, and whoever waits for the
// answer sees its effects. Changes made with Set and its kin do not call
// it. A nil fn removes the hook.
func (b *Bank) OnWrite(fn func(t Table, addr uint16, values []uint16)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onWrite = fn
}

// write stores v from addr in table t if every address in the range
// exists, all or nothing, reports whether it did, and calls the OnWrite
// hook if it did.
func (b *Bank) write(t Table, addr uint16, v []uint16) bool {
	i := t.index()
	if i < 0 || int(addr)+len(v) > 1<<16 {
		return false
	}
	b.mu.Lock()
	for k := range v {
		if _, ok := b.tables[i][addr+uint16(k)]; !ok {
			b.mu.Unlock()
			return false
		}
	}
	for k, x := range v {
		b.tables[i][addr+uint16(k)] = x
	}
	fn := b.onWrite
	b.mu.Unlock()
	if fn != nil {
		fn(t, addr, append([]uint16(nil), v...))
	}
	return true
}

// setEach stores v[k] at addrs[k] in table t under one lock, so a reader
// never sees half of an update.
func (b *Bank) setEach(t Table, addrs, v []uint16) {
	i := t.index()
	if i < 0 {
		panic(fmt.Sprintf("sim: unknown table %q", t))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tables[i] == nil {
		b.tables[i] = make(map[uint16]uint16)
	}
	for k, a := range addrs {
		b.tables[i][a] = v[k]
	}
}

func bit(v bool) uint16 {
	if v {
		return 1
	}
	return 0
}
