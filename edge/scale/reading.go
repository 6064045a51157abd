package scale

import (
	"errors"
	"math"
	"time"
)

// Reading is one weight an indicator sent, in kilograms whatever unit it
// was displayed in. The parsers fill the fields the frame carries; a
// Reader adds Zero, Settled, At and an Overload from Config.Capacity.
type Reading struct {
	Weight   float64 // kg: gross, or net of Tare when Net; negative below zero
	Tare     float64 // kg: 0 when the format does not carry it
	Net      bool    // Weight is net of a tare
	Stable   bool    // the indicator said the weight is stable; false when the format says nothing
	Motion   bool    // the indicator said the weight is moving
	Overload bool    // out of range (over capacity, or under zero on Toledo)
	Unit     string  // unit the indicator displays: "kg", "lb", "g", "t", "oz", ...
	Decimals int     // digits after the point on the display; negative for fixed zeros (Toledo "XXXX00" is -2)

	Zero    bool      // within one division of 0 (set by a Reader)
	Settled bool      // the Reader's stable-weight detector holds (set by a Reader)
	At      time.Time // when the Reader took the frame (set by a Reader)
}

// The kinds of bad input a parser reports and a Reader counts. Parsers
// wrap them with the frame and the reason; test with errors.Is.
var (
	// ErrGarbage is input that is no frame of the format at all.
	ErrGarbage = errors.New("garbage")
	// ErrFraming is a frame that starts well but is cut short or has a
	// field that does not fit the format.
	ErrFraming = errors.New("framing")
	// ErrChecksum is a complete frame whose checksum does not match.
	ErrChecksum = errors.New("checksum")
)

// kgPer gives the kilograms in one display unit. The names are those a
// frame carries (lower case) or, for Toledo, the unit code's usual symbol.
var kgPer = map[string]float64{
	"kg":  1,
	"g":   0.001,
	"t":   1000,
	"lb":  0.45359237,     // international pound, exact
	"oz":  0.028349523125, // avoirdupois ounce, exact
	"ozt": 0.0311034768,   // troy ounce, exact
	"dwt": 0.00155517384,  // pennyweight, exact
	"ton": 1016.0469088,   // long ton (2240 lb), exact
}

// pow10 returns 10^n for small n without the rounding of math.Pow.
func pow10(n int) float64 {
	p := 1.0
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// scaled returns digits shown with decimals places (negative: with that
// many fixed zeros) as a number. Dividing by an exact power of ten gives
// the float nearest the decimal the indicator displayed.
func scaled(digits int64, decimals int) float64 {
	if decimals >= 0 {
		return float64(digits) / pow10(decimals)
	}
	return float64(digits) * pow10(-decimals)
}

// finite reports whether x is a usable number.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
