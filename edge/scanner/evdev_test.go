package scanner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

// Key codes from linux/input-event-codes.h used by the tests.
const (
	keyLeftShift  = 42
	keyRightShift = 54
	keyLeftCtrl   = 29
	keyCapsLock   = 58
	keyF1         = 59
	keyBackspace  = 14
	keyS          = 31
	keyF          = 33
	key1          = 2
	evMsc         = 0x04
	mscScan       = 0x04
)

// events builds a raw input_event stream as a device would deliver it.
type events struct {
	size int
	b    []byte
}

func (e *events) raw(typ, code uint16, value int32) *events {
	ev := make([]byte, e.size)
	binary.NativeEndian.PutUint32(ev[0:], 1741000000) // seconds; the decoder ignores time
	binary.NativeEndian.PutUint16(ev[e.size-8:], typ)
	binary.NativeEndian.PutUint16(ev[e.size-6:], code)
	binary.NativeEndian.PutUint32(ev[e.size-4:], uint32(value))
	e.b = append(e.b, ev...)
	return e
}

// press and release a key as a scanner does: scan code, key, report.
func (e *events) tap(code uint16) *events {
	return e.raw(evMsc, mscScan, 0x70000+int32(code)).raw(evKey, code, 1).raw(evSyn, synReport, 0).
		raw(evKey, code, 0).raw(evSyn, synReport, 0)
}

func (e *events) down(code uint16) *events { return e.raw(evKey, code, 1).raw(evSyn, synReport, 0) }
func (e *events) up(code uint16) *events   { return e.raw(evKey, code, 0).raw(evSyn, synReport, 0) }

// typeText types s on the US layout, with Shift around shifted characters,
// and Enter for '\n'.
func (e *events) typeText(s string) *events {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			e.tap(keyEnter)
			continue
		}
		code, shift := keyFor(s[i])
		if code == 0 {
			panic("no key for " + string(s[i]))
		}
		if shift {
			e.down(keyLeftShift)
		}
		e.tap(code)
		if shift {
			e.up(keyLeftShift)
		}
	}
	return e
}

func keyFor(c byte) (uint16, bool) {
	for code := range 71 { // the main block, not the keypad
		for shift, k := range keymap[code] {
			if k == c {
				return uint16(code), shift == 1
			}
		}
	}
	return 0, false
}

func decodeAll(t *testing.T, r io.Reader, size int) (string, error) {
	t.Helper()
	b, err := io.ReadAll(NewEvdevDecoder(r, size))
	return string(b), err
}

func TestEventSize(t *testing.T) {
	want := EventSize64
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = EventSize32
	}
	if EventSize != want {
		t.Errorf("EventSize = %d on this architecture, want %d", EventSize, want)
	}
}

func TestEvdevDecoder(t *testing.T) {
	all := " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	tests := []struct {
		name  string
		build func(e *events)
		want  string
	}{
		{"raw key codes", func(e *events) {
			// Spelled out from input-event-codes.h, independent of keymap.
			e.down(keyLeftShift)
			for _, k := range []uint16{36, 32, 47, 30, 3, 53} { // J D V A 2 /
				e.tap(k)
			}
			e.up(keyLeftShift)
			for _, k := range []uint16{12, 2, 11, 53, 52, 39, 57, 44, keyEnter} { // - 1 0 / . ; space z Enter
				e.tap(k)
			}
		}, "JDVA@?-10/.; z\n"},
		{"SF waybill with Shift", func(e *events) { e.typeText("SF1234567890123\n") }, "SF1234567890123\n"},
		{"every printable ASCII character", func(e *events) { e.typeText(all + "\n") }, all + "\n"},
		{"sort code", func(e *events) { e.typeText("571-W01-01\n") }, "571-W01-01\n"},
		{"right Shift", func(e *events) { e.down(keyRightShift).tap(keyS).up(keyRightShift).tap(keyS).tap(keyEnter) }, "Ss\n"},
		{"both Shifts, one released", func(e *events) {
			e.down(keyLeftShift).down(keyRightShift).up(keyLeftShift).tap(keyF).up(keyRightShift).tap(keyF)
		}, "Ff"},
		{"Shift autorepeat and lock keys change nothing", func(e *events) {
			e.down(keyLeftShift).raw(evKey, keyLeftShift, 2).tap(keyS).up(keyLeftShift).tap(keyCapsLock).tap(keyS)
		}, "Ss"},
		{"autorepeat adds nothing", func(e *events) { e.down(key1).raw(evKey, key1, 2).raw(evKey, key1, 2).up(key1) }, "1"},
		{"keypad digits and Enter", func(e *events) {
			for _, k := range []uint16{79, 80, 81, 75, 76, 77, 71, 72, 73, 82, 74, 98, 83, 96} {
				e.tap(k)
			}
		}, "1234567890-/.\n"},
		{"unknown keys are NUL", func(e *events) { e.tap(key1).tap(keyF1).tap(keyBackspace).tap(200).tap(900) }, "1\x00\x00\x00\x00"},
		{"Ctrl held is NUL", func(e *events) { e.down(keyLeftCtrl).tap(keyS).up(keyLeftCtrl).tap(keyS) }, "\x00s"},
		{"SYN_DROPPED poisons the line and skips to SYN_REPORT", func(e *events) {
			e.tap(key1).down(keyLeftShift).raw(evSyn, synDropped, 0).raw(evKey, keyS, 1).raw(evSyn, synReport, 0).tap(keyS)
		}, "1\x00s"},
		{"other event types ignored", func(e *events) { e.raw(0x11, 0, 1).raw(0x14, 0, 250).raw(0x02, 0, 5).tap(key1) }, "1"},
	}
	for _, size := range []int{EventSize32, EventSize64} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := &events{size: size}
				tt.build(e)
				for how, r := range map[string]io.Reader{
					"whole":    bytes.NewReader(e.b),
					"one byte": iotest.OneByteReader(bytes.NewReader(e.b)),
					"halves":   iotest.HalfReader(bytes.NewReader(e.b)),
				} {
					got, err := decodeAll(t, r, size)
					if err != nil || got != tt.want {
						t.Errorf("size %d, %s: got %q, %v; want %q", size, how, got, err, tt.want)
					}
				}
			})
		}
	}
}

