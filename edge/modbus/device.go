package modbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/countylink/countylink/edge/profile"
)

// Transport carries requests to the slaves on one link: a Modbus TCP
// Endpoint or an RS-485 Bus.
type Transport interface {
	Read(ctx context.Context, unit byte, table profile.Table, addr, qty uint16) ([]uint16, error)
	WriteRegisters(ctx context.Context, unit byte, addr uint16, values []uint16) error
	WriteCoil(ctx context.Context, unit byte, addr uint16, on bool) error
}

var _ Transport = (*Endpoint)(nil)

// ErrReadBack marks a write the slave accepted whose value could not then
// be read back: the device probably holds the new value, but nobody saw it.
var ErrReadBack = errors.New("written, but the read-back failed")

// Device is one slave on a transport, read and written per its profile.
type Device struct {
	Unit      byte
	Profile   *profile.Profile
	Transport Transport
	Retries   int // extra attempts per request after a transport error or timeout; keep 0 on a Bus, which retries itself

	plan []profile.Request
}

// NewDevice prepares the read plan of p for slave unit on t.
func NewDevice(t Transport, unit byte, p *profile.Profile, retries int) *Device {
	return &Device{Unit: unit, Profile: p, Transport: t, Retries: retries, plan: p.Plan()}
}

// Requests is how many reads one poll makes.
func (d *Device) Requests() int { return len(d.plan) }

// Poll reads every polled register. A request that fails after its retries
// fails the poll: a reading is complete or it is not sent. An exception is
// not retried: the slave answered and will answer the same again.
func (d *Device) Poll(ctx context.Context) (*profile.Reading, error) {
	rd := profile.NewReading()
	for _, q := range d.plan {
		words, err := d.read(ctx, q)
		if err != nil {
			return nil, err
		}
		if err := d.Profile.Decode(q, words, rd); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Write sets field to value and returns the value the device holds
// afterwards, read back from it: the written value as the register stores
// it (rounded to its scale), or what the device made of it (a controller
// that clamps a setpoint to its own limits, a command coil that clears
// itself when done).
//
// The profile refuses what the device cannot hold before anything is sent
// (profile.ErrUnknownField, ErrNotWritable, ErrBadValue). A transport error
// is retried as in Poll, which may apply a write twice: fine for a value,
// and for the commands profiles map to coils (zero, tare), which give the
// same result twice. A Modbus exception, the slave refusing the write,
// comes back as *ExceptionError. An error after the write succeeded wraps
// ErrReadBack.
func (d *Device) Write(ctx context.Context, field string, value float64) (float64, error) {
	reg, words, err := d.Profile.Encode(field, value)
	if err != nil {
		return 0, err
	}
	q, err := d.Profile.ReadRequest(field)
	if err != nil {
		return 0, err
	}
	err = d.retry(ctx, func() error {
		if reg.Table == profile.Coil {
			return d.Transport.WriteCoil(ctx, d.Unit, reg.Address, words[0] != 0)
		}
		return d.Transport.WriteRegisters(ctx, d.Unit, reg.Address, words)
	})
	if err != nil {
		return 0, fmt.Errorf("slave %d write %s (%s %d) = %v: %w", d.Unit, field, reg.Table, reg.Address, value, err)
	}
	got, err := d.read(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("slave %d write %s: %w: %w", d.Unit, field, ErrReadBack, err)
	}
	rd := profile.NewReading()
	if err := d.Profile.Decode(q, got, rd); err != nil {
		return 0, fmt.Errorf("slave %d write %s: %w: %w", d.Unit, field, ErrReadBack, err)
	}
	v, ok := rd.Fields[field]
	if !ok {
		return 0, fmt.Errorf("slave %d write %s: %w: the device holds no valid value (%s)", d.Unit, field, ErrReadBack, rd.Faults[field])
	}
	return v, nil
}

// read makes the read q with the Device's retries.
func (d *Device) read(ctx context.Context, q profile.Request) ([]uint16, error) {
	var words []uint16
	err := d.retry(ctx, func() error {
		var err error
		words, err = d.Transport.Read(ctx, d.Unit, q.Table, q.Address, q.Quantity)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slave %d %s %d+%d: %w", d.Unit, q.Table, q.Address, q.Quantity, err)
	}
	return words, nil
}

// retry runs request until it succeeds, the slave answers with an
// exception (it would answer the same again), the context ends, or the
// Device's retries are spent.
func (d *Device) retry(ctx context.Context, request func() error) error {
	var err error
	for attempt := 0; attempt <= d.Retries; attempt++ {
		err = request()
		var exc *ExceptionError
		if err == nil || errors.As(err, &exc) || ctx.Err() != nil {
			break
		}
	}
	return err
}
