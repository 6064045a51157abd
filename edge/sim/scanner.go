package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Barcode scanners, as the edge's scanner readers meet them: a fixed-mount
// scanner serving codes over TCP (ScannerServer), a line scanner on a
// serial port (WriteScan) and a USB keyboard-wedge scanner seen through
// Linux evdev (EncodeHID). Like the Modbus simulators they are written from
// the devices' conventions and the kernel's input ABI, not from the
// reader's code.

// ErrNoScannerClient is returned by ScannerServer's Send methods when no
// reader is connected: a fixed-mount scanner keeps no codes for a client
// that is not there, so the scan is lost.
var ErrNoScannerClient = errors.New("sim: scanner: no client connected")

// ErrScannerClosed is returned by a ScannerServer's methods after Close.
var ErrScannerClosed = errors.New("sim: scanner: closed")

// ScanNoise is a kind of line noise a ScannerServer can send.
type ScanNoise int

// The noise a ScannerServer sends; each is one line, so a reader counts it
// once and reads the next code unharmed.
const (
	ScanGarbage  ScanNoise = iota + 1 // control and 8-bit bytes, as a glitch on a serial-to-Ethernet link gives
	ScanOverlong                      // 200 printable characters, beyond any reader's 128-character limit
)

// String names the noise.
func (n ScanNoise) String() string {
	switch n {
	case ScanGarbage:
		return "garbage"
	case ScanOverlong:
		return "overlong"
	}
	return fmt.Sprintf("ScanNoise(%d)", int(n))
}

// scanGarbage is one line of garbage: STX, NUL, an escape sequence, bytes
// that are not UTF-8, DEL and CAN, then the line end.
const scanGarbage = "\x02\x00\x1b[2~\xff\xfe\x7f\x18"

// ScannerStats counts what a ScannerServer has done.
type ScannerStats struct {
	Clients  int    // readers connected now
	Accepted uint64 // connections accepted since the start
	Codes    uint64 // codes written, each repeat of SendRepeated included
	Noise    uint64 // noise lines written
	Lost     uint64 // Send calls that found no client
	Dropped  uint64 // clients dropped because a write to them failed
}

// scannerWriteTimeout is how long a write to one client may block before
// the client is dropped: a reader that stopped reading must not stall
// the scanner.
const scannerWriteTimeout = 5 * time.Second

// ScannerServer is a fixed-mount barcode scanner serving its codes over
// TCP, as industrial scanners and scan tunnels do: it listens, the edge's
// scanner.TCP reader connects as a client, and each code read goes to
// every connected client as one line ended by CR LF. Codes sent while no
// client is connected are lost, as with the real device: Send reports
// that with ErrNoScannerClient, and WaitClient waits for a reader first.
// What clients send is read and ignored. It is safe for concurrent use;
// lines from concurrent Sends never interleave.
type ScannerServer struct {
	ln net.Listener
	wg sync.WaitGroup

	sendMu sync.Mutex // orders whole lines across clients

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced when a client comes or goes
	closed  bool

	accepted, codes, noise, lost, dropped atomic.Uint64
}

var _ io.Closer = (*ScannerServer)(nil)

