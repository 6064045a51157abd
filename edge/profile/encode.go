package profile

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// The ways a write is refused before it reaches the device, tested with
// errors.Is. Each error names the profile and the field.
var (
	ErrUnknownField = errors.New("no such field")
	ErrNotWritable  = errors.New("not writable")
	ErrBadValue     = errors.New("value not accepted")
)

// Field returns the register of field and whether the profile has it.
func (p *Profile) Field(field string) (Register, bool) {
	i := p.index(field)
	if i < 0 {
		return Register{}, false
	}
	return p.Registers[i], true
}

func (p *Profile) index(field string) int {
	return slices.IndexFunc(p.Registers, func(r Register) bool { return r.Field == field })
}

// Writable lists the fields Encode can write, in profile order: access rw,
// and not a bit inside a register.
func (p *Profile) Writable() []string {
	var out []string
	for _, r := range p.Registers {
		if r.Access == "rw" && (r.Type != Bool || r.Table.Bits()) {
			out = append(out, r.Field)
		}
	}
	return out
}

// ReadRequest returns the read that covers field alone, polled or not: what
// a write is checked with, and what a command-only register is read with.
func (p *Profile) ReadRequest(field string) (Request, error) {
	i := p.index(field)
	if i < 0 {
		return Request{}, fmt.Errorf("profile %s: field %q: %w", p.Model, field, ErrUnknownField)
	}
	r := &p.Registers[i]
	return Request{Table: r.Table, Address: r.Address, Quantity: uint16(r.Type.Words()), Registers: []int{i}}, nil
}

// Encode returns the register of field and the raw values that make the
// device hold value, the inverse of Decode: for a holding register, its
// words in the register's type and order, from (value-offset)/scale
// rounded to the nearest integer the type holds (float32 is not rounded);
// for a coil, one value, 0 or 1.
//
// It refuses, naming the field, an unknown field (ErrUnknownField), a
// field whose access is not rw or a bit inside a register (ErrNotWritable:
// one write would overwrite the other bits of that register), and NaN, an
// infinity, a value outside the field's min and max or the raw type's
// range, a raw value the profile lists as invalid, or a coil value other
// than the two the coil decodes to (ErrBadValue).
func (p *Profile) Encode(field string, value float64) (Register, []uint16, error) {
	i := p.index(field)
	if i < 0 {
		return Register{}, nil, fmt.Errorf("profile %s: field %q: %w (writable fields: %v)", p.Model, field, ErrUnknownField, p.Writable())
	}
	r := p.Registers[i]
	words, err := r.encode(value)
	if err != nil {
		return Register{}, nil, fmt.Errorf("profile %s: field %q: %w", p.Model, field, err)
	}
	return r, words, nil
}

func (r *Register) encode(value float64) ([]uint16, error) {
	if r.Access != "rw" {
		return nil, fmt.Errorf("%w: access is %q, not rw", ErrNotWritable, r.Access)
	}
	if r.Type == Bool && !r.Table.Bits() {
		return nil, fmt.Errorf("%w: it is bit %d of %s register %d, and writing it alone would overwrite the register's other bits",
			ErrNotWritable, *r.Bit, r.Table, r.Address)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return nil, fmt.Errorf("%w: %v is not a finite number", ErrBadValue, value)
	}
	if why := r.outOfRange(value); why != "" {
		return nil, fmt.Errorf("%w: %v is %s", ErrBadValue, value, why)
	}
	scale := r.Scale
	if scale == 0 { // a Register not checked by Validate
		scale = 1
	}
	exact := (value - r.Offset) / scale
	raw := exact
	if r.Type != Float32 {
		raw = math.Round(exact)
	}
	if r.Type == Bool && !(math.Abs(exact-raw) <= 1e-9 && (raw == 0 || raw == 1)) {
		return nil, fmt.Errorf("%w: %v is neither of the coil's two values %v and %v", ErrBadValue, value, round(r.Offset), round(scale+r.Offset))
	}
	lo, hi := r.Type.rawRange()
	if !(raw >= lo && raw <= hi) {
		return nil, fmt.Errorf("%w: %v needs raw value %s, outside the %s..%s of %s",
			ErrBadValue, value, formatRaw(round(exact)), formatRaw(lo), formatRaw(hi), r.Type)
	}
	if slices.Contains(r.Invalid, raw) {
		return nil, fmt.Errorf("%w: raw value %s means no valid reading on this device", ErrBadValue, formatRaw(raw))
	}
	if r.Type != Float32 && raw != exact {
		// The nearest value the register holds may lie past a limit that
		// is not a multiple of the scale.
		stored := round(raw*scale + r.Offset)
		if why := r.outOfRange(stored); why != "" {
			return nil, fmt.Errorf("%w: %v would be stored as %v, %s", ErrBadValue, value, stored, why)
		}
	}
	return r.words(raw), nil
}

// outOfRange says how v lies outside the register's min and max, or
// returns "" if it does not.
func (r *Register) outOfRange(v float64) string {
	switch {
	case r.Min != nil && v < *r.Min:
		return fmt.Sprintf("below the minimum %v", *r.Min)
	case r.Max != nil && v > *r.Max:
		return fmt.Sprintf("above the maximum %v", *r.Max)
	}
	return ""
}

// rawRange is the range of raw values the type holds.
func (t Type) rawRange() (lo, hi float64) {
	switch t {
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Uint32:
		return 0, math.MaxUint32
	case Float32:
		return -math.MaxFloat32, math.MaxFloat32
	}
	return 0, 1 // Bool
}

// words lays raw out as the register's words, the inverse of raw. The
// caller has checked raw against the type's range.
func (r *Register) words(raw float64) []uint16 {
	switch r.Type {
	case Bool:
		return []uint16{uint16(raw)}
	case Int16, Uint16:
		v := uint16(int32(raw)) // int32 holds both ranges; the conversion keeps the low 16 bits
		if r.Order == "BA" {
			v = v<<8 | v>>8
		}
		return []uint16{v}
	}
	var u uint32
	switch r.Type {
	case Int32:
		u = uint32(int32(raw))
	case Uint32:
		u = uint32(raw)
	case Float32:
		u = math.Float32bits(float32(raw))
	}
	// Value bytes, most significant first; raw reads them off the wire
	// bytes A B (first register) C D (second) in the order's letters.
	v0, v1, v2, v3 := byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
	var a, b, c, d byte
	switch r.Order {
	case "ABCD":
		a, b, c, d = v0, v1, v2, v3
	case "CDAB":
		c, d, a, b = v0, v1, v2, v3
	case "BADC":
		b, a, d, c = v0, v1, v2, v3
	case "DCBA":
		d, c, b, a = v0, v1, v2, v3
	}
	return []uint16{uint16(a)<<8 | uint16(b), uint16(c)<<8 | uint16(d)}
}
