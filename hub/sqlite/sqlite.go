package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/timeline"
)

// busyTimeout is how long a connection waits for another's lock, which
// only another process (a backup, the sqlite3 shell) or a WAL checkpoint
// holds: the hub's own writes queue for the one write connection instead.
const busyTimeout = 10 * time.Second

// readConns is the size of the read pool: the dashboard's queries run side
// by side with each other and with the ingest's writes.
const readConns = 4

// migrations are the schema's steps; the file's PRAGMA user_version says
// how many it has seen. Append new steps; never edit one that has shipped.
var migrations = []string{
	// 1: readings and faults as time series, latest readings, edges.
	`CREATE TABLE readings (
		site   TEXT NOT NULL,
		edge   TEXT NOT NULL,
		device TEXT NOT NULL,
		room   TEXT NOT NULL,
		field  TEXT NOT NULL,
		ts_ms  INTEGER NOT NULL, -- reading time, Unix milliseconds
		value  REAL NOT NULL,
		PRIMARY KEY (site, device, field, ts_ms)
	) WITHOUT ROWID, STRICT;
	CREATE TABLE faults (
		site   TEXT NOT NULL,
		edge   TEXT NOT NULL,
		device TEXT NOT NULL,
		room   TEXT NOT NULL,
		field  TEXT NOT NULL,
		ts_ms  INTEGER NOT NULL,
		text   TEXT NOT NULL, -- why the field has no value
		PRIMARY KEY (site, device, field, ts_ms)
	) WITHOUT ROWID, STRICT;
	CREATE TABLE latest (
		site   TEXT NOT NULL,
		device TEXT NOT NULL,
		edge   TEXT NOT NULL,
		room   TEXT NOT NULL,
		ts_ms  INTEGER NOT NULL,
		id     TEXT NOT NULL, -- the producer's message id
		fields TEXT NOT NULL, -- JSON object of field to value
		faults TEXT NOT NULL, -- JSON object of field to text
		PRIMARY KEY (site, device)
	) WITHOUT ROWID, STRICT;
	CREATE TABLE edges (
		site         TEXT NOT NULL,
		edge         TEXT NOT NULL,
		online       INTEGER NOT NULL,
		last_seen_ms INTEGER, -- NULL when never seen
		agent        TEXT NOT NULL,
		backlog      INTEGER NOT NULL,
		PRIMARY KEY (site, edge)
	) WITHOUT ROWID, STRICT;`,
	// 2: message ids already stored, so de-duplication survives a restart.
	`CREATE TABLE seen (
		id    TEXT NOT NULL PRIMARY KEY, -- the producer's message id
		at_ms INTEGER NOT NULL           -- when the hub stored it
	) WITHOUT ROWID, STRICT;
	CREATE INDEX seen_at ON seen (at_ms);`,
	// 3: parcel events from the scanner stations. The producer's message id
	// is the key, so a re-sent event is stored once (INSERT OR IGNORE).
	`CREATE TABLE parcel_events (
		id           TEXT NOT NULL PRIMARY KEY, -- the producer's message id
		site         TEXT NOT NULL,
		edge         TEXT NOT NULL,
		station      TEXT NOT NULL,
		kind         TEXT NOT NULL, -- sorted, confirmed
		waybill      TEXT NOT NULL,
		carrier      TEXT NOT NULL,
		route        TEXT NOT NULL, -- empty for the exception bin
		bin          TEXT NOT NULL,
		rule         TEXT NOT NULL,
		exception    TEXT NOT NULL, -- empty unless sent to the exception bin
		plan_version TEXT NOT NULL,
		weight_kg    REAL,          -- NULL when the station had no stable weight
		weigh_error  TEXT NOT NULL,
		ts_ms        INTEGER NOT NULL, -- event time (skew-corrected), Unix milliseconds
		recv_ms      INTEGER NOT NULL, -- when the hub received it
		clock_fault  TEXT NOT NULL     -- why ts_ms is the receive time; empty normally
	) STRICT;
	CREATE INDEX parcel_events_site_ts ON parcel_events (site, ts_ms);
	CREATE INDEX parcel_events_ts ON parcel_events (ts_ms);
	CREATE INDEX parcel_events_waybill ON parcel_events (waybill);`,
	// 4: cold-chain alarms: the current record of each alarm, every
	// transition it went through (the audit trail), and the alarm engine's
	// state (pending delays), so a restart resets no timer.
	`CREATE TABLE alarms (
		id         TEXT NOT NULL PRIMARY KEY,
		site       TEXT NOT NULL,
		room       TEXT NOT NULL,
		edge       TEXT NOT NULL,
		source     TEXT NOT NULL,
		kind       TEXT NOT NULL,
		severity   TEXT NOT NULL,
		state      TEXT NOT NULL, -- active, acknowledged, cleared
		record     TEXT NOT NULL, -- the alarm as JSON
		raised_ms  INTEGER NOT NULL,
		updated_ms INTEGER NOT NULL
	) STRICT;
	CREATE INDEX alarms_state ON alarms (state, raised_ms);
	CREATE INDEX alarms_site ON alarms (site, raised_ms);
	CREATE TABLE alarm_history (
		seq      INTEGER PRIMARY KEY AUTOINCREMENT,
		alarm_id TEXT NOT NULL,
		site     TEXT NOT NULL,
		at_ms    INTEGER NOT NULL,
		event    TEXT NOT NULL, -- raised, updated, realarm, acknowledged, cleared, ...
		by       TEXT NOT NULL, -- who acknowledged; empty for the engine
		record   TEXT NOT NULL  -- the alarm as JSON after the event
	) STRICT;
	CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, seq);
	CREATE INDEX alarm_history_site ON alarm_history (site, at_ms);
	CREATE TABLE kv (
		name       TEXT NOT NULL PRIMARY KEY,
		value      BLOB NOT NULL,
		updated_ms INTEGER NOT NULL
	) STRICT;`,
	// 5: parcels announced by courier manifests, and the manifests
	// imported. A batch's id is the hash of its normalised content, so a
	// manifest imported twice is stored once. rev orders the changes to
	// announced parcels for the edges that follow them.
	`CREATE TABLE manifest_parcels (
		waybill      TEXT NOT NULL PRIMARY KEY,
		site         TEXT NOT NULL,
		carrier      TEXT NOT NULL,
		village      TEXT NOT NULL,
		address      TEXT NOT NULL,
		sort_code    TEXT NOT NULL,
		weight_kg    REAL,             -- NULL when not announced
		source       TEXT NOT NULL,    -- file name, or "api"
		batch_id     TEXT NOT NULL,    -- the batch that last changed it
		announced_ms INTEGER NOT NULL, -- first announced
		updated_ms   INTEGER NOT NULL, -- last changed
		rev          INTEGER NOT NULL  -- increases with every change, over all parcels
	) STRICT;
	CREATE INDEX manifest_parcels_site_rev ON manifest_parcels (site, rev);
	CREATE TABLE manifest_batches (
		id          TEXT NOT NULL PRIMARY KEY, -- SHA-256 of the normalised content
		site        TEXT NOT NULL,             -- empty for a batch of several sites
		source      TEXT NOT NULL,
		rows        INTEGER NOT NULL,
		accepted    INTEGER NOT NULL,
		rejected    INTEGER NOT NULL,
		inserted    INTEGER NOT NULL,
		updated     INTEGER NOT NULL,
		unchanged   INTEGER NOT NULL,
		report      TEXT NOT NULL,             -- manifest.Report as JSON
		imported_ms INTEGER NOT NULL
	) STRICT;
	CREATE INDEX manifest_batches_site ON manifest_batches (site, imported_ms);
	CREATE INDEX manifest_batches_imported ON manifest_batches (imported_ms);`,
	// 6: the whole parcel timeline (run, who, notes, farm product lots in
	// the same events), the items derived from the events, dispatch runs,
	// the audit log and the sites edited through the API.
	`ALTER TABLE parcel_events ADD COLUMN run TEXT NOT NULL DEFAULT '';
	ALTER TABLE parcel_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
	ALTER TABLE parcel_events ADD COLUMN note TEXT NOT NULL DEFAULT '';
	ALTER TABLE parcel_events ADD COLUMN producer TEXT NOT NULL DEFAULT '';
	ALTER TABLE parcel_events ADD COLUMN product TEXT NOT NULL DEFAULT '';
	ALTER TABLE parcel_events ADD COLUMN grade TEXT NOT NULL DEFAULT '';
	CREATE INDEX parcel_events_kind_ts ON parcel_events (kind, ts_ms);
	CREATE TABLE items (
		id            TEXT NOT NULL PRIMARY KEY, -- waybill or lot label
		lot           INTEGER NOT NULL,
		township      TEXT NOT NULL,
		site          TEXT NOT NULL,    -- where last scanned
		village       TEXT NOT NULL,    -- destination (parcel) or origin (lot)
		carrier       TEXT NOT NULL,
		route         TEXT NOT NULL,
		bin           TEXT NOT NULL,
		run           TEXT NOT NULL,
		state         TEXT NOT NULL,
		flags         TEXT NOT NULL,    -- comma-separated
		weight_kg     REAL,
		producer      TEXT NOT NULL,
		product       TEXT NOT NULL,
		grade         TEXT NOT NULL,
		arrived_ms    INTEGER NOT NULL, -- 0 when not yet
		dispatched_ms INTEGER NOT NULL,
		delivered_ms  INTEGER NOT NULL,
		last_ms       INTEGER NOT NULL,
		events        INTEGER NOT NULL
	) STRICT;
	CREATE INDEX items_board ON items (township, state, route);
	CREATE INDEX items_run ON items (run);
	CREATE INDEX items_last ON items (township, last_ms);
	CREATE INDEX items_arrived ON items (arrived_ms) WHERE arrived_ms > 0;
	CREATE INDEX items_dispatched ON items (dispatched_ms) WHERE dispatched_ms > 0;
	CREATE TABLE runs (
		id               TEXT NOT NULL PRIMARY KEY,
		site             TEXT NOT NULL,
		route            TEXT NOT NULL,
		vehicle          TEXT NOT NULL,
		driver           TEXT NOT NULL,
		capacity_kg      REAL NOT NULL,
		capacity_parcels INTEGER NOT NULL,
		state            TEXT NOT NULL, -- open, departed, closed
		opened_ms        INTEGER NOT NULL,
		departed_ms      INTEGER NOT NULL,
		closed_ms        INTEGER NOT NULL,
		actor            TEXT NOT NULL
	) STRICT;
	CREATE INDEX runs_site ON runs (site, opened_ms);
	CREATE INDEX runs_state ON runs (state, opened_ms);
	CREATE TABLE audit (
		seq    INTEGER PRIMARY KEY AUTOINCREMENT,
		at_ms  INTEGER NOT NULL,
		actor  TEXT NOT NULL,
		action TEXT NOT NULL,
		site   TEXT NOT NULL,
		target TEXT NOT NULL,
		detail TEXT NOT NULL
	) STRICT;
	CREATE INDEX audit_site ON audit (site, seq);
	CREATE TABLE sites (
		id         TEXT NOT NULL PRIMARY KEY,
		record     TEXT NOT NULL, -- hub.Site as JSON, without rooms
		updated_ms INTEGER NOT NULL
	) STRICT;`,
	// 7: people's accounts, their browser sessions and the API and kiosk
	// tokens. Sessions and tokens are kept by the SHA-256 of their
	// secret, never the secret; passwords as argon2id PHC strings.
	`CREATE TABLE users (
		name            TEXT NOT NULL PRIMARY KEY,
		display_name    TEXT NOT NULL,
		role            TEXT NOT NULL,
		township        TEXT NOT NULL, -- empty for the county
		password_hash   TEXT NOT NULL,
		disabled        INTEGER NOT NULL,
		created_ms      INTEGER NOT NULL,
		updated_ms      INTEGER NOT NULL,
		created_by      TEXT NOT NULL,
		password_set_ms INTEGER NOT NULL,
		last_login_ms   INTEGER NOT NULL -- 0 when never
	) STRICT;
	CREATE TABLE sessions (
		id_hash      TEXT NOT NULL PRIMARY KEY, -- hex SHA-256 of the cookie's id
		username     TEXT NOT NULL,             -- empty for a kiosk session
		token        TEXT NOT NULL,             -- the kiosk token's id, or empty
		created_ms   INTEGER NOT NULL,
		last_seen_ms INTEGER NOT NULL,
		expires_ms   INTEGER NOT NULL
	) STRICT;
	CREATE INDEX sessions_user ON sessions (username);
	CREATE INDEX sessions_token ON sessions (token);
	CREATE INDEX sessions_expires ON sessions (expires_ms);
	CREATE TABLE tokens (
		id           TEXT NOT NULL PRIMARY KEY,
		kind         TEXT NOT NULL, -- api, kiosk
		name         TEXT NOT NULL,
		role         TEXT NOT NULL,
		township     TEXT NOT NULL,
		hash         TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret
		created_ms   INTEGER NOT NULL,
		created_by   TEXT NOT NULL,
		expires_ms   INTEGER NOT NULL, -- 0: until revoked
		revoked_ms   INTEGER NOT NULL, -- 0: not revoked
		last_used_ms INTEGER NOT NULL
	) STRICT;`,
}