func TestEvdevDecoderErrors(t *testing.T) {
	e := (&events{size: EventSize64}).typeText("AB")
	got, err := decodeAll(t, bytes.NewReader(e.b[:len(e.b)-3]), EventSize64)
	if err != io.ErrUnexpectedEOF || got != "AB" {
		t.Errorf("cut event: %q, %v; want AB, unexpected EOF", got, err)
	}
	boom := errors.New("device gone")
	r := io.MultiReader(bytes.NewReader((&events{size: EventSize32}).typeText("7").b), iotest.ErrReader(boom))
	got, err = decodeAll(t, r, EventSize32)
	if !errors.Is(err, boom) || got != "7" {
		t.Errorf("read error: %q, %v; want 7, boom", got, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewEvdevDecoder(size 20) did not panic")
		}
	}()
	NewEvdevDecoder(nil, 20)
}

// TestEvdevLines runs decoded events through the line protocol, as HID
// does with a device.
func TestEvdevLines(t *testing.T) {
	for _, size := range []int{EventSize32, EventSize64} {
		e := &events{size: size}
		e.typeText("SF1234567890123\n")
		e.typeText("JT50").tap(keyF1).typeText("12345678901\n") // unknown key: noise
		e.typeText(strings.Repeat("8", 200) + "\n")             // flood: noise
		e.typeText("]C1YT7012345678901\n")
		e.down(keyLeftShift).tap(keyEnter).up(keyLeftShift).typeText("jdva12345678901\n") // Shift+Enter still ends a scan
		e.typeText("12345")                                                               // cut off: noise
		opt := quiet("hid")
		opt.StripAIM = true
		codes, st, err := readAll(t, NewEvdevDecoder(bytes.NewReader(e.b), size), opt)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"SF1234567890123", "YT7012345678901", "jdva12345678901"}
		if !slices.Equal(codes, want) || st != (Stats{Scans: 3, Noise: 3}) {
			t.Errorf("size %d: codes %q stats %+v; want %q, 3 scans, 3 noise", size, codes, st, want)
		}
	}
}

func FuzzEvdev(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, and a long one
	// (a flood of key events) would keep it minimising instead of fuzzing.
	// Long lines are reached with MaxLen 8 below.
	for _, size := range []int{EventSize32, EventSize64} {
		e := &events{size: size}
		e.down(keyLeftShift).raw(evKey, keyS, 1).up(keyLeftShift).raw(evKey, key1, 1).raw(evKey, keyEnter, 1)
		e.raw(evKey, keyF1, 1).raw(evSyn, synDropped, 0).raw(evKey, keyF, 1).raw(evSyn, synReport, 0)
		e.raw(evKey, keyF, 1).raw(evKey, keyEnter, 1)
		f.Add(e.b, size == EventSize64)
	}
	text := map[byte]bool{'\n': true, 0: true}
	for _, row := range keymap {
		text[row[0]], text[row[1]] = true, true
	}
	f.Fuzz(func(t *testing.T, data []byte, wide bool) {
		size := EventSize32
		if wide {
			size = EventSize64
		}
		whole, err1 := decodeAll(t, bytes.NewReader(data), size)
		bytewise, err2 := decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)), size)
		if whole != bytewise || err1 != err2 {
			t.Fatalf("chunking changed the result: %q, %v vs %q, %v", whole, err1, bytewise, err2)
		}
		if wantErr := len(data)%size != 0; (err1 == io.ErrUnexpectedEOF) != wantErr || (err1 != nil && !wantErr) {
			t.Fatalf("%d bytes: error %v", len(data), err1)
		}
		if len(whole) > len(data)/size {
			t.Fatalf("%d characters from %d events", len(whole), len(data)/size)
		}
		for i := 0; i < len(whole); i++ {
			if !text[whole[i]] {
				t.Fatalf("decoded byte %q", whole[i])
			}
		}
		opt := quiet("fuzz")
		opt.MaxLen = 8
		codes, _, _ := readAll(t, NewEvdevDecoder(bytes.NewReader(data), size), opt)
		for _, c := range codes {
			if len(c) > opt.MaxLen || strings.ContainsAny(c, "\x00\n") {
				t.Fatalf("delivered %q", c)
			}
		}
	})
}
