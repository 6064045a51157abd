package sim_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/creack/pty"
	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/sim"
)

// A fixed-mount scanner serves a scan to the edge's TCP reader.
func ExampleScannerServer() {
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	scans := make(chan scanner.Scan, 1)
	reader := scanner.NewTCP(srv.Addr(), scanner.Options{Source: "s1-scanner", Logger: slog.New(slog.DiscardHandler)})
	go reader.Run(ctx, scans)

	if err := srv.WaitClient(ctx); err != nil { // codes sent before are lost
		fmt.Println(err)
		return
	}
	srv.Send("SF1234567890123")
	s := <-scans
	fmt.Println(s.Source, s.Code)
	// Output: s1-scanner SF1234567890123
}

// A simulated worker at station s1 of the demo township, against an edge
// agent configured with a tcp scanner at the server's address, bin lamps
// on pins "sim:s1-bNN" (active high), a confirm button on
// "sim:s1-confirm" (active low), DemoSortPlan as its plan and
// parcels.Lookup as the station's manifest.
func Example_worker() {
	plan, err := sim.DemoSortPlan("tw01")
	if err != nil {
		panic(err)
	}
	parcels, err := sim.NewParcels(plan, sim.DefaultParcelsConfig())
	if err != nil {
		panic(err)
	}
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	srv.WaitClient(ctx) // the agent's reader connects
	for range 10 {
		p := parcels.Next()
		lamp := gpio.Sim("s1-" + p.Bin(plan, sim.DemoStation1))
		before := lamp.State()
		// (a) Scan the parcel.
		if err := srv.Send(p.Waybill); err != nil {
			panic(err)
		}
		// (b) Wait for its bin's lamp to light: a write of High counts
		// even if a blink (exception bin) has turned it off again.
		lamp.Wait(ctx, func(s gpio.SimState) bool { return s.Highs > before.Highs })
		// (c) Put the parcel in and press confirm, longer than the
		// button's debounce.
		gpio.Sim("s1-confirm").Pulse(ctx, pgpio.Low, 100*time.Millisecond)
	}
}

// scanWait bounds every wait of these tests; nothing is timed by it.
const scanWait = 5 * time.Second

func scanCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scanWait)
	t.Cleanup(cancel)
	return ctx
}

// scanOptions are reader options for tests: a name, shared counters, no
// log output unless onLog is set, short backoffs.
func scanOptions(name string, onLog func(msg string)) scanner.Options {
	var h slog.Handler = slog.DiscardHandler
	if onLog != nil {
		h = &scanLogHook{f: onLog}
	}
	return scanner.Options{
		Source:     name,
		Counters:   new(scanner.Counters),
		Logger:     slog.New(h),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
	}
}

// scanLogHook hands each log message to f.
type scanLogHook struct{ f func(string) }

func (h *scanLogHook) Enabled(context.Context, slog.Level) bool { return true }
func (h *scanLogHook) Handle(_ context.Context, r slog.Record) error {
	h.f(r.Message)
	return nil
}
func (h *scanLogHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *scanLogHook) WithGroup(string) slog.Handler      { return h }

// runScanReader runs r behind a de-duplicator sharing opt's counters, as a
// station wires them, and returns the scans that get through. Cleanup
// stops both and checks that they return.
func runScanReader(t *testing.T, r scanner.Reader, opt scanner.Options) <-chan scanner.Scan {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	raw, out := make(chan scanner.Scan, 16), make(chan scanner.Scan, 16)
	dedup := &scanner.Dedup{Counters: opt.Counters, Window: time.Hour}
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx, raw) })
	wg.Go(func() { dedup.Run(ctx, raw, out) })
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(scanWait):
			t.Error("the reader did not stop")
		}
	})
	return out
}