// DB is the hub's SQLite store. It is safe for concurrent use.
type DB struct {
	path  string
	write *sql.DB // one connection: SQLite has one writer at a time
	read  *sql.DB // query_only connections, which WAL lets read during a write

	places atomic.Pointer[placesBox] // for deriving items; see SetPlaces
	opt    timeline.Options
}

var (
	_ hub.SeriesWriter   = (*DB)(nil)
	_ hub.StateStore     = (*DB)(nil)
	_ hub.SeenStore      = (*DB)(nil)
	_ hub.EventStore     = (*DB)(nil)
	_ hub.LogisticsStore = (*DB)(nil)
	_ hub.AlarmStore     = (*DB)(nil)
	_ hub.KV             = (*DB)(nil)
	_ hub.SiteStore      = (*DB)(nil)
)

// Sample is one stored value of a field.
type Sample struct {
	TS    time.Time
	Value float64
}

// Open opens the store in the file at path, creating it if needed, and
// brings its schema up to date.
func Open(path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite %q: must be a plain file path", path)
	}
	busy := "_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")"
	// BEGIN IMMEDIATE takes the write lock at the start of a transaction,
	// so one that reads before it writes cannot fail halfway with
	// SQLITE_BUSY.
	write, err := sql.Open("sqlite", path+"?_txlock=immediate&"+busy+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	db := &DB{path: path, write: write}
	if err := db.migrate(context.Background()); err != nil {
		write.Close()
		return nil, err
	}
	// Opened after migrate, so the file exists and is in WAL mode.
	db.read, err = sql.Open("sqlite", path+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	db.read.SetMaxOpenConns(readConns)
	db.read.SetMaxIdleConns(readConns)
	return db, nil
}

// migrate applies the steps of migrations the file has not seen yet.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite %s: schema version: %w", db.path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlite %s: schema version %d is newer than this hub's %d", db.path, version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("sqlite %s: schema step %d: %w", db.path, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(migrations))); err != nil {
		return fmt.Errorf("sqlite %s: schema version: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite %s: schema: %w", db.path, err)
	}
	return nil
}

