// Package modbus reads and writes Modbus devices described by a profile,
// over the goburrow/modbus client. An Endpoint is one connection (a TCP
// device or gateway); requests on it are serialised, since one connection,
// like one RS-485 bus, carries one request at a time.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mb "github.com/goburrow/modbus"

	"github.com/countylink/countylink/edge/profile"
)

// Endpoint is one Modbus TCP connection shared by the slaves behind it.
type Endpoint struct {
	addr string

	mu      sync.Mutex // one request at a time on the connection
	handler *mb.TCPClientHandler
	client  mb.Client
}

// NewTCP returns an endpoint for the Modbus TCP server at addr (host:port).
// It connects lazily and reconnects after any transport error.
func NewTCP(addr string, timeout time.Duration) *Endpoint {
	h := mb.NewTCPClientHandler(addr)
	h.Timeout = timeout
	h.IdleTimeout = 5 * time.Minute
	return &Endpoint{addr: addr, handler: h, client: mb.NewClient(h)}
}

// Addr is the endpoint's address.
func (e *Endpoint) Addr() string { return e.addr }

// Close closes the connection; the next request opens a new one.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handler.Close()
}

// ExceptionError is a Modbus exception answered by a slave: it heard the
// request and refused it, so the connection is fine.
type ExceptionError struct {
	Function byte
	Code     byte
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %d (%s) for function %d", e.Code, exceptionText(e.Code), e.Function&0x7f)
}

func exceptionText(code byte) string {
	switch code {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "slave device failure"
	case 6:
		return "slave device busy"
	case 10:
		return "gateway path unavailable"
	case 11:
		return "gateway target failed to respond"
	}
	return "unknown"
}

// Read reads qty registers (or bits, one per returned element) of table at
// addr from slave unit. A transport error drops the connection, so a late
// answer to a timed-out request cannot be taken for the next one's.
func (e *Endpoint) Read(ctx context.Context, unit byte, table profile.Table, addr, qty uint16) ([]uint16, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handler.SlaveId = unit
	var (
		b   []byte
		err error
	)
	switch table {
	case profile.Holding:
		b, err = e.client.ReadHoldingRegisters(addr, qty)
	case profile.Input:
		b, err = e.client.ReadInputRegisters(addr, qty)
	case profile.Coil:
		b, err = e.client.ReadCoils(addr, qty)
	case profile.Discrete:
		b, err = e.client.ReadDiscreteInputs(addr, qty)
	default:
		return nil, fmt.Errorf("modbus: unknown table %q", table)
	}
	if err != nil {
		return nil, e.fail(err)
	}
	out := make([]uint16, qty)
	if table.Bits() {
		if len(b)*8 < int(qty) {
			return nil, fmt.Errorf("modbus: %d bits asked, %d bytes answered", qty, len(b))
		}
		for i := range out {
			out[i] = uint16(b[i/8] >> (i % 8) & 1)
		}
		return out, nil
	}
	if len(b) != 2*int(qty) {
		e.handler.Close()
		return nil, fmt.Errorf("modbus: %d registers asked, %d bytes answered", qty, len(b))
	}
	for i := range out {
		out[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return out, nil
}

// WriteRegisters writes values to holding registers starting at addr.
func (e *Endpoint) WriteRegisters(ctx context.Context, unit byte, addr uint16, values []uint16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handler.SlaveId = unit
	var err error
	if len(values) == 1 {
		_, err = e.client.WriteSingleRegister(addr, values[0])
	} else {
		b := make([]byte, 2*len(values))
		for i, v := range values {
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
		_, err = e.client.WriteMultipleRegisters(addr, uint16(len(values)), b)
	}
	if err != nil {
		return e.fail(err)
	}
	return nil
}

// WriteCoil sets the coil at addr of slave unit on or off (function 5).
func (e *Endpoint) WriteCoil(ctx context.Context, unit byte, addr uint16, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handler.SlaveId = unit
	if _, err := e.client.WriteSingleCoil(addr, coilValue(on)); err != nil {
		return e.fail(err)
	}
	return nil
}

// coilValue is how function 5 says on and off.
func coilValue(on bool) uint16 {
	if on {
		return 0xFF00
	}
	return 0x0000
}

// fail classifies err; anything but an exception drops the connection.
// Caller holds e.mu.
func (e *Endpoint) fail(err error) error {
	var me *mb.ModbusError
	if errors.As(err, &me) {
		return &ExceptionError{Function: me.FunctionCode, Code: me.ExceptionCode}
	}
	e.handler.Close()
	return fmt.Errorf("modbus %s: %w", e.addr, err)
}
