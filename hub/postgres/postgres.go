package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/timeline"
)

// migrations are the schema's steps; the table schema_version lists those
// applied. Append new steps; never edit one that has shipped.
var migrations = []string{
	// 1: parcel events, the items derived from them, courier manifests,
	// dispatch runs, the audit log and the sites edited through the API.
	`CREATE TABLE parcel_events (
		id           text COLLATE "C" PRIMARY KEY, -- the producer's message id
		site         text COLLATE "C" NOT NULL,
		edge         text COLLATE "C" NOT NULL,
		station      text COLLATE "C" NOT NULL,
		kind         text COLLATE "C" NOT NULL,
		waybill      text COLLATE "C" NOT NULL, -- or a lot's label
		carrier      text NOT NULL,
		route        text COLLATE "C" NOT NULL, -- empty for the exception bin
		bin          text COLLATE "C" NOT NULL,
		rule         text NOT NULL,
		exception    text NOT NULL,             -- empty unless sent to the exception bin
		plan_version text NOT NULL,
		weight_kg    double precision,          -- NULL when the station had no stable weight
		weigh_error  text NOT NULL,
		ts           timestamptz NOT NULL,      -- event time (skew-corrected)
		recv         timestamptz NOT NULL,      -- when the hub received it
		clock_fault  text NOT NULL,             -- why ts is the receive time; empty normally
		run          text COLLATE "C" NOT NULL,
		actor        text NOT NULL,
		note         text NOT NULL,
		producer     text NOT NULL,
		product      text NOT NULL,
		grade        text NOT NULL
	);
	CREATE INDEX parcel_events_site_ts ON parcel_events (site, ts);
	CREATE INDEX parcel_events_ts ON parcel_events (ts);
	CREATE INDEX parcel_events_waybill ON parcel_events (waybill);
	CREATE INDEX parcel_events_kind_ts ON parcel_events (kind, ts);

	CREATE TABLE items (
		id            text COLLATE "C" PRIMARY KEY, -- waybill or lot label
		lot           boolean NOT NULL DEFAULT false,
		township      text COLLATE "C" NOT NULL DEFAULT '',
		site          text COLLATE "C" NOT NULL DEFAULT '', -- where last scanned
		village       text COLLATE "C" NOT NULL DEFAULT '', -- destination (parcel) or origin (lot)
		carrier       text NOT NULL DEFAULT '',
		route         text COLLATE "C" NOT NULL DEFAULT '',
		bin           text COLLATE "C" NOT NULL DEFAULT '',
		run           text COLLATE "C" NOT NULL DEFAULT '',
		state         text COLLATE "C" NOT NULL DEFAULT '',
		flags         text[] NOT NULL DEFAULT '{}',
		weight_kg     double precision,
		producer      text NOT NULL DEFAULT '',
		product       text NOT NULL DEFAULT '',
		grade         text NOT NULL DEFAULT '',
		arrived_at    timestamptz, -- NULL when not yet
		dispatched_at timestamptz,
		delivered_at  timestamptz,
		last_at       timestamptz,
		events        integer NOT NULL DEFAULT 0
	);
	CREATE INDEX items_board ON items (township, state, route);
	CREATE INDEX items_bin ON items (township, bin, state);
	CREATE INDEX items_run ON items (run);
	CREATE INDEX items_last ON items (township, last_at);
	CREATE INDEX items_arrived ON items (arrived_at) WHERE arrived_at IS NOT NULL;
	CREATE INDEX items_dispatched ON items (dispatched_at) WHERE dispatched_at IS NOT NULL;

	CREATE TABLE manifest_parcels (
		waybill      text COLLATE "C" PRIMARY KEY,
		site         text COLLATE "C" NOT NULL,
		carrier      text NOT NULL,
		village      text COLLATE "C" NOT NULL,
		address      text NOT NULL,
		sort_code    text NOT NULL,
		weight_kg    double precision,        -- NULL when not announced
		source       text NOT NULL,           -- file name, or "api"
		batch_id     text COLLATE "C" NOT NULL, -- the batch that last changed it
		announced_at timestamptz NOT NULL,    -- first announced
		updated_at   timestamptz NOT NULL,    -- last changed
		rev          bigint NOT NULL UNIQUE   -- increases with every change, over all parcels
	);
	CREATE INDEX manifest_parcels_site_rev ON manifest_parcels (site, rev);
	CREATE TABLE manifest_batches (
		id          text COLLATE "C" PRIMARY KEY, -- SHA-256 of the normalised content
		seq         bigint GENERATED ALWAYS AS IDENTITY,
		site        text COLLATE "C" NOT NULL,    -- empty for a batch of several sites
		source      text NOT NULL,
		rows_read   integer NOT NULL,
		accepted    integer NOT NULL,
		rejected    integer NOT NULL,
		inserted    integer NOT NULL,
		updated     integer NOT NULL,
		unchanged   integer NOT NULL,
		report      text NOT NULL,                -- manifest.Report as JSON
		imported_at timestamptz NOT NULL
	);
	CREATE INDEX manifest_batches_site ON manifest_batches (site, imported_at);
	CREATE INDEX manifest_batches_imported ON manifest_batches (imported_at);

	CREATE TABLE runs (
		id               text COLLATE "C" PRIMARY KEY,
		site             text COLLATE "C" NOT NULL,
		route            text COLLATE "C" NOT NULL,
		vehicle          text NOT NULL,
		driver           text NOT NULL,
		capacity_kg      double precision NOT NULL,
		capacity_parcels integer NOT NULL,
		state            text COLLATE "C" NOT NULL, -- open, departed, closed
		opened_at        timestamptz NOT NULL,
		departed_at      timestamptz,
		closed_at        timestamptz,
		actor            text NOT NULL
	);
	CREATE INDEX runs_site ON runs (site, opened_at);
	CREATE INDEX runs_state ON runs (state, opened_at);
	-- The last number given to a run of a township's route in a day (UTC).
	CREATE TABLE run_numbers (
		site  text COLLATE "C" NOT NULL,
		day   text COLLATE "C" NOT NULL, -- 20261129
		route text COLLATE "C" NOT NULL,
		n     integer NOT NULL,
		PRIMARY KEY (site, day, route)
	);

	CREATE TABLE audit (
		seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at     timestamptz NOT NULL,
		actor  text NOT NULL,
		action text COLLATE "C" NOT NULL,
		site   text COLLATE "C" NOT NULL,
		target text NOT NULL,
		detail text NOT NULL
	);
	CREATE INDEX audit_site ON audit (site, seq);
	CREATE INDEX audit_action ON audit (action, seq);
	CREATE TABLE sites (
		id         text COLLATE "C" PRIMARY KEY,
		seq        bigint GENERATED ALWAYS AS IDENTITY, -- first stored
		record     text NOT NULL,                       -- hub.Site as JSON, without rooms
		updated_at timestamptz NOT NULL
	);`,
	// 2: what else the hub keeps besides time series: the latest reading
	// of each device, the edges' states, the message ids stored, the
	// cold-chain alarms with every transition (the audit trail), and
	// named values (the alarm engine's state, sort plans, manifest
	// cursors).
	`CREATE TABLE latest (
		site   text COLLATE "C" NOT NULL,
		device text COLLATE "C" NOT NULL,
		edge   text COLLATE "C" NOT NULL,
		room   text COLLATE "C" NOT NULL,
		ts     timestamptz NOT NULL, -- reading time; the newest is kept
		id     text NOT NULL,        -- the producer's message id
		fields text NOT NULL,        -- JSON object of field to value
		faults text NOT NULL,        -- JSON object of field to text
		PRIMARY KEY (site, device)
	);
	CREATE TABLE edges (
		site      text COLLATE "C" NOT NULL,
		edge      text COLLATE "C" NOT NULL,
		online    boolean NOT NULL,
		last_seen timestamptz, -- NULL when never seen; the latest is kept
		agent     text NOT NULL,
		backlog   bigint NOT NULL,
		PRIMARY KEY (site, edge)
	);
	CREATE TABLE seen (
		id text COLLATE "C" PRIMARY KEY, -- the producer's message id
		at timestamptz NOT NULL          -- when a hub stored it
	);
	CREATE INDEX seen_at ON seen (at);
	CREATE TABLE alarms (
		id       text COLLATE "C" PRIMARY KEY,
		site     text COLLATE "C" NOT NULL,
		room     text COLLATE "C" NOT NULL,
		edge     text COLLATE "C" NOT NULL,
		source   text COLLATE "C" NOT NULL,
		kind     text COLLATE "C" NOT NULL,
		severity text COLLATE "C" NOT NULL,
		state    text COLLATE "C" NOT NULL, -- active, acknowledged, cleared
		record   text NOT NULL,             -- the alarm as JSON
		raised   timestamptz NOT NULL,
		updated  timestamptz NOT NULL
	);
	CREATE INDEX alarms_state ON alarms (state, raised);
	CREATE INDEX alarms_site ON alarms (site, raised);
	CREATE TABLE alarm_history (
		seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		alarm_id text COLLATE "C" NOT NULL,
		site     text COLLATE "C" NOT NULL,
		at       timestamptz NOT NULL,
		event    text COLLATE "C" NOT NULL, -- raised, updated, realarm, acknowledged, cleared, ...
		actor    text NOT NULL,             -- who acknowledged; empty for the engine
		record   text NOT NULL              -- the alarm as JSON after the event
	);
	CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, seq);
	CREATE INDEX alarm_history_site ON alarm_history (site, at);
	CREATE TABLE kv (
		name       text COLLATE "C" PRIMARY KEY,
		value      bytea NOT NULL,
		updated_at timestamptz NOT NULL
	);`,
	// 3: people's accounts, their browser sessions and the API and kiosk
	// tokens. Sessions and tokens are kept by the SHA-256 of their
	// secret, never the secret; passwords as argon2id PHC strings.
	`CREATE TABLE users (
		name          text PRIMARY KEY,
		display_name  text NOT NULL,
		role          text COLLATE "C" NOT NULL,
		township      text COLLATE "C" NOT NULL, -- empty for the county
		password_hash text NOT NULL,
		disabled      boolean NOT NULL,
		created_at    timestamptz NOT NULL,
		updated_at    timestamptz NOT NULL,
		created_by    text NOT NULL,
		password_set  timestamptz,
		last_login    timestamptz -- NULL when never
	);
	CREATE TABLE sessions (
		id_hash   text COLLATE "C" PRIMARY KEY, -- hex SHA-256 of the cookie's id
		username  text NOT NULL,                -- empty for a kiosk session
		token     text COLLATE "C" NOT NULL,    -- the kiosk token's id, or empty
		created   timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		expires   timestamptz NOT NULL
	);
	CREATE INDEX sessions_user ON sessions (username);
	CREATE INDEX sessions_token ON sessions (token);
	CREATE INDEX sessions_expires ON sessions (expires);
	CREATE TABLE tokens (
		id         text COLLATE "C" PRIMARY KEY,
		kind       text COLLATE "C" NOT NULL, -- api, kiosk
		name       text NOT NULL,
		role       text COLLATE "C" NOT NULL,
		township   text COLLATE "C" NOT NULL,
		hash       text COLLATE "C" NOT NULL UNIQUE, -- hex SHA-256 of the secret
		created    timestamptz NOT NULL,
		created_by text NOT NULL,
		expires    timestamptz, -- NULL: until revoked
		revoked    timestamptz, -- NULL: not revoked
		last_used  timestamptz
	);`,
}

