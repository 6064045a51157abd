// Package station is a scanner station at a township warehouse: a parcel
// is scanned, its route and bin are decided locally from the sort plan the
// edge holds (so sorting goes on with the uplink down), the bin's lamp
// lights at once, the scale's stable weight is taken, and a parcel event
// is handed to the durable queue. A confirm button records that the parcel
// went into the bin. The hub may correct a decision (a manifest that came
// late): Relight lights the right bin instead.
package station

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/waybill"
)

// Light is a bin lamp (a *gpio.Output).
type Light interface{ Set(gpio.Mode) }

// Buzzer sounds short signals (a *gpio.Output).
type Buzzer interface{ Beep(n int, d time.Duration) }

// Scale gives a stable weight in kg, waiting at most timeout for one.
type Scale interface {
	WaitStable(ctx context.Context, timeout time.Duration) (float64, error)
}

// Event kinds.
const (
	Sorted    = "sorted"    // scanned, decided, lamp lit
	Confirmed = "confirmed" // the confirm button was pressed for the last parcel
)

// Event is what the station records of a parcel.
type Event struct {
	Kind        string
	Station     string
	Waybill     string
	Carrier     string // empty when unknown or ambiguous
	Ambiguous   bool
	Decision    contract.Decision
	PlanVersion string
	WeightKg    float64
	Weighed     bool   // a stable weight was taken
	WeighError  string // why not
	ScannedAt   time.Time
	LampAt      time.Time // when the lamp's GPIO write was made
}

// RuleHub is the rule of a decision the hub corrected (Relight): a
// confirmation after it carries the hub's route and bin.
const RuleHub = "hub"

// ErrNoPlan is returned while the station has no sort plan.
var ErrNoPlan = errors.New("station: no sort plan")

// Station is one scanner station.
type Station struct {
	ID       string
	Lamps    map[string]Light // bin id to its lamp
	Buzzer   Buzzer           // may be nil
	Scale    Scale            // may be nil
	Manifest func(waybill string) (village string, ok bool)
	// Emit hands an event to the durable queue. An error (a queue full of
	// events) is signalled on the buzzer: the parcel must be scanned again
	// when the station is back.
	Emit func(Event) error

	LampFor  time.Duration // how long a bin lamp stays lit; default 8 s
	WeighFor time.Duration // longest wait for a stable weight; default 2 s

	plan atomic.Pointer[contract.SortPlan]

	mu   sync.Mutex
	last *Event // the parcel a confirm press refers to

	scans, exceptions, emitErrors, unweighed, relights atomic.Uint64
}

// SetPlan replaces the sort plan atomically: a scan sees the old plan or
// the new one, never a mix.
func (s *Station) SetPlan(p *contract.SortPlan) { s.plan.Store(p) }

// Plan is the plan in force, or nil.
func (s *Station) Plan() *contract.SortPlan { return s.plan.Load() }

// Scan handles one scanned code and returns the event it recorded.
func (s *Station) Scan(ctx context.Context, sc scanner.Scan) (Event, error) {
	s.scans.Add(1)
	plan := s.plan.Load()
	if plan == nil {
		s.signalError()
		return Event{}, ErrNoPlan
	}
	wb := waybill.Parse(sc.Code)
	in := contract.Parcel{Waybill: wb.Code}
	if s.Manifest != nil {
		in.Village, _ = s.Manifest(wb.Code)
	}
	d := plan.Decide(s.ID, in)
	ev := Event{Kind: Sorted, Station: s.ID, Waybill: wb.Code, Ambiguous: wb.Ambiguous, Decision: d,
		PlanVersion: plan.Version, ScannedAt: sc.At}
	if !wb.Unknown && !wb.Ambiguous {
		ev.Carrier = wb.Carrier.String()
	}

	// Light the bin first: staff wait for it; the weight can follow.
	if lamp := s.Lamps[d.Bin]; lamp != nil {
		mode := gpio.Mode{On: true, For: s.lampFor()}
		if d.Exception != "" {
			mode.Blink = 250 * time.Millisecond
		}
		lamp.Set(mode)
		ev.LampAt = time.Now()
	}
	if d.Exception != "" || wb.Unknown {
		s.exceptions.Add(1)
		s.signalError()
	} else if s.Buzzer != nil {
		s.Buzzer.Beep(1, 60*time.Millisecond)
	}

	if s.Scale != nil {
		weighFor := s.WeighFor
		if weighFor <= 0 {
			weighFor = 2 * time.Second
		}
		kg, err := s.Scale.WaitStable(ctx, weighFor)
		if err != nil {
			s.unweighed.Add(1)
			ev.WeighError = err.Error()
		} else {
			ev.WeightKg, ev.Weighed = kg, true
		}
	}
	if err := s.emit(ev); err != nil {
		return ev, err
	}
	s.mu.Lock()
	s.last = &ev
	s.mu.Unlock()
	return ev, nil
}