func receiveScans(t *testing.T, ch <-chan scanner.Scan, n int) []string {
	t.Helper()
	var codes []string
	deadline := time.After(scanWait)
	for len(codes) < n {
		select {
		case s := <-ch:
			codes = append(codes, s.Code)
		case <-deadline:
			t.Fatalf("got scans %q, want %d", codes, n)
		}
	}
	return codes
}

// TestScannerServerToTCPReader serves codes, noise and repeated reads to
// the edge's TCP reader over a real socket.
func TestScannerServerToTCPReader(t *testing.T) {
	ctx := scanCtx(t)
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Send("SF1234567890123"); !errors.Is(err, sim.ErrNoScannerClient) {
		t.Fatalf("Send with no reader: %v", err)
	}

	opt := scanOptions("dock-1", nil)
	scans := runScanReader(t, scanner.NewTCP(srv.Addr(), opt), opt)
	if err := srv.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return srv.Send("SF1234567890123") },
		func() error { return srv.SendNoise(sim.ScanGarbage) },
		func() error { return srv.SendRepeated("JT5012345678901", 4) },
		func() error { return srv.SendNoise(sim.ScanOverlong) },
		func() error { return srv.Send("]C1YT7012345678901") }, // AIM identifier kept: the reader does not strip it here
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"SF1234567890123", "JT5012345678901", "]C1YT7012345678901"}
	if got := receiveScans(t, scans, 3); !slices.Equal(got, want) {
		t.Errorf("scans %q, want %q", got, want)
	}
	// The last scan came through after everything sent before it had
	// been counted: no need to wait.
	if st := opt.Counters.Source("dock-1"); st != (scanner.Stats{Scans: 6, Repeats: 3, Noise: 2}) {
		t.Errorf("reader stats %+v, want 6 scans, 3 repeats, 2 noise", st)
	}
	if st := srv.Stats(); st != (sim.ScannerStats{Clients: 1, Accepted: 1, Codes: 6, Noise: 2, Lost: 1}) {
		t.Errorf("server stats %+v", st)
	}
	if err := srv.Send("bad\ncode"); err == nil {
		t.Error("a code with a line end was sent")
	}
	if err := srv.SendRepeated("SF1234567890123", 0); err == nil {
		t.Error("zero repeats were sent")
	}
	if err := srv.SendNoise(sim.ScanNoise(9)); err == nil {
		t.Error("unknown noise was sent")
	}
}

