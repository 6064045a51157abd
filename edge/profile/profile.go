package profile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/countylink/countylink/contract"
	"gopkg.in/yaml.v3"
)

// Table is one of the four Modbus data tables.
type Table string

// The Modbus tables.
const (
	Holding  Table = "holding"  // read/write 16-bit registers, function 3 (read), 6/16 (write)
	Input    Table = "input"    // read-only 16-bit registers, function 4
	Coil     Table = "coil"     // read/write bits, function 1 (read), 5/15 (write)
	Discrete Table = "discrete" // read-only bits, function 2
)

// Bits reports whether the table holds bits rather than 16-bit words.
func (t Table) Bits() bool { return t == Coil || t == Discrete }

// Type is how a register's raw words are interpreted.
type Type string

// Register types.
const (
	Int16   Type = "int16"
	Uint16  Type = "uint16"
	Int32   Type = "int32"
	Uint32  Type = "uint32"
	Float32 Type = "float32"
	Bool    Type = "bool" // a coil, a discrete input, or one bit of a register (Bit)
)

// Words is how many 16-bit registers the type occupies (1 for bits).
func (t Type) Words() int {
	switch t {
	case Int32, Uint32, Float32:
		return 2
	}
	return 1
}

// Register is one value of a device.
type Register struct {
	Field   string    `yaml:"field"`   // name in telemetry, a contract.ValidID
	Table   Table     `yaml:"table"`   // holding, input, coil, discrete
	Address uint16    `yaml:"address"` // zero-based protocol address
	Type    Type      `yaml:"type"`
	Order   string    `yaml:"order"` // byte order: AB or BA for 16 bits; ABCD, CDAB, BADC, DCBA for 32 bits. Default big-endian.
	Bit     *int      `yaml:"bit"`   // for type bool in a register table: the bit, 0 = least significant
	Scale   float64   `yaml:"scale"` // value = raw*scale + offset; 0 means 1
	Offset  float64   `yaml:"offset"`
	Unit    string    `yaml:"unit"`
	Access  string    `yaml:"access"`  // r (default) or rw
	Invalid []float64 `yaml:"invalid"` // raw values meaning "no valid reading" (a disconnected probe's 32767)
	Min     *float64  `yaml:"min"`     // plausible range after scaling; outside it the value is a fault
	Max     *float64  `yaml:"max"`
	Poll    *bool     `yaml:"poll"` // false: written by commands only, not read each cycle
}

// Profile is one device model's register map.
type Profile struct {
	Model       string     `yaml:"model"` // a contract.ValidID
	Name        string     `yaml:"name"`
	Vendor      string     `yaml:"vendor"`
	Description string     `yaml:"description"`
	MaxGap      *int       `yaml:"max_gap"` // registers a coalesced read may span needlessly; default 8
	Registers   []Register `yaml:"registers"`
}

// Parse reads a profile from YAML and validates it. Unknown keys are errors,
// so a typo in a field name is caught when the file is loaded.
func Parse(data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the profile and fills defaults. It names the bad register.
func (p *Profile) Validate() error {
	if !contract.ValidID(p.Model) {
		return fmt.Errorf("profile: model %q must match [a-z0-9][a-z0-9_-]*", p.Model)
	}
	if len(p.Registers) == 0 {
		return fmt.Errorf("profile %s: no registers", p.Model)
	}
	if p.MaxGap == nil {
		g := 8
		p.MaxGap = &g
	}
	seen := map[string]bool{}
	var errs []error
	for i := range p.Registers {
		r := &p.Registers[i]
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("profile %s: registers[%d] (%s): %w", p.Model, i, r.Field, err))
		}
		if seen[r.Field] {
			errs = append(errs, fmt.Errorf("profile %s: registers[%d]: field %q appears twice", p.Model, i, r.Field))
		}
		seen[r.Field] = true
	}
	return errors.Join(errs...)
}

func (r *Register) validate() error {
	if !contract.ValidID(r.Field) {
		return fmt.Errorf("field %q must match [a-z0-9][a-z0-9_-]*", r.Field)
	}
	switch r.Table {
	case Holding, Input, Coil, Discrete:
	default:
		return fmt.Errorf("table %q must be holding, input, coil or discrete", r.Table)
	}
	if r.Type == "" && r.Table.Bits() {
		r.Type = Bool
	}
	switch r.Type {
	case Int16, Uint16, Int32, Uint32, Float32:
		if r.Table.Bits() {
			return fmt.Errorf("type %s needs a register table, not %s", r.Type, r.Table)
		}
	case Bool:
		if !r.Table.Bits() && r.Bit == nil {
			return fmt.Errorf("type bool in table %s needs bit", r.Table)
		}
		if r.Bit != nil && (*r.Bit < 0 || *r.Bit > 15) {
			return fmt.Errorf("bit %d must be 0..15", *r.Bit)
		}
	default:
		return fmt.Errorf("type %q must be int16, uint16, int32, uint32, float32 or bool", r.Type)
	}
	if int(r.Address)+r.Type.Words() > 65536 {
		return fmt.Errorf("address %d overruns the table", r.Address)
	}
	if r.Order == "" {
		r.Order = "ABCD"[:2*r.Type.Words()]
	}
	valid := map[int][]string{1: {"AB", "BA"}, 2: {"ABCD", "CDAB", "BADC", "DCBA"}}[r.Type.Words()]
	if !slices.Contains(valid, r.Order) {
		return fmt.Errorf("order %q for %s must be one of %v", r.Order, r.Type, valid)
	}
	if r.Scale == 0 {
		r.Scale = 1
	}
	switch r.Access {
	case "":
		r.Access = "r"
	case "r":
	case "rw":
		if r.Table == Input || r.Table == Discrete {
			return fmt.Errorf("access rw on read-only table %s", r.Table)
		}
	default:
		return fmt.Errorf("access %q must be r or rw", r.Access)
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		return fmt.Errorf("min %v is above max %v", *r.Min, *r.Max)
	}
	return nil
}

