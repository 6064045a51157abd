package modbus

import (
	"context"
	"fmt"

	"github.com/countylink/countylink/edge/profile"
)

// Transport carries requests to the slaves on one link: a Modbus TCP
// Endpoint or an RS-485 Bus.
type Transport interface {
	Read(ctx context.Context, unit byte, table profile.Table, addr, qty uint16) ([]uint16, error)
	WriteRegisters(ctx context.Context, unit byte, addr uint16, values []uint16) error
}

var _ Transport = (*Endpoint)(nil)

// Device is one slave on a transport, read per its profile.
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
		var (
			words []uint16
			err   error
		)
		for attempt := 0; attempt <= d.Retries; attempt++ {
			words, err = d.Transport.Read(ctx, d.Unit, q.Table, q.Address, q.Quantity)
			if _, exc := err.(*ExceptionError); err == nil || exc || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("slave %d %s %d+%d: %w", d.Unit, q.Table, q.Address, q.Quantity, err)
		}
		if err := d.Profile.Decode(q, words, rd); err != nil {
			return nil, err
		}
	}
	return rd, nil
}
