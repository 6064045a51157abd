package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/countylink/countylink/edge/waybill"
)

// excelNumber is a long number Excel has shown in scientific notation and
// saved that way: the digits are gone.
var excelNumber = regexp.MustCompile(`^[0-9](\.[0-9]+)?E\+[0-9]+$`)

// checker holds what rows are checked against, and the report so far.
type checker struct {
	opts     Options
	sites    map[string]bool
	villages map[string]*Village   // by lower-case id
	bySite   map[string][]*Village // villages of each township
	errs     []RowError
	notes    []RowError
	warnings int
}

// check turns rows into a batch.
func check(rows []row, opts Options) *Batch {
	c := &checker{opts: opts}
	if len(opts.Sites) > 0 {
		c.sites = map[string]bool{}
		for _, s := range opts.Sites {
			c.sites[s] = true
		}
	}
	if opts.Villages != nil {
		c.villages, c.bySite = map[string]*Village{}, map[string][]*Village{}
		for i := range opts.Villages {
			v := &opts.Villages[i]
			c.villages[strings.ToLower(v.ID)] = v
			c.bySite[v.Site] = append(c.bySite[v.Site], v)
		}
	}
	b := &Batch{Source: opts.Source, Site: opts.Site}
	rep := &b.Report

	// A waybill seen before in the batch: where its kept parcel is (-1 once
	// rejected for a carrier conflict), its line and carrier.
	type first struct {
		idx     int
		line    int
		carrier string
	}
	seen := map[string]*first{}
	var parcels []*Parcel // nil entries were dropped
	for _, r := range rows {
		rep.Rows++
		p, ok := c.row(r)
		if !ok {
			rep.Rejected++
			continue
		}
		f := seen[p.Waybill]
		switch {
		case f == nil:
			seen[p.Waybill] = &first{idx: len(parcels), line: p.Line, carrier: p.Carrier}
			parcels = append(parcels, p)
		case f.idx < 0:
			rep.Rejected++
			c.reject(p.Line, p.Waybill, "waybill", fmt.Sprintf("also announced by %s at line %d: carriers disagree", f.carrier, f.line))
		case f.carrier != "" && p.Carrier != "" && f.carrier != p.Carrier:
			// Two carriers claim one number: one of them is wrong, and
			// which one is for a person to find out.
			rep.Rejected += 2
			c.reject(f.line, p.Waybill, "waybill", fmt.Sprintf("also announced by %s at line %d: carriers disagree", p.Carrier, p.Line))
			c.reject(p.Line, p.Waybill, "waybill", fmt.Sprintf("also announced by %s at line %d: carriers disagree", f.carrier, f.line))
			parcels[f.idx], f.idx = nil, -1
		default:
			// The same carrier twice: the later row is the newer word.
			rep.Duplicates++
			old := parcels[f.idx]
			msg := fmt.Sprintf("duplicate: repeated at line %d, which is kept", p.Line)
			if d := differ(old, p); d != "" {
				msg = fmt.Sprintf("duplicate: repeated at line %d with another %s; line %d is kept", p.Line, d, p.Line)
			}
			c.note(old.Line, p.Waybill, "waybill", msg)
			if p.Carrier == "" {
				p.Carrier = f.carrier
			}
			f.line, f.carrier = p.Line, p.Carrier
			parcels[f.idx] = nil
			f.idx = len(parcels)
			parcels = append(parcels, p)
		}
	}
	b.Parcels = make([]Parcel, 0, len(parcels))
	sites := map[string]bool{}
	for _, p := range parcels {
		if p != nil {
			b.Parcels = append(b.Parcels, *p)
			sites[p.Site] = true
		}
	}
	rep.Accepted, rep.Warnings = len(b.Parcels), c.warnings
	if b.Site == "" && len(sites) == 1 {
		b.Site = b.Parcels[0].Site
	}
	byLine := func(es []RowError) {
		sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	}
	byLine(c.errs)
	byLine(c.notes)
	b.ID = batchID(b, c.errs, c.notes)
	max := opts.MaxErrors
	if max <= 0 {
		max = DefaultMaxErrors
	}
	rep.Errors, rep.Notes = c.errs, c.notes
	if len(rep.Errors) > max {
		rep.Errors, rep.Truncated = rep.Errors[:max:max], true
	}
	if len(rep.Notes) > max {
		rep.Notes, rep.Truncated = rep.Notes[:max:max], true
	}
	if rep.Errors == nil {
		rep.Errors = []RowError{}
	}
	if rep.Notes == nil {
		rep.Notes = []RowError{}
	}
	return b
}

