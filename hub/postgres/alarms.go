package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/hub"
)

// SaveAlarmChanges records transitions: each alarm's current row is
// replaced and the transition appended to its history, in cs's order and
// in one transaction. Only the alarm leader (see Leader) stores them, so
// an alarm's transitions have one writer.
func (db *DB) SaveAlarmChanges(ctx context.Context, cs []hub.AlarmChange) error {
	if len(cs) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, c := range cs {
			a := c.Alarm
			b.Queue(`INSERT INTO alarms (id, site, room, edge, source, kind, severity, state, record, raised, updated)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
				ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, state = excluded.state,
					record = excluded.record, updated = excluded.updated`,
				storable(a.ID), storable(a.Site), storable(a.Room), storable(a.Edge), storable(a.Source), storable(a.Kind),
				storable(a.Severity), storable(a.State), storable(string(a.Record)), ts(a.Raised), ts(a.Updated))
			b.Queue(`INSERT INTO alarm_history (alarm_id, site, at, event, actor, record) VALUES ($1, $2, $3, $4, $5, $6)`,
				storable(a.ID), storable(a.Site), ts(c.At), storable(c.Event), storable(c.By), storable(string(a.Record)))
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres save of %d alarm transitions: %w", len(cs), rejected(err))
	}
	return nil
}

// Alarms returns the alarms f selects, newest raised first.
func (db *DB) Alarms(ctx context.Context, f hub.AlarmFilter) ([]hub.AlarmRow, error) {
	var where []string
	var p params
	if f.Site != "" {
		where = append(where, "site = "+p.add(f.Site))
	}
	if len(f.States) > 0 {
		where = append(where, p.in("state", f.States))
	}
	if !f.Before.IsZero() {
		where = append(where, "raised < "+p.add(ts(f.Before)))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT id, site, room, edge, source, kind, severity, state, record, raised, updated FROM alarms`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY raised DESC, id DESC LIMIT " + p.add(f.Limit)
	rows, err := db.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, fmt.Errorf("postgres alarms: %w", err)
	}
	defer rows.Close()
	var out []hub.AlarmRow
	for rows.Next() {
		var a hub.AlarmRow
		var rec string
		if err := rows.Scan(&a.ID, &a.Site, &a.Room, &a.Edge, &a.Source, &a.Kind, &a.Severity, &a.State, &rec, &a.Raised, &a.Updated); err != nil {
			return nil, fmt.Errorf("postgres alarms: %w", err)
		}
		a.Record, a.Raised, a.Updated = []byte(rec), a.Raised.UTC(), a.Updated.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres alarms: %w", err)
	}
	return out, nil
}

// AlarmHistory returns the transitions of one alarm, oldest first.
func (db *DB) AlarmHistory(ctx context.Context, id string) ([]hub.AlarmChange, error) {
	rows, err := db.pool.Query(ctx, `SELECT at, event, actor, record FROM alarm_history WHERE alarm_id = $1 ORDER BY seq`, storable(id))
	if err != nil {
		return nil, fmt.Errorf("postgres history of alarm %s: %w", id, err)
	}
	defer rows.Close()
	var out []hub.AlarmChange
	for rows.Next() {
		var c hub.AlarmChange
		var rec string
		if err := rows.Scan(&c.At, &c.Event, &c.By, &rec); err != nil {
			return nil, fmt.Errorf("postgres history of alarm %s: %w", id, err)
		}
		c.At, c.Alarm.ID, c.Alarm.Record = c.At.UTC(), id, []byte(rec)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres history of alarm %s: %w", id, err)
	}
	return out, nil
}
