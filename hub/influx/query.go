package influx

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/countylink/countylink/hub/coldlog"
)

// DefaultQueryTimeout bounds a query when Config.Timeout is zero: a month
// of a room's readings at one every 10 s is half a million rows.
const DefaultQueryTimeout = time.Minute

// Reader reads readings back through the v2 query API (Flux), which
// InfluxDB 1.8 serves with flux-enabled = true. It is safe for concurrent
// use.
type Reader struct {
	w      *Writer // for its client
	query  api.QueryAPI
	bucket string
}

var _ coldlog.Source = (*Reader)(nil)

// NewReader returns a Reader for cfg, whose Timeout bounds each query
// (zero means DefaultQueryTimeout). It does not contact the server.
func NewReader(cfg Config) (*Reader, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultQueryTimeout
	}
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{w: w, query: w.client.QueryAPI(cfg.Org), bucket: cfg.Bucket}, nil
}

// Close releases the client's idle connections.
func (r *Reader) Close() { r.w.Close() }

// RoomTemperatures returns the coldlog.Field values of each device of room
// at site with from <= time < to: one series per device, by device, each
// in time order. Readings without a room tag are not a room's.
func (r *Reader) RoomTemperatures(ctx context.Context, site, room string, from, to time.Time) ([]coldlog.Series, error) {
	ctx, cancel := context.WithTimeout(ctx, r.w.timeout)
	defer cancel()
	q := roomQuery(r.bucket, site, room, coldlog.Field, from, to)
	res, err := r.query.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influx query of %s/%s %s: %w", site, room, coldlog.Field, err)
	}
	defer res.Close()
	byDevice := map[string][]coldlog.Sample{}
	for res.Next() {
		rec := res.Record()
		if rec.Time().Before(from) || !rec.Time().Before(to) {
			// InfluxDB 1.8 includes range's stop, which Flux excludes.
			continue
		}
		v, ok := rec.Value().(float64)
		if !ok {
			return nil, fmt.Errorf("influx query of %s/%s %s: value %v at %v is a %T, not a float",
				site, room, coldlog.Field, rec.Value(), rec.Time(), rec.Value())
		}
		device, _ := rec.ValueByKey("device").(string)
		byDevice[device] = append(byDevice[device], coldlog.Sample{TS: rec.Time(), Value: v})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influx query of %s/%s %s: %w", site, room, coldlog.Field, err)
	}
	out := make([]coldlog.Series, 0, len(byDevice))
	for d, s := range byDevice {
		out = append(out, coldlog.Series{Device: d, Samples: s})
	}
	slices.SortFunc(out, func(a, b coldlog.Series) int { return cmp.Compare(a.Device, b.Device) })
	return out, nil
}

// roomQuery is the Flux query for one field of every device of a room,
// grouped by device and in time order. range's stop is exclusive in Flux,
// but InfluxDB 1.8 returns a point at stop too: the caller drops it.
func roomQuery(bucket, site, room, field string, from, to time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r._field == %s and r.site == %s and r.room == %s)
  |> keep(columns: ["_time", "_value", "device"])
  |> group(columns: ["device"])
  |> sort(columns: ["_time"])`,
		fluxString(bucket), from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano),
		fluxString(Measurement), fluxString(field), fluxString(site), fluxString(room))
}

// fluxString quotes s as a Flux string literal, in which a backslash, a
// double quote and the interpolation "${" must be escaped.
func fluxString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
