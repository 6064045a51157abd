package coldlog

import (
	"context"
	"fmt"
	"time"
)

// sampleStruct is a store's sample type of the same fields as Sample, such
// as hub/sqlite's Sample: it converts to Sample.
type sampleStruct interface {
	~struct {
		TS    time.Time
		Value float64
	}
}

// DeviceStore is a store that answers per device, as hub/sqlite's DB does:
// which devices of a room have readings of a field in a period, and the
// temperatures of one of them. S is the store's own sample type, a struct
// of the same fields as Sample.
type DeviceStore[S sampleStruct] interface {
	// RoomDevices returns the devices with a reading of field in room at
	// site with from <= TS <= to.
	RoomDevices(ctx context.Context, site, room, field string, from, to time.Time) ([]string, error)
	// Temperatures returns the temperatures of device in room at site with
	// from <= TS <= to, in time order.
	Temperatures(ctx context.Context, site, room, device string, from, to time.Time) ([]S, error)
}

// FromDevices returns a Source that reads each device of a room from st in
// turn.
func FromDevices[S sampleStruct](st DeviceStore[S]) Source {
	return SourceFunc(func(ctx context.Context, site, room string, from, to time.Time) ([]Series, error) {
		devices, err := st.RoomDevices(ctx, site, room, Field, from, to)
		if err != nil {
			return nil, err
		}
		out := make([]Series, 0, len(devices))
		for _, d := range devices {
			got, err := st.Temperatures(ctx, site, room, d, from, to)
			if err != nil {
				return nil, fmt.Errorf("device %s: %w", d, err)
			}
			s := Series{Device: d, Samples: make([]Sample, 0, len(got))}
			for _, x := range got {
				if x := Sample(x); x.TS.Before(to) {
					s.Samples = append(s.Samples, x)
				}
			}
			out = append(out, s)
		}
		return out, nil
	})
}
