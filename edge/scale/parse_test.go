package scale_test

import (
	"errors"
	"math"
	"testing"

	"github.com/countylink/countylink/edge/scale"
)

func parser(f scale.Format) func([]byte) (scale.Reading, error) {
	if f == scale.XK3190 {
		return scale.ParseXK3190
	}
	return scale.ParseToledo
}

// sameReading compares readings, the weights to within a nanogram: a
// pound or ounce converted to kg may land one ulp either side.
func sameReading(got, want scale.Reading) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
	if !near(got.Weight, want.Weight) || !near(got.Tare, want.Tare) {
		return false
	}
	got.Weight, got.Tare, want.Weight, want.Tare = 0, 0, 0, 0
	return got == want
}

func TestParseSampleFrames(t *testing.T) {
	for _, s := range scale.SampleFrames {
		t.Run(s.Name, func(t *testing.T) {
			got, err := parser(s.Format)(s.Frame)
			if err != nil {
				t.Fatalf("parse %q: %v", s.Frame, err)
			}
			if !sameReading(got, s.Want) {
				t.Errorf("parse %q:\n got %+v\nwant %+v", s.Frame, got, s.Want)
			}
		})
	}
}

func TestParseBadFrames(t *testing.T) {
	kinds := []error{scale.ErrGarbage, scale.ErrFraming, scale.ErrChecksum}
	for _, b := range scale.BadFrames {
		t.Run(b.Name, func(t *testing.T) {
			got, err := parser(b.Format)(b.Frame)
			if !errors.Is(err, b.Kind) {
				t.Fatalf("parse %q = %+v, %v; want an error wrapping %v", b.Frame, got, err, b.Kind)
			}
			for _, k := range kinds {
				if k != b.Kind && errors.Is(err, k) {
					t.Errorf("error %v is also %v", err, k)
				}
			}
		})
	}
}

// A Toledo frame whose every status word and digit is in place but whose
// checksum is off by any amount is a checksum error, never a reading.
func TestToledoChecksumEveryWrongValue(t *testing.T) {
	good := []byte("\x02-0 003000000000\r1")
	for c := 0; c < 0x80; c++ {
		frame := append(good[:len(good)-1:len(good)-1], byte(c))
		_, err := scale.ParseToledo(frame)
		if c == '1' {
			if err != nil {
				t.Errorf("good checksum refused: %v", err)
			}
			continue
		}
		if !errors.Is(err, scale.ErrChecksum) {
			t.Errorf("checksum 0x%02X: %v, want a checksum error", c, err)
		}
	}
}

// Each Toledo status bit moves the field it is documented to move.
func TestToledoStatusBits(t *testing.T) {
	frame := func(a, b, c byte) []byte {
		return []byte{0x02, a, b, c, '0', '1', '2', '3', '4', '5', '0', '0', '0', '0', '1', '0', '\r'}
	}
	cases := []struct {
		name    string
		a, b, c byte
		check   func(scale.Reading) bool
		explain string
	}{
		{"point XXXX00", 0x28, 0x30, 0x20, func(r scale.Reading) bool { return r.Weight == 1234500 && r.Tare == 1000 && r.Decimals == -2 }, "×100"},
		{"point XXXXX0", 0x29, 0x30, 0x20, func(r scale.Reading) bool { return r.Weight == 123450 && r.Decimals == -1 }, "×10"},
		{"point XXXXXX", 0x2A, 0x30, 0x20, func(r scale.Reading) bool { return r.Weight == 12345 && r.Decimals == 0 }, "units"},
		{"point X.XXXXX", 0x2F, 0x30, 0x20, func(r scale.Reading) bool { return r.Weight == 0.12345 && r.Tare == 0.0001 && r.Decimals == 5 }, "five places"},
		{"net", 0x2A, 0x31, 0x20, func(r scale.Reading) bool { return r.Net && !r.Motion && r.Stable }, "bit 0"},
		{"negative", 0x2A, 0x32, 0x20, func(r scale.Reading) bool { return r.Weight == -12345 && !r.Net }, "bit 1"},
		{"out of range", 0x2A, 0x34, 0x20, func(r scale.Reading) bool { return r.Overload && r.Weight == 12345 }, "bit 2"},
		{"motion", 0x2A, 0x38, 0x20, func(r scale.Reading) bool { return r.Motion && !r.Stable }, "bit 3"},
		{"lb", 0x2A, 0x20, 0x20, func(r scale.Reading) bool { return r.Unit == "lb" && math.Abs(r.Weight-5599.59780765) < 1e-9 }, "bit 4 clear"},
		{"metric tons", 0x2A, 0x30, 0x22, func(r scale.Reading) bool { return r.Unit == "t" && r.Weight == 12345000 }, "C unit 2"},
		{"ounces", 0x2A, 0x20, 0x23, func(r scale.Reading) bool { return r.Unit == "oz" }, "C unit 3"},
		{"constant bits ignored", 0x4A, 0x70, 0x40, func(r scale.Reading) bool { return r.Weight == 12345 && r.Unit == "kg" }, "Liden-style clones set bit 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := scale.ParseToledo(frame(c.a, c.b, c.c))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(r) {
				t.Errorf("%s: got %+v", c.explain, r)
			}
		})
	}
}