// Polled reports whether the register is read every poll cycle.
func (r *Register) Polled() bool { return r.Poll == nil || *r.Poll }

// Request is one read covering one or more registers of a table.
type Request struct {
	Table     Table
	Address   uint16
	Quantity  uint16 // registers or bits
	Registers []int  // indexes into Profile.Registers covered by this read
}

// Modbus limits on one read (Modbus application protocol 1.1b3, 6.1 to 6.4).
const (
	MaxReadRegisters = 125
	MaxReadBits      = 2000
)

// Plan returns the reads that cover every polled register, coalescing
// neighbours of the same table into one request when the result stays
// within the protocol limit and skips at most MaxGap unused addresses.
func (p *Profile) Plan() []Request {
	idx := make([]int, 0, len(p.Registers))
	for i := range p.Registers {
		if p.Registers[i].Polled() {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, rb := &p.Registers[a], &p.Registers[b]
		if ra.Table != rb.Table {
			return cmpString(string(ra.Table), string(rb.Table))
		}
		return int(ra.Address) - int(rb.Address)
	})
	var out []Request
	for _, i := range idx {
		r := &p.Registers[i]
		end := int(r.Address) + r.Type.Words() // exclusive
		limit := MaxReadRegisters
		if r.Table.Bits() {
			limit = MaxReadBits
		}
		if n := len(out); n > 0 {
			last := &out[n-1]
			lastEnd := int(last.Address) + int(last.Quantity)
			if last.Table == r.Table && int(r.Address)-lastEnd <= *p.MaxGap && end-int(last.Address) <= limit {
				if end > lastEnd {
					last.Quantity = uint16(end - int(last.Address))
				}
				last.Registers = append(last.Registers, i)
				continue
			}
		}
		out = append(out, Request{Table: r.Table, Address: r.Address, Quantity: uint16(end - int(r.Address)), Registers: []int{i}})
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Reading is the decoded result of one poll.
type Reading struct {
	Fields map[string]float64 // valid values
	Units  map[string]string
	Faults map[string]string // field to why it has no valid value
}

// Decode turns the words (or bits, one per element, 0 or 1) returned for
// request q into values, adding them to rd.
func (p *Profile) Decode(q Request, words []uint16, rd *Reading) error {
	if len(words) < int(q.Quantity) {
		return fmt.Errorf("profile %s: read of %d at %s %d returned %d values", p.Model, q.Quantity, q.Table, q.Address, len(words))
	}
	for _, i := range q.Registers {
		r := &p.Registers[i]
		off := int(r.Address - q.Address)
		raw := r.raw(words[off : off+r.Type.Words()])
		if r.Unit != "" {
			rd.Units[r.Field] = r.Unit
		}
		if slices.Contains(r.Invalid, raw) {
			rd.Faults[r.Field] = "sensor fault: raw value " + formatRaw(raw)
			continue
		}
		v := raw*r.Scale + r.Offset
		if math.IsNaN(v) || math.IsInf(v, 0) {
			rd.Faults[r.Field] = "sensor fault: not a number"
			continue
		}
		if (r.Min != nil && v < *r.Min) || (r.Max != nil && v > *r.Max) {
			rd.Faults[r.Field] = fmt.Sprintf("sensor fault: %v outside plausible range", round(v))
			continue
		}
		rd.Fields[r.Field] = round(v)
	}
	return nil
}

// round removes the binary noise that scaling adds (2.5000000000000004),
// keeping what any real sensor can resolve.
func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// raw interprets the register's words per its type and order.
func (r *Register) raw(w []uint16) float64 {
	if r.Table.Bits() {
		return float64(w[0] & 1)
	}
	if r.Type == Bool {
		return float64(w[0] >> *r.Bit & 1)
	}
	if r.Type.Words() == 1 {
		v := w[0]
		if r.Order == "BA" {
			v = v<<8 | v>>8
		}
		if r.Type == Int16 {
			return float64(int16(v))
		}
		return float64(v)
	}
	// Bytes as they came off the wire: A B (first register), C D (second).
	a, b, c, d := byte(w[0]>>8), byte(w[0]), byte(w[1]>>8), byte(w[1])
	var u uint32
	switch r.Order {
	case "ABCD":
		u = uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d)
	case "CDAB":
		u = uint32(c)<<24 | uint32(d)<<16 | uint32(a)<<8 | uint32(b)
	case "BADC":
		u = uint32(b)<<24 | uint32(a)<<16 | uint32(d)<<8 | uint32(c)
	case "DCBA":
		u = uint32(d)<<24 | uint32(c)<<16 | uint32(b)<<8 | uint32(a)
	}
	switch r.Type {
	case Int32:
		return float64(int32(u))
	case Float32:
		return float64(math.Float32frombits(u))
	}
	return float64(u)
}

// formatRaw prints a raw value as the integer it usually is, 2147483647
// rather than 2.147483647e+09.
func formatRaw(raw float64) string {
	if math.Abs(raw) < 1e15 {
		return strconv.FormatFloat(raw, 'f', -1, 64)
	}
	return strconv.FormatFloat(raw, 'g', -1, 64)
}

// NewReading returns an empty Reading ready for Decode.
func NewReading() *Reading {
	return &Reading{Fields: map[string]float64{}, Units: map[string]string{}, Faults: map[string]string{}}
}
