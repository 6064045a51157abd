package profile

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func mustParse(t *testing.T, y string) *Profile {
	t.Helper()
	p, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOrders(t *testing.T) {
	f := math.Float32bits(-18.5) // 0xC1940000
	a, b, c, d := uint16(f>>24), uint16(f>>16&0xff), uint16(f>>8&0xff), uint16(f&0xff)
	words := map[string][]uint16{
		"ABCD": {a<<8 | b, c<<8 | d},
		"CDAB": {c<<8 | d, a<<8 | b},
		"BADC": {b<<8 | a, d<<8 | c},
		"DCBA": {d<<8 | c, b<<8 | a},
	}
	for order, w := range words {
		t.Run(order, func(t *testing.T) {
			p := mustParse(t, "model: m\nregisters:\n  - {field: t, table: holding, address: 10, type: float32, order: "+order+"}\n")
			rd := NewReading()
			if err := p.Decode(p.Plan()[0], w, rd); err != nil {
				t.Fatal(err)
			}
			if rd.Fields["t"] != -18.5 {
				t.Fatalf("%s: got %v", order, rd.Fields["t"])
			}
		})
	}
}

func TestTypes(t *testing.T) {
	p := mustParse(t, `model: m
registers:
  - {field: a, table: holding, address: 0, type: int16, scale: 0.1}
  - {field: b, table: holding, address: 1, type: uint16, order: BA}
  - {field: c, table: holding, address: 2, type: int32, order: CDAB}
  - {field: d, table: holding, address: 4, type: uint32}
  - {field: e, table: holding, address: 6, type: bool, bit: 3}
  - {field: f, table: holding, address: 7, type: int16, scale: 0.5, offset: -40}
`)
	rd := NewReading()
	q := p.Plan()
	if len(q) != 1 || q[0].Quantity != 8 {
		t.Fatalf("plan = %+v, want one read of 8", q)
	}
	words := []uint16{0xFF38, 0x3412, 0xFFFE, 0xFFFF, 0x0001, 0x0000, 0b1000, 100}
	if err := p.Decode(q[0], words, rd); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"a": -20, "b": 0x1234, "c": -2, "d": 65536, "e": 1, "f": 10}
	for k, v := range want {
		if rd.Fields[k] != v {
			t.Errorf("%s = %v, want %v", k, rd.Fields[k], v)
		}
	}
}

func TestPlanCoalesces(t *testing.T) {
	var b strings.Builder
	b.WriteString("model: m\nmax_gap: 4\nregisters:\n")
	add := func(field, table string, addr int, typ string) {
		b.WriteString("  - {field: " + field + ", table: " + table + ", address: " + strconv.Itoa(addr) + ", type: " + typ + "}\n")
	}
	add("h0", "holding", 0, "uint16")
	add("h1", "holding", 1, "float32")  // 1-2
	add("h7", "holding", 7, "uint16")   // gap of 4 from 3: joins
	add("h20", "holding", 20, "uint16") // gap too large: new read
	add("h140", "holding", 140, "uint16")
	add("h143", "holding", 143, "uint16")
	add("i5", "input", 5, "int16")
	add("c1", "coil", 1, "bool")
	add("c3", "coil", 3, "bool")
	p := mustParse(t, b.String())
	got := p.Plan()
	want := []struct {
		table Table
		addr  uint16
		qty   uint16
		n     int
	}{{Coil, 1, 3, 2}, {Holding, 0, 8, 3}, {Holding, 20, 1, 1}, {Holding, 140, 4, 2}, {Input, 5, 1, 1}}
	if len(got) != len(want) {
		t.Fatalf("plan = %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Table != w.table || g.Address != w.addr || g.Quantity != w.qty || len(g.Registers) != w.n {
			t.Errorf("read %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestPlanRespectsLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("model: m\nregisters:\n")
	for a := 0; a < 300; a++ {
		b.WriteString("  - {field: r" + strconv.Itoa(a) + ", table: holding, address: " + strconv.Itoa(a) + ", type: uint16}\n")
	}
	p := mustParse(t, b.String())
	total := 0
	for _, q := range p.Plan() {
		if q.Quantity > MaxReadRegisters {
			t.Fatalf("read of %d registers", q.Quantity)
		}
		total += len(q.Registers)
	}
	if n := len(p.Plan()); n != 3 || total != 300 {
		t.Fatalf("%d reads covering %d registers, want 3 covering 300", n, total)
	}
}

func TestFaults(t *testing.T) {
	p := mustParse(t, "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int16, scale: 0.1, invalid: [32767], min: -40, max: 80}\n")
	for raw, fault := range map[uint16]bool{32767: true, 900: true, 25: false, 0xFE70: true /* -40.0 ok? */} {
		rd := NewReading()
		p.Decode(p.Plan()[0], []uint16{raw}, rd)
		_, isFault := rd.Faults["t"]
		if raw == 0xFE70 { // -400 -> -40.0, the edge of the range: valid
			fault = false
		}
		if isFault != fault {
			t.Errorf("raw %d: fault = %v, want %v (%+v)", raw, isFault, fault, rd)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	bad := map[string]string{
		"bad model":      "model: M X\nregisters:\n  - {field: t, table: input, address: 0, type: int16}\n",
		"no registers":   "model: m\n",
		"bad table":      "model: m\nregisters:\n  - {field: t, table: attic, address: 0, type: int16}\n",
		"bad type":       "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int8}\n",
		"bad order":      "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int32, order: AB}\n",
		"rw input":       "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int16, access: rw}\n",
		"dup field":      "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int16}\n  - {field: t, table: input, address: 1, type: int16}\n",
		"unknown key":    "model: m\nregisters:\n  - {field: t, table: input, address: 0, type: int16, sclae: 2}\n",
		"overrun":        "model: m\nregisters:\n  - {field: t, table: input, address: 65535, type: int32}\n",
		"bool no bit":    "model: m\nregisters:\n  - {field: t, table: holding, address: 0, type: bool}\n",
		"min above max":  "model: m\nregisters:\n  - {field: t, table: holding, address: 0, type: int16, min: 5, max: 1}\n",
		"float on coils": "model: m\nregisters:\n  - {field: t, table: coil, address: 0, type: float32}\n",
	}
	for name, y := range bad {
		if _, err := Parse([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
