//go:build unix

package sim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"github.com/goburrow/serial"
)

// openPTY returns the two sides of a new pseudo-terminal (OpenPTY).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, slave, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return master, slave
}

// startRTU starts an RTUServer on the master side of a new pseudo-terminal
// and returns it with the path of the slave side, the client's serial port.
func startRTU(t *testing.T) (*RTUServer, string) {
	t.Helper()
	master, slave := openPTY(t)
	s := NewRTUServer(master)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Err(); err != nil {
			t.Errorf("server stopped early: %v", err)
		}
		slave.Close()
	})
	return s, slave.Name()
}

// rtuClient returns a goburrow RTU client for one slave on path: an
// implementation written apart from the simulator checks it.
func rtuClient(t *testing.T, path string, unit byte, timeout time.Duration) modbus.Client {
	t.Helper()
	h := modbus.NewRTUClientHandler(path)
	h.BaudRate, h.DataBits, h.Parity, h.StopBits = 115200, 8, "N", 1
	h.SlaveId = unit
	h.Timeout = timeout
	h.IdleTimeout = 0
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h)
}

// rawLine opens path as a raw serial port, for frames no client would send.
func rawLine(t *testing.T, path string, timeout time.Duration) serial.Port {
	t.Helper()
	p, err := serial.Open(&serial.Config{Address: path, BaudRate: 115200, DataBits: 8, Parity: "N", StopBits: 1, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// rtuReq builds a request frame from 16-bit fields after the function code.
func rtuReq(unit, fc byte, fields ...uint16) []byte {
	return appendCRC(append([]byte{unit}, pdu16(fc, fields...)...))
}

// readN reads exactly n bytes from line or fails the test.
func readN(t *testing.T, line io.Reader, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(line, buf); err != nil {
		t.Fatalf("reading %d bytes: %v (got % x)", n, err, buf)
	}
	return buf
}

// expectSilence fails the test if line carries anything before its timeout.
func expectSilence(t *testing.T, line io.Reader) {
	t.Helper()
	buf := make([]byte, maxRTUFrame)
	if n, err := line.Read(buf); !errors.Is(err, serial.ErrTimeout) {
		t.Fatalf("want silence, got % x, %v", buf[:n], err)
	}
}

func TestCRC16(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
	}{
		// Modbus over Serial Line V1.02, appendix B: function 07 to slave 02.
		{"spec example", []byte{0x02, 0x07}, []byte{0x41, 0x12}},
		{"read one holding", []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x01}, []byte{0x84, 0x0A}},
		{"read ten holding", []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}, []byte{0xC5, 0xCD}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := appendCRC(slices.Clone(tc.in))
			if !bytes.Equal(got[len(tc.in):], tc.want) {
				t.Fatalf("CRC of % x is % x, want % x", tc.in, got[len(tc.in):], tc.want)
			}
			if !rtuCRCOK(got) {
				t.Fatal("rtuCRCOK rejects its own frame")
			}
		})
	}
}

func TestNextRTUFrame(t *testing.T) {
	read := rtuReq(1, 3, 0, 2)
	write := appendCRC(append([]byte{2}, append(pdu16(16, 10, 2), 4, 0, 1, 0, 2)...))
	diag := appendCRC([]byte{1, 8, 0, 0, 0xA5, 0x37}) // function 08, length known only by its CRC
	bad := slices.Clone(read)
	bad[7] ^= 1
	for _, tc := range []struct {
		name      string
		buf       []byte
		wantSkip  int
		wantFrame []byte
	}{
		{"empty", nil, 0, nil},
		{"one read", read, 0, read},
		{"a byte short", read[:7], 0, nil},
		{"write multiple", write, 0, write},
		{"write multiple, data missing", write[:9], 0, nil},
		{"unknown function", diag, 0, diag},
		{"noise then read", slices.Concat([]byte{0xFF, 0x00, 0x13}, read), 3, read},
		{"bad CRC then read", slices.Concat(bad, read), 8, read},
		// From byte 4 on, 00 02 c4 0a, may yet be a broadcast read.
		{"bad CRC alone", bad, 4, nil},
		{"diagnostics, incomplete", diag[:5], 0, nil},
		{"function 0 is noise", appendCRC([]byte{1, 0}), 3, nil}, // the last byte may yet begin a frame
		{"mask write", appendCRC(append([]byte{1}, pdu16(22, 4, 0xF2, 0x25)...)), 0, appendCRC(append([]byte{1}, pdu16(22, 4, 0xF2, 0x25)...))},
		{"reserved addresses", []byte{248, 255, 250}, 3, nil},
		{"read then part of the next", slices.Concat(read, read[:3]), 0, read},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip, frame := nextRTUFrame(tc.buf)
			if skip != tc.wantSkip || !bytes.Equal(frame, tc.wantFrame) {
				t.Fatalf("nextRTUFrame(% x) = %d, % x; want %d, % x", tc.buf, skip, frame, tc.wantSkip, tc.wantFrame)
			}
		})
	}
}

