//go:build linux

package scale_test

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/sim"
)

// These tests put the simulator on the master side of a real
// pseudo-terminal and the Reader on the slave side, in raw mode as on a
// USB serial adapter: the bytes go through the kernel's tty layer, split
// into reads wherever it likes.

var ptyFormats = []struct {
	sim    sim.ScaleFormat
	reader scale.Format
}{
	{sim.ScaleXK3190, scale.XK3190},
	{sim.ScaleXK3190Line, scale.XK3190},
	{sim.ScaleToledo, scale.ToledoChecksum},
}

type rig struct {
	scale  *sim.Scale
	reader *scale.Reader
	master *os.File
	ctx    context.Context
}

// newRig connects a simulated indicator to a Reader through a pty. The
// reader is told the capacity only for the "=" stream, which cannot say
// overload itself.
func newRig(t *testing.T, format sim.ScaleFormat, readerFormat scale.Format) *rig {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := scale.SetRaw(slave, scale.DefaultLine()); err != nil {
		t.Fatalf("raw mode: %v", err)
	}
	scfg := sim.DefaultScaleConfig()
	scfg.Format = format
	scfg.Interval = 5 * time.Millisecond
	scfg.Jitter = 1
	s, err := sim.NewScale(scfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := scale.DefaultConfig()
	rcfg.Format = readerFormat
	rcfg.StableFor = 200 * time.Millisecond
	if format == sim.ScaleXK3190 {
		rcfg.Capacity = scfg.Capacity
	}
	r, err := scale.NewReader(slave, rcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runDone:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Run not stopped by its context")
		}
		master.Close()
		slave.Close()
	})
	return &rig{scale: s, reader: r, master: master, ctx: ctx}
}

// stream runs the simulator on the master until the test ends.
func (g *rig) stream(t *testing.T) {
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan error, 1)
	go func() { done <- g.scale.Run(ctx, g.master) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator: %v", err)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPTYStableAfterSettling(t *testing.T) {
	t.Parallel()
	for _, f := range ptyFormats {
		t.Run(string(f.sim), func(t *testing.T) {
			t.Parallel()
			g := newRig(t, f.sim, f.reader)
			g.stream(t)
			waitFor(t, "the empty scale to settle", func() bool { r := g.reader.Latest(); return r.Settled && r.Zero })

			const settle = 400 * time.Millisecond
			placed := time.Now()
			g.scale.Place(12.5, settle)
			// The empty platform was settled; wait for the new load to
			// unsettle it before asking for a stable weight.
			waitFor(t, "the load to swing", func() bool { return !g.reader.Latest().Settled })
			got, err := g.reader.WaitStable(context.Background(), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Weight-12.5) > 0.005+1e-9 {
				t.Errorf("settled at %v kg, want 12.5 ± one division", got.Weight)
			}
			if since := got.At.Sub(placed); since < settle {
				t.Errorf("settled %v after placing, before the swing ended at %v", since, settle)
			}
			if got.Motion || got.Overload || got.Zero || !got.Settled {
				t.Errorf("settled reading %+v", got)
			}
		})
	}
}

func TestPTYStaysInMotion(t *testing.T) {
	t.Parallel()
	for _, f := range ptyFormats {
		t.Run(string(f.sim), func(t *testing.T) {
			t.Parallel()
			g := newRig(t, f.sim, f.reader)
			g.scale.Set(30)
			g.scale.Shake(true)
			g.stream(t)
			waitFor(t, "a reading", func() bool { return !g.reader.Latest().At.IsZero() })

			const timeout = 600 * time.Millisecond
			start := time.Now()
			got, err := g.reader.WaitStable(context.Background(), timeout)
			took := time.Since(start)
			if !errors.Is(err, scale.ErrNotStable) {
				t.Fatalf("WaitStable = %+v, %v; want ErrNotStable", got, err)
			}
			if took < timeout || took > timeout+400*time.Millisecond {
				t.Errorf("ErrNotStable after %v, want just after %v", took, timeout)
			}
			if f.sim != sim.ScaleXK3190 && !got.Motion {
				t.Errorf("last reading %+v does not report motion", got)
			}
		})
	}
}

