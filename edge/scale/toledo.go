package scale

import (
	"fmt"
)

// Toledo continuous output framing.
const (
	stx = 0x02
	cr  = 0x0D
	// toledoFull is STX, three status words, six digits of weight, six of
	// tare and CR; toledoShort leaves out the tare.
	toledoFull  = 17
	toledoShort = 11
	// parity is bit 7: on a 7E1 line read as eight bits it carries the
	// parity, so the parser ignores it.
	parity = 0x80
)

// Status word bits (Mettler-Toledo continuous output, status bytes A, B
// and C). Bits 5 and 6 of each word are constants that clones do not all
// honour, and bit 7 is parity; none of them is checked.
const (
	swaPoint = 0x07 // decimal point or fixed zeros: 0 XXXX00 ... 2 XXXXXX ... 7 X.XXXXX

	swbNet      = 0x01 // net (else gross)
	swbNegative = 0x02 // weight below zero
	swbRange    = 0x04 // out of range: over capacity or under zero
	swbMotion   = 0x08 // weight moving
	swbKg       = 0x10 // kg (else lb) when swcUnit is 0

	swcUnit = 0x07 // 0 lb or kg by swbKg, 1 g, 2 t, 3 oz, 4 ozt, 5 dwt, 6 long ton, 7 custom
)

// toledoUnits names the unit codes of status word C, 0 being decided by
// status word B.
var toledoUnits = [8]string{0: "", 1: "g", 2: "t", 3: "oz", 4: "ozt", 5: "dwt", 6: "ton", 7: ""}

// ParseToledo parses one frame of Mettler-Toledo continuous output: STX,
// status words A, B and C, six digits of weight, six of tare, CR and an
// optional checksum byte; or the short form without the tare. When the
// checksum is there it must match. The package documentation describes
// the status bits.
func ParseToledo(frame []byte) (Reading, error) {
	if len(frame) == 0 || frame[0]&^parity != stx {
		return Reading{}, fmt.Errorf("toledo %q: %w: no STX", clip(frame), ErrGarbage)
	}
	var end int // index of CR
	switch len(frame) {
	case toledoFull, toledoShort:
		end = len(frame) - 1
	case toledoFull + 1, toledoShort + 1:
		end = len(frame) - 2
	default:
		return Reading{}, fmt.Errorf("toledo %q: %w: %d bytes, want %d or %d and a checksum", clip(frame), ErrFraming, len(frame), toledoShort, toledoFull)
	}
	if frame[end]&^parity != cr {
		return Reading{}, fmt.Errorf("toledo %q: %w: no CR at byte %d", frame, ErrFraming, end)
	}
	if end == len(frame)-2 {
		if got, want := frame[end+1]&^parity, toledoChecksum(frame[:end+1]); got != want {
			return Reading{}, fmt.Errorf("toledo %q: %w: 0x%02X, want 0x%02X", frame, ErrChecksum, got, want)
		}
	}
	var sw [3]byte
	for i := range sw {
		c := frame[1+i] &^ parity
		if c < 0x20 || c == 0x7F {
			return Reading{}, fmt.Errorf("toledo %q: %w: status word %c is control byte 0x%02X", frame, ErrFraming, 'A'+i, c)
		}
		sw[i] = c
	}
	a, b, c := sw[0], sw[1], sw[2]
	decimals := int(a&swaPoint) - 2

	unit := toledoUnits[c&swcUnit]
	switch {
	case c&swcUnit == 0 && b&swbKg != 0:
		unit = "kg"
	case c&swcUnit == 0:
		unit = "lb"
	case unit == "":
		return Reading{}, fmt.Errorf("toledo %q: %w: custom unit (status word C 0x%02X) has no known size", frame, ErrFraming, c)
	}
	f := kgPer[unit]

	weight, err := toledoDigits(frame[4:10])
	if err != nil {
		return Reading{}, fmt.Errorf("toledo %q: %w: weight: %v", frame, ErrFraming, err)
	}
	r := Reading{
		Weight:   scaled(weight, decimals) * f,
		Net:      b&swbNet != 0,
		Motion:   b&swbMotion != 0,
		Stable:   b&swbMotion == 0,
		Overload: b&swbRange != 0,
		Unit:     unit,
		Decimals: decimals,
	}
	if b&swbNegative != 0 {
		r.Weight = -r.Weight
	}
	if end == toledoFull-1 {
		tare, err := toledoDigits(frame[10:16])
		if err != nil {
			return Reading{}, fmt.Errorf("toledo %q: %w: tare: %v", frame, ErrFraming, err)
		}
		r.Tare = scaled(tare, decimals) * f
	}
	return r, nil
}

// toledoDigits parses a six-digit field: digits, some terminals blanking
// the leading zeros (all blank reads as 0).
func toledoDigits(b []byte) (int64, error) {
	var n int64
	digits := false
	for _, c := range b {
		c &^= parity
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits = true
		case c == ' ' && !digits:
		default:
			return 0, fmt.Errorf("%q is not a digit", c)
		}
	}
	return n, nil
}

// toledoChecksum is the two's complement of the low seven bits of the sum
// of every byte before the checksum, STX and CR included. The parity bits
// do not reach the low seven bits of the sum, so they need no masking.
func toledoChecksum(b []byte) byte {
	var sum byte
	for _, c := range b {
		sum += c
	}
	return -sum & 0x7F
}

// splitToledo finds the next token in b; see splitFunc. A frame runs from
// STX to CR, plus one checksum byte when checksum is set; another STX
// before the CR means the frame was cut short.
func splitToledo(checksum bool) splitFunc {
	return func(b []byte, atEOF bool) (int, token) {
		if b[0]&^parity != stx {
			n := 1
			for n < len(b) && b[n]&^parity != stx {
				n++
			}
			return n, tokGarbage
		}
		for i := 1; i < len(b); i++ {
			switch b[i] &^ parity {
			case stx:
				return i, tokBroken
			case cr:
				end := i + 1
				if checksum {
					if end == len(b) {
						if atEOF {
							return end, tokBroken
						}
						return 0, tokMore
					}
					end++
				}
				return end, tokFrame
			}
			if i == toledoFull-1 {
				// The longest frame has its CR here.
				return i + 1, tokBroken
			}
		}
		if atEOF {
			return len(b), tokBroken
		}
		return 0, tokMore
	}
}