// NewScannerServer listens on addr ("127.0.0.1:0" picks a free port) and
// accepts readers until Close.
func NewScannerServer(addr string) (*ScannerServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: scanner: %w", err)
	}
	s := &ScannerServer{ln: ln, conns: make(map[net.Conn]struct{}), changed: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the address the scanner listens on, as host:port: the
// address of the reader's configuration.
func (s *ScannerServer) Addr() string { return s.ln.Addr().String() }

// Clients returns the number of readers connected now.
func (s *ScannerServer) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitClient waits until at least one reader is connected. It returns
// ctx.Err() if ctx ends first and ErrScannerClosed after Close.
func (s *ScannerServer) WaitClient(ctx context.Context) error {
	for {
		s.mu.Lock()
		n, closed, changed := len(s.conns), s.closed, s.changed
		s.mu.Unlock()
		switch {
		case closed:
			return ErrScannerClosed
		case n > 0:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Send sends one scan of code, followed by CR LF, to every connected
// reader. It returns ErrNoScannerClient if none is connected, and an error
// if the write failed for every one of them (they are dropped). code must
// not hold a line end.
func (s *ScannerServer) Send(code string) error {
	line, err := scanLine(code, "")
	if err != nil {
		return err
	}
	if err := s.write(line); err != nil {
		return err
	}
	s.codes.Add(1)
	return nil
}

// SendRepeated sends code n times in one go, as a scanner in continuous
// mode reads a parcel lying under its beam: a reader's de-duplicator
// should make them one scan and n-1 repeats.
func (s *ScannerServer) SendRepeated(code string, n int) error {
	line, err := scanLine(code, "")
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("sim: scanner: %d repeats of %q", n, code)
	}
	if err := s.write([]byte(strings.Repeat(string(line), n))); err != nil {
		return err
	}
	s.codes.Add(uint64(n))
	return nil
}

// SendNoise sends one line of noise of the given kind.
func (s *ScannerServer) SendNoise(kind ScanNoise) error {
	var b []byte
	switch kind {
	case ScanGarbage:
		b = []byte(scanGarbage + "\r\n")
	case ScanOverlong:
		b = []byte(strings.Repeat("SF12345678", 20) + "\r\n")
	default:
		return fmt.Errorf("sim: scanner: unknown noise %v", kind)
	}
	if err := s.write(b); err != nil {
		return err
	}
	s.noise.Add(1)
	return nil
}

// SendRaw sends b as it is: for a stream no working scanner sends, such as
// a line cut off before its end.
func (s *ScannerServer) SendRaw(b []byte) error { return s.write(b) }

// Stats returns the server's counters.
func (s *ScannerServer) Stats() ScannerStats {
	return ScannerStats{
		Clients:  s.Clients(),
		Accepted: s.accepted.Load(),
		Codes:    s.codes.Load(),
		Noise:    s.noise.Load(),
		Lost:     s.lost.Load(),
		Dropped:  s.dropped.Load(),
	}
}

// Close stops listening, disconnects every reader and waits for the
// server's goroutines. It is safe to call more than once.
func (s *ScannerServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.notify()
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("sim: scanner: %w", err)
	}
	return nil
}

// write sends b to every client, dropping those a write fails for.
func (s *ScannerServer) write(b []byte) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrScannerClosed
	}
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		s.lost.Add(1)
		return ErrNoScannerClient
	}
	var errs []error
	for _, c := range conns {
		c.SetWriteDeadline(time.Now().Add(scannerWriteTimeout))
		if _, err := c.Write(b); err != nil {
			errs = append(errs, fmt.Errorf("client %s: %w", c.RemoteAddr(), err))
			s.dropped.Add(1)
			c.Close() // its reading goroutine removes it
		}
	}
	if len(errs) == len(conns) {
		return fmt.Errorf("sim: scanner: %w", errors.Join(errs...))
	}
	return nil
}

func (s *ScannerServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // out of descriptors and the like: go on
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.accepted.Add(1)
		s.notify()
		s.wg.Add(1)
		s.mu.Unlock()
		go s.drain(c)
	}
}

// drain reads and ignores what a client sends until it goes, so that a
// client that left is noticed before the next Send.
func (s *ScannerServer) drain(c net.Conn) {
	defer s.wg.Done()
	io.Copy(io.Discard, c)
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.notify()
	s.mu.Unlock()
}

// notify wakes WaitClient; s.mu is held.
func (s *ScannerServer) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// scanLine is code followed by term, CR LF when term is empty.
func scanLine(code, term string) ([]byte, error) {
	if strings.ContainsAny(code, "\r\n") {
		return nil, fmt.Errorf("sim: scanner: code %q holds a line end", code)
	}
	if term == "" {
		term = "\r\n"
	}
	return []byte(code + term), nil
}

// WriteScan writes one scan of code to w as a serial line scanner sends
// it: the code, then term ("" means CR LF; scanners are also set to CR
// or LF alone). An AIM symbology identifier, if the scanner is set to send
// one, is part of code ("]C1SF1234567890123"). w is typically the master
// side of a pseudo-terminal whose slave the edge's scanner.Serial reads.
func WriteScan(w io.Writer, code, term string) error {
	line, err := scanLine(code, term)
	if err != nil {
		return err
	}
	if _, err := w.Write(line); err != nil {
		return fmt.Errorf("sim: scanner: write: %w", err)
	}
	return nil
}

// Sizes of the kernel's struct input_event: a struct timeval of two longs,
// then __u16 type, __u16 code and __s32 value.
const (
	HIDEventSize64 = 24 // 64-bit kernels: amd64, arm64
	HIDEventSize32 = 16 // 32-bit kernels: armv7 (Raspberry Pi OS 32-bit)
)

// From linux/input-event-codes.h.
const (
	hidEvSyn        = 0x00
	hidEvKey        = 0x01
	hidEvMsc        = 0x04
	hidSynReport    = 0
	hidMscScan      = 4
	hidKeyEnter     = 28
	hidKeyLeftShift = 42
	hidKeySpace     = 57
	hidUsagePage    = 0x70000 // keyboard/keypad page, as MSC_SCAN reports it
	hidLeftShift    = 0xE1
	hidEnter        = 0x28
	hidSpace        = 0x2C
	hidReportTime   = time.Millisecond // a full-speed USB keyboard sends a report a millisecond
)

// hidKey is the key that types a character on the US layout.
type hidKey struct {
	code  uint16 // Linux key code (KEY_*)
	usage uint32 // USB HID usage id (HID Usage Tables, keyboard page)
	shift bool
}

