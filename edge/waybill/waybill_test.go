package waybill

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestParseExamples(t *testing.T) {
	for _, e := range Examples() {
		t.Run(e.Note, func(t *testing.T) {
			r := Parse(e.Code)
			if r.Code != normalise(e.Code) {
				t.Errorf("Code = %q, want %q", r.Code, normalise(e.Code))
			}
			if !slices.Equal(r.Candidates, e.Candidates) {
				t.Fatalf("Parse(%q).Candidates = %v, want %v (reason %q)", e.Code, r.Candidates, e.Candidates, r.Reason)
			}
			checkInvariants(t, e.Code, r)
		})
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in   string
		want Result
	}{
		{"  sf1234567890123 ", Result{Code: "SF1234567890123", Carrier: SF, Candidates: []Carrier{SF}}},
		{"1100123456789", Result{Code: "1100123456789", Candidates: []Carrier{ChinaPost, Yunda}, Ambiguous: true}},
		{"EE123456784CN", Result{Code: "EE123456784CN", Unknown: true, Reason: "S10 check digit is 4, want 5"}},
		{"RR473124829GB", Result{Code: "RR473124829GB", Unknown: true, Reason: "S10 item of postal operator GB, not China Post"}},
		{"\u3000JT5012345678901\u3000", Result{Code: "JT5012345678901", Carrier: JT, Candidates: []Carrier{JT}}},
		{"", Result{Unknown: true, Reason: "empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in)
			if got.Code != tt.want.Code || got.Carrier != tt.want.Carrier || !slices.Equal(got.Candidates, tt.want.Candidates) ||
				got.Ambiguous != tt.want.Ambiguous || got.Unknown != tt.want.Unknown || got.Reason != tt.want.Reason {
				t.Errorf("Parse(%q) =\n %+v, want\n %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestS10CheckDigit(t *testing.T) {
	tests := []struct {
		serial string
		want   byte
	}{
		{"47312482", '9'}, // the UPU S10 standard's worked example
		{"12345678", '5'},
		{"00000000", '5'}, // sum 0: 11 - 0 = 11 gives 5
		{"00000001", '4'}, // 7: 11 - 7
		{"00000003", '1'}, // 21 mod 11 = 10: 11 - 10
		{"00004000", '0'}, // 12 mod 11 = 1: 11 - 1 = 10 gives 0
	}
	for _, tt := range tests {
		got, ok := S10CheckDigit(tt.serial)
		if !ok || got != tt.want {
			t.Errorf("S10CheckDigit(%q) = %c, %v; want %c", tt.serial, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "1234567", "123456789", "1234567A"} {
		if _, ok := S10CheckDigit(bad); ok {
			t.Errorf("S10CheckDigit(%q) accepted", bad)
		}
	}
	// Every serial gets exactly one valid check digit.
	for _, serial := range []string{"12345678", "99999999", "00004000", "47312482"} {
		n := 0
		for d := byte('0'); d <= '9'; d++ {
			if !Parse("EE" + serial + string(d) + "CN").Unknown {
				n++
			}
		}
		if n != 1 {
			t.Errorf("serial %s: %d valid check digits", serial, n)
		}
	}
}

func TestCarrierNames(t *testing.T) {
	for _, c := range Carriers() {
		if c.Chinese() == "" || c.English() == "" {
			t.Errorf("%v has no names", c)
		}
		for _, name := range []string{c.String(), c.Chinese(), c.English(), strings.ToLower(c.English())} {
			got, err := ParseCarrier(name)
			if err != nil || got != c {
				t.Errorf("ParseCarrier(%q) = %v, %v; want %v", name, got, err, c)
			}
		}
	}
	for in, want := range map[string]Carrier{"顺丰": SF, "EMS": ChinaPost, "j&t": JT, "韵达": Yunda, "": NoCarrier, "none": NoCarrier} {
		if got, err := ParseCarrier(in); err != nil || got != want {
			t.Errorf("ParseCarrier(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseCarrier("DHL"); err == nil {
		t.Error("ParseCarrier(DHL) accepted")
	}
	b, err := json.Marshal(map[string]Carrier{"c": Yunda})
	if err != nil || string(b) != `{"c":"YUNDA"}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	var back map[string]Carrier
	if err := json.Unmarshal(b, &back); err != nil || back["c"] != Yunda {
		t.Errorf("Unmarshal = %v, %v", back, err)
	}
	if Carrier(200).String() != "Carrier(200)" {
		t.Errorf("String of invalid carrier = %q", Carrier(200).String())
	}
}

// checkInvariants holds for every Result, whatever the input.
func checkInvariants(t *testing.T, in string, r Result) {
	t.Helper()
	switch {
	case r.Unknown:
		if r.Carrier != NoCarrier || len(r.Candidates) != 0 || r.Ambiguous || r.Reason == "" {
			t.Errorf("Parse(%q): inconsistent unknown %+v", in, r)
		}
	case r.Ambiguous:
		if r.Carrier != NoCarrier || len(r.Candidates) < 2 || r.Reason != "" {
			t.Errorf("Parse(%q): inconsistent ambiguous %+v", in, r)
		}
	default:
		if len(r.Candidates) != 1 || r.Carrier != r.Candidates[0] || r.Carrier == NoCarrier || r.Reason != "" {
			t.Errorf("Parse(%q): inconsistent %+v", in, r)
		}
	}
	if !r.Unknown {
		for i := 0; i < len(r.Code); i++ {
			if !isUpper(r.Code[i]) && !isDigit(r.Code[i]) {
				t.Errorf("Parse(%q): recognised code %q has %q", in, r.Code, r.Code[i])
			}
		}
	}
	seen := map[Carrier]bool{}
	for _, c := range r.Candidates {
		if seen[c] || c == NoCarrier || c >= numCarriers {
			t.Errorf("Parse(%q): bad candidates %v", in, r.Candidates)
		}
		seen[c] = true
	}
	if len(r.Code) > len(in) {
		t.Errorf("Parse(%q): code %q longer than the input", in, r.Code)
	}
}

func FuzzParse(f *testing.F) {
	for _, e := range examples {
		f.Add(e.Code)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := Parse(in)
		checkInvariants(t, in, r)
		again := Parse(r.Code)
		if again.Code != r.Code || again.Carrier != r.Carrier || !slices.Equal(again.Candidates, r.Candidates) ||
			again.Unknown != r.Unknown || again.Ambiguous != r.Ambiguous {
			t.Errorf("Parse not idempotent: %+v then %+v", r, again)
		}
		if lower := strings.ToLower(in); !r.Unknown && !slices.Equal(Parse(lower).Candidates, r.Candidates) {
			t.Errorf("Parse(%q) and Parse(%q) disagree", in, lower)
		}
	})
}
