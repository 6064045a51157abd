package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// adu builds a Modbus TCP frame around pdu, with a correct length field.
func adu(tx uint16, unit byte, pdu ...byte) []byte {
	out := make([]byte, mbapLen, mbapLen+len(pdu))
	binary.BigEndian.PutUint16(out, tx)
	binary.BigEndian.PutUint16(out[4:], uint16(1+len(pdu)))
	out[6] = unit
	return append(out, pdu...)
}

// pdu16 builds a PDU from a function code and 16-bit fields.
func pdu16(fc byte, fields ...uint16) []byte {
	out := []byte{fc}
	for _, f := range fields {
		out = binary.BigEndian.AppendUint16(out, f)
	}
	return out
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name      string
		frame     []byte
		bad       bool // errBadFrame
		exception byte
		want      request // checked when neither bad nor exception: fc, addr, qty, values
	}{
		{name: "read holding", frame: adu(7, 1, pdu16(3, 0, 2)...), want: request{tx: 7, unit: 1, fc: 3, addr: 0, qty: 2}},
		{name: "read coils 2000", frame: adu(1, 1, pdu16(1, 10, 2000)...), want: request{tx: 1, unit: 1, fc: 1, addr: 10, qty: 2000}},
		{name: "read input at the top", frame: adu(1, 9, pdu16(4, 65535, 1)...), want: request{tx: 1, unit: 9, fc: 4, addr: 65535, qty: 1}},
		{name: "write coil on", frame: adu(1, 1, pdu16(5, 3, 0xFF00)...), want: request{tx: 1, unit: 1, fc: 5, addr: 3, qty: 1, values: []uint16{1}}},
		{name: "write coil off", frame: adu(1, 1, pdu16(5, 3, 0)...), want: request{tx: 1, unit: 1, fc: 5, addr: 3, qty: 1, values: []uint16{0}}},
		{name: "write register", frame: adu(1, 1, pdu16(6, 4, 0xBEEF)...), want: request{tx: 1, unit: 1, fc: 6, addr: 4, qty: 1, values: []uint16{0xBEEF}}},
		{name: "write coils", frame: adu(1, 1, append(pdu16(15, 8, 10), 2, 0b1100_1101, 0b01)...),
			want: request{tx: 1, unit: 1, fc: 15, addr: 8, qty: 10, values: []uint16{1, 0, 1, 1, 0, 0, 1, 1, 1, 0}}},
		{name: "write registers", frame: adu(1, 1, append(pdu16(16, 1, 2), 4, 0, 25, 0xFF, 0x49)...),
			want: request{tx: 1, unit: 1, fc: 16, addr: 1, qty: 2, values: []uint16{25, 0xFF49}}},

		{name: "empty", frame: nil, bad: true},
		{name: "short header", frame: []byte{0, 1, 0, 0, 0}, bad: true},
		{name: "protocol id not 0", frame: func() []byte { f := adu(1, 1, pdu16(3, 0, 1)...); f[3] = 1; return f }(), bad: true},
		{name: "length field 1", frame: []byte{0, 1, 0, 0, 0, 1, 1}, bad: true},
		{name: "length field too large", frame: []byte{0, 1, 0, 0, 0x01, 0x00, 1}, bad: true},
		{name: "truncated", frame: adu(1, 1, pdu16(3, 0, 1)...)[:10], bad: true},
		{name: "trailing bytes", frame: append(adu(1, 1, pdu16(3, 0, 1)...), 0), bad: true},

		{name: "unknown function", frame: adu(1, 1, pdu16(24, 0)...), exception: exIllegalFunction},
		{name: "exception code as function", frame: adu(1, 1, pdu16(0x83, 0, 1)...), exception: exIllegalFunction},
		{name: "read quantity 0", frame: adu(1, 1, pdu16(3, 0, 0)...), exception: exIllegalDataValue},
		{name: "read 126 registers", frame: adu(1, 1, pdu16(4, 0, 126)...), exception: exIllegalDataValue},
		{name: "read 2001 bits", frame: adu(1, 1, pdu16(2, 0, 2001)...), exception: exIllegalDataValue},
		{name: "read pdu short", frame: adu(1, 1, 3, 0, 0, 1), exception: exIllegalDataValue},
		{name: "read past 65535", frame: adu(1, 1, pdu16(3, 65535, 2)...), exception: exIllegalDataAddress},
		{name: "write coil bad value", frame: adu(1, 1, pdu16(5, 0, 0x00FF)...), exception: exIllegalDataValue},
		{name: "write register pdu long", frame: adu(1, 1, append(pdu16(6, 0, 1), 0)...), exception: exIllegalDataValue},
		{name: "write registers byte count", frame: adu(1, 1, append(pdu16(16, 0, 2), 3, 0, 1, 0, 2)...), exception: exIllegalDataValue},
		{name: "write registers data short", frame: adu(1, 1, append(pdu16(16, 0, 2), 4, 0, 1, 0)...), exception: exIllegalDataValue},
		{name: "write 124 registers", frame: adu(1, 1, append(pdu16(16, 0, 124), 248)...), exception: exIllegalDataValue},
		{name: "write coils quantity 0", frame: adu(1, 1, append(pdu16(15, 0, 0), 0)...), exception: exIllegalDataValue},
		{name: "write coils byte count", frame: adu(1, 1, append(pdu16(15, 0, 9), 1, 0xFF)...), exception: exIllegalDataValue},
		{name: "write coils past 65535", frame: adu(1, 1, append(pdu16(15, 65535, 2), 1, 3)...), exception: exIllegalDataAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequest(tt.frame)
			if tt.bad {
				if !errors.Is(err, errBadFrame) {
					t.Fatalf("err = %v, want errBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.exception != tt.exception {
				t.Fatalf("exception = %d, want %d", got.exception, tt.exception)
			}
			if tt.exception != 0 {
				return
			}
			w := tt.want
			if got.tx != w.tx || got.unit != w.unit || got.fc != w.fc || got.addr != w.addr || got.qty != w.qty || !slices.Equal(got.values, w.values) {
				t.Errorf("got tx %d unit %d fc %d addr %d qty %d values %v\nwant tx %d unit %d fc %d addr %d qty %d values %v",
					got.tx, got.unit, got.fc, got.addr, got.qty, got.values, w.tx, w.unit, w.fc, w.addr, w.qty, w.values)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	one := adu(1, 1, pdu16(3, 0, 1)...)
	tests := []struct {
		name   string
		stream []byte
		frames int   // frames read before the error
		err    error // errBadFrame or io.EOF
	}{
		{"clean end", slices.Concat(one, one), 2, io.EOF},
		{"nothing", nil, 0, io.EOF},
		{"ends in header", slices.Concat(one, one[:3]), 1, errBadFrame},
		{"ends in pdu", slices.Concat(one, one[:9]), 1, errBadFrame},
		{"bad protocol", slices.Concat(one, []byte{0, 1, 0xAB, 0xCD, 0, 6, 1, 3, 0, 0, 0, 1}), 1, errBadFrame},
		{"length over 254", []byte{0, 1, 0, 0, 0, 255, 1}, 0, errBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.stream)
			buf := make([]byte, maxADU)
			n := 0
			var err error
			for {
				if _, err = readFrame(r, buf); err != nil {
					break
				}
				n++
			}
			if n != tt.frames || !errors.Is(err, tt.err) {
				t.Errorf("read %d frames then %v; want %d then %v", n, err, tt.frames, tt.err)
			}
		})
	}
}

// FuzzModbusTCPFrame feeds arbitrary bytes to the frame reader, the parser
// and a bank, as a hostile or broken client would.
func FuzzModbusTCPFrame(f *testing.F) {
	seeds := [][]byte{
		adu(1, 1, pdu16(1, 0, 16)...),
		adu(1, 1, pdu16(2, 0, 8)...),
		adu(1, 1, pdu16(3, 0, 2)...),
		adu(1, 1, pdu16(4, 65530, 6)...),
		adu(1, 1, pdu16(5, 0, 0xFF00)...),
		adu(1, 1, pdu16(6, 1, 25)...),
		adu(1, 1, append(pdu16(15, 0, 10), 2, 0xFF, 0x03)...),
		adu(1, 1, append(pdu16(16, 0, 2), 4, 0, 1, 0, 2)...),
		adu(1, 1, append(pdu16(16, 0, 2), 5, 0, 1, 0, 2, 0)...),
		adu(1, 1, pdu16(43, 0x0E01)...),
		slices.Concat(adu(1, 1, pdu16(3, 0, 1)...), adu(2, 2, pdu16(4, 0, 1)...)),
		{0, 1, 0, 0, 0, 0xFF, 1, 3},
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	bank := NewBank()
	bank.Set(Holding, 0, make([]uint16, 200)...)
	bank.Set(Input, 65400, make([]uint16, 136)...)
	bank.Set(Coil, 0, make([]uint16, 2100)...)
	bank.Set(Discrete, 0, make([]uint16, 64)...)

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(frame []byte) {
			req, err := parseRequest(frame)
			if err != nil {
				if !errors.Is(err, errBadFrame) {
					t.Fatalf("error %v does not wrap errBadFrame", err)
				}
				return
			}
			if len(frame) < mbapLen+1 || len(frame) > maxADU {
				t.Fatalf("accepted a frame of %d bytes", len(frame))
			}
			if req.exception != 0 {
				return
			}
			if req.qty == 0 || int(req.addr)+int(req.qty) > 1<<16 {
				t.Fatalf("accepted addr %d qty %d", req.addr, req.qty)
			}
			if req.values != nil && len(req.values) != int(req.qty) {
				t.Fatalf("%d values for quantity %d", len(req.values), req.qty)
			}
			pdu, _ := req.apply(bank)
			if len(pdu) < 2 || len(pdu) > maxADU-mbapLen {
				t.Fatalf("response PDU of %d bytes", len(pdu))
			}
			resp := req.encodeADU(pdu)
			if n, err := frameLength(resp); err != nil || n != len(resp) {
				t.Fatalf("response frame %x: length %d, %v", resp, n, err)
			}
		}
		check(data)
		// The same bytes as a stream, the way a connection sees them.
		r := bytes.NewReader(data)
		buf := make([]byte, maxADU)
		for {
			frame, err := readFrame(r, buf)
			if err != nil {
				break
			}
			check(frame)
		}
	})
}
