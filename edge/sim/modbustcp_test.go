package sim

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goburrow/modbus"
)

// startServer starts a server on a free local port, closed when the test ends.
func startServer(t *testing.T) *ModbusTCPServer {
	t.Helper()
	s, err := NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient returns a goburrow client for one slave of s.
func newClient(t *testing.T, s *ModbusTCPServer, unit byte, timeout time.Duration) modbus.Client {
	t.Helper()
	h := modbus.NewTCPClientHandler(s.Addr())
	h.SlaveId = unit
	h.Timeout = timeout
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h)
}

// testBank is a slave with a few of everything.
func testBank() *Bank {
	b := NewBank()
	b.SetHolding(0, 650, 65353, 0, 0)
	b.SetInput(1, 25, 830)
	for i, on := range []bool{true, false, true, true, false, false, false, false, true} {
		b.SetCoil(uint16(i), on)
	}
	b.SetDiscrete(100, true)
	b.SetDiscrete(101, false)
	return b
}

// exceptionCode returns the Modbus exception in err, or 0.
func exceptionCode(err error) byte {
	var me *modbus.ModbusError
	if errors.As(err, &me) {
		return me.ExceptionCode
	}
	return 0
}

// words decodes big-endian registers.
func words(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerReads(t *testing.T) {
	s := startServer(t)
	s.Attach(1, testBank())
	c := newClient(t, s, 1, 2*time.Second)

	tests := []struct {
		name string
		read func() ([]byte, error)
		want []byte
	}{
		{"holding", func() ([]byte, error) { return c.ReadHoldingRegisters(0, 2) }, []byte{0x02, 0x8A, 0xFF, 0x49}},
		{"input", func() ([]byte, error) { return c.ReadInputRegisters(1, 2) }, []byte{0, 25, 0x03, 0x3E}},
		{"coils", func() ([]byte, error) { return c.ReadCoils(0, 9) }, []byte{0b0000_1101, 0b1}},
		{"coils from 2", func() ([]byte, error) { return c.ReadCoils(2, 2) }, []byte{0b11}},
		{"discrete", func() ([]byte, error) { return c.ReadDiscreteInputs(100, 2) }, []byte{0b01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}
	if st := s.Stats(); st.Requests != uint64(len(tests)) || st.Exceptions != 0 || st.BadFrames != 0 {
		t.Errorf("stats = %+v", st)
	}
}

type write struct {
	unit   byte
	table  Table
	addr   uint16
	values []uint16
}

func TestServerWrites(t *testing.T) {
	s := startServer(t)
	b := testBank()
	s.Attach(3, b)
	var mu sync.Mutex
	var got []write
	s.OnWrite(func(unit byte, table Table, addr uint16, values []uint16) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, write{unit, table, addr, values})
	})
	c := newClient(t, s, 3, 2*time.Second)

	tests := []struct {
		name  string
		write func() ([]byte, error)
		echo  []byte // the answer's data
		want  write  // what OnWrite sees
		table Table  // and where to look in the bank
		bank  []uint16
	}{
		{"single register", func() ([]byte, error) { return c.WriteSingleRegister(2, 0xBEEF) },
			[]byte{0xBE, 0xEF}, write{3, Holding, 2, []uint16{0xBEEF}}, Holding, []uint16{650, 65353, 0xBEEF, 0}},
		{"multiple registers", func() ([]byte, error) { return c.WriteMultipleRegisters(1, 3, []byte{0, 25, 0, 26, 0xFF, 0xFF}) },
			[]byte{0, 3}, write{3, Holding, 1, []uint16{25, 26, 0xFFFF}}, Holding, []uint16{650, 25, 26, 0xFFFF}},
		{"single coil off", func() ([]byte, error) { return c.WriteSingleCoil(0, 0x0000) },
			[]byte{0, 0}, write{3, Coil, 0, []uint16{0}}, Coil, []uint16{0, 0, 1, 1}},
		{"single coil on", func() ([]byte, error) { return c.WriteSingleCoil(1, 0xFF00) },
			[]byte{0xFF, 0}, write{3, Coil, 1, []uint16{1}}, Coil, []uint16{0, 1, 1, 1}},
		{"multiple coils", func() ([]byte, error) { return c.WriteMultipleCoils(0, 9, []byte{0b1010_0101, 0b0}) },
			[]byte{0, 9}, write{3, Coil, 0, []uint16{1, 0, 1, 0, 0, 1, 0, 1, 0}}, Coil, []uint16{1, 0, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			echo, err := tt.write()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(echo, tt.echo) {
				t.Errorf("answer % x, want % x", echo, tt.echo)
			}
			// The hook runs before the answer is sent: no waiting needed.
			mu.Lock()
			if len(got) != 1 || got[0].unit != tt.want.unit || got[0].table != tt.want.table ||
				got[0].addr != tt.want.addr || !slices.Equal(got[0].values, tt.want.values) {
				t.Errorf("OnWrite saw %+v, want %+v", got, tt.want)
			}
			mu.Unlock()
			if bank, _ := b.read(tt.table, 0, 4); !slices.Equal(bank, tt.bank) {
				t.Errorf("%s 0..3 = %v, want %v", tt.table, bank, tt.bank)
			}
		})
	}
}

func TestServerExceptions(t *testing.T) {
	s := startServer(t)
	s.Attach(1, testBank())
	s.Attach(2, testBank())
	s.SetFault(2, FaultException)
	c := newClient(t, s, 1, 2*time.Second)
	failing := newClient(t, s, 2, 2*time.Second)

	tests := []struct {
		name string
		call func() ([]byte, error)
		want byte
	}{
		{"01 read FIFO not implemented", func() ([]byte, error) { return c.ReadFIFOQueue(0) }, 1},
		{"01 mask write not implemented", func() ([]byte, error) { return c.MaskWriteRegister(0, 0xFF, 0) }, 1},
		{"02 read past the last register", func() ([]byte, error) { return c.ReadHoldingRegisters(2, 3) }, 2},
		{"02 read unset input", func() ([]byte, error) { return c.ReadInputRegisters(0, 1) }, 2},
		{"02 read coils over a hole", func() ([]byte, error) { return c.ReadCoils(8, 2) }, 2},
		{"02 write unset register", func() ([]byte, error) { return c.WriteSingleRegister(100, 1) }, 2},
		{"02 write registers over the end", func() ([]byte, error) { return c.WriteMultipleRegisters(3, 2, []byte{0, 1, 0, 2}) }, 2},
		{"02 write unset coil", func() ([]byte, error) { return c.WriteSingleCoil(9, 0xFF00) }, 2},
		{"04 slave device failure", func() ([]byte, error) { return failing.ReadHoldingRegisters(0, 1) }, 4},
		{"04 also for writes", func() ([]byte, error) { return failing.WriteSingleRegister(0, 1) }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call()
			if got := exceptionCode(err); got != tt.want {
				t.Errorf("err = %v, want exception %d", err, tt.want)
			}
		})
	}
	if st := s.Stats(); st.Exceptions != uint64(len(tests)) {
		t.Errorf("Exceptions = %d, want %d", st.Exceptions, len(tests))
	}

	// Exception 03 needs requests goburrow refuses to send.
	conn := dial(t, s)
	raw := []struct {
		name  string
		frame []byte
	}{
		{"03 quantity 0", adu(1, 1, pdu16(3, 0, 0)...)},
		{"03 quantity 126", adu(2, 1, pdu16(3, 0, 126)...)},
		{"03 byte count mismatch", adu(3, 1, append(pdu16(16, 0, 2), 3, 0, 1, 0)...)},
		{"03 coil value", adu(4, 1, pdu16(5, 0, 0x1234)...)},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			resp := roundTrip(t, conn, tt.frame)
			want := slices.Concat(tt.frame[:4], []byte{0, 3, 1, tt.frame[7] | 0x80, 3})
			if !slices.Equal(resp, want) {
				t.Errorf("answer % x, want % x", resp, want)
			}
		})
	}
}

