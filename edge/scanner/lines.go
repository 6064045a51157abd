package scanner

import (
	"context"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReadLines reads codes from r, one per line, and sends them to out until
// r fails or ctx is done. It returns nil when r reaches io.EOF and
// ctx.Err() when ctx ends. It does not close r: a caller whose r can block
// closes it to make ReadLines return (Serial and TCP do that themselves).
//
// Lines end with CR, LF or CRLF; empty lines are skipped. A line longer
// than Options.MaxLen characters, containing a control character or
// invalid UTF-8, or cut off by the end of the stream is noise: counted,
// never delivered, and reading resumes after the next line end. With
// Options.StripAIM a leading AIM symbology identifier is removed; spaces
// around the code are removed.
func ReadLines(ctx context.Context, r io.Reader, opt Options, out chan<- Scan) error {
	return readLines(ctx, r, opt.withDefaults("lines"), out)
}

func readLines(ctx context.Context, r io.Reader, opt Options, out chan<- Scan) error {
	sp := splitter{maxLen: opt.MaxLen, stripAIM: opt.StripAIM}
	buf := make([]byte, 1024)
	var evs []line
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		evs = sp.feed(buf[:n], evs[:0])
		if rerr != nil {
			evs = sp.flush(evs)
		}
		if err := deliver(ctx, evs, opt, out); err != nil {
			return err
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}

// deliver counts and sends what one read produced.
func deliver(ctx context.Context, evs []line, opt Options, out chan<- Scan) error {
	if len(evs) == 0 {
		return nil
	}
	now := opt.Now()
	for _, ev := range evs {
		if ev.noise {
			opt.Counters.add(opt.Source, func(s *Stats) { s.Noise++ })
			continue
		}
		opt.Counters.add(opt.Source, func(s *Stats) { s.Scans++ })
		select {
		case out <- Scan{Code: ev.code, At: now, Source: opt.Source}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// line is what the splitter makes of one line: a code, or noise.
type line struct {
	code  string
	noise bool
}

// splitter cuts a byte stream into lines. It holds at most 4*maxLen bytes
// (the most maxLen UTF-8 characters take), whatever the input.
type splitter struct {
	maxLen   int
	stripAIM bool
	buf      []byte
	bad      bool // the current line is noise; skip to its end
}

func (s *splitter) feed(p []byte, evs []line) []line {
	for _, b := range p {
		switch {
		case b == '\r' || b == '\n':
			evs = s.end(evs)
		case s.bad:
		case b < 0x20 || b == 0x7f || len(s.buf) >= 4*s.maxLen:
			s.bad, s.buf = true, s.buf[:0]
		default:
			s.buf = append(s.buf, b)
		}
	}
	return evs
}

// flush ends the stream: a line without its terminator is noise.
func (s *splitter) flush(evs []line) []line {
	if s.bad || len(s.buf) > 0 {
		s.bad, s.buf = false, s.buf[:0]
		evs = append(evs, line{noise: true})
	}
	return evs
}

func (s *splitter) end(evs []line) []line {
	raw, bad := s.buf, s.bad
	s.buf, s.bad = s.buf[:0], false
	if !bad && len(raw) == 0 {
		return evs // the LF of a CRLF, or a blank line
	}
	if !bad {
		if code, ok := s.accept(raw); ok {
			return append(evs, line{code: code})
		}
	}
	return append(evs, line{noise: true})
}

// accept checks a complete line free of C0 controls and returns its code.
func (s *splitter) accept(raw []byte) (string, bool) {
	if !utf8.Valid(raw) || utf8.RuneCount(raw) > s.maxLen {
		return "", false
	}
	code := string(raw)
	for _, r := range code {
		if unicode.IsControl(r) { // C1 controls, U+0080..U+009F
			return "", false
		}
	}
	if s.stripAIM {
		code = StripAIM(code)
	}
	code = strings.Trim(code, " ")
	return code, code != ""
}

// StripAIM removes a leading AIM symbology identifier: "]", a symbology
// letter and a modifier character, as in "]C1" (GS1-128), "]E0" (EAN-13)
// or "]Q1" (QR Code). A code without one is returned unchanged.
func StripAIM(code string) string {
	if len(code) >= 3 && code[0] == ']' && isAlpha(code[1]) && (isAlpha(code[2]) || '0' <= code[2] && code[2] <= '9') {
		return code[3:]
	}
	return code
}

func isAlpha(b byte) bool { return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' }
