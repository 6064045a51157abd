package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/hub"
)

// SaveLatest keeps each of rs as its device's latest reading unless the
// stored one is newer: hubs saving the same device at once leave the
// newest reading, whichever commits last. Of several readings of one
// device in rs the newest counts (the later one of equal times).
func (db *DB) SaveLatest(ctx context.Context, rs []*hub.Reading) error {
	if err := db.saveLatest(ctx, rs); err != nil {
		return fmt.Errorf("postgres save of %d latest readings: %w", len(rs), rejected(err))
	}
	return nil
}

func (db *DB) saveLatest(ctx context.Context, rs []*hub.Reading) error {
	type key struct{ site, device string }
	newest := map[key]*hub.Reading{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		k := key{storable(r.Site), storable(r.Device)}
		if cur := newest[k]; cur == nil || !ts(r.TS).Before(ts(cur.TS)) {
			newest[k] = r
		}
	}
	if len(newest) == 0 {
		return nil
	}
	// In key order, so that two hubs saving overlapping sets lock the rows
	// in the same order rather than deadlock.
	keys := make([]key, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.device, b.device)) })
	n := len(keys)
	sites, devices, edges, rooms, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	fields, faults, tss := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, k := range keys {
		r := newest[k]
		f, err := json.Marshal(finite(r.Fields))
		if err != nil {
			return fmt.Errorf("%s/%s fields: %w", r.Site, r.Device, err)
		}
		fl, err := json.Marshal(r.Faults)
		if err != nil {
			return fmt.Errorf("%s/%s faults: %w", r.Site, r.Device, err)
		}
		sites[i], devices[i], edges[i], rooms[i], ids[i] = k.site, k.device, storable(r.Edge), storable(r.Room), storable(r.ID)
		fields[i], faults[i], tss[i] = string(f), string(fl), ts(r.TS)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO latest AS l (site, device, edge, room, ts, id, fields, faults)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[])
			ON CONFLICT (site, device) DO UPDATE SET
				edge = excluded.edge, room = excluded.room, ts = excluded.ts,
				id = excluded.id, fields = excluded.fields, faults = excluded.faults
			WHERE excluded.ts >= l.ts`,
			sites, devices, edges, rooms, tss, ids, fields, faults)
		return err
	})
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
	rows, err := db.pool.Query(ctx, `SELECT site, device, edge, room, ts, id, fields, faults
		FROM latest ORDER BY site, device`)
	if err != nil {
		return nil, fmt.Errorf("postgres latest readings: %w", err)
	}
	defer rows.Close()
	var out []*hub.Reading
	for rows.Next() {
		r := new(hub.Reading)
		var fields, faults string
		if err := rows.Scan(&r.Site, &r.Device, &r.Edge, &r.Room, &r.TS, &r.ID, &fields, &faults); err != nil {
			return nil, fmt.Errorf("postgres latest readings: %w", err)
		}
		r.TS = r.TS.UTC()
		if err := json.Unmarshal([]byte(fields), &r.Fields); err != nil {
			return nil, fmt.Errorf("postgres latest reading of %s/%s: fields: %w", r.Site, r.Device, err)
		}
		if err := json.Unmarshal([]byte(faults), &r.Faults); err != nil {
			return nil, fmt.Errorf("postgres latest reading of %s/%s: faults: %w", r.Site, r.Device, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres latest readings: %w", err)
	}
	return out, nil
}

// SaveEdge stores e as its edge's state unless the stored state was seen
// later.
func (db *DB) SaveEdge(ctx context.Context, e hub.EdgeState) error {
	return db.SaveEdges(ctx, []hub.EdgeState{e})
}

// SaveEdges saves the states of several edges in one transaction. A state
// replaces the stored one unless that was seen later (never seen counts
// as earliest): hubs saving the same edge at once leave the state of the
// latest status. Of several states of one edge in es the latest seen
// counts (the later one of equal times).
func (db *DB) SaveEdges(ctx context.Context, es []hub.EdgeState) error {
	if err := db.saveEdges(ctx, es); err != nil {
		return fmt.Errorf("postgres save of %d edge states: %w", len(es), rejected(err))
	}
	return nil
}

func (db *DB) saveEdges(ctx context.Context, es []hub.EdgeState) error {
	type key struct{ site, edge string }
	latest := map[key]hub.EdgeState{}
	for _, e := range es {
		k := key{storable(e.Site), storable(e.Edge)}
		if cur, ok := latest[k]; !ok || !ts(e.LastSeen).Before(ts(cur.LastSeen)) {
			latest[k] = e
		}
	}
	if len(latest) == 0 {
		return nil
	}
	keys := make([]key, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.edge, b.edge)) })
	n := len(keys)
	sites, edges, agents := make([]string, n), make([]string, n), make([]string, n)
	online, seen, backlog := make([]bool, n), make([]*time.Time, n), make([]int64, n)
	for i, k := range keys {
		e := latest[k]
		sites[i], edges[i], agents[i] = k.site, k.edge, storable(e.Agent)
		online[i], seen[i], backlog[i] = e.Online, nullTime(e.LastSeen), e.Backlog
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO edges AS e (site, edge, online, last_seen, agent, backlog)
			SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[], $6::bigint[])
			ON CONFLICT (site, edge) DO UPDATE SET
				online = excluded.online, last_seen = excluded.last_seen,
				agent = excluded.agent, backlog = excluded.backlog
			WHERE e.last_seen IS NULL OR excluded.last_seen >= e.last_seen`,
			sites, edges, online, seen, agents, backlog)
		return err
	})
}