// dial opens a raw connection to s, closed when the test ends.
func dial(t *testing.T, s *ModbusTCPServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// roundTrip sends a frame on conn and reads one answer frame.
func roundTrip(t *testing.T, conn net.Conn, frame []byte) []byte {
	t.Helper()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxADU)
	resp, err := readFrame(conn, buf)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(resp)
}

func TestServerFaultTimeout(t *testing.T) {
	s := startServer(t)
	s.Attach(1, testBank())
	s.SetFault(1, FaultTimeout)
	c := newClient(t, s, 1, 200*time.Millisecond)
	_, err := c.ReadHoldingRegisters(0, 1)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if st := s.Stats(); st.Requests != 1 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want 1 request dropped", st)
	}

	// Healed, the slave answers again (on a new connection: the old one
	// still has the unanswered request in flight).
	s.SetFault(1, FaultNone)
	if _, err := newClient(t, s, 1, 2*time.Second).ReadHoldingRegisters(0, 1); err != nil {
		t.Errorf("after FaultNone: %v", err)
	}
}

func TestServerFaultGarbage(t *testing.T) {
	s := startServer(t)
	s.Attach(1, testBank())
	s.SetFault(1, FaultGarbage)
	_, err := newClient(t, s, 1, 2*time.Second).ReadHoldingRegisters(0, 1)
	if err == nil || exceptionCode(err) != 0 {
		t.Fatalf("err = %v, want a framing error", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("err = %v, want an immediate framing error, not a timeout", err)
	}
}

func TestServerTwoSlaves(t *testing.T) {
	s := startServer(t)
	first, second := NewBank(), NewBank()
	first.SetHolding(0, 111)
	second.SetHolding(0, 222)
	s.Attach(1, first)
	s.Attach(2, second)

	tests := []struct {
		unit byte
		want uint16
	}{{1, 111}, {2, 222}}
	for _, tt := range tests {
		got, err := newClient(t, s, tt.unit, 2*time.Second).ReadHoldingRegisters(0, 1)
		if err != nil {
			t.Fatalf("unit %d: %v", tt.unit, err)
		}
		if w := words(got); w[0] != tt.want {
			t.Errorf("unit %d: holding 0 = %d, want %d", tt.unit, w[0], tt.want)
		}
	}
	// Both units on one connection, the way a poller walks a gateway's bus.
	conn := dial(t, s)
	for _, tt := range tests {
		resp := roundTrip(t, conn, adu(uint16(tt.unit), tt.unit, pdu16(3, 0, 1)...))
		if resp[6] != tt.unit || binary.BigEndian.Uint16(resp[9:]) != tt.want {
			t.Errorf("unit %d on a shared connection: answer % x", tt.unit, resp)
		}
	}

	// Nobody is unit 3: no answer, the client times out.
	_, err := newClient(t, s, 3, 200*time.Millisecond).ReadHoldingRegisters(0, 1)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("unknown unit: err = %v, want a timeout", err)
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
}

func TestServerBadFrameClosesOnlyItsConnection(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
	}{
		{"protocol id", []byte{0, 1, 0x12, 0x34, 0, 6, 1, 3, 0, 0, 0, 1}},
		{"length over 260", []byte{0, 1, 0, 0, 0x01, 0x00, 1, 3}},
		{"length 0", []byte{0, 1, 0, 0, 0, 0, 1}},
		{"truncated", []byte{0, 1, 0, 0, 0, 6, 1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			s.Attach(1, testBank())
			good := newClient(t, s, 1, 2*time.Second)
			if _, err := good.ReadHoldingRegisters(0, 1); err != nil {
				t.Fatal(err)
			}

			bad := dial(t, s)
			if _, err := bad.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated" {
				// The rest never comes.
				bad.(*net.TCPConn).CloseWrite()
			}
			bad.SetReadDeadline(time.Now().Add(2 * time.Second))
			// EOF, or a reset when the server closed with the rest of the
			// frame unread.
			n, err := bad.Read(make([]byte, 16))
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("bad connection: read %d bytes, %v; want the server to close it", n, err)
			}
			eventually(t, "BadFrames to count", func() bool { return s.Stats().BadFrames == 1 })

			if _, err := good.ReadHoldingRegisters(0, 2); err != nil {
				t.Errorf("the other connection after a bad frame: %v", err)
			}
		})
	}
}