// hidKeys maps printable ASCII to keys of the US layout's main block.
var hidKeys = func() map[byte]hidKey {
	rows := []struct {
		first          uint16 // key code of the row's first key
		plain, shifted string
		usages         []uint32
	}{
		{2, "1234567890-=", "!@#$%^&*()_+", []uint32{0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2D, 0x2E}},
		{16, "qwertyuiop[]", "QWERTYUIOP{}", []uint32{0x14, 0x1A, 0x08, 0x15, 0x17, 0x1C, 0x18, 0x0C, 0x12, 0x13, 0x2F, 0x30}},
		{30, "asdfghjkl;'`", "ASDFGHJKL:\"~", []uint32{0x04, 0x16, 0x07, 0x09, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x33, 0x34, 0x35}},
		{43, "\\zxcvbnm,./", "|ZXCVBNM<>?", []uint32{0x31, 0x1D, 0x1B, 0x06, 0x19, 0x05, 0x11, 0x10, 0x36, 0x37, 0x38}},
	}
	m := map[byte]hidKey{' ': {code: hidKeySpace, usage: hidSpace}}
	for _, r := range rows {
		for i := range len(r.plain) {
			code := r.first + uint16(i)
			m[r.plain[i]] = hidKey{code: code, usage: r.usages[i]}
			m[r.shifted[i]] = hidKey{code: code, usage: r.usages[i], shift: true}
		}
	}
	return m
}()

// EncodeHID returns the raw input events a USB keyboard-wedge scanner set
// to the US layout produces for one scan of code, as read(2) returns them
// from its /dev/input/eventN: for each character a report pressing its key
// (with Left Shift for capitals and shifted symbols) and one releasing it,
// each event preceded by its MSC_SCAN usage and each report closed by
// SYN_REPORT, then Enter. eventSize is the size of struct input_event on
// the kernel the stream is for: HIDEventSize64 or HIDEventSize32. at stamps
// the first report; each next one is a millisecond later. Fields are in
// the machine's byte order, as the kernel writes them. A character with no
// key on the US layout (outside printable ASCII) is an error.
func EncodeHID(code string, eventSize int, at time.Time) ([]byte, error) {
	if eventSize != HIDEventSize64 && eventSize != HIDEventSize32 {
		return nil, fmt.Errorf("sim: hid: input_event size %d, want %d or %d", eventSize, HIDEventSize64, HIDEventSize32)
	}
	keys := make([]hidKey, 0, len(code)+1)
	for i := 0; i < len(code); i++ {
		k, ok := hidKeys[code[i]]
		if !ok {
			return nil, fmt.Errorf("sim: hid: %q at %d has no key on the US layout", code[i], i)
		}
		keys = append(keys, k)
	}
	keys = append(keys, hidKey{code: hidKeyEnter, usage: hidEnter})

	e := hidEncoder{size: eventSize, at: at}
	for _, k := range keys {
		if k.shift {
			e.key(hidKeyLeftShift, hidLeftShift, 1)
		}
		e.key(k.code, k.usage, 1)
		e.report()
		e.key(k.code, k.usage, 0)
		if k.shift {
			e.key(hidKeyLeftShift, hidLeftShift, 0)
		}
		e.report()
	}
	return e.b, nil
}

// hidEncoder appends struct input_event records.
type hidEncoder struct {
	size int
	at   time.Time
	b    []byte
}

// key appends a key change with the MSC_SCAN event the kernel's HID
// driver sends before it.
func (e *hidEncoder) key(code uint16, usage uint32, value int32) {
	e.event(hidEvMsc, hidMscScan, int32(hidUsagePage|usage))
	e.event(hidEvKey, code, value)
}

// report closes a report and moves the clock to the next.
func (e *hidEncoder) report() {
	e.event(hidEvSyn, hidSynReport, 0)
	e.at = e.at.Add(hidReportTime)
}

func (e *hidEncoder) event(typ, code uint16, value int32) {
	ev := make([]byte, e.size)
	sec, usec := e.at.Unix(), int64(e.at.Nanosecond()/1000)
	if e.size == HIDEventSize64 {
		binary.NativeEndian.PutUint64(ev[0:], uint64(sec))
		binary.NativeEndian.PutUint64(ev[8:], uint64(usec))
	} else {
		binary.NativeEndian.PutUint32(ev[0:], uint32(sec))
		binary.NativeEndian.PutUint32(ev[4:], uint32(usec))
	}
	binary.NativeEndian.PutUint16(ev[e.size-8:], typ)
	binary.NativeEndian.PutUint16(ev[e.size-6:], code)
	binary.NativeEndian.PutUint32(ev[e.size-4:], uint32(value))
	e.b = append(e.b, ev...)
}
