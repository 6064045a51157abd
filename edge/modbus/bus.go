package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	mb "github.com/goburrow/modbus"

	"github.com/countylink/countylink/edge/profile"
)

// Bus is one RS-485 line and the Modbus RTU slaves on it, over the
// goburrow RTU client. A half-duplex line carries one frame at a time, and
// that client neither locks nor checks who answers, so the Bus does:
//
//   - one request at a time, whoever calls, each started only after the
//     line has been quiet for the inter-frame gap (FrameGap);
//   - every answer checked for its CRC, its slave address and its shape,
//     failures counted by kind, and stray bytes drained from the line
//     before the next request;
//   - per-slave health: after OfflineAfter failed requests in a row a slave
//     is offline and asked only once every OfflinePoll until it answers, so
//     one dead sensor does not slow the polling of the others.
//
// A Bus is a Transport, so a Device reads a profile over it as over a TCP
// Endpoint. It opens the port at its first request and keeps it open.
type Bus struct {
	cfg     RTUConfig
	gap     time.Duration
	log     *slog.Logger
	handler *mb.RTUClientHandler
	client  mb.Client

	// line is a one-slot semaphore: who holds the token owns the line. A
	// channel rather than a mutex so that a caller queueing behind a slow
	// slave can give up when its context ends.
	line       chan struct{}
	quietUntil time.Time // when the next frame may start; guarded by line

	now func() time.Time // the clock of slave health; tests set it

	mu      sync.Mutex // guards slaves, retries and stats
	slaves  map[byte]*SlaveStatus
	retries map[byte]int // per-slave overrides of cfg.Retries
	stats   BusStats
}

// SetRetries sets how many extra attempts requests to unit get, in place of
// the bus's Retries: a slave on a noisy stretch of cable may deserve more,
// a slow controller whose every timeout holds the line for the others
// fewer. The timeout itself is the bus's: the serial port fixes its read
// timeout when it is opened.
func (b *Bus) SetRetries(unit byte, retries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retries == nil {
		b.retries = map[byte]int{}
	}
	b.retries[unit] = max(retries, 0)
}

var _ Transport = (*Bus)(nil)

// FailureCounts counts failed requests by kind.
type FailureCounts struct {
	Timeouts   uint64 // no answer in time: ErrTimeout
	CRCErrors  uint64 // an answer damaged on the line: ErrCRC
	Garbled    uint64 // bytes that were no answer to the request: ErrGarbled
	WrongSlave uint64 // a sound answer from another address: ErrWrongSlave
}

// BusStats counts what a Bus has done since it was made.
type BusStats struct {
	Requests   uint64 // frames sent, retries and offline probes included
	Answers    uint64 // sound answers, exceptions included
	Exceptions uint64 // answers that were Modbus exceptions
	FailureCounts
	PortErrors uint64        // the serial port failed (missing, unplugged); the port is reopened at the next request
	Skipped    uint64        // requests refused without using the line: the slave is offline and not due
	Drained    uint64        // stray bytes read off the line and thrown away after failures
	GapWait    time.Duration // time spent keeping the line quiet between frames
	Busy       time.Duration // time the line was held for requests, gap waits included
}

// SlaveStatus is what the Bus knows about one slave it has been asked to
// reach.
type SlaveStatus struct {
	Unit       byte
	Online     bool
	Failures   int       // failed requests in a row
	LastError  string    // the last failure, kept after the slave recovers
	LastAnswer time.Time // zero if it never answered
	NextProbe  time.Time // when an offline slave is next asked; zero while online
	Requests   uint64    // frames sent to it
	Answers    uint64    // sound answers, exceptions included
	FailureCounts
}

// NewRTU returns a Bus for the line cfg describes. Nothing is opened until
// the first request. A nil log discards the Bus's messages: a slave going
// offline or back online, one line each.
func NewRTU(cfg RTUConfig, log *slog.Logger) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := mb.NewRTUClientHandler(cfg.Device)
	h.BaudRate = cfg.Baud
	h.DataBits = cfg.DataBits
	h.Parity = cfg.Parity
	h.StopBits = cfg.StopBits
	h.Timeout = cfg.Timeout
	// goburrow's idle timer closes the port from its own goroutine without
	// any lock the Bus holds, racing a request in flight: keep it open.
	h.IdleTimeout = 0
	return &Bus{
		cfg:     cfg,
		gap:     cfg.FrameGap(),
		log:     log.With("bus", cfg.Device),
		handler: h,
		client:  mb.NewClient2(h, &rtuLine{h: h}),
		line:    make(chan struct{}, 1),
		now:     time.Now,
		slaves:  make(map[byte]*SlaveStatus),
	}, nil
}

// Config returns the Bus's configuration.
func (b *Bus) Config() RTUConfig { return b.cfg }

// Close waits for the request in flight, if any, and closes the port; the
// next request opens it again.
func (b *Bus) Close() error {
	b.line <- struct{}{}
	defer func() { <-b.line }()
	return b.handler.Close()
}