// Advisory lock keys (pg_advisory_xact_lock) of the hubs' database.
const (
	lockMigrate  int64 = 0x636c_0001 // schema migrations
	lockManifest int64 = 0x636c_0002 // manifest imports, one at a time
)

// DB is the hub's PostgreSQL store. It is safe for concurrent use, by
// several hubs at once.
type DB struct {
	pool *pgxpool.Pool
	conn *pgx.ConnConfig // for the leaders' own connections
	name string          // host and database, for errors (no password)

	leadersMu sync.Mutex
	leaders   map[*Leader]bool // running; closed by Close

	places atomic.Pointer[placesBox] // for deriving items; see SetPlaces
	opt    timeline.Options
	zones  sync.Map // zone name → whether PostgreSQL knows it by that name
}

var (
	_ hub.EventStore     = (*DB)(nil)
	_ hub.LogisticsStore = (*DB)(nil)
	_ hub.StateStore     = (*DB)(nil)
	_ hub.SeenStore      = (*DB)(nil)
	_ hub.AlarmStore     = (*DB)(nil)
	_ hub.KV             = (*DB)(nil)
	_ hub.SiteStore      = (*DB)(nil)
)

// DefaultConnectTimeout bounds each connection to the database when the
// DSN sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Open connects to the PostgreSQL database dsn names (a URL or key=value
// string, as libpq takes) and brings its schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// A database that does not answer fails the connection rather than
	// holding a caller without a deadline (connect_timeout in the DSN
	// overrides).
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "countylink-hub"
	}
	db := &DB{name: cfg.ConnConfig.Host + ":" + strconv.Itoa(int(cfg.ConnConfig.Port)) + "/" + cfg.ConnConfig.Database,
		conn: cfg.ConnConfig.Copy(), leaders: map[*Leader]bool{}}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", db.name, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.pool.Close()
		return nil, err
	}
	return db, nil
}

