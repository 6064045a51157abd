package profile

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestEncodeRoundTrip writes values of every type in every order and
// decodes the words back.
func TestEncodeRoundTrip(t *testing.T) {
	orders := map[Type][]string{
		Int16: {"AB", "BA"}, Uint16: {"AB", "BA"},
		Int32: {"ABCD", "CDAB", "BADC", "DCBA"}, Uint32: {"ABCD", "CDAB", "BADC", "DCBA"}, Float32: {"ABCD", "CDAB", "BADC", "DCBA"},
	}
	values := map[Type][]float64{
		Int16:   {0, 1, -1, 1234, -1234, math.MaxInt16, math.MinInt16},
		Uint16:  {0, 1, 0x1234, 0xFF00, math.MaxUint16},
		Int32:   {0, -1, 0x12345678, -0x12345678, math.MaxInt32, math.MinInt32, 70000},
		Uint32:  {0, 1, 0x12345678, 0xFEDCBA98, math.MaxUint32},
		Float32: {0, -18.5, 3.25, 1e10, -1e-3},
	}
	for typ, ords := range orders {
		for _, order := range ords {
			p := mustParse(t, fmt.Sprintf("model: m\nregisters:\n  - {field: v, table: holding, address: 40, type: %s, order: %s, access: rw}\n", typ, order))
			for _, v := range values[typ] {
				t.Run(fmt.Sprintf("%s %s %v", typ, order, v), func(t *testing.T) {
					r, words, err := p.Encode("v", v)
					if err != nil {
						t.Fatal(err)
					}
					if r.Address != 40 || r.Table != Holding || len(words) != typ.Words() {
						t.Fatalf("register %+v, words %v", r, words)
					}
					if got := decodeOne(t, p, "v", words); got != round(float64(float32(v))) && got != v {
						t.Fatalf("decoded %v", got)
					}
				})
			}
		}
	}
}

// TestEncodeWords pins the wire layout of each order, independently of
// Decode: 0x11223344 as ABCD is 0x1122 0x3344.
func TestEncodeWords(t *testing.T) {
	for order, want := range map[string][]uint16{
		"ABCD": {0x1122, 0x3344},
		"CDAB": {0x3344, 0x1122},
		"BADC": {0x2211, 0x4433},
		"DCBA": {0x4433, 0x2211},
		"AB":   {0x3344},
		"BA":   {0x4433},
	} {
		typ, v := "uint32", 0x11223344
		if len(order) == 2 {
			typ, v = "uint16", 0x3344
		}
		p := mustParse(t, "model: m\nregisters:\n  - {field: v, table: holding, address: 0, type: "+typ+", order: "+order+", access: rw}\n")
		_, got, err := p.Encode("v", float64(v))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %x %v, want %x", order, got, err, want)
		}
	}
}

// TestEncodeScale: the inverse of scale and offset, rounded to the nearest
// raw value the register holds.
func TestEncodeScale(t *testing.T) {
	p := mustParse(t, `model: m
registers:
  - {field: setpoint, table: holding, address: 0, type: int16, scale: 0.1, access: rw, min: -40, max: 20}
  - {field: level, table: holding, address: 1, type: uint16, scale: 0.5, offset: -40, access: rw}
  - {field: weight, table: holding, address: 2, type: int32, scale: 0.01, access: rw}
  - {field: coarse, table: holding, address: 4, type: uint16, scale: 3, access: rw, max: 20}
`)
	for _, tc := range []struct {
		field    string
		value    float64
		raw      []uint16
		readBack float64
	}{
		{"setpoint", -18.3, []uint16{uint16(0x10000 - 183)}, -18.3},
		{"setpoint", 2.04, []uint16{20}, 2},
		{"setpoint", 2.06, []uint16{21}, 2.1},
		{"setpoint", -40, []uint16{uint16(0x10000 - 400)}, -40},
		{"level", 10, []uint16{100}, 10},
		{"level", -40, []uint16{0}, -40},
		{"weight", 123.45, []uint16{0, 12345}, 123.45},
		{"weight", -0.01, []uint16{0xFFFF, 0xFFFF}, -0.01},
		{"coarse", 19, []uint16{6}, 18},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.field, tc.value), func(t *testing.T) {
			_, words, err := p.Encode(tc.field, tc.value)
			if err != nil || !slices.Equal(words, tc.raw) {
				t.Fatalf("got %v %v, want %v", words, err, tc.raw)
			}
			if got := decodeOne(t, p, tc.field, words); got != tc.readBack {
				t.Fatalf("reads back as %v, want %v", got, tc.readBack)
			}
		})
	}
}

func TestEncodeCoil(t *testing.T) {
	p := mustParse(t, "model: m\nregisters:\n  - {field: relay, table: coil, address: 3, access: rw}\n")
	for v, want := range map[float64]uint16{0: 0, 1: 1} {
		r, words, err := p.Encode("relay", v)
		if err != nil || r.Table != Coil || r.Address != 3 || !slices.Equal(words, []uint16{want}) {
			t.Fatalf("%v: %+v %v %v", v, r, words, err)
		}
		if got := decodeOne(t, p, "relay", words); got != v {
			t.Fatalf("%v reads back as %v", v, got)
		}
	}
	for _, v := range []float64{2, -1, 0.5, 0.99} {
		if _, _, err := p.Encode("relay", v); !errors.Is(err, ErrBadValue) {
			t.Errorf("%v: got %v, want ErrBadValue", v, err)
		}
	}
}