// Close closes the store.
func (db *DB) Close() error {
	// Refresh the query planner's statistics, as SQLite advises on closing.
	db.write.Exec("PRAGMA optimize")
	return errors.Join(db.read.Close(), db.write.Close())
}

// WriteReadings stores rs in one transaction: each value in readings, each
// fault in faults, replacing what is stored for the same site, device,
// field and millisecond. Readings without a time are skipped.
func (db *DB) WriteReadings(ctx context.Context, rs []*hub.Reading) error {
	if err := db.writeReadings(ctx, rs); err != nil {
		return fmt.Errorf("sqlite write of %d readings: %w", len(rs), err)
	}
	return nil
}

func (db *DB) writeReadings(ctx context.Context, rs []*hub.Reading) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	values, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO readings
		(site, edge, device, room, field, ts_ms, value) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer values.Close()
	faults, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO faults
		(site, edge, device, room, field, ts_ms, text) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer faults.Close()
	for _, r := range rs {
		if r == nil || r.TS.IsZero() {
			continue
		}
		ms := r.TS.UnixMilli()
		for k, v := range r.Fields {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				// SQLite would store NaN as NULL; keep why it is missing.
				_, err = faults.ExecContext(ctx, r.Site, r.Edge, r.Device, r.Room, k, ms, "value "+strconv.FormatFloat(v, 'g', -1, 64))
			} else {
				_, err = values.ExecContext(ctx, r.Site, r.Edge, r.Device, r.Room, k, ms, v)
			}
			if err != nil {
				return err
			}
		}
		for k, why := range r.Faults {
			if _, err := faults.ExecContext(ctx, r.Site, r.Edge, r.Device, r.Room, k, ms, why); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// Query returns the values of one field of one device from from to to, both
// included, in time order. A zero from or to leaves that end open.
func (db *DB) Query(ctx context.Context, site, device, field string, from, to time.Time) ([]Sample, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = from.UnixMilli()
	}
	if !to.IsZero() {
		hi = to.UnixMilli()
	}
	rows, err := db.read.QueryContext(ctx, `SELECT ts_ms, value FROM readings
		WHERE site = ? AND device = ? AND field = ? AND ts_ms BETWEEN ? AND ?
		ORDER BY ts_ms`, site, device, field, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("sqlite query %s/%s %s: %w", site, device, field, err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var ms int64
		var s Sample
		if err := rows.Scan(&ms, &s.Value); err != nil {
			return nil, fmt.Errorf("sqlite query %s/%s %s: %w", site, device, field, err)
		}
		s.TS = time.UnixMilli(ms).UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite query %s/%s %s: %w", site, device, field, err)
	}
	return out, nil
}

// SaveLatest keeps each of rs as its device's latest reading unless the
// stored one is newer.
func (db *DB) SaveLatest(ctx context.Context, rs []*hub.Reading) error {
	if err := db.saveLatest(ctx, rs); err != nil {
		return fmt.Errorf("sqlite save of %d latest readings: %w", len(rs), err)
	}
	return nil
}

func (db *DB) saveLatest(ctx context.Context, rs []*hub.Reading) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	save, err := tx.PrepareContext(ctx, `INSERT INTO latest
		(site, device, edge, room, ts_ms, id, fields, faults) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (site, device) DO UPDATE SET
			edge = excluded.edge, room = excluded.room, ts_ms = excluded.ts_ms,
			id = excluded.id, fields = excluded.fields, faults = excluded.faults
		WHERE excluded.ts_ms >= latest.ts_ms`)
	if err != nil {
		return err
	}
	defer save.Close()
	for _, r := range rs {
		if r == nil {
			continue
		}
		fields, err := json.Marshal(finite(r.Fields))
		if err != nil {
			return fmt.Errorf("%s/%s fields: %w", r.Site, r.Device, err)
		}
		faults, err := json.Marshal(r.Faults)
		if err != nil {
			return fmt.Errorf("%s/%s faults: %w", r.Site, r.Device, err)
		}
		if _, err := save.ExecContext(ctx, r.Site, r.Device, r.Edge, r.Room, r.TS.UnixMilli(), r.ID, string(fields), string(faults)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// finite returns fields without the values JSON cannot hold.
func finite(fields map[string]float64) map[string]float64 {
	for _, v := range fields {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out := make(map[string]float64, len(fields))
			for k, v := range fields {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					out[k] = v
				}
			}
			return out
		}
	}
	return fields
}

// Latest returns the latest reading of every device, by site and device.
func (db *DB) Latest(ctx context.Context) ([]*hub.Reading, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT site, device, edge, room, ts_ms, id, fields, faults
		FROM latest ORDER BY site, device`)
	if err != nil {
		return nil, fmt.Errorf("sqlite latest readings: %w", err)
	}
	defer rows.Close()
	var out []*hub.Reading
	for rows.Next() {
		r := new(hub.Reading)
		var ms int64
		var fields, faults []byte
		if err := rows.Scan(&r.Site, &r.Device, &r.Edge, &r.Room, &ms, &r.ID, &fields, &faults); err != nil {
			return nil, fmt.Errorf("sqlite latest readings: %w", err)
		}
		r.TS = time.UnixMilli(ms).UTC()
		if err := json.Unmarshal(fields, &r.Fields); err != nil {
			return nil, fmt.Errorf("sqlite latest reading of %s/%s: fields: %w", r.Site, r.Device, err)
		}
		if err := json.Unmarshal(faults, &r.Faults); err != nil {
			return nil, fmt.Errorf("sqlite latest reading of %s/%s: faults: %w", r.Site, r.Device, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite latest readings: %w", err)
	}
	return out, nil
}

// SaveEdge stores e as its edge's state unless the stored state was seen
// later (never seen counts as earliest), as in the PostgreSQL store
// several hubs share: one hub's state of an edge never goes back in time.
func (db *DB) SaveEdge(ctx context.Context, e hub.EdgeState) error {
	return db.SaveEdges(ctx, []hub.EdgeState{e})
}

// SaveEdges saves the states of several edges in one transaction.
func (db *DB) SaveEdges(ctx context.Context, es []hub.EdgeState) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, e := range es {
			if err := saveEdge(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite save of %d edge states: %w", len(es), err)
	}
	return nil
}

func saveEdge(ctx context.Context, tx *sql.Tx, e hub.EdgeState) error {
	var seen sql.NullInt64
	if !e.LastSeen.IsZero() {
		seen = sql.NullInt64{Int64: e.LastSeen.UnixMilli(), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO edges (site, edge, online, last_seen_ms, agent, backlog)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (site, edge) DO UPDATE SET
			online = excluded.online, last_seen_ms = excluded.last_seen_ms,
			agent = excluded.agent, backlog = excluded.backlog
		WHERE edges.last_seen_ms IS NULL OR excluded.last_seen_ms >= edges.last_seen_ms`,
		e.Site, e.Edge, e.Online, seen, e.Agent, e.Backlog)
	if err != nil {
		return fmt.Errorf("sqlite save edge %s/%s: %w", e.Site, e.Edge, err)
	}
	return nil
}

