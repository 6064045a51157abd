package waybill

import (
	"fmt"
	"strings"
)

// MaxLen is the longest code Parse looks at; a longer one is Unknown
// without further ado. No carrier's number comes near it.
const MaxLen = 40

// Result is what Parse makes of a scanned or imported waybill number.
// Exactly one of three things holds: Unknown; Ambiguous (two or more
// Candidates, Carrier is NoCarrier); or neither (one Candidate, which is
// Carrier).
type Result struct {
	// Code is the input trimmed of surrounding white space, with ASCII
	// letters in upper case. Only ASCII is folded, so "ſ" never becomes
	// "S".
	Code string
	// Carrier is the carrier when exactly one carrier's pattern matches,
	// otherwise NoCarrier.
	Carrier Carrier
	// Candidates are the carriers whose patterns match, most likely first.
	// It is empty when Unknown.
	Candidates []Carrier
	// Ambiguous says that more than one carrier's pattern matches: the
	// caller decides, with a manifest or a person, never by taking the
	// first candidate silently.
	Ambiguous bool
	// Unknown says that no pattern matches. The code is still reported
	// (as an exception parcel), never dropped.
	Unknown bool
	// Reason says in a few words why the code is Unknown, for the
	// exception report; empty otherwise.
	Reason string
}

// rule is one waybill form: a fixed prefix of letters (or none), a range
// of digit counts after it, and, for digit-only forms, the leading digits
// it allows. Rank orders overlapping candidates: for digit-only forms it is
// the length of the matching leading-digit prefix, so a form defined by
// "11" outranks one defined by "1".
type rule struct {
	carrier   Carrier
	name      string // for documentation and tests
	letters   string // literal prefix, e.g. "SF"; "" for digit-only forms
	letterMin int    // letters A-Z allowed after the literal prefix
	letterMax int
	minDigits int
	maxDigits int
	leading   []string // allowed leading digits of a digit-only form
	rank      int      // for forms with a letter prefix
}

// rules lists the forms recognised. DESIGN and the package documentation
// explain where each comes from; examples are in Examples.
var rules = []rule{
	// Letter-prefixed forms: unique, no overlap with each other or with the
	// digit-only forms.
	{carrier: SF, name: "SF+12..13", letters: "SF", minDigits: 12, maxDigits: 13, rank: 10},
	{carrier: JD, name: "JD+A..AA+11..13", letters: "JD", letterMin: 1, letterMax: 2, minDigits: 11, maxDigits: 13, rank: 10},
	{carrier: YTO, name: "YT+13", letters: "YT", minDigits: 13, maxDigits: 13, rank: 10},
	{carrier: JT, name: "JT+13", letters: "JT", minDigits: 13, maxDigits: 13, rank: 10},

	// Digit-only forms. Overlaps: 13 digits starting with 1 match both
	// Yunda and China Post; equal ranks fall back to Carrier order.
	{carrier: ZTO, name: "ZTO 12", minDigits: 12, maxDigits: 12, leading: []string{"5", "6", "7"}},
	{carrier: ZTO, name: "ZTO 14", minDigits: 14, maxDigits: 14, leading: []string{"73", "74", "75", "76", "77", "78"}},
	{carrier: Yunda, name: "Yunda 13", minDigits: 13, maxDigits: 13, leading: []string{"1", "3", "4", "5"}},
	{carrier: Yunda, name: "Yunda 15", minDigits: 15, maxDigits: 15, leading: []string{"3", "4"}},
	{carrier: ChinaPost, name: "Post 13", minDigits: 13, maxDigits: 13, leading: []string{"10", "11", "1", "9"}},
	{carrier: YTO, name: "YTO 10 (legacy)", minDigits: 10, maxDigits: 10, leading: []string{"0", "1", "2", "6", "8", "9"}},
}

// Parse recognises the carrier of a waybill number. It never fails: a
// code it cannot place is returned with Unknown set and a Reason.
func Parse(code string) Result {
	r := Result{Code: normalise(code)}
	c := r.Code
	switch {
	case c == "":
		return unknown(r, "empty")
	case len(c) > MaxLen:
		return unknown(r, fmt.Sprintf("%d characters, longer than any waybill number", len(c)))
	}
	for i := 0; i < len(c); i++ {
		if !isUpper(c[i]) && !isDigit(c[i]) {
			return unknown(r, fmt.Sprintf("character %q at %d is not a letter or digit", rune(c[i]), i))
		}
	}
	if looksS10(c) {
		if err := checkS10(c); err != nil {
			return unknown(r, err.Error())
		}
		r.Carrier, r.Candidates = ChinaPost, []Carrier{ChinaPost}
		return r
	}

	var best [numCarriers]int // rank+1 per carrier, 0 = no match
	for _, ru := range rules {
		if k, ok := ru.match(c); ok && k+1 > best[ru.carrier] {
			best[ru.carrier] = k + 1
		}
	}
	for cr := SF; cr < numCarriers; cr++ {
		if best[cr] > 0 {
			r.Candidates = append(r.Candidates, cr)
		}
	}
	// Stable insertion sort by rank: few candidates, tie-break order kept.
	for i := 1; i < len(r.Candidates); i++ {
		for j := i; j > 0 && best[r.Candidates[j]] > best[r.Candidates[j-1]]; j-- {
			r.Candidates[j], r.Candidates[j-1] = r.Candidates[j-1], r.Candidates[j]
		}
	}
	switch len(r.Candidates) {
	case 0:
		return unknown(r, "matches no carrier's pattern")
	case 1:
		r.Carrier = r.Candidates[0]
	default:
		r.Ambiguous = true
	}
	return r
}

func unknown(r Result, reason string) Result {
	r.Unknown, r.Reason = true, reason
	return r
}

// match reports whether code has the rule's form, and its rank.
func (ru rule) match(code string) (rank int, ok bool) {
	rest, ok := strings.CutPrefix(code, ru.letters)
	if !ok {
		return 0, false
	}
	n := 0
	for n < ru.letterMax && n < len(rest) && isUpper(rest[n]) {
		n++
	}
	if n < ru.letterMin {
		return 0, false
	}
	digits := rest[n:]
	if len(digits) < ru.minDigits || len(digits) > ru.maxDigits || !allDigits(digits) {
		return 0, false
	}
	if ru.letters != "" {
		return ru.rank, true
	}
	best := -1
	for _, p := range ru.leading {
		if strings.HasPrefix(digits, p) && len(p) > best {
			best = len(p)
		}
	}
	return best, best >= 0
}

// normalise trims white space (Unicode, so a full-width space from a
// spreadsheet goes too) and upper-cases ASCII letters only.
func normalise(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }
func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
