package sim

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Modbus RTU framing (Modbus over Serial Line Specification and
// Implementation Guide V1.02, 2.5.1): a frame is the slave address, the PDU
// and a CRC-16 sent low byte first. On a wire a frame ends with 3.5
// character times of silence; a pseudo-terminal has no character timing,
// so the server finds frames by the length their function code implies and
// a valid CRC instead, the way a slave resynchronises after noise.
const (
	minRTUFrame = 4   // address, function code, CRC
	maxRTUFrame = 256 // address, a PDU of at most 253 bytes, CRC
	// maxRTUUnit is the highest individual slave address; 0 is broadcast
	// and 248 to 255 are reserved.
	maxRTUUnit = 247
)

// The faults only an RTUServer injects. They are numbered apart from the
// ones both servers share so the two lists can grow independently; a
// ModbusTCPServer answers normally when given one.
const (
	// FaultWrongSlave answers correctly but with another slave's address,
	// like two devices set to the same address or a mis-set one.
	FaultWrongSlave Fault = 100 + iota
	// FaultNoise answers with a burst of bytes that is no frame at all, like
	// a floating line when a transceiver switches.
	FaultNoise
)

// rtuNoise is what a slave with FaultNoise sends. Its second byte, where a
// function code would be, is 0, which no answer carries.
var rtuNoise = []byte{0xFF, 0x00, 0xFF, 0xFE, 0x00, 0xFF, 0x80}

// RTUStats counts what an RTUServer has heard and said since it started.
type RTUStats struct {
	Requests   uint64 // CRC-valid request frames heard, for any unit, broadcasts included
	Exceptions uint64 // exception responses sent, injected ones included
	Dropped    uint64 // requests left unanswered: unit not attached or FaultTimeout
	Broadcasts uint64 // requests to address 0: writes applied to every slave, never answered
	Discarded  uint64 // bytes thrown away to find the next frame: noise, frames with a bad CRC
	// Collisions counts frames followed by bytes the master sent before
	// the answer went out. On a half-duplex RS-485 line those bytes would
	// have collided with the answer: the master broke one request at a
	// time.
	Collisions uint64
}

// RTUServer is a line of Modbus RTU slaves on one serial port, told apart
// by their address, as several devices share one RS-485 bus. Slaves not
// attached stay silent, like an empty address on a real bus. It serves from
// the moment NewRTUServer returns until Close, one frame at a time.
//
// In tests the port is the master side of a pseudo-terminal
// (github.com/creack/pty) and the client opens the slave side's path as
// its serial port. Keep the slave side open for the server's lifetime:
// when no one holds it, reads on the master fail and the server stops.
type RTUServer struct {
	port io.ReadWriteCloser
	done chan struct{}

	slaves slaves

	mu     sync.Mutex
	closed bool
	err    error // why serving stopped, if not Close

	requests, exceptions, dropped, broadcasts, discarded, collisions atomic.Uint64
}

var _ io.Closer = (*RTUServer)(nil)

// NewRTUServer starts serving on port. No slave is attached yet, so every
// request goes unanswered until Attach.
func NewRTUServer(port io.ReadWriteCloser) *RTUServer {
	s := &RTUServer{
		port: port,
		done: make(chan struct{}),
	}
	go s.serve()
	return s
}

// Attach puts b at slave address unit (1 to 247), replacing any bank
// already there. A nil bank detaches the unit. It panics on address 0 or
// above 247, which no slave may have.
func (s *RTUServer) Attach(unit byte, b *Bank) {
	if unit == 0 || unit > maxRTUUnit {
		panic(fmt.Sprintf("sim: RTU slave address %d outside 1..%d", unit, maxRTUUnit))
	}
	s.slaves.attach(unit, b)
}

// SetFault makes unit misbehave from its next request on; FaultNone heals
// it. FaultGarbage applies the request and sends the answer with a wrong
// CRC; FaultWrongSlave applies it and answers with the address of the next
// slave up.
func (s *RTUServer) SetFault(unit byte, f Fault) { s.slaves.setFault(unit, f) }

// Stats returns the server's counters.
func (s *RTUServer) Stats() RTUStats {
	return RTUStats{
		Requests:   s.requests.Load(),
		Exceptions: s.exceptions.Load(),
		Dropped:    s.dropped.Load(),
		Broadcasts: s.broadcasts.Load(),
		Discarded:  s.discarded.Load(),
		Collisions: s.collisions.Load(),
	}
}

// Err returns why the server stopped serving before Close (the port failed),
// or nil.
func (s *RTUServer) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close closes the port, which must make a pending Read return, and waits
// for the server to stop. It is safe to call more than once.
func (s *RTUServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.port.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("sim: rtu server: %w", err)
	}
	return nil
}

