// Package postgres is the hub's store in PostgreSQL, for a county that runs
// several hubs: they share the parcel events, the items derived from them,
// the manifests, the dispatch runs, the audit log, the sites edited
// through the API, the cold-chain alarms and their transitions, the latest
// reading of each device, the edges' states, the seen message ids and the
// key-value entries (the alarm engine's state, sort plans, manifest
// cursors). It implements everything hub/server asks of its store, with
// the behaviour of hub/sqlite, the embedded store of a single hub; both
// pass the tests of hub/storetest. Time series are not kept here: a hub
// on PostgreSQL writes them to InfluxDB.
//
// The driver is pgx (github.com/jackc/pgx/v5) through its native API and
// pgxpool, not database/sql: no SQL is shared with the SQLite store, so
// database/sql would buy nothing, while the native API maps timestamptz,
// text[] and NULLs straight to Go values, sends a batch of events as
// arrays in one statement (unnest), and tells PostgreSQL's errors by code
// (a deadlock or a serialization failure is retried).
//
// # Several hubs
//
// Every transaction runs at READ COMMITTED and takes the locks it needs,
// always in the same order, so that what one hub does to a parcel or a run
// is never lost under another's:
//
//   - An item is derived (timeline.Derive) from all its events and its
//     announcement in the transaction that stores them, with the item's
//     row locked first (created empty if it is new, then SELECT ... FOR
//     UPDATE, by id): two hubs storing events of the same parcel derive it
//     one after the other, the second from both hubs' events.
//   - LoadRun, UnloadRun, DepartRun and CloseRun lock the run's row (FOR
//     UPDATE) and then the parcels' rows by id, and decide on the rows as
//     locked: a parcel raced for by two runs goes onto one, the other load
//     sees it loaded; a load racing a departure is either dispatched with
//     the run or refused because the run has left.
//   - OpenRun numbers a township's runs of a route in a day with a counter
//     row (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), which concurrent
//     opens increment one after the other.
//   - SaveManifest holds a transaction-level advisory lock: imports are
//     stored one at a time, so a batch imported by two hubs at once is
//     stored once, and the revs edges page by (ManifestForSite) are given
//     in commit order and never appear behind an edge's cursor.
//   - SaveLatest and SaveEdges are upserts that keep the newest reading
//     of a device and the latest-seen state of an edge (ON CONFLICT ... DO
//     UPDATE ... WHERE the stored one is not newer), whichever hub commits
//     last; rows go in key order, so two hubs saving overlapping sets lock
//     them in the same order.
//   - Leader elects, among the hubs, the one that stores the alarm
//     transitions and sends the notifications: the hub whose session holds
//     a session-level advisory lock on a connection of its own. Another
//     takes the lead within seconds of the leader's stopping or losing
//     its connection.
//
// A transaction that PostgreSQL aborts as a deadlock or a serialization
// failure is run again, a few times.
//
// # Times
//
// Times are timestamptz, truncated to the millisecond as in SQLite, and
// NULL where SQLite keeps 0 ("not yet"). Figures and Produce count days in
// SQL: with AT TIME ZONE and the zone's name when it is an IANA name
// PostgreSQL knows (Asia/Shanghai), else (time.Local, a fixed zone) with
// the zone's offset at the start of the period, as SQLite does.
//
// # Schema
//
// Open brings the schema up to date: the table schema_version lists the
// steps of migrations applied, which Open applies under an advisory lock,
// so hubs starting together migrate once. A change of schema is a new step
// appended there, never an edit of an old one; a database migrated by a
// newer hub is refused. Identifiers compare and sort by bytes (COLLATE
// "C"), as in SQLite.
package postgres