func (c *checker) reject(line int, wb, f, msg string) {
	c.errs = append(c.errs, RowError{Line: line, Waybill: wb, Field: f, Msg: msg})
}

func (c *checker) note(line int, wb, f, msg string) {
	c.notes = append(c.notes, RowError{Line: line, Waybill: wb, Field: f, Msg: msg})
}

// row checks one row. A rejected row has its error recorded; the warnings
// of a kept row are recorded as notes.
func (c *checker) row(r row) (*Parcel, bool) {
	wr := waybill.Parse(r.v[fWaybill])
	p := &Parcel{Waybill: wr.Code, Line: r.line, Address: r.v[fAddress]}
	if r.bad != "" {
		c.reject(r.line, p.Waybill, "", r.bad)
		return nil, false
	}
	var warns []RowError
	warn := func(f field, msg string) {
		warns = append(warns, RowError{Line: r.line, Waybill: p.Waybill, Field: f.String(), Msg: msg})
	}
	var bad []RowError
	fail := func(f field, format string, args ...any) {
		bad = append(bad, RowError{Line: r.line, Waybill: p.Waybill, Field: f.String(), Msg: fmt.Sprintf(format, args...)})
	}

	// Waybill and carrier.
	switch {
	case wr.Code == "":
		fail(fWaybill, "missing")
	case excelNumber.MatchString(wr.Code):
		fail(fWaybill, "%s is a number Excel shortened: format the column as text and export again", wr.Code)
	case wr.Unknown && wr.Reason != "matches no carrier's pattern":
		fail(fWaybill, "%s", wr.Reason)
	}
	given := waybill.NoCarrier
	if name := r.v[fCarrier]; name != "" {
		cr, err := waybill.ParseCarrier(name)
		if err != nil {
			// A carrier this hub has no patterns for (德邦, 百世...): keep its
			// parcels, under the name given.
			p.Carrier = strings.ToUpper(name)
			warn(fCarrier, fmt.Sprintf("carrier %q unknown: number not checked", name))
		} else {
			given, p.Carrier = cr, cr.String()
		}
	}
	if len(bad) == 0 {
		switch {
		case wr.Unknown:
			warn(fWaybill, "number matches no carrier's pattern")
		case given == waybill.NoCarrier && p.Carrier == "" && wr.Ambiguous:
			warn(fCarrier, fmt.Sprintf("not given, and the number could be %s", names(wr.Candidates)))
		case given == waybill.NoCarrier && p.Carrier == "":
			p.Carrier = wr.Carrier.String()
		case given == waybill.NoCarrier:
		case !wr.Ambiguous && wr.Carrier != given:
			fail(fCarrier, "carrier %s given, number looks like %s", given, wr.Carrier)
		case wr.Ambiguous && !contains(wr.Candidates, given):
			warn(fCarrier, fmt.Sprintf("carrier %s given, number looks like %s", given, names(wr.Candidates)))
		}
	}

	// Site.
	p.Site = r.v[fSite]
	switch {
	case p.Site == "":
		p.Site = c.opts.Site
		if p.Site == "" {
			fail(fSite, "missing")
		}
	case c.opts.Site != "" && p.Site != c.opts.Site:
		fail(fSite, "%s, but the import is for %s", p.Site, c.opts.Site)
	}
	if p.Site != "" && c.sites != nil && !c.sites[p.Site] {
		fail(fSite, "unknown township %q", p.Site)
		p.Site = "" // its villages cannot be checked
	}

	// Village.
	if r.v[fVillage] == "" && p.Address == "" {
		fail(fVillage, "neither village nor address given")
	} else if p.Site != "" {
		v, msg := c.village(p.Site, r.v[fVillage], p.Address)
		switch {
		case msg != "" && v == "" && c.villages == nil:
			warn(fVillage, msg)
		case msg != "":
			fail(fVillage, "%s", msg)
		}
		p.Village = v
	}

	// Sort code.
	if s := r.v[fSortCode]; s != "" {
		sc, err := waybill.ParseSortCode(s)
		if err != nil {
			fail(fSortCode, "%v", err)
		} else {
			p.SortCode = sc.String()
		}
	}

	// Weight.
	if s := r.v[fWeight]; s != "" {
		kg, err := weightKg(s, r.grams)
		if err != nil {
			fail(fWeight, "%v", err)
		} else {
			p.WeightKg = &kg
		}
	}

	if len(bad) > 0 {
		c.errs = append(c.errs, bad...)
		return nil, false
	}
	c.notes = append(c.notes, warns...)
	c.warnings += len(warns)
	return p, true
}