// TestScannerServerCutLine: a line cut off by the scanner going away is
// noise, and the reader reconnects when it is back.
func TestScannerServerCutLine(t *testing.T) {
	ctx := scanCtx(t)
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	opt := scanOptions("dock-2", nil)
	scans := runScanReader(t, scanner.NewTCP(addr, opt), opt)
	if err := srv.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.SendRaw([]byte("YT70123")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.Send("SF1234567890123"); !errors.Is(err, sim.ErrScannerClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := srv.WaitClient(ctx); !errors.Is(err, sim.ErrScannerClosed) {
		t.Errorf("WaitClient after Close: %v", err)
	}

	// The scanner restarts on the same port.
	var again *sim.ScannerServer
	for again == nil {
		if again, err = sim.NewScannerServer(addr); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Cleanup(func() { again.Close() })
	if err := again.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.Send("JT5012345678901"); err != nil {
		t.Fatal(err)
	}
	if got := receiveScans(t, scans, 1); got[0] != "JT5012345678901" {
		t.Errorf("after the restart: %q", got)
	}
	if st := opt.Counters.Source("dock-2"); st.Scans != 1 || st.Noise != 1 || st.Errors < 1 {
		t.Errorf("reader stats %+v, want 1 scan, 1 noise, an error", st)
	}
}

func TestScannerServerWaitClientCancelled(t *testing.T) {
	srv, err := sim.NewScannerServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.WaitClient(ctx); err != context.Canceled {
		t.Errorf("WaitClient = %v", err)
	}
	if _, err := sim.NewScannerServer(srv.Addr()); err == nil {
		t.Error("a second server listens on the same port")
	}
}

// TestSerialScannerOverPTY writes scans into the master of a
// pseudo-terminal whose slave the edge's serial reader has opened.
func TestSerialScannerOverPTY(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the serial reader runs on Linux only")
	}
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close(); tty.Close() })

	// The reader logs "scanner open" once the port is open and raw: what
	// is written before that would go through the line discipline.
	opened := make(chan struct{})
	var once sync.Once
	opt := scanOptions("station-2", func(msg string) {
		if msg == "scanner open" {
			once.Do(func() { close(opened) })
		}
	})
	opt.StripAIM = true
	scans := runScanReader(t, scanner.NewSerial(tty.Name(), 115200, opt), opt)
	select {
	case <-opened:
	case <-time.After(scanWait):
		t.Fatal("the reader did not open the port")
	}

	for _, s := range []struct{ code, term string }{
		{"]C1SF1234567890123", ""},
		{"JDVA12345678901", "\r"},
		{strings.Repeat("7", 200), "\n"}, // noise: too long
		{"JDVA12345678901", "\n"},        // a repeat
		{"EE123456785CN", "\r\n"},
	} {
		if err := sim.WriteScan(master, s.code, s.term); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"SF1234567890123", "JDVA12345678901", "EE123456785CN"}
	if got := receiveScans(t, scans, 3); !slices.Equal(got, want) {
		t.Errorf("scans %q, want %q", got, want)
	}
	if st := opt.Counters.Source("station-2"); st != (scanner.Stats{Scans: 4, Repeats: 1, Noise: 1}) {
		t.Errorf("stats %+v, want 4 scans, 1 repeat, 1 noise", st)
	}
}

func TestWriteScan(t *testing.T) {
	var b bytes.Buffer
	if err := sim.WriteScan(&b, "SF1234567890123", ""); err != nil || b.String() != "SF1234567890123\r\n" {
		t.Errorf("%q, %v", b.String(), err)
	}
	if err := sim.WriteScan(&b, "a\rb", "\n"); err == nil {
		t.Error("a code with a CR was written")
	}
	boom := errors.New("port gone")
	if err := sim.WriteScan(scanFailingWriter{boom}, "x", ""); !errors.Is(err, boom) {
		t.Errorf("failing writer: %v", err)
	}
}

type scanFailingWriter struct{ err error }