func (s *RTUServer) serve() {
	defer close(s.done)
	pending := make([]byte, 0, 2*maxRTUFrame)
	chunk := make([]byte, maxRTUFrame)
	for {
		n, err := s.port.Read(chunk)
		pending = append(pending, chunk[:n]...)
		for {
			skip, frame := nextRTUFrame(pending)
			s.discarded.Add(uint64(skip))
			if frame == nil {
				pending = append(pending[:0], pending[skip:]...)
				break
			}
			rest := pending[skip+len(frame):]
			if len(rest) > 0 {
				s.collisions.Add(1)
			}
			if out := s.respond(parseRTURequest(frame)); out != nil {
				if _, err := s.port.Write(out); err != nil {
					s.stop(err)
					return
				}
			}
			pending = append(pending[:0], rest...)
		}
		if err != nil {
			s.stop(err)
			return
		}
	}
}

// stop records why serving ended, unless Close ended it.
func (s *RTUServer) stop(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && !errors.Is(err, io.EOF) {
		s.err = fmt.Errorf("sim: rtu server: %w", err)
	}
}

// respond returns the frame answering req, or nil for silence.
func (s *RTUServer) respond(req request) []byte {
	s.requests.Add(1)
	if req.unit == 0 {
		s.broadcast(req)
		return nil
	}
	bank, fault := s.slaves.slave(req.unit)
	if bank == nil {
		s.dropped.Add(1)
		return nil
	}
	switch fault {
	case FaultTimeout:
		s.dropped.Add(1)
		return nil
	case FaultException:
		s.exceptions.Add(1)
		return rtuFrame(req.unit, exceptionPDU(req.fc, exDeviceFailure))
	case FaultNoise:
		return append([]byte(nil), rtuNoise...)
	}
	out := rtuFrame(req.unit, s.answer(req, bank))
	switch fault {
	case FaultGarbage:
		// The slave did its job, but its answer was damaged on the way
		// back: the CRC no longer matches.
		out[len(out)-2] ^= 0xFF
		out[len(out)-1] ^= 0xFF
	case FaultWrongSlave:
		out = rtuFrame(req.unit%maxRTUUnit+1, out[1:len(out)-2])
	}
	return out
}

// answer runs req against b and returns the response PDU, counting
// exceptions.
func (s *RTUServer) answer(req request, b *Bank) []byte {
	var pdu []byte
	if req.exception != 0 {
		pdu = exceptionPDU(req.fc, req.exception)
	} else {
		pdu, _ = req.apply(b)
	}
	if pdu[0]&exceptionFlag != 0 {
		s.exceptions.Add(1)
	}
	return pdu
}

// broadcast applies a write to every attached slave that is not failing
// silently. Reads to address 0 are meaningless and ignored.
func (s *RTUServer) broadcast(req request) {
	s.broadcasts.Add(1)
	if req.exception != 0 {
		return
	}
	switch req.fc {
	case fcWriteCoil, fcWriteRegister, fcWriteCoils, fcWriteRegisters:
	default:
		return
	}
	for _, b := range s.slaves.except(FaultTimeout) {
		req.apply(b)
	}
}

// parseRTURequest decodes a frame nextRTUFrame returned: at least 4 bytes
// with a valid CRC. The PDU is checked by the same code as Modbus TCP's.
func parseRTURequest(frame []byte) request {
	pdu := frame[1 : len(frame)-2]
	r := request{unit: frame[0], fc: pdu[0], pdu: pdu}
	r.exception = r.parsePDU(pdu)
	return r
}

