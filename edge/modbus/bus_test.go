//go:build unix

package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/profile"
	"github.com/countylink/countylink/edge/profiles"
	"github.com/countylink/countylink/edge/sim"
)

// rig is a Bus on one side of a pseudo-terminal and the RTU simulator on
// the other: an RS-485 line without the hardware. The Bus opens the slave
// side by its path, through termios, as it opens /dev/ttyUSB0.
type rig struct {
	bus    *Bus
	srv    *sim.RTUServer
	master *os.File // the simulator's side; a test may write stray bytes into it
}

// openPTY returns the two sides of a new pseudo-terminal (sim.OpenPTY).
func openPTY(tb testing.TB) (master, slave *os.File) {
	tb.Helper()
	master, slave, err := sim.OpenPTY()
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	return master, slave
}

// newRig starts the simulator and a Bus at 115200 8N1 with a 300 ms
// timeout and no retries, changed by edit; everything closes when the
// test ends. The timeouts are generous because the machine running the
// tests may be busy, and cost time only where a slave is meant to be
// silent.
func newRig(tb testing.TB, edit func(*RTUConfig)) *rig {
	tb.Helper()
	master, slave := openPTY(tb)
	srv := sim.NewRTUServer(master)
	cfg := DefaultRTUConfig()
	cfg.Device = slave.Name()
	cfg.Baud = 115200
	cfg.Timeout = 300 * time.Millisecond
	cfg.Retries = 0
	if edit != nil {
		edit(&cfg)
	}
	bus, err := NewRTU(cfg, slog.New(slog.NewTextHandler(tb.Output(), nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := bus.Close(); err != nil {
			tb.Errorf("bus Close: %v", err)
		}
		if err := srv.Err(); err != nil {
			tb.Errorf("simulator stopped early: %v", err)
		}
		if err := srv.Close(); err != nil {
			tb.Errorf("simulator Close: %v", err)
		}
		slave.Close()
	})
	return &rig{bus: bus, srv: srv, master: master}
}

// slaveBank returns a bank whose registers tell which slave answered:
// holding and input registers 0..9 hold 100*unit+address.
func slaveBank(unit byte) *sim.Bank {
	b := sim.NewBank()
	for a := range uint16(10) {
		b.SetHolding(a, 100*uint16(unit)+a)
		b.SetInput(a, 100*uint16(unit)+a+50)
	}
	b.SetCoil(0, true)
	b.SetCoil(1, false)
	b.SetCoil(2, true)
	b.SetDiscrete(7, true)
	return b
}

// mustRead reads and fails the test on any error.
func mustRead(t *testing.T, bus *Bus, unit byte, table profile.Table, addr, qty uint16) []uint16 {
	t.Helper()
	w, err := bus.Read(context.Background(), unit, table, addr, qty)
	if err != nil {
		t.Fatalf("slave %d %s %d+%d: %v", unit, table, addr, qty, err)
	}
	return w
}

func TestBusReadsSeveralSlaves(t *testing.T) {
	r := newRig(t, nil)
	for _, unit := range []byte{1, 2, 17, 247} {
		r.srv.Attach(unit, slaveBank(unit))
	}
	for _, tc := range []struct {
		unit      byte
		table     profile.Table
		addr, qty uint16
		want      []uint16
	}{
		{1, profile.Holding, 0, 2, []uint16{100, 101}},
		{2, profile.Holding, 3, 3, []uint16{203, 204, 205}},
		{17, profile.Input, 0, 2, []uint16{1750, 1751}},
		{247, profile.Input, 9, 1, []uint16{24759}},
		{2, profile.Coil, 0, 3, []uint16{1, 0, 1}},
		{17, profile.Discrete, 7, 1, []uint16{1}},
		{1, profile.Holding, 0, 10, []uint16{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}},
	} {
		t.Run(fmt.Sprintf("slave %d %s %d+%d", tc.unit, tc.table, tc.addr, tc.qty), func(t *testing.T) {
			if got := mustRead(t, r.bus, tc.unit, tc.table, tc.addr, tc.qty); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("write then read back", func(t *testing.T) {
		ctx := context.Background()
		if err := r.bus.WriteRegisters(ctx, 2, 0, []uint16{7}); err != nil {
			t.Fatal(err)
		}
		if err := r.bus.WriteRegisters(ctx, 2, 1, []uint16{8, 9}); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, r.bus, 2, profile.Holding, 0, 3); !slices.Equal(got, []uint16{7, 8, 9}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("bad arguments never reach the line", func(t *testing.T) {
		before := r.srv.Stats().Requests
		ctx := context.Background()
		for _, err := range []error{
			func() error { _, err := r.bus.Read(ctx, 0, profile.Holding, 0, 1); return err }(),
			func() error { _, err := r.bus.Read(ctx, 248, profile.Holding, 0, 1); return err }(),
			func() error { _, err := r.bus.Read(ctx, 1, profile.Holding, 0, 126); return err }(),
			func() error { _, err := r.bus.Read(ctx, 1, profile.Coil, 0, 0); return err }(),
			func() error { _, err := r.bus.Read(ctx, 1, "fifo", 0, 1); return err }(),
			r.bus.WriteRegisters(ctx, 1, 0, nil),
		} {
			if err == nil {
				t.Error("accepted")
			}
		}
		if r.srv.Stats().Requests != before {
			t.Fatal("a bad request was sent")
		}
	})
	st := r.bus.Stats()
	if st.Requests != 10 || st.Answers != 10 || st.FailureCounts != (FailureCounts{}) {
		t.Fatalf("stats %+v", st)
	}
	if got := r.bus.Slaves(); len(got) != 4 || got[0].Unit != 1 || got[3].Unit != 247 || !got[3].Online {
		t.Fatalf("slaves %+v", got)
	}
}

// TestBusProfiles: the shipped transmitter profiles decode over RTU as
// over TCP, through the same Device.
func TestBusProfiles(t *testing.T) {
	r := newRig(t, nil)
	renke := sim.NewBank()
	renke.SetHolding(0, 815)
	renke.SetHoldingInt16(1, -183)
	input := sim.NewBank()
	input.SetInput(1, 250, 600)
	r.srv.Attach(1, renke)
	r.srv.Attach(2, input)
	for _, tc := range []struct {
		profile string
		unit    byte
		want    map[string]float64
	}{
		{"th-renke", 1, map[string]float64{"humidity": 81.5, "temperature": -18.3}},
		{"th-input", 2, map[string]float64{"temperature": 25, "humidity": 60}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			p, err := profiles.Load("", tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := NewDevice(r.bus, tc.unit, p, 0).Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if rd.Fields[k] != v {
					t.Errorf("%s = %v, want %v", k, rd.Fields[k], v)
				}
			}
		})
	}
}

func TestBusExceptions(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Retries = 2 })
	r.srv.Attach(1, slaveBank(1))
	ctx := context.Background()
	var exc *ExceptionError
	if _, err := r.bus.Read(ctx, 1, profile.Holding, 500, 1); !errors.As(err, &exc) || exc.Code != 2 {
		t.Fatalf("want exception 2, got %v", err)
	}
	r.srv.SetFault(1, sim.FaultException)
	for range 4 { // more than OfflineAfter: an exception is an answer
		if _, err := r.bus.Read(ctx, 1, profile.Holding, 0, 1); !errors.As(err, &exc) || exc.Code != 4 {
			t.Fatalf("want exception 4, got %v", err)
		}
	}
	if err := r.bus.WriteRegisters(ctx, 1, 0, []uint16{1, 2}); !errors.As(err, &exc) || exc.Code != 4 {
		t.Fatalf("write: want exception 4, got %v", err)
	}
	st := r.bus.Stats()
	if st.Requests != 6 || st.Exceptions != 6 { // never retried
		t.Fatalf("stats %+v", st)
	}
	if s, _ := r.bus.Slave(1); !s.Online || s.Failures != 0 {
		t.Fatalf("slave %+v", s)
	}
}

// TestBusOfflineAndBack: a silent slave is offline after three failed
// requests, is then asked once per OfflinePoll without holding up the
// others, and is online again at its first answer.
func TestBusOfflineAndBack(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Timeout = 150 * time.Millisecond })
	r.srv.Attach(1, slaveBank(1))
	r.srv.Attach(2, slaveBank(2))
	now := time.Date(2026, 1, 15, 6, 0, 0, 0, time.UTC)
	r.bus.now = func() time.Time { return now }
	ctx := context.Background()
	read2 := func() error {
		_, err := r.bus.Read(ctx, 2, profile.Holding, 0, 2)
		return err
	}
	status := func() SlaveStatus {
		t.Helper()
		s, ok := r.bus.Slave(2)
		if !ok {
			t.Fatal("slave 2 unknown")
		}
		return s
	}

	r.srv.SetFault(2, sim.FaultTimeout)
	for i := 1; i <= 3; i++ {
		if err := read2(); !errors.Is(err, ErrTimeout) {
			t.Fatalf("request %d: want a timeout, got %v", i, err)
		}
		if s := status(); s.Failures != i || s.Online != (i < 3) {
			t.Fatalf("after %d timeouts: %+v", i, s)
		}
	}
	if s := status(); s.NextProbe != now.Add(30*time.Second) || s.Timeouts != 3 {
		t.Fatalf("offline: %+v", s)
	}

	// Offline and not due: refused at once, nothing sent; slave 1 unaffected.
	sent := r.srv.Stats().Requests
	start := time.Now()
	if err := read2(); !errors.Is(err, ErrOffline) {
		t.Fatalf("want ErrOffline, got %v", err)
	}
	if d := time.Since(start); d >= r.bus.Config().Timeout {
		t.Errorf("an offline refusal took %v: it waited for the slave", d)
	}
	mustRead(t, r.bus, 1, profile.Holding, 0, 2)
	if got := r.srv.Stats().Requests; got != sent+1 {
		t.Fatalf("%d frames sent, want 1 (to slave 1)", got-sent)
	}

	// Due, still silent: one probe, no retry, the next one 30 s on.
	now = now.Add(30 * time.Second)
	if err := read2(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("probe: want a timeout, got %v", err)
	}
	if err := read2(); !errors.Is(err, ErrOffline) {
		t.Fatalf("after the probe: want ErrOffline, got %v", err)
	}
	if s := status(); s.Online || s.Failures != 4 || s.NextProbe != now.Add(30*time.Second) {
		t.Fatalf("after a failed probe: %+v", s)
	}

	// It answers again: still offline until due, then back at the probe.
	r.srv.SetFault(2, sim.FaultNone)
	now = now.Add(29 * time.Second)
	if err := read2(); !errors.Is(err, ErrOffline) {
		t.Fatalf("before due: want ErrOffline, got %v", err)
	}
	now = now.Add(time.Second)
	// A probe whose caller gives up before reaching the line is left for
	// the next caller, not put off another 30 s.
	r.bus.line <- struct{}{}
	queued, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err := r.bus.Read(queued, 2, profile.Holding, 0, 2)
	cancel()
	<-r.bus.line
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued probe: got %v", err)
	}
	if err := read2(); err != nil {
		t.Fatalf("due and answering: %v", err)
	}
	if s := status(); !s.Online || s.Failures != 0 || !s.NextProbe.IsZero() || !s.LastAnswer.Equal(now) {
		t.Fatalf("back online: %+v", s)
	}
	if st := r.bus.Stats(); st.Skipped != 3 || st.Timeouts != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBusBadAnswers: damaged answers, another slave's answer and noise
// are failures of their own kind, retried, and the next request works.
func TestBusBadAnswers(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Retries = 1; c.Timeout = 150 * time.Millisecond })
	r.srv.Attach(3, slaveBank(3))
	r.srv.Attach(4, slaveBank(4))
	for _, tc := range []struct {
		fault sim.Fault
		want  error
		count func(FailureCounts) uint64
	}{
		{sim.FaultGarbage, ErrCRC, func(c FailureCounts) uint64 { return c.CRCErrors }},
		{sim.FaultWrongSlave, ErrWrongSlave, func(c FailureCounts) uint64 { return c.WrongSlave }},
		{sim.FaultNoise, ErrGarbled, func(c FailureCounts) uint64 { return c.Garbled }},
		{sim.FaultTimeout, ErrTimeout, func(c FailureCounts) uint64 { return c.Timeouts }},
	} {
		t.Run(tc.want.Error(), func(t *testing.T) {
			before := r.bus.Stats()
			r.srv.SetFault(3, tc.fault)
			if _, err := r.bus.Read(context.Background(), 3, profile.Holding, 0, 2); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			// The line is usable at once, for the other slave and for
			// this one once it behaves.
			if got := mustRead(t, r.bus, 4, profile.Holding, 0, 2); !slices.Equal(got, []uint16{400, 401}) {
				t.Fatalf("slave 4 got %v", got)
			}
			r.srv.SetFault(3, sim.FaultNone)
			if got := mustRead(t, r.bus, 3, profile.Input, 1, 1); !slices.Equal(got, []uint16{351}) {
				t.Fatalf("slave 3 got %v", got)
			}
			after := r.bus.Stats()
			if n := tc.count(after.FailureCounts) - tc.count(before.FailureCounts); n != 2 {
				t.Fatalf("%d counted, want 2 (the request and its retry)", n)
			}
			if after.Requests-before.Requests != 4 {
				t.Fatalf("%d frames sent, want 4", after.Requests-before.Requests)
			}
		})
	}
	s, _ := r.bus.Slave(3)
	if s.FailureCounts != (FailureCounts{Timeouts: 2, CRCErrors: 2, Garbled: 2, WrongSlave: 2}) || !s.Online {
		t.Fatalf("slave 3: %+v", s)
	}
	if st := r.srv.Stats(); st.Collisions != 0 {
		t.Fatalf("simulator: %+v", st)
	}
}