// Edges returns the state of every edge, by site and edge.
func (db *DB) Edges(ctx context.Context) ([]hub.EdgeState, error) {
	rows, err := db.pool.Query(ctx, `SELECT site, edge, online, last_seen, agent, backlog FROM edges ORDER BY site, edge`)
	if err != nil {
		return nil, fmt.Errorf("postgres edges: %w", err)
	}
	defer rows.Close()
	var out []hub.EdgeState
	for rows.Next() {
		var e hub.EdgeState
		var seen *time.Time
		if err := rows.Scan(&e.Site, &e.Edge, &e.Online, &seen, &e.Agent, &e.Backlog); err != nil {
			return nil, fmt.Errorf("postgres edges: %w", err)
		}
		e.LastSeen = timeOf(seen)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres edges: %w", err)
	}
	return out, nil
}

// SaveSeen records message ids as stored at time at; an id recorded
// already keeps the later of its times.
func (db *DB) SaveSeen(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	// Sorted and without repeats: one statement cannot update a row twice,
	// and hubs lock the rows in the same order.
	ids = sortedUnique(storableAll(ids))
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO seen AS s (id, at) SELECT id, $2 FROM unnest($1::text[]) AS u(id)
			ON CONFLICT (id) DO UPDATE SET at = greatest(s.at, excluded.at)`, ids, ts(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres save of %d seen ids: %w", len(ids), rejected(err))
	}
	return nil
}

// RecentSeen returns up to limit ids stored since since, newest first.
func (db *DB) RecentSeen(ctx context.Context, since time.Time, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM seen WHERE at >= $1 ORDER BY at DESC LIMIT $2`, ts(since), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres recent seen: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres recent seen: %w", err)
	}
	return ids, nil
}

// PruneSeen forgets ids stored before before.
func (db *DB) PruneSeen(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM seen WHERE at < $1`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("postgres prune seen: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Put stores value under name, replacing what was there.
func (db *DB) Put(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO kv (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		storable(name), value, ts(time.Now())); err != nil {
		return fmt.Errorf("postgres put %s: %w", name, err)
	}
	return nil
}

// Get returns the value stored under name, or nil if there is none.
func (db *DB) Get(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM kv WHERE name = $1`, storable(name)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres get %s: %w", name, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}