// nextRTUFrame finds the first complete request frame with a valid CRC in
// buf, as a slave listening to a stream does. It returns how many bytes
// before the frame are garbage, and the frame, which aliases buf. With no
// complete frame, frame is nil and skip counts the leading bytes that can
// never begin one, so the caller may drop them and wait for more.
func nextRTUFrame(buf []byte) (skip int, frame []byte) {
	skip = len(buf)
	undecided := false
	for start := 0; start < len(buf); start++ {
		n := rtuFrameLen(buf[start:])
		switch {
		case n > 0:
			return start, buf[start : start+n]
		case n < 0 && !undecided:
			// The first start that more bytes might still complete: what
			// lies before it is garbage for good.
			undecided = true
			skip = start
		}
	}
	return skip, nil
}

// rtuFrameLen returns the length of the request frame at the start of b if
// a complete one with a valid CRC is there, -1 if more bytes might still
// make one, and 0 if none can start there.
func rtuFrameLen(b []byte) int {
	if len(b) >= 1 && b[0] > maxRTUUnit {
		return 0
	}
	if len(b) < 2 {
		return -1
	}
	// The request length each public function code implies (Modbus
	// Application Protocol 1.1b3, section 6): fixed, or fixed plus a byte
	// count at a known place. The simulator answers only functions 1 to 6,
	// 15 and 16; the others are framed so that they earn "illegal
	// function" rather than silence.
	want, count := 0, -1 // count: index of a byte count that adds to want
	switch b[1] {
	case 7, 11, 12, 17:
		want = 4
	case fcReadCoils, fcReadDiscrete, fcReadHolding, fcReadInput, fcWriteCoil, fcWriteRegister:
		want = 8
	case 24:
		want = 6
	case 22:
		want = 10
	case fcWriteCoils, fcWriteRegisters:
		want, count = 9, 6
	case 20, 21:
		want, count = 5, 2
	case 23:
		want, count = 13, 10
	case 8, 43, 65, 66, 67, 68, 69, 70, 71, 72, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110:
		// Diagnostics, encapsulated interface and the user-defined codes
		// carry no length: the frame ends where a CRC first matches, as
		// good a guess as a slave without a clock can make.
		return crcFrameLen(b)
	default:
		// No such function (0, an exception code, an unassigned code):
		// what starts here is noise.
		return 0
	}
	if count >= 0 {
		if len(b) <= count {
			return -1
		}
		want += int(b[count])
		if want > maxRTUFrame {
			return 0
		}
	}
	if len(b) < want {
		return -1
	}
	if !rtuCRCOK(b[:want]) {
		return 0
	}
	return want
}

// crcFrameLen returns the shortest n such that b[:n] is a frame with a
// valid CRC, -1 if more bytes might still give one, or 0 if none can.
func crcFrameLen(b []byte) int {
	c := crc16(b[:minRTUFrame-2])
	for n := minRTUFrame; n <= len(b) && n <= maxRTUFrame; n++ {
		// c is the CRC of b[:n-2], extended a byte per length.
		if b[n-2] == byte(c) && b[n-1] == byte(c>>8) {
			return n
		}
		c = crcUpdate(c, b[n-2])
	}
	if len(b) >= maxRTUFrame {
		return 0
	}
	return -1
}

// rtuFrame wraps a PDU in an RTU frame for unit.
func rtuFrame(unit byte, pdu []byte) []byte {
	out := make([]byte, 0, len(pdu)+3)
	out = append(out, unit)
	out = append(out, pdu...)
	return appendCRC(out)
}

// appendCRC appends the CRC of b, low byte first.
func appendCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// rtuCRCOK reports whether the last two bytes of frame are the CRC of the
// rest.
func rtuCRCOK(frame []byte) bool {
	n := len(frame)
	if n < minRTUFrame {
		return false
	}
	c := crc16(frame[:n-2])
	return frame[n-2] == byte(c) && frame[n-1] == byte(c>>8)
}

// crcTable is CRC-16/MODBUS (reflected polynomial 0xA001) a byte at a
// time, as the serial line specification's appendix B computes it.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 returns the CRC-16/MODBUS of b (initial value 0xFFFF).
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = crcUpdate(c, x)
	}
	return c
}

// crcUpdate extends the CRC c by one byte.
func crcUpdate(c uint16, x byte) uint16 { return c>>8 ^ crcTable[byte(c)^x] }
