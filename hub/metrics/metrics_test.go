package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestExposition(t *testing.T) {
	var r Registry
	c := r.NewCounter("x_total", "Things.")
	v := r.NewCounterVec("rejected_total", "Rejected.", "reason", "malformed")
	h := r.NewHistogram("lat_seconds", "Latency.", 0.01, 0.1)
	r.NewGaugeFunc("g", "A gauge.", func() float64 { return 2.5 })
	c.Add(3)
	v.Inc(`we"ird`)
	h.Observe(50 * time.Millisecond)
	h.Observe(time.Second)
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"# TYPE x_total counter\nx_total 3\n",
		`rejected_total{reason="malformed"} 0`,
		`rejected_total{reason="we\"ird"} 1`,
		`lat_seconds_bucket{le="0.01"} 0`,
		`lat_seconds_bucket{le="0.1"} 1`,
		`lat_seconds_bucket{le="+Inf"} 2`,
		"lat_seconds_count 2",
		"g 2.5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
