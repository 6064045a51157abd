package sim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a misbehaviour injected into one slave of a ModbusTCPServer.
type Fault int

// The faults a slave can be given.
const (
	FaultNone      Fault = iota // answer normally
	FaultTimeout                // read each request and never answer, like a slave powered off behind a gateway
	FaultException              // answer every request with exception 04, slave device failure
	FaultGarbage                // answer with a malformed frame, like a noisy line behind a gateway
)

// String returns the fault's name.
func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultTimeout:
		return "timeout"
	case FaultException:
		return "exception"
	case FaultGarbage:
		return "garbage"
	case FaultWrongSlave:
		return "wrong-slave"
	case FaultNoise:
		return "noise"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// ServerStats counts what a ModbusTCPServer has seen since it started.
type ServerStats struct {
	Requests   uint64 // well-formed requests, answered or not
	Exceptions uint64 // exception responses sent, injected ones included
	BadFrames  uint64 // malformed frames; each closed its connection
	Dropped    uint64 // requests left unanswered: unknown unit id or FaultTimeout
}

// ModbusTCPServer is a Modbus TCP slave on a real socket. Several slaves,
// told apart by the MBAP unit id, can sit behind one server, the way
// RS-485 devices sit behind a Modbus TCP gateway. It serves from the
// moment NewModbusTCPServer returns until Close; each connection is served
// by its own goroutine, one request at a time, in order.
type ModbusTCPServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	slaves slaves

	mu      sync.Mutex
	onWrite func(unit byte, table Table, addr uint16, values []uint16)
	onRead  func(unit byte, table Table, addr, qty uint16)
	conns   map[net.Conn]struct{}
	closed  bool

	requests, exceptions, badFrames, dropped atomic.Uint64
}

var _ io.Closer = (*ModbusTCPServer)(nil)

// NewModbusTCPServer listens on addr ("127.0.0.1:0" picks a free port) and
// starts serving. No slave is attached yet, so every request is dropped
// until Attach.
func NewModbusTCPServer(addr string) (*ModbusTCPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: modbus tcp server: %w", err)
	}
	s := &ModbusTCPServer{
		ln:    ln,
		conns: make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the address the server listens on, as host:port.
func (s *ModbusTCPServer) Addr() string { return s.ln.Addr().String() }

// Attach puts b behind unit id unit, replacing any bank already there.
// A nil bank detaches the unit.
func (s *ModbusTCPServer) Attach(unit byte, b *Bank) { s.slaves.attach(unit, b) }

// SetFault makes unit misbehave from its next request on; FaultNone heals it.
func (s *ModbusTCPServer) SetFault(unit byte, f Fault) { s.slaves.setFault(unit, f) }

// OnWrite registers fn to be called after each write by function 5, 6, 15
// or 16 has changed a bank, with the values written (coils as 0 and 1).
// fn runs on the connection's goroutine before the answer is sent, so a
// test that waits for the answer also sees fn's effects; values is fn's to
// keep. A nil fn removes the hook.
func (s *ModbusTCPServer) OnWrite(fn func(unit byte, table Table, addr uint16, values []uint16)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = fn
}

// OnRead registers fn to be called before each read (functions 1 to 4)
// is answered, so fn may change the bank and the answer shows the change:
// a counter that counts its reads, a value that moves with each poll. A nil
// fn removes the hook.
func (s *ModbusTCPServer) OnRead(fn func(unit byte, table Table, addr, qty uint16)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRead = fn
}

// Stats returns the server's counters.
func (s *ModbusTCPServer) Stats() ServerStats {
	return ServerStats{
		Requests:   s.requests.Load(),
		Exceptions: s.exceptions.Load(),
		BadFrames:  s.badFrames.Load(),
		Dropped:    s.dropped.Load(),
	}
}

// Close stops listening, closes every connection and waits for their
// goroutines to finish. It is safe to call more than once.
func (s *ModbusTCPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("sim: modbus tcp server: %w", err)
	}
	return nil
}

func (s *ModbusTCPServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors and the like: wait and go on, as
			// net/http does, rather than stop serving for good.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *ModbusTCPServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, maxADU)
	for {
		adu, err := readFrame(c, buf)
		var req request
		if err == nil {
			req, err = parseRequest(adu)
		}
		if err != nil {
			// Once the framing is lost the next frame cannot be found, so
			// the connection goes and the client reconnects. Other
			// connections are not affected.
			if errors.Is(err, errBadFrame) {
				s.badFrames.Add(1)
			}
			return
		}
		if out := s.respond(req); out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

// respond returns the frame answering req, or nil for no answer.
func (s *ModbusTCPServer) respond(req request) []byte {
	s.requests.Add(1)
	bank, fault := s.slaves.slave(req.unit)
	s.mu.Lock()
	onWrite, onRead := s.onWrite, s.onRead
	s.mu.Unlock()
	// A unit id nobody is attached to gets no answer at all, not an
	// exception: that is what a gateway does when the RS-485 device behind
	// it stays silent, and what a poller must treat as a timeout. (A
	// gateway may answer exception 0B instead; the common cheap ones do
	// not.)
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
		return req.encodeADU(exceptionPDU(req.fc, exDeviceFailure))
	case FaultGarbage:
		return req.garbageADU()
	}
	if req.exception != 0 {
		s.exceptions.Add(1)
		return req.encodeADU(exceptionPDU(req.fc, req.exception))
	}
	if onRead != nil && req.fc >= fcReadCoils && req.fc <= fcReadInput {
		onRead(req.unit, req.table(), req.addr, req.qty)
	}
	pdu, wrote := req.apply(bank)
	if pdu[0]&exceptionFlag != 0 {
		s.exceptions.Add(1)
	}
	if wrote && onWrite != nil {
		onWrite(req.unit, req.table(), req.addr, req.values)
	}
	return req.encodeADU(pdu)
}