// Edges returns the state of every edge, by site and edge.
func (db *DB) Edges(ctx context.Context) ([]hub.EdgeState, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT site, edge, online, last_seen_ms, agent, backlog
		FROM edges ORDER BY site, edge`)
	if err != nil {
		return nil, fmt.Errorf("sqlite edges: %w", err)
	}
	defer rows.Close()
	var out []hub.EdgeState
	for rows.Next() {
		var e hub.EdgeState
		var seen sql.NullInt64
		if err := rows.Scan(&e.Site, &e.Edge, &e.Online, &seen, &e.Agent, &e.Backlog); err != nil {
			return nil, fmt.Errorf("sqlite edges: %w", err)
		}
		if seen.Valid {
			e.LastSeen = time.UnixMilli(seen.Int64).UTC()
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite edges: %w", err)
	}
	return out, nil
}

// SaveSeen records message ids as stored at time at.
func (db *DB) SaveSeen(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite save seen: %w", err)
	}
	defer tx.Rollback()
	// Many rows a statement, in key order: the ingest saves a batch's ids
	// (thousands, from many edges) after each write, and a statement per
	// id in arrival order was a third of the hub's own work per reading
	// (BenchmarkSaveSeen; BenchmarkHubIngestVsBare profiled).
	ms := at.UnixMilli()
	ids = slices.Sorted(slices.Values(ids))
	args := make([]any, 0, 2*seenPerInsert)
	stmts := map[int]*sql.Stmt{} // by rows: full chunks, and the last
	for rest := ids; len(rest) > 0; {
		chunk := rest[:min(len(rest), seenPerInsert)]
		rest = rest[len(chunk):]
		st := stmts[len(chunk)]
		if st == nil {
			q := `INSERT OR REPLACE INTO seen (id, at_ms) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, len(chunk)-1)
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite save seen: %w", err)
			}
			defer st.Close()
			stmts[len(chunk)] = st
		}
		args = args[:0]
		for _, id := range chunk {
			args = append(args, id, ms)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite save seen: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite save seen: %w", err)
	}
	return nil
}