func (w scanFailingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestEncodeHIDDecodes feeds generated events to the edge's evdev decoder
// and line reader.
func TestEncodeHIDDecodes(t *testing.T) {
	// Every printable ASCII character; the space inside, since the line
	// reader trims spaces around a code.
	printable := "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ [\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	codes := []string{"SF1234567890123", "jdva12345678901", "EE123456785CN", "571-W01-01", "HTTPS://M.EXAMPLE.CN/Q/123456", printable}
	at := time.Date(2026, 3, 1, 8, 30, 0, 0, time.Local)
	for _, size := range []int{sim.HIDEventSize32, sim.HIDEventSize64} {
		var stream []byte
		for _, c := range codes {
			b, err := sim.EncodeHID(c, size, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(b)%size != 0 {
				t.Fatalf("size %d: %d bytes", size, len(b))
			}
			text, err := io.ReadAll(scanner.NewEvdevDecoder(iotest.HalfReader(bytes.NewReader(b)), size))
			if err != nil || string(text) != c+"\n" {
				t.Errorf("size %d: decoded %q, %v; want %q", size, text, err, c+"\n")
			}
			stream = append(stream, b...)
		}
		// Noise and a repeat through the line reader and the de-duplicator.
		long, _ := sim.EncodeHID(strings.Repeat("8", 200), size, at)
		again, _ := sim.EncodeHID(codes[0], size, at)
		stream = append(append(stream, long...), again...)
		opt := scanOptions("hid", nil)
		raw := make(chan scanner.Scan, len(codes)+2)
		if err := scanner.ReadLines(context.Background(), scanner.NewEvdevDecoder(bytes.NewReader(stream), size), opt, raw); err != nil {
			t.Fatal(err)
		}
		close(raw)
		dedup := &scanner.Dedup{Counters: opt.Counters, Window: time.Hour}
		var got []string
		for s := range raw {
			if dedup.Accept(s) {
				got = append(got, s.Code)
			}
		}
		if !slices.Equal(got, codes) {
			t.Errorf("size %d: scans %q, want %q", size, got, codes)
		}
		if st := opt.Counters.Source("hid"); st != (scanner.Stats{Scans: uint64(len(codes)) + 1, Repeats: 1, Noise: 1}) {
			t.Errorf("size %d: stats %+v", size, st)
		}
	}
}

// hidEvent is one decoded struct input_event.
type hidEvent struct {
	sec, usec int64
	typ, code uint16
	value     int32
}

// decodeHIDEvents reads events by the kernel's layout, independently of
// the decoder under test.
func decodeHIDEvents(b []byte, size int) []hidEvent {
	var evs []hidEvent
	for ; len(b) >= size; b = b[size:] {
		var e hidEvent
		if size == 24 {
			e.sec, e.usec = int64(binary.NativeEndian.Uint64(b)), int64(binary.NativeEndian.Uint64(b[8:]))
		} else {
			e.sec, e.usec = int64(int32(binary.NativeEndian.Uint32(b))), int64(binary.NativeEndian.Uint32(b[4:]))
		}
		e.typ = binary.NativeEndian.Uint16(b[size-8:])
		e.code = binary.NativeEndian.Uint16(b[size-6:])
		e.value = int32(binary.NativeEndian.Uint32(b[size-4:]))
		evs = append(evs, e)
	}
	return evs
}

// TestEncodeHIDEvents checks the events of a capital letter against the
// input ABI and the HID usage tables, spelled out.
func TestEncodeHIDEvents(t *testing.T) {
	at := time.Unix(1772354400, 250_000_000)
	for _, size := range []int{16, 24} {
		b, err := sim.EncodeHID("A", size, at)
		if err != nil {
			t.Fatal(err)
		}
		const (
			syn, key, msc = 0, 1, 4
			shift, a, ent = 42, 30, 28
		)
		want := []hidEvent{
			// 'A': Left Shift and A pressed in one report ...
			{typ: msc, code: 4, value: 0x700E1}, {typ: key, code: shift, value: 1},
			{typ: msc, code: 4, value: 0x70004}, {typ: key, code: a, value: 1}, {typ: syn},
			// ... released in the next.
			{typ: msc, code: 4, value: 0x70004}, {typ: key, code: a, value: 0},
			{typ: msc, code: 4, value: 0x700E1}, {typ: key, code: shift, value: 0}, {typ: syn},
			// Enter.
			{typ: msc, code: 4, value: 0x70028}, {typ: key, code: ent, value: 1}, {typ: syn},
			{typ: msc, code: 4, value: 0x70028}, {typ: key, code: ent, value: 0}, {typ: syn},
		}
		got := decodeHIDEvents(b, size)
		if len(got) != len(want) {
			t.Fatalf("size %d: %d events, want %d", size, len(got), len(want))
		}
		report := 0
		for i, g := range got {
			w := want[i]
			w.sec, w.usec = 1772354400, int64(250_000+1000*report)
			if g != w {
				t.Errorf("size %d: event %d = %+v, want %+v", size, i, g, w)
			}
			if g.typ == syn {
				report++
			}
		}
	}
	for _, tc := range []struct {
		code string
		size int
	}{{"SF12\t3", 24}, {"李家村", 24}, {"SF1", 20}} {
		if _, err := sim.EncodeHID(tc.code, tc.size, at); err == nil {
			t.Errorf("EncodeHID(%q, %d) did not fail", tc.code, tc.size)
		}
	}
}
