package influx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/domain"

	"github.com/countylink/countylink/hub"
)

// Measurement is the InfluxDB measurement that readings are written to.
const Measurement = "telemetry"

// FaultField is the string field that holds a reading's fault texts.
const FaultField = "fault"

// DefaultTimeout bounds a write or a ping when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrRejected marks a write that InfluxDB refused for its content (HTTP 400:
// a line it cannot parse, a field type conflict, a point beyond the
// retention policy). Sending the same batch again fails the same way; on a
// partial write InfluxDB has already kept the points it could accept.
var ErrRejected = fmt.Errorf("rejected by InfluxDB: %w", hub.ErrRejected)

// Config says where and how to write.
type Config struct {
	URL    string // http(s)://host:8086
	Token  string // API token; for InfluxDB 1.8 "user:password", empty without auth
	Org    string // ignored by InfluxDB 1.8
	Bucket string // for InfluxDB 1.8 "database/retention-policy" or "database"
	// Timeout bounds each write and ping, connection included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	Gzip    bool // compress write bodies, for a slow link to the server
}

// Writer writes readings to InfluxDB. It is safe for concurrent use.
type Writer struct {
	client  influxdb2.Client
	write   api.WriteAPIBlocking
	url     string
	timeout time.Duration
}

var _ hub.SeriesWriter = (*Writer)(nil)

// New returns a Writer for cfg. It does not contact the server: call Ping
// for that.
func New(cfg Config) (*Writer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influx url %q: must be http(s)://host:port", cfg.URL)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("influx bucket: must be set (InfluxDB 1.8: database/retention-policy)")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("influx timeout %v: must not be negative", cfg.Timeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// The client's own timeout is in whole seconds, and 0 would mean none;
	// it is a backstop behind the per-call context deadline.
	secs := uint(math.Ceil(timeout.Seconds()))
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(secs).
		SetUseGZip(cfg.Gzip).
		SetPrecision(time.Millisecond).
		SetApplicationName("countylink-hub")
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &Writer{
		client: client,
		// Without EnableBatching the blocking API sends each call as one
		// request and does not retry: a failure comes back to the caller.
		write:   client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		url:     cfg.URL,
		timeout: timeout,
	}, nil
}

// WriteReadings writes rs in one request. Readings without a time or without
// anything to store are skipped.
func (w *Writer) WriteReadings(ctx context.Context, rs []*hub.Reading) error {
	body, n := encode(rs)
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := w.write.WriteRecord(ctx, body); err != nil {
		var herr *influxhttp.Error
		if errors.As(err, &herr) && herr.StatusCode == http.StatusBadRequest {
			return fmt.Errorf("influx write of %d points: %w: %w", n, ErrRejected, err)
		}
		return fmt.Errorf("influx write of %d points: %w", n, err)
	}
	return nil
}

// Ping asks the server's /health endpoint whether it is ready. It checks
// neither the token nor the bucket: InfluxDB 1.8 answers /health without
// authentication.
func (w *Writer) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	h, err := w.client.Health(ctx)
	if err != nil {
		return fmt.Errorf("influx health at %s: %w", w.url, err)
	}
	if h.Status != domain.HealthCheckStatusPass {
		msg := ""
		if h.Message != nil {
			msg = *h.Message
		}
		return fmt.Errorf("influx health at %s: status %q: %s", w.url, h.Status, msg)
	}
	return nil
}

// Close releases the client's idle connections.
func (w *Writer) Close() {
	w.client.Close()
}

// encode turns rs into line protocol, one line per reading, and returns it
// with the number of lines. It writes the lines itself rather than through
// write.Point: the batch is built once, straight into one buffer, with no
// per-point maps, tag or field objects or interface boxing (see
// BenchmarkEncode for the difference).
func encode(rs []*hub.Reading) (string, int) {
	var b strings.Builder
	b.Grow(len(rs) * 160)
	var keys []string
	var num [32]byte
	n := 0
	for _, r := range rs {
		if r == nil || r.TS.IsZero() {
			continue
		}
		keys = keys[:0]
		for k, v := range r.Fields {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				keys = append(keys, k)
			}
		}
		fault := faultText(r)
		if len(keys) == 0 && fault == "" {
			continue
		}
		slices.Sort(keys)

		b.WriteString(Measurement)
		// Tags in key order, which is the order InfluxDB keeps them in.
		tag(&b, "device", r.Device)
		tag(&b, "edge", r.Edge)
		tag(&b, "room", r.Room)
		tag(&b, "site", r.Site)
		sep := byte(' ')
		for _, k := range keys {
			b.WriteByte(sep)
			sep = ','
			escape(&b, k)
			b.WriteByte('=')
			b.Write(strconv.AppendFloat(num[:0], r.Fields[k], 'f', -1, 64))
		}
		if fault != "" {
			b.WriteByte(sep)
			b.WriteString(FaultField + `="`)
			stringValue(&b, fault)
			b.WriteByte('"')
		}
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], r.TS.UnixMilli(), 10))
		b.WriteByte('\n')
		n++
	}
	return b.String(), n
}

// faultText joins r's faults, and its values that are not finite numbers,
// as "field: text; ..." sorted by field.
func faultText(r *hub.Reading) string {
	var parts []string
	for k, why := range r.Faults {
		parts = append(parts, k+": "+why)
	}
	for k, v := range r.Fields {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			parts = append(parts, k+": value "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// tag writes ",key=value" unless value is empty, which line protocol cannot
// carry.
func tag(b *strings.Builder, key, value string) {
	if value == "" {
		return
	}
	b.WriteByte(',')
	b.WriteString(key)
	b.WriteByte('=')
	escape(b, value)
}

// escape writes a tag value or field key, escaping what line protocol
// requires there. Line breaks cannot be escaped there and become spaces.
// (Hub identities and field names are plain ids, so this is a safeguard.)
func escape(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, " ,=\n\r\t") {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', ',', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n', '\r', '\t':
			b.WriteString(`\ `)
		default:
			b.WriteByte(c)
		}
	}
}

// stringValue writes the inside of a quoted string field value.
func stringValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
}