// seenPerInsert is the rows SaveSeen writes a statement.
const seenPerInsert = 250

// RecentSeen returns up to limit ids stored since since, newest first.
func (db *DB) RecentSeen(ctx context.Context, since time.Time, limit int) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM seen WHERE at_ms >= ? ORDER BY at_ms DESC LIMIT ?`, since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite recent seen: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite recent seen: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// PruneSeen forgets ids stored before before.
func (db *DB) PruneSeen(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM seen WHERE at_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("sqlite prune seen: %w", err)
	}
	return res.RowsAffected()
}

// MaxEvents is the most events one Events call returns.
const MaxEvents = 500

// SaveEvents stores evs in one transaction and returns those it had not
// stored before: an id stored already is left as it is.
func (db *DB) SaveEvents(ctx context.Context, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	stored, err := db.saveEvents(ctx, evs)
	if err != nil {
		return nil, fmt.Errorf("sqlite save of %d parcel events: %w", len(evs), err)
	}
	return stored, nil
}

func (db *DB) saveEvents(ctx context.Context, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	stored, err := storeEvents(ctx, tx, evs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(stored))
	for _, e := range stored {
		ids = append(ids, e.Waybill)
	}
	if err := db.derive(ctx, tx, ids); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return stored, nil
}

// storeEvents inserts evs in tx and returns those it had not stored before.
func storeEvents(ctx context.Context, tx *sql.Tx, evs []*hub.ParcelEvent) ([]*hub.ParcelEvent, error) {
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO parcel_events
		(id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
		 weight_kg, weigh_error, ts_ms, recv_ms, clock_fault, run, actor, note, producer, product, grade)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	stored := make([]*hub.ParcelEvent, 0, len(evs))
	for _, e := range evs {
		if e == nil {
			continue
		}
		res, err := ins.ExecContext(ctx, e.ID, e.Site, e.Edge, e.Station, e.Kind, e.Waybill, e.Carrier, e.Route, e.Bin,
			e.Rule, e.Exception, e.PlanVersion, nullWeight(e.WeightKg), e.WeighError, e.TS.UnixMilli(), e.Recv.UnixMilli(), e.ClockFault,
			e.Run, e.By, e.Note, e.Producer, e.Product, e.Grade)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			stored = append(stored, e)
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
	var args []any
	if q.Site != "" {
		where, args = append(where, "site = ?"), append(args, q.Site)
	}
	if q.Waybill != "" {
		where, args = append(where, "waybill = ?"), append(args, q.Waybill)
	}
	if !q.Before.IsZero() {
		where, args = append(where, "ts_ms < ?"), append(args, q.Before.UnixMilli())
	}
	query := `SELECT ` + eventColumns + ` FROM parcel_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY ts_ms DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite parcel events: %w", err)
	}
	defer rows.Close()
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite parcel events: %w", err)
	}
	return out, nil
}

