package scale

import (
	"bytes"
	"fmt"
)

// XK3190 frame sizes.
const (
	// xkReversedLen is a reversed frame: '=', seven characters of the
	// display (digits and the point) least significant first, and the
	// sign place.
	xkReversedLen = 9
	// xkMaxLine is the longest line form the splitter waits for before it
	// gives up on a terminator; the longest real line is about 20 bytes.
	xkMaxLine = 32
	// maxDigits bounds a number field so that it fits a float64 exactly.
	maxDigits = 12
	// maxDecimals is more places than any indicator shows.
	maxDecimals = 6
)

// ParseXK3190 parses one frame of a Yaohua XK3190 indicator (or one of
// the many Chinese indicators that copy its continuous output): a
// reversed frame such as "=000.3000", a status line such as
// "ST,GS,+0003.000kg", or an A12 line such as "wn0003.000kg". A trailing
// CR LF is allowed on lines. The package documentation describes the forms.
func ParseXK3190(frame []byte) (Reading, error) {
	switch {
	case len(frame) > 0 && frame[0] == '=':
		return parseReversed(frame)
	case len(frame) >= 2 && frame[0] == 'w' && (frame[1] == 'w' || frame[1] == 'n'):
		return parseWLine(trimEOL(frame))
	case len(frame) >= 6 && frame[2] == ',' && frame[5] == ',':
		return parseStatusLine(trimEOL(frame))
	}
	return Reading{}, fmt.Errorf("xk3190 %q: %w: no frame start", clip(frame), ErrGarbage)
}

// parseReversed parses "=" followed by the display reversed: 3.000 kg is
// "=000.3000" (the display "0003.000" read backwards), -1.00 kg is
// "=00.1000-" ("-0001.00" backwards). The last byte is the sign place,
// '0' or '-'. No unit is sent; the indicators are calibrated in kg.
func parseReversed(frame []byte) (Reading, error) {
	if len(frame) != xkReversedLen {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: reversed frame of %d bytes, want %d", clip(frame), ErrFraming, len(frame), xkReversedLen)
	}
	var display [xkReversedLen - 1]byte
	for i := range display {
		display[i] = frame[len(frame)-1-i]
	}
	neg := false
	switch display[0] {
	case '0':
	case '-':
		neg = true
	default:
		return Reading{}, fmt.Errorf("xk3190 %q: %w: sign place %q, want '0' or '-'", frame, ErrFraming, display[0])
	}
	digits, decimals, err := parseNumber(display[1:], false)
	if err != nil {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: %v", frame, ErrFraming, err)
	}
	w := scaled(digits, decimals)
	if neg {
		w = -w
	}
	return Reading{Weight: w, Unit: "kg", Decimals: decimals}, nil
}

// parseWLine parses the XK3190-A12 continuous line: "ww" for gross or
// "wn" for net, an optional '-', the number and the unit, as in
// "ww0003.000kg" or "wn-0000.1kg". It says nothing of stability.
func parseWLine(line []byte) (Reading, error) {
	r := Reading{Net: line[1] == 'n'}
	rest := line[2:]
	neg := len(rest) > 0 && rest[0] == '-'
	if neg {
		rest = rest[1:]
	}
	num, unit := splitUnit(rest)
	digits, decimals, err := parseNumber(num, true)
	if err != nil {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: %v", line, ErrFraming, err)
	}
	f, ok := lineUnit(unit)
	if !ok {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: unit %q", line, ErrFraming, unit)
	}
	r.Unit, r.Decimals = string(unit), decimals
	r.Weight = scaled(digits, decimals) * f
	if neg {
		r.Weight = -r.Weight
	}
	return r, nil
}

// parseStatusLine parses "H1,H2,±number unit": H1 is ST (stable), US
// (unstable) or OL (overload, number blank), H2 is GS or GW (gross) or NT
// (net), as in "ST,GS,+0003.000kg" and "US,NT,-  1.250kg". Tare lines
// (TR) answer a command and carry no weight; they are refused.
func parseStatusLine(line []byte) (Reading, error) {
	var r Reading
	switch string(line[:2]) {
	case "ST":
		r.Stable = true
	case "US":
		r.Motion = true
	case "OL":
		r.Overload = true
	default:
		return Reading{}, fmt.Errorf("xk3190 %q: %w: status %q, want ST, US or OL", clip(line), ErrFraming, line[:2])
	}
	switch string(line[3:5]) {
	case "GS", "GW":
	case "NT":
		r.Net = true
	default:
		return Reading{}, fmt.Errorf("xk3190 %q: %w: mode %q, want GS, GW or NT", clip(line), ErrFraming, line[3:5])
	}
	rest := line[6:]
	if len(rest) == 0 || (rest[0] != '+' && rest[0] != '-') {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: no sign", clip(line), ErrFraming)
	}
	neg := rest[0] == '-'
	num, unit := splitUnit(rest[1:])
	f, ok := lineUnit(unit)
	if len(unit) > 0 && !ok {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: unit %q", clip(line), ErrFraming, unit)
	}
	r.Unit = string(unit)
	if r.Overload && len(bytes.TrimLeft(num, " ")) == 0 {
		// An overload blanks the number; the unit may be there or not.
		return r, nil
	}
	if len(unit) == 0 {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: no unit", clip(line), ErrFraming)
	}
	digits, decimals, err := parseNumber(num, true)
	if err != nil {
		return Reading{}, fmt.Errorf("xk3190 %q: %w: %v", clip(line), ErrFraming, err)
	}
	r.Decimals = decimals
	r.Weight = scaled(digits, decimals) * f
	if neg {
		r.Weight = -r.Weight
	}
	return r, nil
}

