package coldlog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/countylink/countylink/hub"
)

// Field is the reading field the log is kept of.
const Field = "temperature"

// Series is one probe's readings.
type Series struct {
	Device  string
	Samples []Sample
}

// Source reads temperatures from a store.
type Source interface {
	// RoomTemperatures returns the Field readings of each device of room
	// at site with from <= TS < to: one Series per device that has any, in
	// any order, each in time order.
	RoomTemperatures(ctx context.Context, site, room string, from, to time.Time) ([]Series, error)
}

// SourceFunc is a function that serves as a Source.
type SourceFunc func(ctx context.Context, site, room string, from, to time.Time) ([]Series, error)

// RoomTemperatures calls f.
func (f SourceFunc) RoomTemperatures(ctx context.Context, site, room string, from, to time.Time) ([]Series, error) {
	return f(ctx, site, room, from, to)
}

// Meta describes the room and the document, for the exports.
type Meta struct {
	Site, SiteName, SiteNameEN string
	Room, RoomName, RoomNameEN string
	Class                      string // product class: chilled, frozen, medicine, custom
	// Expect lists the devices that log the room: each gets a section
	// saying "no data" when it has no reading in the period, rather than
	// being left out. A device not listed appears when it has readings.
	Expect []string
	// TZ is the time zone of the exports' times, named in them (load
	// "Asia/Shanghai" rather than pass time.Local, which is named "Local");
	// nil means UTC.
	TZ *time.Location
	// GeneratedAt is when the log was made; Build sets it to now if zero.
	GeneratedAt time.Time
}

func (m *Meta) tz() *time.Location {
	if m.TZ == nil {
		return time.UTC
	}
	return m.TZ
}

// Probe is one device's log and its figures.
type Probe struct {
	Device string
	Log    []Sample // the recorded readings, as Record returns them
	Report Report   // Compute of Log with the Log's Params
}

// Log is a room's temperature log for a period: a section per probe.
type Log struct {
	Meta   Meta
	Params Params // with the defaults filled in
	Probes []Probe
}

// Compliant reports whether the room has at least one probe and every
// probe's report is compliant.
func (l *Log) Compliant() bool {
	if len(l.Probes) == 0 {
		return false
	}
	for i := range l.Probes {
		if !l.Probes[i].Report.Compliant {
			return false
		}
	}
	return true
}

// ForRoom returns the Meta and Params of room at site from from to to:
// names, class and limits from the sites file.
func ForRoom(site hub.Site, room hub.Room, from, to time.Time) (Meta, Params) {
	m := Meta{
		Site: site.ID, SiteName: site.Name, SiteNameEN: site.NameEN,
		Room: room.ID, RoomName: room.Name, RoomNameEN: room.NameEN,
		Class: room.Class,
	}
	return m, Params{From: from, To: to, Low: Limit(room.MinC), High: Limit(room.MaxC)}
}

// Build reads the temperatures of meta's room from src for p's period,
// records each probe's log and computes its report.
func Build(ctx context.Context, src Source, meta Meta, p Params) (*Log, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("temperature log of %s/%s: %w", meta.Site, meta.Room, err)
	}
	p = p.withDefaults()
	series, err := src.RoomTemperatures(ctx, meta.Site, meta.Room, p.From, p.To)
	if err != nil {
		return nil, fmt.Errorf("temperature log of %s/%s: %w", meta.Site, meta.Room, err)
	}
	if meta.GeneratedAt.IsZero() {
		meta.GeneratedAt = time.Now()
	}
	l := &Log{Meta: meta, Params: p}
	byDevice := map[string][]Sample{}
	for _, s := range series {
		byDevice[s.Device] = append(byDevice[s.Device], s.Samples...)
	}
	for _, d := range meta.Expect {
		if _, ok := byDevice[d]; !ok {
			byDevice[d] = nil
		}
	}
	for d, samples := range byDevice {
		log := Record(samples, p)
		l.Probes = append(l.Probes, Probe{Device: d, Log: log, Report: Compute(log, p)})
	}
	slices.SortFunc(l.Probes, func(a, b Probe) int { return cmp.Compare(a.Device, b.Device) })
	return l, nil
}
