package scanner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestReadLines(t *testing.T) {
	long128 := strings.Repeat("A", 128)
	tests := []struct {
		name  string
		in    string
		aim   bool
		codes []string
		noise uint64
	}{
		{"LF", "SF1234567890123\nJT5012345678901\n", false, []string{"SF1234567890123", "JT5012345678901"}, 0},
		{"CR", "SF1234567890123\rJT5012345678901\r", false, []string{"SF1234567890123", "JT5012345678901"}, 0},
		{"CRLF", "SF1234567890123\r\nJT5012345678901\r\n", false, []string{"SF1234567890123", "JT5012345678901"}, 0},
		{"mixed and blank lines", "\r\n\nA\r\r\nB\n\rC\r\n\r\n", false, []string{"A", "B", "C"}, 0},
		{"128 characters", long128 + "\r\n", false, []string{long128}, 0},
		{"129 characters", long128 + "B\r\nOK\r\n", false, []string{"OK"}, 1},
		{"flood then resync", strings.Repeat("9", 10000) + "\nOK\n", false, []string{"OK"}, 1},
		{"control character", "SF12\x0134\r\nOK\r\n", false, []string{"OK"}, 1},
		{"tab", "SF12\t34\nOK\n", false, []string{"OK"}, 1},
		{"escape sequence", "\x1b[A\nOK\n", false, []string{"OK"}, 1},
		{"DEL", "A\x7fB\nOK\n", false, []string{"OK"}, 1},
		{"NUL", "\x00\nOK\n", false, []string{"OK"}, 1},
		{"C1 control", "A\u0085B\nOK\n", false, []string{"OK"}, 1},
		{"invalid UTF-8", "A\xffB\nOK\n", false, []string{"OK"}, 1},
		{"UTF-8 text", "顺丰速运\n", false, []string{"顺丰速运"}, 0},
		{"128 Chinese characters", strings.Repeat("邮", 128) + "\n", false, []string{strings.Repeat("邮", 128)}, 0},
		{"129 Chinese characters", strings.Repeat("邮", 129) + "\nOK\n", false, []string{"OK"}, 1},
		{"spaces trimmed", "  SF1234567890123 \n", false, []string{"SF1234567890123"}, 0},
		{"spaces only", "   \nOK\n", false, []string{"OK"}, 1},
		{"AIM kept", "]C1SF1234567890123\n", false, []string{"]C1SF1234567890123"}, 0},
		{"AIM stripped", "]C1SF1234567890123\r\n]E06901234567892\r\n]Q1https://x.cn/a\r\n", true,
			[]string{"SF1234567890123", "6901234567892", "https://x.cn/a"}, 0},
		{"AIM absent", "SF1234567890123\n", true, []string{"SF1234567890123"}, 0},
		{"AIM alone", "]C1\nOK\n", true, []string{"OK"}, 1},
		{"cut off at end", "OK\nSF12345", false, []string{"OK"}, 1},
		{"bad line cut off at end", "OK\n\x01", false, []string{"OK"}, 1},
		{"empty", "", false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := quiet("station-1")
			opt.StripAIM = tt.aim
			readers := map[string]io.Reader{
				"whole":    strings.NewReader(tt.in),
				"one byte": iotest.OneByteReader(strings.NewReader(tt.in)),
				"halves":   iotest.HalfReader(strings.NewReader(tt.in)),
			}
			for how, r := range readers {
				opt.Counters = new(Counters)
				codes, st, err := readAll(t, r, opt)
				if err != nil {
					t.Fatalf("%s: ReadLines: %v", how, err)
				}
				if !slices.Equal(codes, tt.codes) {
					t.Errorf("%s: codes %q, want %q", how, codes, tt.codes)
				}
				if st != (Stats{Scans: uint64(len(tt.codes)), Noise: tt.noise}) {
					t.Errorf("%s: stats %+v, want %d scans, %d noise", how, st, len(tt.codes), tt.noise)
				}
			}
		})
	}
}

