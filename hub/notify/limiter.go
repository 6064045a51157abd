package notify

import "time"

// limiter is a token bucket: burst sends at once, then one every interval.
// A send beyond the bucket is not refused: reserve says how long to wait,
// and the bucket goes into debt for it, so a backlog is spaced out rather
// than dropped. Only its channel's worker uses it.
type limiter struct {
	interval time.Duration
	burst    float64
	tokens   float64 // negative while sends are reserved ahead
	last     time.Time
}

func newLimiter(r RateLimit, now time.Time) *limiter {
	return &limiter{interval: time.Minute / time.Duration(r.PerMinute), burst: float64(r.Burst), tokens: float64(r.Burst), last: now}
}

// reserve takes a token at now and returns how long to wait before
// sending with it.
func (l *limiter) reserve(now time.Time) time.Duration {
	if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
		l.last = now
	}
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens * float64(l.interval))
}
