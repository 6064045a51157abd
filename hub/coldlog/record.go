package coldlog

// Record returns the log of raw readings at the recording cadence of p: of
// the readings in p's period (as Clean keeps them), a reading at least
// every p.MaxGap, and every p.OutInterval while out of range. It always
// keeps the first and the last reading, each reading whose place against
// the limits differs from the one before (so excursions start and end at
// the same readings as in the raw data), each excursion's peak and the
// period's lowest and highest readings. Where raw has no reading for
// longer than the cadence, the log has none either: Compute reports it.
//
// Compute on the log gives the same count of excursions, their starts,
// ends and peaks, the same gaps (none where raw has none) and the same min
// and max as on raw; mean and MKT are those of the recorded readings.
func Record(raw []Sample, p Params) []Sample {
	p = p.withDefaults()
	s := Clean(raw, p)
	n := len(s)
	if n <= 2 {
		return s
	}
	keep := make([]bool, n)
	keep[0], keep[n-1] = true, true
	lo, hi := 0, 0
	for i := 1; i < n; i++ {
		if s[i].Value < s[lo].Value {
			lo = i
		}
		if s[i].Value > s[hi].Value {
			hi = i
		}
		if p.state(s[i].Value) != p.state(s[i-1].Value) {
			keep[i] = true
		}
	}
	keep[lo], keep[hi] = true, true
	// The peak of each run out of range; a run breaks where Compute would
	// see a gap, so each of its excursions keeps its peak.
	for i := 0; i < n; {
		kind := p.state(s[i].Value)
		peak, j := i, i+1
		for ; j < n && p.state(s[j].Value) == kind && s[j].TS.Sub(s[j-1].TS) <= p.MaxGap; j++ {
			if (kind == Above && s[j].Value > s[peak].Value) || (kind == Below && s[j].Value < s[peak].Value) {
				peak = j
			}
		}
		if kind != "" {
			keep[peak] = true
		}
		i = j
	}
	// The cadence: keep a reading when the next one would be too late.
	// Every reading between two kept ones is on the same side of the
	// limits as the first, since crossings are kept.
	last := 0
	for i := 1; i < n-1; i++ {
		every := p.MaxGap
		if p.state(s[last].Value) != "" {
			every = p.OutInterval
		}
		if keep[i] || s[i+1].TS.Sub(s[last].TS) > every {
			keep[i] = true
			last = i
		}
	}
	out := make([]Sample, 0, n/10+8)
	for i, k := range keep {
		if k {
			out = append(out, s[i])
		}
	}
	return out
}