func TestReadLinesMaxLen(t *testing.T) {
	opt := quiet("s")
	opt.MaxLen = 5
	codes, st, _ := readAll(t, strings.NewReader("12345\n123456\n"), opt)
	if !slices.Equal(codes, []string{"12345"}) || st.Noise != 1 {
		t.Errorf("codes %q, stats %+v", codes, st)
	}
}

func TestReadLinesStampsAndStops(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	opt := quiet("s")
	opt.Now = clock.Now
	out := make(chan Scan, 1)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ReadLines(ctx, pr, opt, out) }()
	pw.Write([]byte("A\n"))
	if s := <-out; s.Code != "A" || !s.At.Equal(clock.Now()) || s.Source != "s" {
		t.Errorf("scan %+v", s)
	}
	// A reader error is returned, and the line it cut off is noise.
	pw.Write([]byte("B"))
	boom := errors.New("boom")
	pw.CloseWithError(boom)
	if err := <-done; !errors.Is(err, boom) {
		t.Errorf("ReadLines returned %v, want boom", err)
	}
	if st := opt.Counters.Source("s"); st.Noise != 1 || st.Scans != 1 {
		t.Errorf("stats %+v", st)
	}
	// Cancelling while a send waits returns ctx's error.
	go func() { done <- ReadLines(ctx, strings.NewReader("A\nB\nC\n"), opt, make(chan Scan)) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("ReadLines returned %v, want context.Canceled", err)
	}
}

func TestStripAIM(t *testing.T) {
	for in, want := range map[string]string{
		"]C1ABC": "ABC", "]d2010": "010", "]QAx": "x", "]C": "]C", "]1AB": "]1AB", "C1ABC": "C1ABC", "]C-AB": "]C-AB", "": "",
	} {
		if got := StripAIM(in); got != want {
			t.Errorf("StripAIM(%q) = %q, want %q", in, got, want)
		}
	}
}

// modelLines is the line protocol written as plainly as possible, the
// oracle FuzzLines holds the splitter to.
func modelLines(data []byte, maxLen int, aim bool) (codes []string, noise int) {
	var cur []byte
	complete := func(l []byte) {
		if len(l) == 0 {
			return
		}
		s := string(l)
		ok := utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxLen
		for _, r := range s {
			if unicode.IsControl(r) {
				ok = false
			}
		}
		if aim {
			s = StripAIM(s)
		}
		s = strings.Trim(s, " ")
		if !ok || s == "" {
			noise++
			return
		}
		codes = append(codes, s)
	}
	for _, b := range data {
		if b == '\r' || b == '\n' {
			complete(cur)
			cur = cur[:0]
			continue
		}
		cur = append(cur, b)
	}
	if len(cur) > 0 {
		noise++
	}
	return codes, noise
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("SF1234567890123\r\nJT5012345678901\r"), true, uint8(0))
	f.Add([]byte("]C1YT7012345678901\n\x01bad\nOK"), true, uint8(3))
	f.Add([]byte(strings.Repeat("7", 300)+"\n7\n"), false, uint8(5))
	f.Add([]byte("顺丰\u0085\n\xff\n\n\r\r"), false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, aim bool, maxLen uint8) {
		opt := quiet("fuzz")
		opt.StripAIM = aim
		opt.MaxLen = int(maxLen)
		if opt.MaxLen == 0 {
			opt.MaxLen = DefaultMaxLen
		}
		wantCodes, wantNoise := modelLines(data, opt.MaxLen, aim)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
			opt.Counters = new(Counters)
			codes, st, err := readAll(t, r, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(codes, wantCodes) || st.Noise != uint64(wantNoise) || st.Scans != uint64(len(codes)) {
				t.Fatalf("codes %q noise %d, model %q noise %d", codes, st.Noise, wantCodes, wantNoise)
			}
			for _, c := range codes {
				if c == "" || utf8.RuneCountInString(c) > opt.MaxLen || strings.ContainsAny(c, "\r\n\x00") {
					t.Fatalf("delivered %q", c)
				}
			}
		}
	})
}