// migrate applies the steps of migrations the database has not seen yet,
// in one transaction.
func (db *DB) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this hub's %d", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("schema step %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres %s: schema: %w", db.name, err)
	}
	return nil
}

// Close closes the connections, the leaders' (see Leader) too: this hub
// then leads no more.
func (db *DB) Close() error {
	db.leadersMu.Lock()
	leaders := make([]*Leader, 0, len(db.leaders))
	for l := range db.leaders {
		leaders = append(leaders, l)
	}
	db.leaders = nil // no more
	db.leadersMu.Unlock()
	for _, l := range leaders {
		l.Close()
	}
	db.pool.Close()
	return nil
}

// maxAttempts is how many times a transaction PostgreSQL aborted as a
// deadlock or a serialization failure is run.
const maxAttempts = 10

// inTx runs f in a transaction and commits it, running it again when
// PostgreSQL aborts it as a deadlock or a serialization failure; f must
// start afresh each time.
func (db *DB) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, f)
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		wait := time.Duration(attempt) * time.Duration(2+rand.IntN(8)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") // serialization_failure, deadlock_detected
}

// querier is a transaction or the pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// params collects the arguments of a query built piece by piece.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	switch s := v.(type) {
	case string:
		v = storable(s)
	case []string:
		v = storableAll(s)
	}
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// in returns the condition that column is one of vs.
func (p *params) in(column string, vs []string) string {
	return column + " = ANY(" + p.add(vs) + ")"
}

