// Package sqlite is the hub's embedded store, a single SQLite file (through
// the pure-Go modernc.org/sqlite driver, so the hub stays one static
// binary), and the default (store.driver sqlite) for a hub that runs
// alone; hub/postgres is the store several hubs share, and both pass the
// tests of hub/storetest. It keeps the hub's state, what must survive a
// restart: the latest reading of each device and the state of each edge
// (hub.StateStore), the scanner stations' parcel events (hub.EventStore),
// one row per event keyed by its message id, the items, runs, manifests,
// alarms (hub.AlarmStore) and named values (hub.KV). When no
// InfluxDB is configured it also keeps the time series (hub.SeriesWriter),
// one row per site, device, field and millisecond, and answers the range
// queries of the charts.
//
// The file runs in WAL mode with synchronous=NORMAL: a commit survives a
// crash of the hub, and at worst the last commits before a power cut are
// lost, never the file. Writes go through one connection, as SQLite allows
// one writer at a time; reads use a pool of their own and are not held up
// by a write in progress.
//
// The schema is versioned with PRAGMA user_version: Open applies the steps
// of migrations the file has not seen yet, in one transaction. A change of
// schema is a new step appended there, never an edit of an old one.
package sqlite