func TestPTYNoiseCountedNothingLost(t *testing.T) {
	t.Parallel()
	for _, f := range ptyFormats {
		t.Run(string(f.sim), func(t *testing.T) {
			t.Parallel()
			g := newRig(t, f.sim, f.reader)
			g.scale.SetNoise(sim.ScaleNoise{Garbage: 0.1, Truncated: 0.1, BadChecksum: 0.1})
			// Frames back to back, as fast as the tty takes them.
			for i := range 400 {
				g.scale.Set(float64(i%7) + 0.25)
				if _, err := g.master.Write(g.scale.Next()); err != nil {
					t.Fatal(err)
				}
			}
			g.scale.Set(7.5)
			if _, err := g.master.Write(g.scale.Next()); err != nil {
				t.Fatal(err)
			}
			sent := g.scale.Stats()
			waitFor(t, "every good frame", func() bool { return g.reader.Stats().Frames >= sent.Frames })
			got := g.reader.Stats()
			if got.Frames != sent.Frames || got.Framing != sent.Truncated || got.Checksum != sent.BadChecksum || got.Garbage != sent.Garbage {
				t.Errorf("reader counted %+v, simulator sent %+v", got, sent)
			}
			if sent.Garbage == 0 || sent.Truncated == 0 || (f.sim == sim.ScaleToledo && sent.BadChecksum == 0) {
				t.Errorf("the noise did not happen: %+v", sent)
			}
			if r := g.reader.Latest(); math.Abs(r.Weight-7.5) > 0.005+1e-9 {
				t.Errorf("last reading %+v, want 7.5 kg ± the jitter", r)
			}
		})
	}
}

func TestPTYOverloadAndZero(t *testing.T) {
	t.Parallel()
	for _, f := range ptyFormats {
		t.Run(string(f.sim), func(t *testing.T) {
			t.Parallel()
			g := newRig(t, f.sim, f.reader)
			g.stream(t)
			waitFor(t, "zero", func() bool { r := g.reader.Latest(); return r.Zero && !r.Overload })
			g.scale.Set(0.005) // one division: still zero
			waitFor(t, "one division", func() bool { r := g.reader.Latest(); return r.Weight == 0.005 && r.Zero })
			g.scale.Set(3)
			waitFor(t, "3 kg", func() bool { r := g.reader.Latest(); return r.Weight == 3 && !r.Zero && !r.Overload })
			g.scale.Set(75) // Max 60 kg
			waitFor(t, "overload", func() bool { r := g.reader.Latest(); return r.Overload && !r.Zero && !r.Settled })
			if _, err := g.reader.WaitStable(context.Background(), 300*time.Millisecond); !errors.Is(err, scale.ErrNotStable) {
				t.Errorf("an overload is never a stable weight: %v", err)
			}
			g.scale.Set(0)
			waitFor(t, "back to zero", func() bool { r := g.reader.Latest(); return r.Zero && !r.Overload })
		})
	}
}

// OpenSerial opens a tty by path in raw mode: CR, XON/XOFF, ^C and DEL
// come through untouched, and closing the file ends Run.
func TestOpenSerial(t *testing.T) {
	t.Parallel()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	port, err := scale.OpenSerial(slave.Name(), scale.Line{Baud: 9600, DataBits: 7, Parity: "even"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := scale.NewReader(port, scale.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	if _, err := master.Write([]byte("\x03\x11\x13\x7f\r\nST,GS,+0003.000kg\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the line", func() bool { return r.Latest().Weight == 3 })
	if s := r.Stats(); s.Garbage != 1 || s.GarbageBytes != 4 {
		t.Errorf("control bytes not passed through raw: %+v", s)
	}
	port.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil after the port closed")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run not stopped by closing the port")
	}
	if _, err := scale.OpenSerial(slave.Name(), scale.Line{Baud: 9601, DataBits: 9, Parity: "mark"}); err == nil {
		t.Error("bad line settings accepted")
	}
}