func TestServerConcurrentClients(t *testing.T) {
	s := startServer(t)
	s.Attach(1, testBank())
	const clients, reads = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := newClient(t, s, 1, 2*time.Second)
		wg.Go(func() {
			for range reads {
				got, err := c.ReadHoldingRegisters(0, 2)
				if err != nil {
					errs <- err
					return
				}
				if w := words(got); w[0] != 650 {
					errs <- errors.New("wrong value")
					return
				}
				if i%2 == 0 {
					if _, err := c.WriteSingleRegister(3, uint16(i)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := uint64(clients*reads + clients/2*reads)
	if st := s.Stats(); st.Requests != want {
		t.Errorf("Requests = %d, want %d", st.Requests, want)
	}
}

func TestServerClose(t *testing.T) {
	s, err := NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Attach(1, testBank())
	conn := dial(t, s)
	roundTrip(t, conn, adu(1, 1, pdu16(3, 0, 1)...))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("open connection after Close: %v, want EOF", err)
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Error("dial after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[Fault]string{FaultNone: "none", FaultTimeout: "timeout", FaultException: "exception", FaultGarbage: "garbage", 9: "Fault(9)"} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
}

// TestOnReadCounter: a hook that bumps a register before each read makes
// a device whose every answer is the next number of a sequence.
func TestOnReadCounter(t *testing.T) {
	srv, err := NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b := NewBank()
	b.SetInput(0, 0)
	srv.Attach(1, b)
	srv.OnRead(func(unit byte, table Table, addr, qty uint16) {
		v, _ := b.Input(0)
		b.SetInput(0, v+1)
	})
	h := modbus.NewTCPClientHandler(srv.Addr())
	h.SlaveId = 1
	h.Timeout = time.Second
	defer h.Close()
	c := modbus.NewClient(h)
	for want := uint16(1); want <= 3; want++ {
		got, err := c.ReadInputRegisters(0, 1)
		if err != nil || uint16(got[0])<<8|uint16(got[1]) != want {
			t.Fatalf("read %d: % x %v", want, got, err)
		}
	}
}
