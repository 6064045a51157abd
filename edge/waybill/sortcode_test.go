package waybill

import (
	"errors"
	"testing"
)

func TestParseSortCode(t *testing.T) {
	tests := []struct {
		in   string
		want SortCode
	}{
		{"571-W01-01", SortCode{"571", "W01", "01"}},
		{"200 D06 15", SortCode{"200", "D06", "15"}},
		{"  571 - W01 - 01 ", SortCode{"571", "W01", "01"}},
		{"571-w01 01", SortCode{"571", "W01", "01"}},
		{"361-K14  15", SortCode{"361", "K14", "15"}},
		{"A-B-C", SortCode{"A", "B", "C"}},
		{"12345678-1-1", SortCode{"12345678", "1", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSortCode(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseSortCode(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			again, err := ParseSortCode(got.String())
			if err != nil || again != got {
				t.Errorf("round trip through %q = %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseSortCodeErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", `"": not a three-segment sort code: 0 segments, want 3`},
		{"571-W01", `"571-W01": not a three-segment sort code: 2 segments, want 3`},
		{"571-W01-", `"571-W01-": not a three-segment sort code: 2 segments, want 3`},
		{"571-W01-01-02", `"571-W01-01-02": not a three-segment sort code: unexpected "-" after segment 3`},
		{"571--W01-01", `"571--W01-01": not a three-segment sort code: unexpected "-"`},
		{"571_W01_01", `"571_W01_01": not a three-segment sort code: unexpected "_" after segment 1`},
		{"571/W01/01", `"571/W01/01": not a three-segment sort code: unexpected "/" after segment 1`},
		{"571－W01－01", `"571－W01－01": not a three-segment sort code: unexpected "－" after segment 1`},
		{"123456789-1-1", `"123456789-1-1": not a three-segment sort code: segment 1 is 9 characters, at most 8`},
		{"SF1234567890123", `"SF1234567890123": not a three-segment sort code: segment 1 is 15 characters, at most 8`},
		{"571\tW01\t01", `"571\tW01\t01": not a three-segment sort code: unexpected "\t" after segment 1`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSortCode(tt.in)
			if !errors.Is(err, ErrSortCode) {
				t.Fatalf("ParseSortCode(%q) error = %v, want ErrSortCode", tt.in, err)
			}
			if err.Error() != tt.msg {
				t.Errorf("error = %s\n          want %s", err, tt.msg)
			}
		})
	}
}

func FuzzParseSortCode(f *testing.F) {
	for _, s := range []string{"571-W01-01", "200 D06 15", "a - b c", "1-2-3-4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := ParseSortCode(in)
		if err != nil {
			if !errors.Is(err, ErrSortCode) {
				t.Fatalf("error %v does not wrap ErrSortCode", err)
			}
			return
		}
		for _, s := range []string{sc.Centre, sc.Station, sc.Route} {
			if s == "" || len(s) > MaxSegmentLen {
				t.Fatalf("segment %q of %+v", s, sc)
			}
			for i := 0; i < len(s); i++ {
				if !isUpper(s[i]) && !isDigit(s[i]) {
					t.Fatalf("segment %q of %+v", s, sc)
				}
			}
		}
		if again, err := ParseSortCode(sc.String()); err != nil || again != sc {
			t.Fatalf("round trip %+v: %+v, %v", sc, again, err)
		}
	})
}