// village finds the village of a row: the one given, by id or name, or
// the one its address names. msg says why there is none.
func (c *checker) village(site, given, addr string) (id, msg string) {
	if c.villages == nil {
		if given != "" {
			return given, ""
		}
		return "", "not given; no village list to find it in the address"
	}
	if given != "" {
		if v := c.villages[strings.ToLower(given)]; v != nil {
			if v.Site != site {
				return "", fmt.Sprintf("village %s belongs to %s, not %s", v.ID, v.Site, site)
			}
			return v.ID, ""
		}
		var found []*Village
		for _, v := range c.bySite[site] {
			for _, n := range v.Names {
				if n == given {
					found = append(found, v)
					break
				}
			}
		}
		switch len(found) {
		case 0:
			return "", fmt.Sprintf("unknown village %q at %s", given, site)
		case 1:
			return found[0].ID, ""
		}
		return "", fmt.Sprintf("%q names %d villages of %s: %s and %s", given, len(found), site, found[0].ID, found[1].ID)
	}
	var best *Village
	bestLen, tie := 0, ""
	for _, v := range c.bySite[site] {
		for _, n := range v.Names {
			if n == "" || !strings.Contains(addr, n) {
				continue
			}
			switch {
			case len(n) > bestLen:
				best, bestLen, tie = v, len(n), ""
			case len(n) == bestLen && v != best:
				tie = v.ID
			}
		}
	}
	switch {
	case best == nil:
		return "", fmt.Sprintf("not given, and the address names no village of %s", site)
	case tie != "":
		return "", fmt.Sprintf("not given, and the address names two villages of %s: %s and %s", site, best.ID, tie)
	}
	return best.ID, ""
}

// weightKg reads a weight: "1.25" (in kg, or in g when the column is in
// grams), "1.25kg", "1250g", "1250克", "1.25公斤".
func weightKg(s string, grams bool) (float64, error) {
	num := strings.ToLower(strings.TrimSpace(s))
	for _, u := range []struct {
		suffix string
		grams  bool
	}{{"kg", false}, {"公斤", false}, {"千克", false}, {"g", true}, {"克", true}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, grams = strings.TrimSpace(n), u.grams
			break
		}
	}
	w, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
		return 0, fmt.Errorf("%q is not a weight: want kilograms (1.25) or grams (1250g)", s)
	}
	if grams {
		w /= 1000
	}
	if w <= 0 || w > MaxWeightKg {
		return 0, fmt.Errorf("%s kg is out of range: more than 0, at most %d", strconv.FormatFloat(w, 'f', -1, 64), MaxWeightKg)
	}
	return w, nil
}

// differ names the first field in which two announcements of a waybill
// differ, or "" when they agree.
func differ(a, b *Parcel) string {
	switch {
	case a.Site != b.Site:
		return "site"
	case a.Village != b.Village:
		return "village"
	case a.Address != b.Address:
		return "address"
	case a.SortCode != b.SortCode:
		return "sort_code"
	case (a.WeightKg == nil) != (b.WeightKg == nil) || a.WeightKg != nil && *a.WeightKg != *b.WeightKg:
		return "weight_kg"
	case a.Carrier != b.Carrier:
		return "carrier"
	}
	return ""
}

// batchID hashes what the manifest says, normalised: the same manifest
// re-saved in another encoding or column order has the same ID.
func batchID(b *Batch, errs, notes []RowError) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	field("countylink manifest 1")
	field(b.Site)
	for _, p := range b.Parcels {
		w := ""
		if p.WeightKg != nil {
			w = strconv.FormatFloat(*p.WeightKg, 'g', -1, 64)
		}
		for _, s := range []string{"P", strconv.Itoa(p.Line), p.Waybill, p.Carrier, p.Site, p.Village, p.Address, p.SortCode, w} {
			field(s)
		}
	}
	for _, list := range [][]RowError{errs, notes} {
		field("E")
		for _, e := range list {
			for _, s := range []string{strconv.Itoa(e.Line), e.Waybill, e.Field, e.Msg} {
				field(s)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func names(cs []waybill.Carrier) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, " or ")
}

func contains(cs []waybill.Carrier, c waybill.Carrier) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}
