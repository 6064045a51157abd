package waybill

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSortCode is wrapped by every error ParseSortCode returns.
var ErrSortCode = errors.New("not a three-segment sort code")

// MaxSegmentLen is the longest segment ParseSortCode accepts. Carriers
// print 2 to 4 characters per segment; 8 leaves room without accepting a
// waybill number as a segment.
const MaxSegmentLen = 8

// SortCode is the three-segment sort code (三段码) a carrier prints on its
// e-waybill, large, above the address: for example "571-W01-01".
type SortCode struct {
	// Centre is the first segment (一段码): the destination sorting centre
	// (分拨中心), often a city's 3-digit number.
	Centre string
	// Station is the second segment (二段码): the delivery station or
	// outlet (网点) under that centre.
	Station string
	// Route is the third segment (三段码): the courier or delivery round
	// (派件段) of that station; for a township warehouse, often a village
	// route.
	Route string
}

// String writes the code in its usual printed form, dash-separated.
func (s SortCode) String() string {
	return s.Centre + "-" + s.Station + "-" + s.Route
}

// ParseSortCode reads a three-segment sort code. Segments are 1 to
// MaxSegmentLen ASCII letters or digits (letters are upper-cased); between
// two segments stands a dash, one or more spaces, or a dash with spaces
// around it: "571-W01-01", "200 D06 15", "571 - W01 01" all parse.
func ParseSortCode(s string) (SortCode, error) {
	in := strings.TrimSpace(s)
	var seg [3]string
	rest := normalise(in)
	for i := range seg {
		n := 0
		for n < len(rest) && (isUpper(rest[n]) || isDigit(rest[n])) {
			n++
		}
		switch {
		case n == 0 && rest == "":
			return SortCode{}, fmt.Errorf("%q: %w: %d segments, want 3", s, ErrSortCode, i)
		case n == 0:
			return SortCode{}, fmt.Errorf("%q: %w: unexpected %q", s, ErrSortCode, firstRune(rest))
		case n > MaxSegmentLen:
			return SortCode{}, fmt.Errorf("%q: %w: segment %d is %d characters, at most %d", s, ErrSortCode, i+1, n, MaxSegmentLen)
		}
		seg[i], rest = rest[:n], rest[n:]
		if i == 2 {
			break
		}
		sep := len(rest)
		rest = strings.TrimLeft(rest, " ")
		if d, ok := strings.CutPrefix(rest, "-"); ok {
			rest = strings.TrimLeft(d, " ")
		} else if len(rest) == sep && rest != "" {
			return SortCode{}, fmt.Errorf("%q: %w: unexpected %q after segment %d", s, ErrSortCode, firstRune(rest), i+1)
		}
	}
	if rest != "" {
		return SortCode{}, fmt.Errorf("%q: %w: unexpected %q after segment 3", s, ErrSortCode, firstRune(rest))
	}
	return SortCode{Centre: seg[0], Station: seg[1], Route: seg[2]}, nil
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}
