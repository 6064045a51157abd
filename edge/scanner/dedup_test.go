package scanner

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	type step struct {
		after  time.Duration // clock advance before the scan
		source string
		code   string
		isNew  bool
	}
	tests := []struct {
		name   string
		window time.Duration
		across bool
		steps  []step
	}{
		{"default window slides", 0, false, []step{
			{0, "s1", "SF1234567890123", true},
			{time.Second, "s1", "SF1234567890123", false},
			{1500 * time.Millisecond, "s1", "SF1234567890123", false}, // 2.5 s after the first, 1.5 s after the last
			{1999 * time.Millisecond, "s1", "SF1234567890123", false},
			{2 * time.Second, "s1", "SF1234567890123", true}, // a full window of quiet
			{0, "s1", "JT5012345678901", true},
		}},
		{"sources apart by default", 0, false, []step{
			{0, "s1", "A", true},
			{100 * time.Millisecond, "s2", "A", true},
			{100 * time.Millisecond, "s2", "A", false},
		}},
		{"across sources", 0, true, []step{
			{0, "top", "A", true},
			{100 * time.Millisecond, "side", "A", false},
			{3 * time.Second, "side", "A", true},
		}},
		{"configured window", 300 * time.Millisecond, false, []step{
			{0, "s1", "A", true},
			{299 * time.Millisecond, "s1", "A", false},
			{300 * time.Millisecond, "s1", "A", true},
		}},
		{"clock stepped back", 0, false, []step{
			{0, "s1", "A", true},
			{-time.Hour, "s1", "A", true},
			{time.Second, "s1", "A", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
			c := new(Counters)
			d := &Dedup{Window: tt.window, AcrossSources: tt.across, Now: clock.Now, Counters: c}
			repeats := map[string]uint64{}
			for i, s := range tt.steps {
				clock.Add(s.after)
				if got := d.Accept(Scan{Code: s.code, Source: s.source, At: clock.Now()}); got != s.isNew {
					t.Fatalf("step %d (%s %s): Accept = %v, want %v", i, s.source, s.code, got, s.isNew)
				}
				if !s.isNew {
					repeats[s.source]++
				}
			}
			for src, n := range repeats {
				if got := c.Source(src).Repeats; got != n {
					t.Errorf("%s: %d repeats, want %d", src, got, n)
				}
			}
		})
	}
}

func TestDedupForgets(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	d := &Dedup{Now: clock.Now}
	for i := range 1000 {
		d.Accept(Scan{Code: string(rune('A'+i%26)) + string(rune(i)), Source: "s"})
	}
	clock.Add(DefaultWindow)
	d.Accept(Scan{Code: "new", Source: "s"})
	if n := len(d.last); n != 1 {
		t.Errorf("%d codes remembered after a quiet window, want 1", n)
	}
}

func TestDedupRun(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	c := new(Counters)
	d := &Dedup{Now: clock.Now, Counters: c}
	in, out := make(chan Scan), make(chan Scan, 10)
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background(), in, out) }()
	for _, code := range []string{"A", "A", "B", "A", "B", "C"} {
		in <- Scan{Code: code, Source: "s1"}
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	close(out)
	var got []string
	for s := range out {
		got = append(got, s.Code)
	}
	if !slices.Equal(got, []string{"A", "B", "C"}) || c.Source("s1").Repeats != 3 {
		t.Errorf("passed %q, stats %+v", got, c.Source("s1"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- d.Run(ctx, make(chan Scan), out) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v after cancel", err)
	}
}