// TestEncodeRefuses: every refusal names the field and says why.
func TestEncodeRefuses(t *testing.T) {
	p := mustParse(t, `model: ctrl
registers:
  - {field: temp, table: input, address: 0, type: int16, scale: 0.1}
  - {field: setpoint, table: holding, address: 0, type: int16, scale: 0.1, access: rw, min: -40, max: 20, invalid: [32767]}
  - {field: diff, table: holding, address: 1, type: int16, access: rw, invalid: [32767]}
  - {field: mode, table: holding, address: 2, type: uint16}
  - {field: fan, table: holding, address: 3, type: bool, bit: 2, access: rw}
  - {field: count, table: holding, address: 4, type: uint32, access: rw}
  - {field: small, table: holding, address: 6, type: uint16, access: rw}
  - {field: tare, table: holding, address: 7, type: int32, scale: 0.01, access: rw}
  - {field: gain, table: holding, address: 9, type: float32, access: rw}
  - {field: door, table: discrete, address: 0}
  - {field: buzzer, table: coil, address: 0}
`)
	for _, tc := range []struct {
		field string
		value float64
		want  error
		says  string
	}{
		{"nothing", 1, ErrUnknownField, "writable fields: [setpoint diff count small tare gain]"},
		{"temp", 1, ErrNotWritable, `access is "r"`},
		{"mode", 1, ErrNotWritable, `access is "r"`},
		{"door", 1, ErrNotWritable, `access is "r"`},
		{"buzzer", 1, ErrNotWritable, `access is "r"`},
		{"fan", 1, ErrNotWritable, "bit 2 of holding register 3"},
		{"setpoint", math.NaN(), ErrBadValue, "not a finite number"},
		{"setpoint", math.Inf(1), ErrBadValue, "not a finite number"},
		{"setpoint", 20.1, ErrBadValue, "above the maximum 20"},
		{"setpoint", -40.01, ErrBadValue, "below the minimum -40"},
		{"diff", 32767, ErrBadValue, "raw value 32767 means no valid reading"},
		{"diff", 32768, ErrBadValue, "outside the -32768..32767 of int16"},
		{"small", -1, ErrBadValue, "outside the 0..65535 of uint16"},
		{"small", 65535.6, ErrBadValue, "outside the 0..65535 of uint16"},
		{"count", -0.6, ErrBadValue, "outside the 0..4294967295 of uint32"},
		{"tare", 21474836.48, ErrBadValue, "needs raw value 2147483648, outside the -2147483648..2147483647 of int32"},
		{"gain", 1e39, ErrBadValue, "of float32"},
		{"gain", math.Inf(-1), ErrBadValue, "not a finite number"},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.field, tc.value), func(t *testing.T) {
			_, words, err := p.Encode(tc.field, tc.value)
			if !errors.Is(err, tc.want) || words != nil {
				t.Fatalf("got %v %v, want %v", words, err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, `profile ctrl: field "`+tc.field+`"`) || !strings.Contains(msg, tc.says) {
				t.Fatalf("%q does not name the field or say %q", msg, tc.says)
			}
		})
	}
	// Rounding stays within the type: -0.4 is raw 0 of an unsigned register.
	if _, w, err := p.Encode("small", -0.4); err != nil || w[0] != 0 {
		t.Fatalf("-0.4: %v %v", w, err)
	}
}

// TestEncodeStoredPastLimit: the nearest value a coarse register holds
// may lie past a limit that is not a multiple of its scale.
func TestEncodeStoredPastLimit(t *testing.T) {
	p := mustParse(t, "model: m\nregisters:\n  - {field: v, table: holding, address: 0, type: uint16, scale: 3, access: rw, max: 20}\n")
	_, _, err := p.Encode("v", 20)
	if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "20 would be stored as 21, above the maximum 20") {
		t.Fatalf("got %v", err)
	}
}

func TestReadRequest(t *testing.T) {
	p := mustParse(t, `model: m
registers:
  - {field: a, table: holding, address: 0, type: uint16}
  - {field: cmd, table: coil, address: 5, access: rw, poll: false}
  - {field: w, table: holding, address: 10, type: float32, access: rw}
`)
	q, err := p.ReadRequest("w")
	if err != nil || q.Table != Holding || q.Address != 10 || q.Quantity != 2 || !slices.Equal(q.Registers, []int{2}) {
		t.Fatalf("%+v %v", q, err)
	}
	// Not polled, but still readable on request.
	q, err = p.ReadRequest("cmd")
	if err != nil || q.Table != Coil || q.Address != 5 || q.Quantity != 1 {
		t.Fatalf("%+v %v", q, err)
	}
	if _, err := p.ReadRequest("nope"); !errors.Is(err, ErrUnknownField) {
		t.Fatalf("got %v", err)
	}
	if r, ok := p.Field("cmd"); !ok || r.Polled() {
		t.Fatalf("Field: %+v %v", r, ok)
	}
	if got := p.Writable(); !slices.Equal(got, []string{"cmd", "w"}) {
		t.Fatalf("Writable = %v", got)
	}
}

// decodeOne decodes words as field's register alone.
func decodeOne(t *testing.T, p *Profile, field string, words []uint16) float64 {
	t.Helper()
	q, err := p.ReadRequest(field)
	if err != nil {
		t.Fatal(err)
	}
	rd := NewReading()
	if err := p.Decode(q, words, rd); err != nil {
		t.Fatal(err)
	}
	v, ok := rd.Fields[field]
	if !ok {
		t.Fatalf("%s: %v", field, rd.Faults[field])
	}
	return v
}
