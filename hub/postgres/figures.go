package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// zone says how the queries of a period from from to to turn a time into
// a day of loc: dayOf(column) is the SQL expression of the day, a date,
// with the zone as the query's first parameter, arg.
type zone struct {
	cast string // ::text for a zone's name, ::interval for an offset
	arg  string
}

func (z zone) dayOf(column string) string {
	return "(" + column + " AT TIME ZONE $1" + z.cast + ")::date"
}

// zoneOf is loc by its name when it is an IANA name that PostgreSQL knows
// (and not also one of its abbreviations, which AT TIME ZONE would take
// first: CST is China's in Go's hands, the US's in PostgreSQL's), with the
// same offsets as Go's zone of that name over the period. Else it is the
// zone's offset at from, as SQLite counts days: time.Local, a fixed zone,
// a zone PostgreSQL does not know.
func (db *DB) zoneOf(ctx context.Context, loc *time.Location, from, to time.Time) (zone, error) {
	name := loc.String()
	if name != "" && name != "Local" {
		if named, err := time.LoadLocation(name); err == nil && sameOffsets(loc, named, from, to) {
			known, err := db.knownZone(ctx, name)
			if err != nil {
				return zone{}, err
			}
			if known {
				return zone{cast: "::text", arg: name}, nil
			}
		}
	}
	_, off := from.In(loc).Zone()
	return zone{cast: "::interval", arg: strconv.Itoa(off) + " seconds"}, nil
}

// sameOffsets reports whether a and b have the same offsets at from, at to
// and at the changes of a's offset between them.
func sameOffsets(a, b *time.Location, from, to time.Time) bool {
	t := from
	for range 1000 {
		_, oa := t.In(a).Zone()
		_, ob := t.In(b).Zone()
		if oa != ob {
			return false
		}
		_, end := t.In(a).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			_, oa := to.In(a).Zone()
			_, ob := to.In(b).Zone()
			return oa == ob
		}
		t = end
	}
	return false
}

