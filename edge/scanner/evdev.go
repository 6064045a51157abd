package scanner

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"
)

// inputEvent mirrors the kernel's struct input_event: a struct timeval of
// two longs (__kernel_ulong_t, pointer-sized on Linux), then type, code and
// value.
type inputEvent struct {
	Sec, Usec  uintptr
	Type, Code uint16
	Value      int32
}

// Sizes of struct input_event.
const (
	EventSize   = int(unsafe.Sizeof(inputEvent{})) // on the running architecture
	EventSize64 = 24                               // 64-bit kernels: amd64, arm64 (Raspberry Pi OS 64-bit)
	EventSize32 = 16                               // 32-bit kernels: arm (Raspberry Pi OS 32-bit)
)

// Event types and codes used here, from linux/input-event-codes.h.
const (
	evSyn      = 0x00
	evKey      = 0x01
	synReport  = 0
	synDropped = 3

	keyEnter   = 28
	keyKPEnter = 96
)

// A modifier key's bit in EvdevDecoder.mods.
const (
	modShift = 1 << iota
	modRightShift
	modOther // Ctrl, Alt, Meta: a key typed with one held is not text
)

var modifiers = map[uint16]uint8{
	42: modShift, 54: modRightShift, // LEFTSHIFT, RIGHTSHIFT
	29: modOther, 97: modOther, // LEFTCTRL, RIGHTCTRL
	56: modOther, 100: modOther, // LEFTALT, RIGHTALT
	125: modOther, 126: modOther, // LEFTMETA, RIGHTMETA
}

// ignoredKeys change no character on their own: lock keys some scanners
// press around a scan.
var ignoredKeys = map[uint16]bool{58: true, 69: true, 70: true} // CAPSLOCK, NUMLOCK, SCROLLLOCK

// keymap is the US layout: for each key code, the character without and
// with Shift. Keypad keys give the same character either way (scanners
// send them with NumLock assumed on).
var keymap = func() (m [256][2]byte) {
	rows := []struct {
		first          uint16
		plain, shifted string
	}{
		{2, "1234567890-=", "!@#$%^&*()_+"},    // KEY_1 .. KEY_EQUAL
		{16, "qwertyuiop[]", "QWERTYUIOP{}"},   // KEY_Q .. KEY_RIGHTBRACE
		{30, "asdfghjkl;'`", "ASDFGHJKL:\"~"},  // KEY_A .. KEY_GRAVE
		{43, "\\zxcvbnm,./", "|ZXCVBNM<>?"},    // KEY_BACKSLASH .. KEY_SLASH
		{55, "*", "*"},                         // KEY_KPASTERISK
		{57, " ", " "},                         // KEY_SPACE
		{71, "789-456+1230.", "789-456+1230."}, // KEY_KP7 .. KEY_KPDOT
		{98, "/", "/"},                         // KEY_KPSLASH
		{117, "=", "="},                        // KEY_KPEQUAL
	}
	for _, r := range rows {
		for i := range len(r.plain) {
			m[int(r.first)+i] = [2]byte{r.plain[i], r.shifted[i]}
		}
	}
	return m
}()

// EvdevDecoder turns the raw struct input_event records of a USB HID
// keyboard-wedge scanner into the text the scanner typed, for ReadLines:
// Enter becomes '\n'. A key press that is not text (an unknown key, Ctrl,
// Alt or Meta held, events lost by the kernel) becomes a NUL byte, so the
// line it falls in is rejected as noise. Key releases and autorepeats add
// nothing; Shift is tracked from its press and release.
type EvdevDecoder struct {
	r          io.Reader
	size       int
	buf        []byte
	start, end int
	text       []byte
	mods       uint8
	dropping   bool // after SYN_DROPPED, until the next SYN_REPORT
	err        error
}

// NewEvdevDecoder decodes events of eventSize bytes (EventSize for a device
// on this machine; EventSize32 or EventSize64 for a recording) read from r.
// It panics if eventSize is neither.
func NewEvdevDecoder(r io.Reader, eventSize int) *EvdevDecoder {
	if eventSize != EventSize32 && eventSize != EventSize64 {
		panic(fmt.Sprintf("scanner: input_event size %d, want %d or %d", eventSize, EventSize32, EventSize64))
	}
	return &EvdevDecoder{r: r, size: eventSize, buf: make([]byte, 64*eventSize)}
}

// Read returns decoded text. It returns the underlying reader's error once
// the text before it is read, io.ErrUnexpectedEOF if the stream ends inside
// an event.
func (d *EvdevDecoder) Read(p []byte) (int, error) {
	for empty := 0; len(d.text) == 0; {
		if d.err != nil {
			return 0, d.err
		}
		if d.fill() > 0 {
			empty = 0
		} else if empty++; empty > 100 {
			return 0, io.ErrNoProgress
		}
	}
	n := copy(p, d.text)
	if n == len(d.text) {
		d.text = d.text[:0] // reuse the buffer
	} else {
		d.text = d.text[n:]
	}
	return n, nil
}

// fill reads once, decodes every complete event and returns the number of
// bytes read. A partial event is kept for the next read; the buffer's free
// space after it is always at least one event, as the kernel's read(2) of
// an event device requires.
func (d *EvdevDecoder) fill() int {
	d.end = copy(d.buf, d.buf[d.start:d.end])
	d.start = 0
	n, err := d.r.Read(d.buf[d.end:])
	d.end += n
	for d.end-d.start >= d.size {
		d.event(d.buf[d.start : d.start+d.size])
		d.start += d.size
	}
	if err != nil {
		if err == io.EOF && d.end > d.start {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
	return n
}

func (d *EvdevDecoder) event(ev []byte) {
	typ := binary.NativeEndian.Uint16(ev[d.size-8:])
	code := binary.NativeEndian.Uint16(ev[d.size-6:])
	value := int32(binary.NativeEndian.Uint32(ev[d.size-4:]))
	switch {
	case typ == evSyn && code == synDropped:
		// The kernel's buffer overflowed: keys are missing from the
		// current line, and the modifiers' state is unknown.
		d.dropping, d.mods = true, 0
		d.text = append(d.text, 0)
	case typ == evSyn && code == synReport:
		d.dropping = false
	case typ == evKey && !d.dropping:
		d.key(code, value)
	}
}

func (d *EvdevDecoder) key(code uint16, value int32) {
	if m, ok := modifiers[code]; ok {
		switch value {
		case 1:
			d.mods |= m
		case 0:
			d.mods &^= m
		}
		return
	}
	if value != 1 || ignoredKeys[code] {
		return // release, autorepeat, lock key
	}
	var c byte
	switch {
	case code == keyEnter || code == keyKPEnter:
		c = '\n'
	case d.mods&modOther != 0:
		c = 0
	case int(code) < len(keymap):
		shift := 0
		if d.mods&(modShift|modRightShift) != 0 {
			shift = 1
		}
		c = keymap[code][shift]
	}
	d.text = append(d.text, c)
}
