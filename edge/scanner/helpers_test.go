package scanner

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// quiet returns test options: a name, no log output, short backoffs.
func quiet(name string) Options {
	return Options{
		Source:     name,
		Logger:     slog.New(slog.DiscardHandler),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		Counters:   new(Counters),
	}
}

// readAll runs ReadLines over r and returns the codes and the counters.
func readAll(t *testing.T, r io.Reader, opt Options) ([]string, Stats, error) {
	t.Helper()
	if opt.Counters == nil {
		opt.Counters = new(Counters)
	}
	out := make(chan Scan)
	done := make(chan error, 1)
	go func() { done <- ReadLines(context.Background(), r, opt, out); close(out) }()
	var codes []string
	for s := range out {
		if s.Source != opt.Source {
			t.Errorf("scan %q from source %q, want %q", s.Code, s.Source, opt.Source)
		}
		codes = append(codes, s.Code)
	}
	return codes, opt.Counters.Source(opt.Source), <-done
}

// receive waits for n scans on ch.
func receive(t *testing.T, ch <-chan Scan, n int) []string {
	t.Helper()
	var codes []string
	deadline := time.After(5 * time.Second)
	for len(codes) < n {
		select {
		case s := <-ch:
			codes = append(codes, s.Code)
		case <-deadline:
			t.Fatalf("got %d scans %q, want %d", len(codes), codes, n)
		}
	}
	return codes
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runReader starts r and returns its scans; cleanup cancels it and checks
// that Run returns ctx's error promptly.
func runReader(t *testing.T, r Reader) <-chan Scan {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Scan, 16)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return out
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
