package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Modbus TCP framing (Modbus Messaging on TCP/IP Implementation Guide
// 1.0b, 3.1). The MBAP header is transaction id, protocol id (0 for
// Modbus), length (bytes that follow: unit id plus PDU) and unit id.
const (
	mbapLen = 7
	// maxADU is the largest Modbus TCP frame: a 7-byte header and a PDU of
	// at most 253 bytes, so the length field is at most 254.
	maxADU         = 260
	maxLengthField = maxADU - 6
)

// Function codes the simulator implements.
const (
	fcReadCoils           = 1
	fcReadDiscrete        = 2
	fcReadHolding         = 3
	fcReadInput           = 4
	fcWriteCoil           = 5
	fcWriteRegister       = 6
	fcWriteCoils          = 15
	fcWriteRegisters      = 16
	exceptionFlag    byte = 0x80
)

// Exception codes (Modbus Application Protocol 1.1b3, section 7).
const (
	exIllegalFunction    byte = 1
	exIllegalDataAddress byte = 2
	exIllegalDataValue   byte = 3
	exDeviceFailure      byte = 4
)

// Quantity limits per request (Modbus Application Protocol 1.1b3, 6.1 to
// 6.12). Writes carry their data in the same 253-byte PDU, hence the lower
// limits for functions 15 and 16.
const (
	maxReadBits       = 2000
	maxReadRegisters  = 125
	maxWriteBits      = 1968
	maxWriteRegisters = 123
)

// errBadFrame marks a frame that cannot be answered because its framing is
// broken; the server closes the connection, as the implementation guide
// advises, since it can no longer find where the next frame starts.
var errBadFrame = errors.New("malformed Modbus TCP frame")

// request is one parsed Modbus TCP request.
type request struct {
	tx   uint16
	unit byte
	fc   byte
	addr uint16
	qty  uint16
	// values are the data of a write: registers, or coils as 0 and 1.
	values []uint16
	// pdu is the request PDU, echoed as the answer to functions 5 and 6.
	pdu []byte
	// exception, when not zero, is the answer the request earns before it
	// touches a bank: the framing is sound but the PDU is not.
	exception byte
}

// table is the table a request reads or writes.
func (r request) table() Table {
	switch r.fc {
	case fcReadCoils, fcWriteCoil, fcWriteCoils:
		return Coil
	case fcReadDiscrete:
		return Discrete
	case fcReadHolding, fcWriteRegister, fcWriteRegisters:
		return Holding
	case fcReadInput:
		return Input
	}
	return ""
}

// frameLength checks an MBAP header and returns the length of the whole
// frame it announces.
func frameLength(h []byte) (int, error) {
	if p := binary.BigEndian.Uint16(h[2:]); p != 0 {
		return 0, fmt.Errorf("%w: protocol id %d, want 0", errBadFrame, p)
	}
	// At least the unit id and a function code.
	n := int(binary.BigEndian.Uint16(h[4:]))
	if n < 2 || n > maxLengthField {
		return 0, fmt.Errorf("%w: length field %d outside 2..%d", errBadFrame, n, maxLengthField)
	}
	return 6 + n, nil
}

// readFrame reads one frame from r into buf, which must hold maxADU bytes.
// A stream that ends cleanly between frames gives io.EOF; one that ends
// inside a frame, or a broken header, gives an error wrapping errBadFrame.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:mbapLen]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated header", errBadFrame)
		}
		return nil, err
	}
	n, err := frameLength(buf[:mbapLen])
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, buf[mbapLen:n]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated after %d of %d bytes", errBadFrame, mbapLen, n)
		}
		return nil, err
	}
	return buf[:n], nil
}

// parseRequest decodes one complete Modbus TCP frame. A broken frame is an
// error wrapping errBadFrame; a sound frame with a bad PDU is a request
// whose exception field holds the code to answer with. It never touches a
// bank or a socket, so it can be fuzzed alone.
func parseRequest(adu []byte) (request, error) {
	if len(adu) < mbapLen {
		return request{}, fmt.Errorf("%w: %d bytes, shorter than the MBAP header", errBadFrame, len(adu))
	}
	n, err := frameLength(adu)
	if err != nil {
		return request{}, err
	}
	if len(adu) != n {
		return request{}, fmt.Errorf("%w: %d bytes, header announces %d", errBadFrame, len(adu), n)
	}
	pdu := adu[mbapLen:]
	r := request{
		tx:   binary.BigEndian.Uint16(adu),
		unit: adu[6],
		fc:   pdu[0],
		pdu:  pdu,
	}
	r.exception = r.parsePDU(pdu)
	return r, nil
}