const eventColumns = `id, site, edge, station, kind, waybill, carrier, route, bin, rule, exception, plan_version,
	weight_kg, weigh_error, ts_ms, recv_ms, clock_fault, run, actor, note, producer, product, grade`

// scanEvents reads rows of eventColumns and closes them.
func scanEvents(rows *sql.Rows) ([]*hub.ParcelEvent, error) {
	defer rows.Close()
	out := []*hub.ParcelEvent{}
	for rows.Next() {
		e := new(hub.ParcelEvent)
		var w sql.NullFloat64
		var ts, recv int64
		if err := rows.Scan(&e.ID, &e.Site, &e.Edge, &e.Station, &e.Kind, &e.Waybill, &e.Carrier, &e.Route, &e.Bin,
			&e.Rule, &e.Exception, &e.PlanVersion, &w, &e.WeighError, &ts, &recv, &e.ClockFault,
			&e.Run, &e.By, &e.Note, &e.Producer, &e.Product, &e.Grade); err != nil {
			return nil, err
		}
		if w.Valid {
			e.WeightKg = &w.Float64
		}
		e.TS, e.Recv = time.UnixMilli(ts).UTC(), time.UnixMilli(recv).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ParcelTotals counts the events of each site with from <= ts < to, as
// hub.ParcelTotals.Add does one by one.
func (db *DB) ParcelTotals(ctx context.Context, from, to time.Time) (map[string]hub.ParcelTotals, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT site,
			count(*) FILTER (WHERE kind = 'sorted'),
			count(*) FILTER (WHERE kind = 'confirmed'),
			count(*) FILTER (WHERE kind = 'sorted' AND exception <> ''),
			total(weight_kg) FILTER (WHERE kind = 'sorted'),
			max(ts_ms)
		FROM parcel_events WHERE ts_ms >= ? AND ts_ms < ? GROUP BY site`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite parcel totals: %w", err)
	}
	defer rows.Close()
	out := map[string]hub.ParcelTotals{}
	for rows.Next() {
		var site string
		var t hub.ParcelTotals
		var last int64
		if err := rows.Scan(&site, &t.Sorted, &t.Confirmed, &t.Exceptions, &t.WeightKg, &last); err != nil {
			return nil, fmt.Errorf("sqlite parcel totals: %w", err)
		}
		t.Last = time.UnixMilli(last).UTC()
		out[site] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite parcel totals: %w", err)
	}
	return out, nil
}

// Temperatures returns the temperatures of a room from from to to, both
// included, in time order: those of device, or of every device of the
// room when device is empty.
func (db *DB) Temperatures(ctx context.Context, site, room, device string, from, to time.Time) ([]Sample, error) {
	q := `SELECT ts_ms, value FROM readings
		WHERE site = ? AND room = ? AND field = 'temperature' AND ts_ms BETWEEN ? AND ?`
	args := []any{site, room, from.UnixMilli(), to.UnixMilli()}
	if device != "" {
		q += " AND device = ?"
		args = append(args, device)
	}
	rows, err := db.read.QueryContext(ctx, q+" ORDER BY ts_ms", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var ms int64
		var v float64
		if err := rows.Scan(&ms, &v); err != nil {
			return nil, err
		}
		out = append(out, Sample{TS: time.UnixMilli(ms).UTC(), Value: v})
	}
	return out, rows.Err()
}

// SaveAlarmChanges records transitions: each alarm's current row is
// replaced and the transition appended to its history, in one
// transaction.
func (db *DB) SaveAlarmChanges(ctx context.Context, cs []hub.AlarmChange) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	up, err := tx.PrepareContext(ctx, `INSERT INTO alarms (id, site, room, edge, source, kind, severity, state, record, raised_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, state = excluded.state, record = excluded.record,
			updated_ms = excluded.updated_ms`)
	if err != nil {
		return err
	}
	defer up.Close()
	hist, err := tx.PrepareContext(ctx, `INSERT INTO alarm_history (alarm_id, site, at_ms, event, by, record) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer hist.Close()
	for _, c := range cs {
		a := c.Alarm
		if _, err := up.ExecContext(ctx, a.ID, a.Site, a.Room, a.Edge, a.Source, a.Kind, a.Severity, a.State, string(a.Record),
			a.Raised.UnixMilli(), a.Updated.UnixMilli()); err != nil {
			return err
		}
		if _, err := hist.ExecContext(ctx, a.ID, a.Site, c.At.UnixMilli(), c.Event, c.By, string(a.Record)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Alarms returns the alarms f selects, newest raised first.
func (db *DB) Alarms(ctx context.Context, f hub.AlarmFilter) ([]hub.AlarmRow, error) {
	q := `SELECT id, site, room, edge, source, kind, severity, state, record, raised_ms, updated_ms FROM alarms WHERE 1=1`
	var args []any
	if f.Site != "" {
		q += " AND site = ?"
		args = append(args, f.Site)
	}
	if len(f.States) > 0 {
		q += " AND state IN (?" + strings.Repeat(", ?", len(f.States)-1) + ")"
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if !f.Before.IsZero() {
		q += " AND raised_ms < ?"
		args = append(args, f.Before.UnixMilli())
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += " ORDER BY raised_ms DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.AlarmRow
	for rows.Next() {
		var a hub.AlarmRow
		var rec string
		var raised, updated int64
		if err := rows.Scan(&a.ID, &a.Site, &a.Room, &a.Edge, &a.Source, &a.Kind, &a.Severity, &a.State, &rec, &raised, &updated); err != nil {
			return nil, err
		}
		a.Record, a.Raised, a.Updated = []byte(rec), time.UnixMilli(raised).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// AlarmHistory returns the transitions of one alarm, oldest first.
func (db *DB) AlarmHistory(ctx context.Context, id string) ([]hub.AlarmChange, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT at_ms, event, by, record FROM alarm_history WHERE alarm_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.AlarmChange
	for rows.Next() {
		var c hub.AlarmChange
		var at int64
		var rec string
		if err := rows.Scan(&at, &c.Event, &c.By, &rec); err != nil {
			return nil, err
		}
		c.At, c.Alarm.ID, c.Alarm.Record = time.UnixMilli(at).UTC(), id, []byte(rec)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Put stores value under name, replacing what was there.
func (db *DB) Put(ctx context.Context, name string, value []byte) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO kv (name, value, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms`, name, value, time.Now().UnixMilli())
	return err
}

// Get returns the value stored under name, or nil if there is none.
func (db *DB) Get(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.read.QueryRowContext(ctx, `SELECT value FROM kv WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// RoomDevices returns the devices with a reading of field in room at site
// between from and to (both included), by device. It walks the devices of
// the site by the primary key rather than scanning the site's readings.
func (db *DB) RoomDevices(ctx context.Context, site, room, field string, from, to time.Time) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `WITH RECURSIVE dev(device) AS (
		SELECT (SELECT min(device) FROM readings WHERE site = ?1)
		UNION ALL
		SELECT (SELECT min(device) FROM readings WHERE site = ?1 AND device > dev.device)
		FROM dev WHERE dev.device IS NOT NULL)
	SELECT device FROM dev WHERE device IS NOT NULL AND EXISTS (
		SELECT 1 FROM readings r WHERE r.site = ?1 AND r.device = dev.device AND r.field = ?3
			AND r.ts_ms BETWEEN ?4 AND ?5 AND r.room = ?2)
	ORDER BY device`, site, room, field, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
