package scale_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/sim"
)

// kgPer is the size of each display unit, written out again here from the
// unit definitions rather than taken from the package.
var kgPer = map[string]float64{
	"kg": 1, "g": 0.001, "t": 1000, "lb": 0.45359237, "oz": 0.028349523125,
	"ozt": 0.0311034768, "dwt": 0.00155517384, "ton": 1016.0469088,
}

// frameOf turns a reading back into what the display showed, for the
// simulator's encoders.
func frameOf(t *testing.T, r scale.Reading) sim.ScaleFrame {
	t.Helper()
	unit := r.Unit
	if unit == "" {
		unit = "kg"
	}
	f, ok := kgPer[unit]
	if !ok {
		t.Fatalf("reading %+v has an unknown unit", r)
	}
	return sim.ScaleFrame{Weight: r.Weight / f, Tare: r.Tare / f, Decimals: r.Decimals, Net: r.Net, Motion: r.Motion, Overload: r.Overload, Unit: unit}
}

// checkError fails unless err is one of the kinds a Reader counts.
func checkError(t *testing.T, data []byte, err error) {
	t.Helper()
	if !errors.Is(err, scale.ErrGarbage) && !errors.Is(err, scale.ErrFraming) && !errors.Is(err, scale.ErrChecksum) {
		t.Fatalf("parse %q: error %v is of no kind", data, err)
	}
}

// checkStream runs a Reader over data, whole and one byte per Read: it
// must end at EOF, take no more frames than bytes, and split the stream
// the same way however the bytes arrive.
func checkStream(t *testing.T, f scale.Format, data []byte) {
	t.Helper()
	var stats []scale.Stats
	for _, src := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
		cfg := scale.DefaultConfig()
		cfg.Format = f
		r, err := scale.NewReader(src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("Run = %v, want EOF", err)
		}
		s := r.Stats()
		if s.Frames+s.Framing+s.Checksum+s.GarbageBytes > uint64(len(data)) || s.Garbage > s.GarbageBytes {
			t.Fatalf("%q: %+v accounts for more than %d bytes", data, s, len(data))
		}
		stats = append(stats, s)
	}
	if stats[0] != stats[1] {
		t.Fatalf("%q: whole %+v, byte by byte %+v", data, stats[0], stats[1])
	}
}

// FuzzXK3190: the parser never panics and every error has a kind; what
// parses re-encodes, through the simulator's encoders, to a frame that
// parses to the same reading; a Reader splits any stream consistently.
func FuzzXK3190(f *testing.F) {
	for _, s := range scale.SampleFrames {
		if s.Format == scale.XK3190 {
			f.Add(s.Frame)
		}
	}
	for _, b := range scale.BadFrames {
		if b.Format == scale.XK3190 {
			f.Add(b.Frame)
		}
	}
	f.Add([]byte("=000.3000=00.1\r\nST,GS,+0003.000kgST,\x00ww1lb\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, scale.XK3190, data)
		r, err := scale.ParseXK3190(data)
		if err != nil {
			checkError(t, data, err)
			return
		}
		want := r
		var again []byte
		if data[0] == '=' {
			again, err = sim.EncodeXK3190(r.Weight, r.Decimals)
		} else {
			// The simulator sends status lines; an A12 line re-encodes as one,
			// which says ST, and an overload as a blank number, in kg when
			// the indicator gave no unit.
			again, err = sim.EncodeXK3190Line(frameOf(t, r))
			if data[0] == 'w' {
				want.Stable = true
			}
			if r.Overload {
				want.Weight, want.Decimals = 0, 0
			}
			if r.Unit == "" {
				want.Unit = "kg"
			}
		}
		if err != nil {
			t.Fatalf("%q parsed to %+v, which the simulator cannot encode: %v", data, r, err)
		}
		got, err := scale.ParseXK3190(again)
		if err != nil {
			t.Fatalf("%q parsed to %+v, encoded as %q, which does not parse: %v", data, r, again, err)
		}
		if got != want {
			t.Fatalf("%q parsed to %+v, encoded as %q, parsed to %+v", data, r, again, got)
		}
	})
}

// FuzzToledo: as FuzzXK3190, for Toledo continuous output with and
// without the checksum byte.
func FuzzToledo(f *testing.F) {
	for _, s := range scale.SampleFrames {
		if s.Format != scale.XK3190 {
			f.Add(s.Frame)
		}
	}
	for _, b := range scale.BadFrames {
		if b.Format != scale.XK3190 {
			f.Add(b.Frame)
		}
	}
	f.Add([]byte("\x02-0 003000000000\r1xyz\x02-0 00\x02,9 001250000500\r\x1f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, scale.Toledo, data)
		checkStream(t, scale.ToledoChecksum, data)
		r, err := scale.ParseToledo(data)
		if err != nil {
			checkError(t, data, err)
			return
		}
		checksum := len(data) == 12 || len(data) == 18
		again, err := sim.EncodeToledo(frameOf(t, r), checksum)
		if err != nil {
			t.Fatalf("%q parsed to %+v, which the simulator cannot encode: %v", data, r, err)
		}
		got, err := scale.ParseToledo(again)
		if err != nil {
			t.Fatalf("%q parsed to %+v, encoded as %q, which does not parse: %v", data, r, again, err)
		}
		if got != r {
			t.Fatalf("%q parsed to %+v, encoded as %q, parsed to %+v", data, r, again, got)
		}
	})
}