// knownZone reports whether PostgreSQL knows name as a zone's full name
// and not as an abbreviation.
func (db *DB) knownZone(ctx context.Context, name string) (bool, error) {
	if v, ok := db.zones.Load(name); ok {
		return v.(bool), nil
	}
	var known bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)
		AND NOT EXISTS (SELECT 1 FROM pg_timezone_abbrevs WHERE abbrev = $1)`, name).Scan(&known); err != nil {
		return false, err
	}
	db.zones.Store(name, known)
	return known, nil
}

const dateOnly = time.DateOnly

// Figures returns each township's figures for each day from from (included)
// to to (excluded), days in loc. Townships and days without any activity
// are left out.
func (db *DB) Figures(ctx context.Context, from, to time.Time, loc *time.Location) ([]hub.DayFigures, error) {
	if loc == nil {
		loc = time.Local
	}
	out, err := db.figures(ctx, ts(from), ts(to), loc)
	if err != nil {
		return nil, fmt.Errorf("postgres figures: %w", err)
	}
	return out, nil
}

func (db *DB) figures(ctx context.Context, from, to time.Time, loc *time.Location) ([]hub.DayFigures, error) {
	z, err := db.zoneOf(ctx, loc, from, to)
	if err != nil {
		return nil, err
	}
	figs := map[[2]string]*hub.DayFigures{}
	get := func(day time.Time, site string) *hub.DayFigures {
		k := [2]string{day.Format(dateOnly), db.township(site)}
		f := figs[k]
		if f == nil {
			f = &hub.DayFigures{Day: k[0], Township: k[1]}
			figs[k] = f
		}
		return f
	}
	// Events by site, kind and day: a parcel sorted twice in a day
	// counts once.
	rows, err := db.pool.Query(ctx, `SELECT site, kind, `+z.dayOf("ts")+` AS day, count(DISTINCT waybill),
			count(DISTINCT waybill) FILTER (WHERE exception <> ''), coalesce(sum(weight_kg::numeric), 0)::float8
		FROM parcel_events WHERE ts >= $2 AND ts < $3
			AND kind IN ('sorted', 'dispatched', 'picked_up', 'damaged', 'returned', 'lot_weighed')
		GROUP BY site, kind, day`, z.arg, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var site, kind string
		var day time.Time
		var n, exc int
		var kg float64
		if err := rows.Scan(&site, &kind, &day, &n, &exc, &kg); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(day, site)
		switch kind {
		case contract.EventSorted:
			f.Sorted += n - exc
			f.Exceptions += exc
		case hub.EventDispatched:
			f.Dispatched += n
		case contract.EventPickedUp:
			f.Delivered += n
		case contract.EventDamaged, contract.EventReturned:
			f.Exceptions += n
		case contract.EventLotWeighed:
			f.LotsCollected += n
			f.KgCollected += kg
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Parcels first scanned at the township.
	rows, err = db.pool.Query(ctx, `SELECT township, `+z.dayOf("arrived_at")+`, count(*) FROM items
		WHERE arrived_at >= $2 AND arrived_at < $3 AND NOT lot GROUP BY 1, 2`, z.arg, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var day time.Time
		var n int
		if err := rows.Scan(&t, &day, &n); err != nil {
			rows.Close()
			return nil, err
		}
		get(day, t).Received += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The time parcels dispatched that day waited at the township for a
	// run.
	type acc struct {
		sum float64
		n   int
	}
	waits := map[*hub.DayFigures]*acc{}
	rows, err = db.pool.Query(ctx, `SELECT township, `+z.dayOf("dispatched_at")+`, count(*),
			coalesce(sum(extract(epoch FROM dispatched_at - arrived_at) * 1000), 0)::float8
		FROM items WHERE dispatched_at >= $2 AND dispatched_at < $3 AND arrived_at IS NOT NULL AND NOT lot
		GROUP BY 1, 2`, z.arg, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var day time.Time
		var n int
		var sum float64
		if err := rows.Scan(&t, &day, &n, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(day, t)
		a := waits[f]
		if a == nil {
			a = &acc{}
			waits[f] = a
		}
		a.sum, a.n = a.sum+sum, a.n+n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for f, a := range waits {
		f.AvgDispatchH = math.Round(a.sum/float64(a.n)/3600e3*100) / 100
	}
	// Parcels scanned in at a village point that is not theirs, on the
	// day of their latest event.
	rows, err = db.pool.Query(ctx, `SELECT township, `+z.dayOf("last_at")+`, count(*) FROM items
		WHERE last_at >= $2 AND last_at < $3 AND NOT lot AND 'wrong_village' = ANY(flags) GROUP BY 1, 2`, z.arg, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		var day time.Time
		var n int
		if err := rows.Scan(&t, &day, &n); err != nil {
			rows.Close()
			return nil, err
		}
		get(day, t).Exceptions += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Lots shipped, with the weight they were weighed at.
	rows, err = db.pool.Query(ctx, `SELECT e.site, `+z.dayOf("e.ts")+`, count(DISTINCT e.waybill),
			coalesce(sum(i.weight_kg::numeric), 0)::float8
		FROM parcel_events e JOIN items i ON i.id = e.waybill
		WHERE e.kind = 'lot_shipped' AND e.ts >= $2 AND e.ts < $3 GROUP BY 1, 2`, z.arg, from, to)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var site string
		var day time.Time
		var n int
		var kg float64
		if err := rows.Scan(&site, &day, &n, &kg); err != nil {
			rows.Close()
			return nil, err
		}
		f := get(day, site)
		f.LotsShipped += n
		f.KgShipped += kg
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]hub.DayFigures, 0, len(figs))
	for _, f := range figs {
		f.KgCollected = math.Round(f.KgCollected*100) / 100
		f.KgShipped = math.Round(f.KgShipped*100) / 100
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b hub.DayFigures) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Township, b.Township))
	})
	return out, nil
}

// Produce returns the farm products weighed at each village point per day
// and product, from from (included) to to (excluded), days in loc.
func (db *DB) Produce(ctx context.Context, from, to time.Time, loc *time.Location) ([]hub.ProduceTotal, error) {
	if loc == nil {
		loc = time.Local
	}
	from, to = ts(from), ts(to)
	z, err := db.zoneOf(ctx, loc, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres produce: %w", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT site, product, `+z.dayOf("ts")+`, count(DISTINCT waybill),
			coalesce(sum(weight_kg::numeric), 0)::float8
		FROM parcel_events WHERE kind = 'lot_weighed' AND ts >= $2 AND ts < $3
		GROUP BY 1, 2, 3`, z.arg, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres produce: %w", err)
	}
	defer rows.Close()
	out := []hub.ProduceTotal{}
	for rows.Next() {
		var t hub.ProduceTotal
		var day time.Time
		if err := rows.Scan(&t.Village, &t.Product, &day, &t.Lots, &t.Kg); err != nil {
			return nil, fmt.Errorf("postgres produce: %w", err)
		}
		t.Day, t.Township, t.Kg = day.Format(dateOnly), db.township(t.Village), math.Round(t.Kg*100)/100
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres produce: %w", err)
	}
	slices.SortFunc(out, func(a, b hub.ProduceTotal) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Village, b.Village), cmp.Compare(a.Product, b.Product))
	})
	return out, nil
}