// TestBusDrainsStrayBytes: bytes that arrive after an answer, like a late
// answer to a timed-out request, are thrown away before the next request.
func TestBusDrainsStrayBytes(t *testing.T) {
	r := newRig(t, nil)
	r.srv.Attach(1, slaveBank(1))
	mustRead(t, r.bus, 1, profile.Holding, 0, 1) // opens the port in raw mode
	stray := []byte{1, 3, 4, 0, 9, 0, 9, 0xAA, 0x55}
	if _, err := r.master.Write(stray); err != nil {
		t.Fatal(err)
	}
	r.bus.line <- struct{}{}
	r.bus.drain()
	<-r.bus.line
	if got := r.bus.Stats().Drained; got != uint64(len(stray)) {
		t.Fatalf("drained %d bytes, want %d", got, len(stray))
	}
	if got := mustRead(t, r.bus, 1, profile.Holding, 0, 2); !slices.Equal(got, []uint16{100, 101}) {
		t.Fatalf("after the drain: %v", got)
	}
	if st := r.bus.Stats(); st.FailureCounts != (FailureCounts{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestBusConcurrentCallers: callers on many goroutines share the line one
// request at a time. The simulator sees every request alone on the line
// (no collisions, no stray bytes) and every caller gets its own slave's
// registers.
func TestBusConcurrentCallers(t *testing.T) {
	r := newRig(t, nil)
	units := []byte{1, 2, 3, 4}
	for _, u := range units {
		r.srv.Attach(u, slaveBank(u))
	}
	const callers, each = 8, 8
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				unit := units[(c+i)%len(units)]
				qty := uint16(1 + (c+i)%4)
				w, err := r.bus.Read(context.Background(), unit, profile.Holding, 2, qty)
				if err != nil {
					errs <- err
					continue
				}
				for k, v := range w {
					if v != 100*uint16(unit)+2+uint16(k) {
						errs <- fmt.Errorf("slave %d register %d = %d: another slave's answer", unit, 2+k, v)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	heard := r.srv.Stats()
	if heard.Requests != callers*each || heard.Collisions != 0 || heard.Discarded != 0 {
		t.Fatalf("simulator: %+v", heard)
	}
	st := r.bus.Stats()
	if st.Answers != callers*each || st.FailureCounts != (FailureCounts{}) {
		t.Fatalf("bus: %+v", st)
	}
	// The line was held by one caller at a time, so the times it was
	// held add up to no more than the time that passed.
	if st.Busy > wall {
		t.Fatalf("line held %v in %v: requests overlapped", st.Busy, wall)
	}
	if st.GapWait == 0 {
		t.Fatal("back-to-back requests never waited for the inter-frame gap")
	}
}

func TestBusContext(t *testing.T) {
	r := newRig(t, nil)
	r.srv.Attach(1, slaveBank(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.bus.Read(ctx, 1, profile.Holding, 0, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
	// A caller queued behind a request that holds the line gives up when
	// its context ends.
	r.bus.line <- struct{}{}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := r.bus.Read(ctx, 1, profile.Holding, 0, 1)
	<-r.bus.line
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued: got %v", err)
	}
	if s, _ := r.bus.Slave(1); !s.Online || s.Failures != 0 {
		t.Fatalf("a caller's deadline was blamed on the slave: %+v", s)
	}
}

// TestBusMissingPort: a port that is not there is the port's failure, not
// the slave's; the Bus tries to open it again at the next request.
func TestBusMissingPort(t *testing.T) {
	cfg := DefaultRTUConfig()
	cfg.Device = t.TempDir() + "/ttyUSB9"
	bus, err := NewRTU(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	for range 4 {
		if _, err := bus.Read(context.Background(), 1, profile.Holding, 0, 1); err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
			t.Fatalf("want the open error, got %v", err)
		}
	}
	if st := bus.Stats(); st.PortErrors != 4 || st.Requests != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s, _ := bus.Slave(1); !s.Online || s.Failures != 0 {
		t.Fatalf("slave blamed: %+v", s)
	}
}

// BenchmarkRTUBus8Slaves polls 8 slaves for 2 holding registers each on
// one bus set to 9600 8N1, one goroutine per slave, and reports the rate
// beside what a real 9600 baud line could carry. A pseudo-terminal moves
// bytes at once, so the rate is set by the software's waits: the goburrow
// client's sleep after each request (client-sleep-ms/req) and the Bus's
// inter-frame gap (gap-ms/req). gap-limited is 1 if the gap is the larger.
func BenchmarkRTUBus8Slaves(b *testing.B) {
	r := newRig(b, func(c *RTUConfig) {
		c.Baud, c.Parity, c.StopBits = 9600, "N", 1
		c.Timeout = time.Second
	})
	for u := byte(1); u <= 8; u++ {
		r.srv.Attach(u, slaveBank(u))
	}
	cfg := r.bus.Config()
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Int64
	before := r.bus.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for u := byte(1); u <= 8; u++ {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := r.bus.Read(ctx, u, profile.Holding, 0, 2); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	st := r.bus.Stats()
	n := float64(b.N)
	gap := (st.GapWait - before.GapWait).Seconds() / n
	sleep := cfg.clientDelay(8, 9).Seconds()
	b.ReportMetric(n/elapsed.Seconds(), "req/s")
	b.ReportMetric(1/cfg.TransactionTime(8, 9).Seconds(), "wire-req/s")
	b.ReportMetric(gap*1e3, "gap-ms/req")
	b.ReportMetric(sleep*1e3, "client-sleep-ms/req")
	limited := 0.0
	if gap > sleep {
		limited = 1
	}
	b.ReportMetric(limited, "gap-limited")
	if c := r.srv.Stats().Collisions; c != 0 {
		b.Fatalf("%d collisions", c)
	}
}

// TestBusPerSlaveRetries: a slave's own retry count replaces the bus's.
func TestBusPerSlaveRetries(t *testing.T) {
	r := newRig(t, func(c *RTUConfig) { c.Retries = 0; c.Timeout = 100 * time.Millisecond; c.OfflineAfter = 10 })
	r.srv.Attach(1, slaveBank(1))
	r.srv.Attach(2, slaveBank(2))
	r.srv.SetFault(1, sim.FaultTimeout)
	r.srv.SetFault(2, sim.FaultTimeout)
	r.bus.SetRetries(2, 2)
	ctx := context.Background()
	r.bus.Read(ctx, 1, profile.Holding, 0, 1)
	r.bus.Read(ctx, 2, profile.Holding, 0, 1)
	s1, _ := r.bus.Slave(1)
	s2, _ := r.bus.Slave(2)
	if s1.Requests != 1 || s2.Requests != 3 {
		t.Fatalf("requests: slave 1 %d (bus retries 0), slave 2 %d (its own 2)", s1.Requests, s2.Requests)
	}
}
