package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/countylink/countylink/hub/manifest"
)

var _ manifest.Store = (*DB)(nil)

// MaxManifestRows is the most rows one ManifestForSite or ManifestBatches
// call returns.
const MaxManifestRows = 5000

// SaveManifest stores the parcels of b in one transaction. A batch stored
// before changes nothing and gets the result of that import, with Repeat
// set. A waybill announced before is updated when b says something else
// about it; a field b leaves empty (no address, sort code, weight...)
// keeps what was announced.
func (db *DB) SaveManifest(ctx context.Context, b *manifest.Batch) (manifest.Saved, error) {
	saved, err := db.saveManifest(ctx, b, time.Now())
	if err != nil {
		return manifest.Saved{}, fmt.Errorf("sqlite save of manifest %s (%s): %w", shortID(b.ID), b.Source, err)
	}
	return saved, nil
}

func (db *DB) saveManifest(ctx context.Context, b *manifest.Batch, now time.Time) (manifest.Saved, error) {
	if b.ID == "" {
		return manifest.Saved{}, errors.New("batch has no id")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return manifest.Saved{}, err
	}
	defer tx.Rollback()
	old, err := scanBatch(tx.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM manifest_batches WHERE id = ?`, b.ID))
	switch {
	case err == nil:
		old.Saved.Repeat = true
		return old.Saved, nil
	case !errors.Is(err, sql.ErrNoRows):
		return manifest.Saved{}, err
	}

	var rev int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rev), 0) FROM manifest_parcels`).Scan(&rev); err != nil {
		return manifest.Saved{}, err
	}
	get, err := tx.PrepareContext(ctx, `SELECT site, carrier, village, address, sort_code, weight_kg
		FROM manifest_parcels WHERE waybill = ?`)
	if err != nil {
		return manifest.Saved{}, err
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO manifest_parcels
		(waybill, site, carrier, village, address, sort_code, weight_kg, source, batch_id, announced_ms, updated_ms, rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (waybill) DO UPDATE SET site = excluded.site, carrier = excluded.carrier,
			village = excluded.village, address = excluded.address, sort_code = excluded.sort_code,
			weight_kg = excluded.weight_kg, source = excluded.source, batch_id = excluded.batch_id,
			updated_ms = excluded.updated_ms, rev = excluded.rev`)
	if err != nil {
		return manifest.Saved{}, err
	}
	defer put.Close()
	ms := now.UnixMilli()
	saved := manifest.Saved{Imported: time.UnixMilli(ms).UTC(), Report: b.Report}
	var changed []string
	for _, p := range b.Parcels {
		var cur manifest.Parcel
		var w sql.NullFloat64
		err := get.QueryRowContext(ctx, p.Waybill).Scan(&cur.Site, &cur.Carrier, &cur.Village, &cur.Address, &cur.SortCode, &w)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			saved.Inserted++
		case err != nil:
			return manifest.Saved{}, fmt.Errorf("waybill %s: %w", p.Waybill, err)
		default:
			if w.Valid {
				cur.WeightKg = &w.Float64
			}
			p = merge(cur, p)
			if same(cur, p) {
				saved.Unchanged++
				continue
			}
			saved.Updated++
		}
		rev++
		var weight sql.NullFloat64
		if p.WeightKg != nil {
			weight = sql.NullFloat64{Float64: *p.WeightKg, Valid: true}
		}
		if _, err := put.ExecContext(ctx, p.Waybill, p.Site, p.Carrier, p.Village, p.Address, p.SortCode, weight,
			b.Source, b.ID, ms, ms, rev); err != nil {
			return manifest.Saved{}, fmt.Errorf("waybill %s: %w", p.Waybill, err)
		}
		changed = append(changed, p.Waybill)
	}
	if err := db.derive(ctx, tx, changed); err != nil {
		return manifest.Saved{}, err
	}
	report, err := json.Marshal(b.Report)
	if err != nil {
		return manifest.Saved{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_batches
		(id, site, source, rows, accepted, rejected, inserted, updated, unchanged, report, imported_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Site, b.Source, b.Report.Rows, b.Report.Accepted, b.Report.Rejected,
		saved.Inserted, saved.Updated, saved.Unchanged, string(report), ms); err != nil {
		return manifest.Saved{}, err
	}
	return saved, tx.Commit()
}

// merge returns p with the fields it leaves empty taken from cur: a
// carrier's second manifest that lacks the weight does not erase it.
func merge(cur, p manifest.Parcel) manifest.Parcel {
	keep := func(s *string, old string) {
		if *s == "" {
			*s = old
		}
	}
	keep(&p.Carrier, cur.Carrier)
	keep(&p.Village, cur.Village)
	keep(&p.Address, cur.Address)
	keep(&p.SortCode, cur.SortCode)
	if p.WeightKg == nil {
		p.WeightKg = cur.WeightKg
	}
	return p
}

// same says whether two announcements of a waybill agree on what is stored.
func same(a, b manifest.Parcel) bool {
	if (a.WeightKg == nil) != (b.WeightKg == nil) || a.WeightKg != nil && *a.WeightKg != *b.WeightKg {
		return false
	}
	return a.Site == b.Site && a.Carrier == b.Carrier && a.Village == b.Village &&
		a.Address == b.Address && a.SortCode == b.SortCode
}

const parcelColumns = `waybill, site, carrier, village, address, sort_code, weight_kg,
	source, batch_id, announced_ms, updated_ms, rev`

func scanParcel(sc interface{ Scan(...any) error }) (*manifest.StoredParcel, error) {
	r := new(manifest.StoredParcel)
	var w sql.NullFloat64
	var announced, updated int64
	if err := sc.Scan(&r.Waybill, &r.Site, &r.Carrier, &r.Village, &r.Address, &r.SortCode, &w,
		&r.Source, &r.BatchID, &announced, &updated, &r.Rev); err != nil {
		return nil, err
	}
	if w.Valid {
		r.WeightKg = &w.Float64
	}
	r.Announced, r.Updated = time.UnixMilli(announced).UTC(), time.UnixMilli(updated).UTC()
	return r, nil
}

// ManifestParcel returns what manifests announced about a waybill, or nil
// when none did.
func (db *DB) ManifestParcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error) {
	wb := strings.ToUpper(strings.TrimSpace(waybill))
	r, err := scanParcel(db.read.QueryRowContext(ctx, `SELECT `+parcelColumns+` FROM manifest_parcels WHERE waybill = ?`, wb))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlite manifest parcel %s: %w", wb, err)
	}
	return r, nil
}

// ManifestForSite returns the parcels announced for a site or changed
// since the change afterRev (0 for all), in the order of their changes,
// at most limit (at most MaxManifestRows). An edge keeps the Rev of the
// last row it got and asks again with it: a cursor, where a time would
// cut a batch of thousands stored in the same millisecond.
func (db *DB) ManifestForSite(ctx context.Context, site string, afterRev int64, limit int) ([]*manifest.StoredParcel, error) {
	if limit <= 0 || limit > MaxManifestRows {
		limit = MaxManifestRows
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+parcelColumns+` FROM manifest_parcels
		WHERE site = ? AND rev > ? ORDER BY rev LIMIT ?`, site, afterRev, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite manifest of %s: %w", site, err)
	}
	defer rows.Close()
	out := []*manifest.StoredParcel{}
	for rows.Next() {
		r, err := scanParcel(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite manifest of %s: %w", site, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite manifest of %s: %w", site, err)
	}
	return out, nil
}

const batchColumns = `id, site, source, inserted, updated, unchanged, report, imported_ms`

func scanBatch(sc interface{ Scan(...any) error }) (*manifest.StoredBatch, error) {
	b := new(manifest.StoredBatch)
	var report string
	var ms int64
	if err := sc.Scan(&b.ID, &b.Site, &b.Source, &b.Saved.Inserted, &b.Saved.Updated, &b.Saved.Unchanged, &report, &ms); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(report), &b.Saved.Report); err != nil {
		return nil, fmt.Errorf("batch %s report: %w", shortID(b.ID), err)
	}
	b.Imported = time.UnixMilli(ms).UTC()
	b.Saved.Imported = b.Imported
	return b, nil
}

// ManifestBatches returns the manifests imported for a site (every site
// when site is empty), newest first, at most limit (at most
// MaxManifestRows).
func (db *DB) ManifestBatches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error) {
	if limit <= 0 || limit > MaxManifestRows {
		limit = MaxManifestRows
	}
	q, args := `SELECT `+batchColumns+` FROM manifest_batches`, []any{}
	if site != "" {
		q, args = q+` WHERE site = ?`, append(args, site)
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY imported_ms DESC, rowid DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite manifest batches: %w", err)
	}
	defer rows.Close()
	out := []*manifest.StoredBatch{}
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite manifest batches: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite manifest batches: %w", err)
	}
	return out, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