// parsePDU fills the request from its PDU and returns the exception it
// earns, or 0. The checks follow the order of the specification's state
// diagrams: function code, then quantity and layout, then address range.
func (r *request) parsePDU(pdu []byte) byte {
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(pdu[i:]) }
	switch r.fc {
	case fcReadCoils, fcReadDiscrete, fcReadHolding, fcReadInput:
		if len(pdu) != 5 {
			return exIllegalDataValue
		}
		r.addr, r.qty = u16(1), u16(3)
		limit := uint16(maxReadRegisters)
		if r.table().Bits() {
			limit = maxReadBits
		}
		if r.qty == 0 || r.qty > limit {
			return exIllegalDataValue
		}
	case fcWriteCoil:
		if len(pdu) != 5 {
			return exIllegalDataValue
		}
		r.addr, r.qty = u16(1), 1
		switch u16(3) {
		case 0xFF00:
			r.values = []uint16{1}
		case 0x0000:
			r.values = []uint16{0}
		default:
			return exIllegalDataValue
		}
	case fcWriteRegister:
		if len(pdu) != 5 {
			return exIllegalDataValue
		}
		r.addr, r.qty = u16(1), 1
		r.values = []uint16{u16(3)}
	case fcWriteCoils, fcWriteRegisters:
		if len(pdu) < 6 {
			return exIllegalDataValue
		}
		r.addr, r.qty = u16(1), u16(3)
		count := int(pdu[5])
		limit, want := uint16(maxWriteRegisters), 2*int(r.qty)
		if r.fc == fcWriteCoils {
			limit, want = maxWriteBits, (int(r.qty)+7)/8
		}
		if r.qty == 0 || r.qty > limit || count != want || len(pdu) != 6+count {
			return exIllegalDataValue
		}
		data := pdu[6:]
		r.values = make([]uint16, r.qty)
		for i := range r.values {
			if r.fc == fcWriteCoils {
				r.values[i] = uint16(data[i/8] >> (i % 8) & 1)
			} else {
				r.values[i] = binary.BigEndian.Uint16(data[2*i:])
			}
		}
	default:
		return exIllegalFunction
	}
	if int(r.addr)+int(r.qty) > 1<<16 {
		return exIllegalDataAddress
	}
	return 0
}

// apply runs a request without a pending exception against a bank. It
// returns the response PDU and, for a write that changed the bank, true.
func (r request) apply(b *Bank) (pdu []byte, wrote bool) {
	t := r.table()
	switch r.fc {
	case fcReadCoils, fcReadDiscrete:
		v, ok := b.read(t, r.addr, r.qty)
		if !ok {
			return exceptionPDU(r.fc, exIllegalDataAddress), false
		}
		// Bits are packed eight to a byte, the first in the least
		// significant bit; unused high bits of the last byte are zero.
		out := make([]byte, 2+(len(v)+7)/8)
		out[0], out[1] = r.fc, byte(len(out)-2)
		for i, x := range v {
			out[2+i/8] |= byte(x) << (i % 8)
		}
		return out, false
	case fcReadHolding, fcReadInput:
		v, ok := b.read(t, r.addr, r.qty)
		if !ok {
			return exceptionPDU(r.fc, exIllegalDataAddress), false
		}
		out := make([]byte, 2+2*len(v))
		out[0], out[1] = r.fc, byte(2*len(v))
		for i, x := range v {
			binary.BigEndian.PutUint16(out[2+2*i:], x)
		}
		return out, false
	case fcWriteCoil, fcWriteRegister, fcWriteCoils, fcWriteRegisters:
		if !b.write(t, r.addr, r.values) {
			return exceptionPDU(r.fc, exIllegalDataAddress), false
		}
		if r.fc == fcWriteCoil || r.fc == fcWriteRegister {
			return append([]byte(nil), r.pdu...), true
		}
		out := make([]byte, 5)
		out[0] = r.fc
		binary.BigEndian.PutUint16(out[1:], r.addr)
		binary.BigEndian.PutUint16(out[3:], r.qty)
		return out, true
	}
	return exceptionPDU(r.fc, exIllegalFunction), false
}

func exceptionPDU(fc, code byte) []byte { return []byte{fc | exceptionFlag, code} }

// encodeADU wraps a response PDU in an MBAP header answering r.
func (r request) encodeADU(pdu []byte) []byte {
	out := make([]byte, mbapLen+len(pdu))
	binary.BigEndian.PutUint16(out, r.tx)
	binary.BigEndian.PutUint16(out[4:], uint16(1+len(pdu)))
	out[6] = r.unit
	copy(out[mbapLen:], pdu)
	return out
}

// garbageADU is the answer of a slave with FaultGarbage: it echoes the
// transaction id, so the client takes it for its answer, with a protocol
// id that is not Modbus, so the client must reject it.
func (r request) garbageADU() []byte {
	return []byte{byte(r.tx >> 8), byte(r.tx), 0xFF, 0xFF, 0x00, 0x03, r.unit, 0xDE, 0xAD}
}