// storable is s as PostgreSQL can store it: NUL bytes, which its text
// cannot hold, and invalid UTF-8 are replaced by U+FFFD. (SQLite keeps
// them: the contract lets a NUL through in an event's note, for one.)
func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func storableAll(ss []string) []string {
	for i, s := range ss {
		if t := storable(s); t != s {
			out := slices.Clone(ss)
			for j := i; j < len(out); j++ {
				out[j] = storable(out[j])
			}
			return out
		}
	}
	return ss
}

// rejected marks PostgreSQL's errors about the data written (class 22, a
// data exception: a time out of its range, say) as hub.ErrRejected, which
// writing the same data again cannot mend: the ingest then isolates the
// event at fault rather than retrying its batch for ever.
func rejected(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		return fmt.Errorf("%w: %w", hub.ErrRejected, err)
	}
	return err
}

// ts is a time as stored: to the millisecond, as SQLite keeps it.
func ts(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

// nullTime is a time as stored, NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = ts(t).UTC()
	return &t
}

// timeOf is a stored time, zero for NULL.
func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullWeight(w *float64) *float64 {
	if w == nil || math.IsNaN(*w) || math.IsInf(*w, 0) {
		return nil
	}
	v := *w
	return &v
}

// MaxEvents is the most events one Events call returns.
const MaxEvents = 500

// SaveEvents stores evs in one transaction and returns those it had not
// stored before: an id stored already is left as it is. The items of the
// events are derived again in the same transaction.
func (db *DB) SaveEvents(ctx context.Context, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	var stored []*hub.ParcelEvent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if stored, err = storeEvents(ctx, tx, evs); err != nil {
			return err
		}
		ids := make([]string, 0, len(stored))
		for _, e := range stored {
			ids = append(ids, e.Waybill)
		}
		return db.derive(ctx, tx, ids)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres save of %d parcel events: %w", len(evs), rejected(err))
	}
	return stored, nil
}

const eventColumns = `id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
	weight_kg, weigh_error, ts, recv, clock_fault, run, actor, note, producer, product, grade`