func (s *Station) lampFor() time.Duration {
	if s.LampFor <= 0 {
		return 8 * time.Second
	}
	return s.LampFor
}

// Relight corrects the bin of a parcel: the hub, holding a manifest the
// edge did not have when the parcel was scanned, decided route and bin.
// The bin's lamp lights as on a scan (steady, for LampFor) and the buzzer
// beeps once. If the parcel is the station's last one (the one a confirm
// press refers to), the lamp it was lit into goes off when it is another
// bin, and the confirmation records the corrected route and bin, with
// rule RuleHub. For an older parcel only the lamp lights. A bin without a
// lamp at this station is an error, and nothing changes.
func (s *Station) Relight(waybillCode, route, bin string) error {
	lamp := s.Lamps[bin]
	if lamp == nil {
		return fmt.Errorf("station %s has no lamp for bin %q", s.ID, bin)
	}
	code := waybill.Parse(waybillCode).Code
	s.mu.Lock()
	if last := s.last; last != nil && last.Waybill == code {
		if old := s.Lamps[last.Decision.Bin]; old != nil && last.Decision.Bin != bin {
			old.Set(gpio.Off)
		}
		ev := *last
		ev.Decision.Route, ev.Decision.Bin, ev.Decision.Rule = route, bin, RuleHub
		if route != "" {
			ev.Decision.Exception = ""
		}
		s.last = &ev
	}
	s.mu.Unlock()
	lamp.Set(gpio.Mode{On: true, For: s.lampFor()})
	s.relights.Add(1)
	if s.Buzzer != nil {
		s.Buzzer.Beep(1, 60*time.Millisecond)
	}
	return nil
}

// Confirm records a press of the confirm button for the last parcel.
func (s *Station) Confirm(at time.Time) (Event, error) {
	s.mu.Lock()
	last := s.last
	s.last = nil
	s.mu.Unlock()
	if last == nil {
		return Event{}, errors.New("station: confirm without a parcel")
	}
	ev := *last
	ev.Kind, ev.ScannedAt, ev.LampAt = Confirmed, at, time.Time{}
	if lamp := s.Lamps[ev.Decision.Bin]; lamp != nil {
		lamp.Set(gpio.Off)
	}
	return ev, s.emit(ev)
}

func (s *Station) emit(ev Event) error {
	if s.Emit == nil {
		return nil
	}
	if err := s.Emit(ev); err != nil {
		s.emitErrors.Add(1)
		s.signalError()
		return fmt.Errorf("station %s: parcel %s not recorded: %w", s.ID, ev.Waybill, err)
	}
	return nil
}

func (s *Station) signalError() {
	if s.Buzzer != nil {
		s.Buzzer.Beep(3, 120*time.Millisecond)
	}
}

// Stats are the station's counters.
type Stats struct {
	Scans, Exceptions, EmitErrors uint64
	Unweighed                     uint64 // scans without a stable weight in time: a scale in motion, off, or empty
	Relights                      uint64 // decisions the hub corrected (Relight)
}

// Stats returns the counters.
func (s *Station) Stats() Stats {
	return Stats{Scans: s.scans.Load(), Exceptions: s.exceptions.Load(), EmitErrors: s.emitErrors.Load(), Unweighed: s.unweighed.Load(),
		Relights: s.relights.Load()}
}