// splitUnit splits "0003.000kg" or "  1.25 kg" into the number and the
// unit, dropping blanks between them.
func splitUnit(b []byte) (num, unit []byte) {
	b = bytes.TrimRight(b, " ")
	i := len(b)
	for i > 0 && b[i-1] >= 'a' && b[i-1] <= 'z' {
		i--
	}
	return bytes.TrimRight(b[:i], " "), b[i:]
}

// parseNumber parses a display number: digits with at most one point,
// which is neither first nor last, after leading blanks when blanks is
// set. It returns the digits as an integer and the places after the point.
func parseNumber(b []byte, blanks bool) (digits int64, decimals int, err error) {
	if blanks {
		b = bytes.TrimLeft(b, " ")
	}
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("no number")
	}
	point, n := -1, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n++
			if n > maxDigits {
				return 0, 0, fmt.Errorf("more than %d digits", maxDigits)
			}
			digits = digits*10 + int64(c-'0')
		case c == '.' && point < 0 && i > 0 && i < len(b)-1:
			point = i
		default:
			return 0, 0, fmt.Errorf("%q is not part of a number", c)
		}
	}
	if point >= 0 {
		decimals = len(b) - 1 - point
	}
	if decimals > maxDecimals {
		return 0, 0, fmt.Errorf("more than %d decimals", maxDecimals)
	}
	return digits, decimals, nil
}

// lineUnit returns the kilograms in a unit a line may carry.
func lineUnit(u []byte) (float64, bool) {
	switch string(u) {
	case "kg", "lb", "g", "t":
		return kgPer[string(u)], true
	}
	return 0, false
}

// trimEOL drops a trailing CR, LF or both.
func trimEOL(b []byte) []byte { return bytes.TrimRight(b, "\r\n") }

// clip shortens a frame for an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// xkStart tells whether b begins a frame: a reversed frame ('='), a
// status line ("ST,", "US,", "OL,") or an A12 line ("ww", "wn"). When b is
// too short to decide it reports partial.
func xkStart(b []byte) (start, partial bool) {
	if len(b) == 0 {
		return false, false
	}
	switch b[0] {
	case '=':
		return true, false
	case 'w':
		if len(b) < 2 {
			return false, true
		}
		return b[1] == 'w' || b[1] == 'n', false
	case 'S', 'U', 'O':
		want := byte('T') // ST
		switch b[0] {
		case 'U':
			want = 'S' // US
		case 'O':
			want = 'L' // OL
		}
		if len(b) < 2 {
			return false, true
		}
		if b[1] != want {
			return false, false
		}
		if len(b) < 3 {
			return false, true
		}
		return b[2] == ',', false
	}
	return false, false
}

// reversedByte reports whether c may follow '=' in a reversed frame.
func reversedByte(c byte) bool { return c >= '0' && c <= '9' || c == '.' || c == '-' }

// isSeparator reports bytes that indicators put between frames and that
// are neither a frame nor garbage.
func isSeparator(c byte) bool { return c == '\r' || c == '\n' || c == ' ' }

// splitXK3190 finds the next token in b; see splitFunc.
func splitXK3190(b []byte, atEOF bool) (int, token) {
	start, partial := xkStart(b)
	switch {
	case partial:
		if atEOF {
			return len(b), tokGarbage
		}
		return 0, tokMore
	case !start:
		if isSeparator(b[0]) {
			n := 1
			for n < len(b) && isSeparator(b[n]) {
				n++
			}
			return n, tokSeparator
		}
		n := 1
		for n < len(b) && !isSeparator(b[n]) {
			if s, p := xkStart(b[n:]); s || p {
				break
			}
			n++
		}
		return n, tokGarbage
	case b[0] == '=':
		for i := 1; i < xkReversedLen; i++ {
			if i == len(b) {
				if atEOF {
					return i, tokBroken
				}
				return 0, tokMore
			}
			if !reversedByte(b[i]) {
				return i, tokBroken
			}
		}
		return xkReversedLen, tokFrame
	}
	// A line runs to CR or LF; another frame start inside it means it was
	// cut short.
	for i := 2; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			return i + 1, tokFrame
		}
		if i >= xkMaxLine {
			return i, tokBroken
		}
		s, p := xkStart(b[i:])
		if s {
			return i, tokBroken
		}
		if p && !atEOF {
			return 0, tokMore
		}
	}
	if atEOF || len(b) > xkMaxLine {
		return len(b), tokBroken
	}
	return 0, tokMore
}