// Read reads qty registers (or bits, one per returned element) of table at
// addr from slave unit, as Endpoint.Read does. A Modbus exception comes
// back as *ExceptionError; a failure wraps ErrTimeout, ErrCRC, ErrGarbled
// or ErrWrongSlave after the retries; a slave offline and not yet due for
// a probe gives ErrOffline at once.
func (b *Bus) Read(ctx context.Context, unit byte, table profile.Table, addr, qty uint16) ([]uint16, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var call func() ([]byte, error)
	limit := uint16(125)
	switch table {
	case profile.Holding:
		call = func() ([]byte, error) { return b.client.ReadHoldingRegisters(addr, qty) }
	case profile.Input:
		call = func() ([]byte, error) { return b.client.ReadInputRegisters(addr, qty) }
	case profile.Coil:
		call, limit = func() ([]byte, error) { return b.client.ReadCoils(addr, qty) }, 2000
	case profile.Discrete:
		call, limit = func() ([]byte, error) { return b.client.ReadDiscreteInputs(addr, qty) }, 2000
	default:
		return nil, fmt.Errorf("modbus: unknown table %q", table)
	}
	if qty == 0 || qty > limit {
		return nil, fmt.Errorf("modbus: quantity %d of %s outside 1..%d", qty, table, limit)
	}
	raw, err := b.do(ctx, unit, call)
	if err != nil {
		return nil, err
	}
	// checkAnswer has matched the byte count to qty.
	out := make([]uint16, qty)
	if table.Bits() {
		for i := range out {
			out[i] = uint16(raw[i/8] >> (i % 8) & 1)
		}
		return out, nil
	}
	for i := range out {
		out[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
	}
	return out, nil
}

// WriteRegisters writes values to holding registers of slave unit starting
// at addr: function 6 for one value, 16 for several. Errors are as Read's.
func (b *Bus) WriteRegisters(ctx context.Context, unit byte, addr uint16, values []uint16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(values) == 0 || len(values) > 123 {
		return fmt.Errorf("modbus: %d registers to write, want 1..123", len(values))
	}
	call := func() ([]byte, error) { return b.client.WriteSingleRegister(addr, values[0]) }
	if len(values) > 1 {
		data := make([]byte, 2*len(values))
		for i, v := range values {
			data[2*i], data[2*i+1] = byte(v>>8), byte(v)
		}
		call = func() ([]byte, error) { return b.client.WriteMultipleRegisters(addr, uint16(len(values)), data) }
	}
	_, err := b.do(ctx, unit, call)
	return err
}

// WriteCoil sets the coil at addr of slave unit on or off (function 5),
// on the line like any other request. Errors are as Read's.
func (b *Bus) WriteCoil(ctx context.Context, unit byte, addr uint16, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := b.do(ctx, unit, func() ([]byte, error) { return b.client.WriteSingleCoil(addr, coilValue(on)) })
	return err
}

// outcome is how one attempt ended.
type outcome int

const (
	answered  outcome = iota // a sound answer, data or exception
	failed                   // the slave failed: timeout, CRC, garbled, wrong slave
	portFault                // the port failed; the slave is not to blame
)

// do runs call for unit on the line: admission by the slave's health, the
// line token, the gap, retries, draining and accounting.
func (b *Bus) do(ctx context.Context, unit byte, call func() ([]byte, error)) ([]byte, error) {
	if unit == 0 || unit > 247 {
		return nil, fmt.Errorf("modbus rtu %s: slave address %d outside 1..247", b.cfg.Device, unit)
	}
	probe, err := b.admit(unit)
	if err != nil {
		return nil, err
	}
	select {
	case b.line <- struct{}{}:
	case <-ctx.Done():
		b.unprobe(unit, probe)
		return nil, ctx.Err()
	}
	held := time.Now()
	defer func() {
		busy := time.Since(held)
		<-b.line
		b.mu.Lock()
		b.stats.Busy += busy
		b.mu.Unlock()
	}()

	b.mu.Lock()
	retries, ok := b.retries[unit]
	b.mu.Unlock()
	if !ok {
		retries = b.cfg.Retries
	}
	attempts := 1 + retries
	if probe {
		attempts = 1 // an offline slave gets one chance per OfflinePoll
	}
	var (
		res   []byte
		last  = outcome(-1)
		cause error
	)
	for range attempts {
		if err := b.waitGap(ctx); err != nil {
			if last == -1 {
				b.unprobe(unit, probe)
				return nil, err
			}
			break // report the failure the retries were for
		}
		b.handler.SlaveId = unit
		res, err = call()
		b.quietUntil = time.Now().Add(b.gap)
		last, cause = b.account(unit, err)
		if last != failed {
			break
		}
		b.drain()
		if ctx.Err() != nil {
			break
		}
	}
	b.settle(unit, last, cause)
	if cause != nil {
		var exc *ExceptionError
		if errors.As(cause, &exc) {
			return nil, exc
		}
		return nil, fmt.Errorf("modbus rtu %s slave %d: %w", b.cfg.Device, unit, cause)
	}
	return res, nil
}

// admit decides whether unit may use the line now. An offline slave is
// refused until its probe is due; the caller that finds it due makes the
// probe, and the next probe is scheduled at once so that concurrent
// callers do not all probe.
func (b *Bus) admit(unit byte) (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.slave(unit)
	if s.Online {
		return false, nil
	}
	now := b.now()
	if now.Before(s.NextProbe) {
		b.stats.Skipped++
		return false, fmt.Errorf("modbus rtu %s slave %d: %w after %d failed requests (%s), next try in %v",
			b.cfg.Device, unit, ErrOffline, s.Failures, s.LastError, s.NextProbe.Sub(now).Round(time.Second))
	}
	s.NextProbe = now.Add(b.cfg.OfflinePoll)
	return true, nil
}

// unprobe gives back a probe the caller could not make, its context having
// ended first, so that the next caller makes it rather than waiting
// another OfflinePoll.
func (b *Bus) unprobe(unit byte, probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.slave(unit).NextProbe = b.now()
}

// slave returns the state of unit, creating it online. Caller holds b.mu.
func (b *Bus) slave(unit byte) *SlaveStatus {
	s := b.slaves[unit]
	if s == nil {
		s = &SlaveStatus{Unit: unit, Online: true}
		b.slaves[unit] = s
	}
	return s
}

// waitGap keeps the line quiet until quietUntil. Caller holds the line.
func (b *Bus) waitGap(ctx context.Context) error {
	d := time.Until(b.quietUntil)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	b.stats.GapWait += d
	b.mu.Unlock()
	return nil
}

// account classifies the result of one attempt and counts it.
func (b *Bus) account(unit byte, err error) (outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.slave(unit)
	b.stats.Requests++
	s.Requests++
	var (
		me *mb.ModbusError
		pe *portError
	)
	switch {
	case err == nil:
		b.stats.Answers++
		s.Answers++
		return answered, nil
	case errors.As(err, &me):
		b.stats.Answers++
		b.stats.Exceptions++
		s.Answers++
		return answered, &ExceptionError{Function: me.FunctionCode, Code: me.ExceptionCode}
	case errors.As(err, &pe):
		b.stats.Requests--
		s.Requests--
		b.stats.PortErrors++
		// The next request opens the port again: a USB adapter that was
		// unplugged and put back comes back under the same name.
		b.handler.Close()
		return portFault, err
	}
	var counter func(*FailureCounts) *uint64
	switch {
	case errors.Is(err, ErrTimeout):
		counter = func(c *FailureCounts) *uint64 { return &c.Timeouts }
	case errors.Is(err, ErrCRC):
		counter = func(c *FailureCounts) *uint64 { return &c.CRCErrors }
	case errors.Is(err, ErrWrongSlave):
		counter = func(c *FailureCounts) *uint64 { return &c.WrongSlave }
	default:
		// ErrGarbled, or the client rejecting an answer checkAnswer let
		// through (a write echoing other values).
		if !errors.Is(err, ErrGarbled) {
			err = fmt.Errorf("%w: %v", ErrGarbled, err)
		}
		counter = func(c *FailureCounts) *uint64 { return &c.Garbled }
	}
	*counter(&b.stats.FailureCounts)++
	*counter(&s.FailureCounts)++
	return failed, err
}

// drain throws away whatever is still arriving on the line. Caller holds
// the line.
func (b *Bus) drain() {
	n, err := drainLine(b.cfg.Device, b.gap, b.cfg.Timeout)
	if err != nil {
		b.log.Debug("cannot drain the line", "err", err)
	}
	if n > 0 {
		b.mu.Lock()
		b.stats.Drained += uint64(n)
		b.mu.Unlock()
	}
}

// settle updates unit's health after a request.
func (b *Bus) settle(unit byte, last outcome, cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.slave(unit)
	switch last {
	case answered:
		if !s.Online {
			b.log.Info("slave back online", "unit", unit, "after_failures", s.Failures)
		}
		s.Online, s.Failures, s.NextProbe = true, 0, time.Time{}
		s.LastAnswer = b.now()
	case failed:
		s.Failures++
		s.LastError = cause.Error()
		if s.Online && s.Failures >= b.cfg.OfflineAfter {
			s.Online = false
			b.log.Warn("slave offline", "unit", unit, "failures", s.Failures, "err", cause, "next_try", b.cfg.OfflinePoll)
		}
		if !s.Online {
			s.NextProbe = b.now().Add(b.cfg.OfflinePoll)
		}
	}
}

// Stats returns the Bus's counters.
func (b *Bus) Stats() BusStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Slave returns what the Bus knows of unit, and false if it was never
// asked to reach it.
func (b *Bus) Slave(unit byte) (SlaveStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.slaves[unit]
	if !ok {
		return SlaveStatus{}, false
	}
	return *s, true
}

// Slaves returns the state of every slave the Bus was asked to reach, by
// address.
func (b *Bus) Slaves() []SlaveStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SlaveStatus, 0, len(b.slaves))
	for _, s := range b.slaves {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y SlaveStatus) int { return int(x.Unit) - int(y.Unit) })
	return out
}