// storeEvents inserts evs in tx, in one statement and in the order of
// their ids, and returns those it had not stored before, in their order.
func storeEvents(ctx context.Context, tx pgx.Tx, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	n := 0
	for _, e := range evs {
		if e != nil {
			n++
		}
	}
	if n == 0 {
		return []*hub.ParcelEvent{}, nil
	}
	text := make([][]string, 20) // the text columns, in the order of cols
	for i := range text {
		text[i] = make([]string, 0, n)
	}
	weights := make([]*float64, 0, n)
	tss, recvs := make([]time.Time, 0, n), make([]time.Time, 0, n)
	for _, e := range evs {
		if e == nil {
			continue
		}
		for i, v := range []string{e.ID, e.Site, e.Edge, e.Station, e.Kind, e.Waybill, e.Carrier, e.Route, e.Bin,
			e.Rule, e.Exception, e.PlanVersion, e.WeighError, e.ClockFault, e.Run, e.By, e.Note, e.Producer, e.Product, e.Grade} {
			text[i] = append(text[i], storable(v))
		}
		weights = append(weights, nullWeight(e.WeightKg))
		tss, recvs = append(tss, ts(e.TS)), append(recvs, ts(e.Recv))
	}
	args := make([]any, 0, 23)
	for _, col := range text {
		args = append(args, col)
	}
	args = append(args, weights, tss, recvs)
	rows, err := tx.Query(ctx, `INSERT INTO parcel_events
		(id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
		 weigh_error, clock_fault, run, actor, note, producer, product, grade, weight_kg, ts, recv)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
			$16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::float8[], $22::timestamptz[], $23::timestamptz[]) AS e(id)
		ORDER BY e.id COLLATE "C"
		ON CONFLICT (id) DO NOTHING
		RETURNING id`, args...)
	if err != nil {
		return nil, err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	fresh := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		fresh[id] = true
	}
	stored := make([]*hub.ParcelEvent, 0, len(inserted))
	for _, e := range evs {
		if e == nil {
			continue
		}
		if id := storable(e.ID); fresh[id] {
			stored = append(stored, e)
			delete(fresh, id) // an id twice in evs is stored once
		}
	}
	return stored, nil
}

// Events returns the events q selects, newest first (by event time, then
// id), at most MaxEvents.
func (db *DB) Events(ctx context.Context, q hub.EventQuery) ([]*hub.ParcelEvent, error) {
	limit := q.Limit
	if limit <= 0 || limit > MaxEvents {
		limit = MaxEvents
	}
	var where []string
	var p params
	if q.Site != "" {
		where = append(where, "site = "+p.add(q.Site))
	}
	if q.Waybill != "" {
		where = append(where, "waybill = "+p.add(q.Waybill))
	}
	if !q.Before.IsZero() {
		where = append(where, "ts < "+p.add(ts(q.Before)))
	}
	query := `SELECT ` + eventColumns + ` FROM parcel_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY ts DESC, id DESC LIMIT " + p.add(limit)
	rows, err := db.pool.Query(ctx, query, p...)
	if err != nil {
		return nil, fmt.Errorf("postgres parcel events: %w", err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres parcel events: %w", err)
	}
	return out, nil
}

// scanEvents reads rows of eventColumns and closes them.
func scanEvents(rows pgx.Rows) ([]*hub.ParcelEvent, error) {
	defer rows.Close()
	out := []*hub.ParcelEvent{}
	for rows.Next() {
		e := new(hub.ParcelEvent)
		if err := rows.Scan(&e.ID, &e.Site, &e.Edge, &e.Station, &e.Kind, &e.Waybill, &e.Carrier, &e.Route, &e.Bin,
			&e.Rule, &e.Exception, &e.PlanVersion, &e.WeightKg, &e.WeighError, &e.TS, &e.Recv, &e.ClockFault,
			&e.Run, &e.By, &e.Note, &e.Producer, &e.Product, &e.Grade); err != nil {
			return nil, err
		}
		e.TS, e.Recv = e.TS.UTC(), e.Recv.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ParcelTotals counts the events of each site with from <= ts < to, as
// hub.ParcelTotals.Add does one by one.
func (db *DB) ParcelTotals(ctx context.Context, from, to time.Time) (map[string]hub.ParcelTotals, error) {
	rows, err := db.pool.Query(ctx, `SELECT site,
			count(*) FILTER (WHERE kind = 'sorted'),
			count(*) FILTER (WHERE kind = 'confirmed'),
			count(*) FILTER (WHERE kind = 'sorted' AND exception <> ''),
			coalesce(sum(weight_kg::numeric) FILTER (WHERE kind = 'sorted'), 0)::float8,
			max(ts)
		FROM parcel_events WHERE ts >= $1 AND ts < $2 GROUP BY site`, ts(from), ts(to))
	if err != nil {
		return nil, fmt.Errorf("postgres parcel totals: %w", err)
	}
	defer rows.Close()
	out := map[string]hub.ParcelTotals{}
	for rows.Next() {
		var site string
		var t hub.ParcelTotals
		if err := rows.Scan(&site, &t.Sorted, &t.Confirmed, &t.Exceptions, &t.WeightKg, &t.Last); err != nil {
			return nil, fmt.Errorf("postgres parcel totals: %w", err)
		}
		t.Last = t.Last.UTC()
		out[site] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres parcel totals: %w", err)
	}
	return out, nil
}

// sortedUnique returns ids sorted, without repeats.
func sortedUnique(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}