func TestRTUServerReadsAndWrites(t *testing.T) {
	s, path := startRTU(t)
	b1, b2 := testBank(), NewBank()
	b2.SetInput(1, 250, 600)
	s.Attach(1, b1)
	s.Attach(2, b2)
	c1 := rtuClient(t, path, 1, time.Second)

	for _, tc := range []struct {
		name string
		read func() ([]byte, error)
		want []byte
	}{
		{"holding", func() ([]byte, error) { return c1.ReadHoldingRegisters(0, 2) }, []byte{0x02, 0x8A, 0xFF, 0x49}},
		{"input", func() ([]byte, error) { return c1.ReadInputRegisters(1, 2) }, []byte{0, 25, 0x03, 0x3E}},
		{"coils", func() ([]byte, error) { return c1.ReadCoils(0, 9) }, []byte{0x0D, 0x01}},
		{"discrete", func() ([]byte, error) { return c1.ReadDiscreteInputs(100, 2) }, []byte{0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read()
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got % x, %v; want % x", got, err, tc.want)
			}
		})
	}

	t.Run("second slave", func(t *testing.T) {
		got, err := rtuClient(t, path, 2, time.Second).ReadInputRegisters(1, 2)
		if err != nil || !slices.Equal(words(got), []uint16{250, 600}) {
			t.Fatalf("got % x, %v", got, err)
		}
	})
	t.Run("writes", func(t *testing.T) {
		if _, err := c1.WriteSingleRegister(2, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.WriteMultipleRegisters(0, 2, []byte{0, 1, 0, 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.WriteSingleCoil(1, 0xFF00); err != nil {
			t.Fatal(err)
		}
		for table, want := range map[Table][]uint16{Holding: {1, 2, 7}, Coil: {1, 1}} {
			for addr, w := range want {
				if v, _ := b1.Get(table, uint16(addr)); v != w {
					t.Errorf("%s %d = %d, want %d", table, addr, v, w)
				}
			}
		}
	})
	t.Run("exception", func(t *testing.T) {
		if _, err := c1.ReadHoldingRegisters(500, 1); exceptionCode(err) != exIllegalDataAddress {
			t.Fatalf("want exception 2, got %v", err)
		}
	})
	t.Run("illegal function", func(t *testing.T) {
		line := rawLine(t, path, time.Second)
		if _, err := line.Write(appendCRC([]byte{1, 43, 14, 1, 0})); err != nil {
			t.Fatal(err)
		}
		if got, want := readN(t, line, 5), rtuFrame(1, []byte{43 | 0x80, exIllegalFunction}); !bytes.Equal(got, want) {
			t.Fatalf("got % x, want % x", got, want)
		}
		line.Close()
	})
	t.Run("absent slave is silent", func(t *testing.T) {
		if _, err := rtuClient(t, path, 9, 100*time.Millisecond).ReadHoldingRegisters(0, 1); !errors.Is(err, serial.ErrTimeout) {
			t.Fatalf("want a timeout, got %v", err)
		}
	})
	st := s.Stats()
	if st.Requests != 11 || st.Exceptions != 2 || st.Dropped != 1 || st.Discarded != 0 || st.Collisions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRTUServerFaults(t *testing.T) {
	s, path := startRTU(t)
	s.Attach(1, testBank())
	line := rawLine(t, path, 150*time.Millisecond)
	good := rtuFrame(1, []byte{3, 4, 0x02, 0x8A, 0xFF, 0x49})
	for _, tc := range []struct {
		name  string
		fault Fault
		want  []byte // nil: silence
	}{
		{"none", FaultNone, good},
		{"timeout", FaultTimeout, nil},
		{"exception", FaultException, rtuFrame(1, []byte{0x83, 4})},
		{"garbage is a bad CRC", FaultGarbage, slices.Concat(good[:len(good)-2], []byte{good[len(good)-2] ^ 0xFF, good[len(good)-1] ^ 0xFF})},
		{"wrong slave", FaultWrongSlave, rtuFrame(2, good[1:len(good)-2])},
		{"noise", FaultNoise, rtuNoise},
		{"healed", FaultNone, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetFault(1, tc.fault)
			if _, err := line.Write(rtuReq(1, 3, 0, 2)); err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				expectSilence(t, line)
				return
			}
			if got := readN(t, line, len(tc.want)); !bytes.Equal(got, tc.want) {
				t.Fatalf("got % x, want % x", got, tc.want)
			}
		})
	}
}

// TestRTUServerResynchronises: noise, a damaged frame and a frame for an
// absent slave cost nothing but the bytes; the next request is answered.
func TestRTUServerResynchronises(t *testing.T) {
	s, path := startRTU(t)
	s.Attach(1, testBank())
	line := rawLine(t, path, time.Second)
	bad := rtuReq(1, 3, 0, 1)
	bad[2] ^= 0x40
	for _, junk := range [][]byte{{0x00}, {0xFF, 0xFE, 0x13, 0x11}, bad, rtuReq(1, 0x10, 0, 0)[:6]} {
		if _, err := line.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := line.Write(rtuReq(1, 4, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if got, want := readN(t, line, 9), rtuFrame(1, []byte{4, 4, 0, 25, 0x03, 0x3E}); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
	st := s.Stats()
	if st.Requests != 1 || st.Discarded != 1+4+8+6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRTUServerCountsCollisions: a master that sends before the answer
// to its last request is out breaks the one-request-at-a-time rule, and
// the server says so.
func TestRTUServerCountsCollisions(t *testing.T) {
	s, path := startRTU(t)
	s.Attach(1, testBank())
	s.Attach(2, testBank())
	line := rawLine(t, path, time.Second)
	if _, err := line.Write(slices.Concat(rtuReq(1, 3, 0, 1), rtuReq(2, 3, 1, 1))); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(rtuFrame(1, []byte{3, 2, 0x02, 0x8A}), rtuFrame(2, []byte{3, 2, 0xFF, 0x49}))
	if got := readN(t, line, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
	if st := s.Stats(); st.Collisions != 1 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRTUServerBroadcast(t *testing.T) {
	s, path := startRTU(t)
	b1, b2, b3 := testBank(), testBank(), testBank()
	s.Attach(1, b1)
	s.Attach(2, b2)
	s.Attach(3, b3)
	s.SetFault(3, FaultTimeout) // powered off: hears nothing
	line := rawLine(t, path, 150*time.Millisecond)
	if _, err := line.Write(rtuReq(0, 6, 2, 99)); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, line)
	for i, b := range []*Bank{b1, b2, b3} {
		want := uint16(99)
		if i == 2 {
			want = 0
		}
		if v, _ := b.Holding(2); v != want {
			t.Errorf("slave %d holding 2 = %d, want %d", i+1, v, want)
		}
	}
	if st := s.Stats(); st.Broadcasts != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRTUServerAttachPanics(t *testing.T) {
	for _, unit := range []byte{0, 248} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Attach(%d) did not panic", unit)
				}
			}()
			NewRTUServer(nopPort{}).Attach(unit, NewBank())
		}()
	}
}

// nopPort is a port whose reads end at once.
type nopPort struct{}

func (nopPort) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopPort) Write(b []byte) (int, error) { return len(b), nil }
func (nopPort) Close() error                { return nil }

func TestRTUServerClose(t *testing.T) {
	master, slave := openPTY(t)
	defer slave.Close()
	s := NewRTUServer(master)
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the pending Read was not interrupted")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}
}

// FuzzRTUFrame feeds arbitrary bytes to the RTU frame finder, the request
// parser and a bank, as noise on the line or a broken master would.
func FuzzRTUFrame(f *testing.F) {
	seeds := [][]byte{
		rtuReq(1, 1, 0, 16),
		rtuReq(1, 2, 0, 8),
		rtuReq(1, 3, 0, 2),
		rtuReq(247, 4, 65530, 6),
		rtuReq(1, 5, 0, 0xFF00),
		rtuReq(0, 6, 1, 25),
		appendCRC(append([]byte{1}, append(pdu16(15, 0, 10), 2, 0xFF, 0x03)...)),
		appendCRC(append([]byte{1}, append(pdu16(16, 0, 2), 4, 0, 1, 0, 2)...)),
		appendCRC(append([]byte{1}, append(pdu16(16, 0, 2), 5, 0, 1, 0, 2, 0)...)),
		appendCRC([]byte{1, 43, 14, 1, 0}),
		slices.Concat([]byte{0xFF, 0x00}, rtuReq(1, 3, 0, 1), rtuReq(2, 4, 0, 1)),
		rtuNoise,
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
	sentinel := rtuReq(7, 4, 65400, 3)

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*maxRTUFrame {
			// The server never holds more: bytes that cannot begin a
			// frame are dropped, and any frame is at most 256 bytes.
			return
		}
		// The server's loop over the bytes, with a known frame at the end:
		// every frame found is sound, and the known one is found unless a
		// frame found earlier already took some of its bytes.
		stream := slices.Concat(data, sentinel)
		sentinelAt := len(data)
		pos, found := 0, false
		for pos < len(stream) {
			skip, frame := nextRTUFrame(stream[pos:])
			if skip < 0 || skip > len(stream)-pos {
				t.Fatalf("skip %d with %d bytes left", skip, len(stream)-pos)
			}
			if frame == nil {
				if pos <= sentinelAt {
					t.Fatalf("frame at %d lost: stopped at %d, skipping %d of % x", sentinelAt, pos, skip, stream[pos:])
				}
				break
			}
			start := pos + skip
			if start == sentinelAt && bytes.Equal(frame, sentinel) {
				found = true
			}
			checkRTUFrame(t, frame, bank)
			pos = start + len(frame)
			if pos > sentinelAt && !found {
				// A frame straddling the known one: CRC-valid by chance.
				found = true
			}
		}
		if !found {
			t.Fatalf("known frame never found in % x", stream)
		}
		// The data as one frame, as a silence-framed line would deliver it.
		if rtuCRCOK(data) && len(data) <= maxRTUFrame {
			checkRTUFrame(t, data, bank)
		}
	})
}

// checkRTUFrame parses and answers one CRC-valid frame, checking the
// answer is a sound RTU frame.
func checkRTUFrame(t *testing.T, frame []byte, bank *Bank) {
	t.Helper()
	if len(frame) < minRTUFrame || len(frame) > maxRTUFrame || !rtuCRCOK(frame) {
		t.Fatalf("frame % x: bad length or CRC", frame)
	}
	req := parseRTURequest(frame)
	var pdu []byte
	if req.exception != 0 {
		pdu = exceptionPDU(req.fc, req.exception)
	} else {
		if req.qty == 0 || int(req.addr)+int(req.qty) > 1<<16 {
			t.Fatalf("accepted addr %d qty %d", req.addr, req.qty)
		}
		if req.values != nil && len(req.values) != int(req.qty) {
			t.Fatalf("%d values for quantity %d", len(req.values), req.qty)
		}
		pdu, _ = req.apply(bank)
	}
	resp := rtuFrame(req.unit, pdu)
	if len(resp) > maxRTUFrame || !rtuCRCOK(resp) {
		t.Fatalf("answer % x to % x is no RTU frame", resp, frame)
	}
}
