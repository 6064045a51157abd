package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
// keeps what was announced. Imports are stored one at a time (an advisory
// lock), so the revs of the parcels they change follow the commits.
func (db *DB) SaveManifest(ctx context.Context, b *manifest.Batch) (manifest.Saved, error) {
	saved, err := db.saveManifest(ctx, b, time.Now())
	if err != nil {
		return manifest.Saved{}, fmt.Errorf("postgres save of manifest %s (%s): %w", shortID(b.ID), b.Source, err)
	}
	return saved, nil
}

func (db *DB) saveManifest(ctx context.Context, b *manifest.Batch, now time.Time) (manifest.Saved, error) {
	if b.ID == "" {
		return manifest.Saved{}, errors.New("batch has no id")
	}
	now = ts(now).UTC()
	var saved manifest.Saved
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockManifest); err != nil {
			return err
		}
		old, err := scanBatch(tx.QueryRow(ctx, `SELECT `+batchColumns+` FROM manifest_batches WHERE id = $1`, storable(b.ID)))
		switch {
		case err == nil:
			saved = old.Saved
			saved.Repeat = true
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var rev int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(rev), 0) FROM manifest_parcels`).Scan(&rev); err != nil {
			return err
		}
		parcels := make([]manifest.Parcel, len(b.Parcels))
		waybills := make([]string, len(b.Parcels))
		for i, p := range b.Parcels {
			p.Waybill, p.Site, p.Carrier, p.Village = storable(p.Waybill), storable(p.Site), storable(p.Carrier), storable(p.Village)
			p.Address, p.SortCode = storable(p.Address), storable(p.SortCode)
			parcels[i], waybills[i] = p, p.Waybill
		}
		rows, err := tx.Query(ctx, `SELECT waybill, site, carrier, village, address, sort_code, weight_kg
			FROM manifest_parcels WHERE waybill = ANY($1)`, waybills)
		if err != nil {
			return err
		}
		cur := map[string]manifest.Parcel{}
		for rows.Next() {
			var p manifest.Parcel
			if err := rows.Scan(&p.Waybill, &p.Site, &p.Carrier, &p.Village, &p.Address, &p.SortCode, &p.WeightKg); err != nil {
				rows.Close()
				return err
			}
			cur[p.Waybill] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		// The parcels as they will be stored, in the order of their
		// changes; a waybill twice in b is compared the second time with
		// what the first left, and stored once, as it ends.
		saved = manifest.Saved{Imported: now, Report: b.Report}
		type change struct {
			p   manifest.Parcel
			rev int64
		}
		changes := map[string]*change{}
		var order []string
		for _, p := range parcels {
			if c, ok := cur[p.Waybill]; !ok {
				saved.Inserted++
			} else {
				p = merge(c, p)
				if same(c, p) {
					saved.Unchanged++
					continue
				}
				saved.Updated++
			}
			rev++
			cur[p.Waybill] = p
			if changes[p.Waybill] == nil {
				order = append(order, p.Waybill)
			}
			changes[p.Waybill] = &change{p, rev}
		}
		cols := make([][]string, 6)
		weights, revs := make([]*float64, 0, len(order)), make([]int64, 0, len(order))
		for _, wb := range order {
			c := changes[wb]
			for i, v := range []string{c.p.Waybill, c.p.Site, c.p.Carrier, c.p.Village, c.p.Address, c.p.SortCode} {
				cols[i] = append(cols[i], v)
			}
			weights, revs = append(weights, nullWeight(c.p.WeightKg)), append(revs, c.rev)
		}
		if len(order) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO manifest_parcels
				(waybill, site, carrier, village, address, sort_code, weight_kg, rev, source, batch_id, announced_at, updated_at)
				SELECT u.*, $9, $10, $11, $11
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::int8[])
					AS u(waybill, site, carrier, village, address, sort_code, weight_kg, rev)
				ON CONFLICT (waybill) DO UPDATE SET site = excluded.site, carrier = excluded.carrier,
					village = excluded.village, address = excluded.address, sort_code = excluded.sort_code,
					weight_kg = excluded.weight_kg, source = excluded.source, batch_id = excluded.batch_id,
					updated_at = excluded.updated_at, rev = excluded.rev`,
				cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], weights, revs, storable(b.Source), storable(b.ID), now); err != nil {
				return err
			}
		}
		if err := db.derive(ctx, tx, order); err != nil {
			return err
		}
		report, err := json.Marshal(b.Report)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO manifest_batches
			(id, site, source, rows_read, accepted, rejected, inserted, updated, unchanged, report, imported_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			storable(b.ID), storable(b.Site), storable(b.Source), b.Report.Rows, b.Report.Accepted, b.Report.Rejected,
			saved.Inserted, saved.Updated, saved.Unchanged, string(report), now)
		return err
	})
	return saved, err
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
	source, batch_id, announced_at, updated_at, rev`

func scanParcel(row pgx.Row) (*manifest.StoredParcel, error) {
	r := new(manifest.StoredParcel)
	if err := row.Scan(&r.Waybill, &r.Site, &r.Carrier, &r.Village, &r.Address, &r.SortCode, &r.WeightKg,
		&r.Source, &r.BatchID, &r.Announced, &r.Updated, &r.Rev); err != nil {
		return nil, err
	}
	r.Announced, r.Updated = r.Announced.UTC(), r.Updated.UTC()
	return r, nil
}

// ManifestParcel returns what manifests announced about a waybill, or nil
// when none did.
func (db *DB) ManifestParcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error) {
	wb := strings.ToUpper(strings.TrimSpace(waybill))
	r, err := scanParcel(db.pool.QueryRow(ctx, `SELECT `+parcelColumns+` FROM manifest_parcels WHERE waybill = $1`, storable(wb)))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("postgres manifest parcel %s: %w", wb, err)
	}
	return r, nil
}

// ManifestForSite returns the parcels announced for a site or changed
// since the change afterRev (0 for all), in the order of their changes,
// at most limit (at most MaxManifestRows). An edge keeps the Rev of the
// last row it got and asks again with it.
func (db *DB) ManifestForSite(ctx context.Context, site string, afterRev int64, limit int) ([]*manifest.StoredParcel, error) {
	if limit <= 0 || limit > MaxManifestRows {
		limit = MaxManifestRows
	}
	rows, err := db.pool.Query(ctx, `SELECT `+parcelColumns+` FROM manifest_parcels
		WHERE site = $1 AND rev > $2 ORDER BY rev LIMIT $3`, storable(site), afterRev, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres manifest of %s: %w", site, err)
	}
	defer rows.Close()
	out := []*manifest.StoredParcel{}
	for rows.Next() {
		r, err := scanParcel(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres manifest of %s: %w", site, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres manifest of %s: %w", site, err)
	}
	return out, nil
}

const batchColumns = `id, site, source, inserted, updated, unchanged, report, imported_at`

func scanBatch(row pgx.Row) (*manifest.StoredBatch, error) {
	b := new(manifest.StoredBatch)
	var report string
	if err := row.Scan(&b.ID, &b.Site, &b.Source, &b.Saved.Inserted, &b.Saved.Updated, &b.Saved.Unchanged, &report, &b.Imported); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(report), &b.Saved.Report); err != nil {
		return nil, fmt.Errorf("batch %s report: %w", shortID(b.ID), err)
	}
	b.Imported = b.Imported.UTC()
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
	var p params
	q := `SELECT ` + batchColumns + ` FROM manifest_batches`
	if site != "" {
		q += ` WHERE site = ` + p.add(site)
	}
	rows, err := db.pool.Query(ctx, q+` ORDER BY imported_at DESC, seq DESC LIMIT `+p.add(limit), p...)
	if err != nil {
		return nil, fmt.Errorf("postgres manifest batches: %w", err)
	}
	defer rows.Close()
	out := []*manifest.StoredBatch{}
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres manifest batches: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres manifest batches: %w", err)
	}
	return out, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
