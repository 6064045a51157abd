package manifest

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Parcel is one accepted row of a manifest, normalised.
type Parcel struct {
	// Waybill is the number trimmed and upper-cased.
	Waybill string `json:"waybill"`
	// Carrier is the carrier's code ("SF", "ZTO", ...; see waybill.Carrier),
	// the name as given when it is a carrier edge/waybill does not know,
	// or empty when neither the row nor the number says.
	Carrier string `json:"carrier,omitempty"`
	// Site is the township the parcel goes to first.
	Site string `json:"site"`
	// Village is the village point's id, empty when it could not be told.
	Village string `json:"village,omitempty"`
	// Address is the consignee's address as given, trimmed.
	Address string `json:"address,omitempty"`
	// SortCode is the three-segment sort code in its printed form
	// ("571-W01-01"), empty when not given.
	SortCode string `json:"sort_code,omitempty"`
	// WeightKg is the announced weight, nil when not given.
	WeightKg *float64 `json:"weight_kg,omitempty"`
	// Line is the row's line in a CSV file, or its position (from 1) in a
	// JSON array.
	Line int `json:"line,omitempty"`
}

// RowError says why a row was rejected, or what is odd about a row that
// was kept.
type RowError struct {
	Line    int    `json:"line"`
	Waybill string `json:"waybill,omitempty"`
	Field   string `json:"field,omitempty"` // the English column name; empty for the whole row
	Msg     string `json:"msg"`
}

func (e RowError) String() string {
	s := fmt.Sprintf("line %d", e.Line)
	if e.Waybill != "" {
		s += " " + e.Waybill
	}
	if e.Field != "" {
		s += " " + e.Field
	}
	return s + ": " + e.Msg
}

// Report sums up how a manifest's rows fared. Rows = Accepted + Rejected +
// Duplicates.
type Report struct {
	Rows       int `json:"rows"`       // data rows read, blank ones not counted
	Accepted   int `json:"accepted"`   // rows kept as parcels
	Rejected   int `json:"rejected"`   // rows refused, each with an entry in Errors
	Duplicates int `json:"duplicates"` // repeats of a waybill by the same carrier, dropped for the later row
	Warnings   int `json:"warnings"`   // entries in Notes about rows that were kept
	// Errors are the rejections, by line, at most Options.MaxErrors.
	Errors []RowError `json:"errors"`
	// Notes are the warnings and duplicates, by line, at most
	// Options.MaxErrors.
	Notes []RowError `json:"notes"`
	// Truncated says that Errors or Notes were cut at the cap.
	Truncated bool `json:"truncated,omitempty"`
}

// Batch is a parsed manifest.
type Batch struct {
	// ID is the hex SHA-256 of the normalised content: the site, the
	// accepted parcels and the reasons for every rejection and note.
	ID string `json:"id"`
	// Site is the township the import was for, or the one site of all its
	// parcels; empty when they go to several.
	Site string `json:"site"`
	// Source is where it came from: a file name, or "api".
	Source  string   `json:"source"`
	Parcels []Parcel `json:"parcels"`
	Report  Report   `json:"report"`
}

// Saved is what a Store did with a batch.
type Saved struct {
	Inserted  int `json:"inserted"`  // waybills not announced before
	Updated   int `json:"updated"`   // waybills announced before with other data
	Unchanged int `json:"unchanged"` // waybills announced before with the same data
	// Repeat says the batch had been imported before: nothing changed,
	// and the counts, Report and Imported are those of that import.
	Repeat   bool      `json:"repeat,omitempty"`
	Imported time.Time `json:"imported"`
	Report   Report    `json:"report"`
}

// Store keeps the announced parcels (sqlite.DB and postgres.DB do).
type Store interface {
	SaveManifest(ctx context.Context, b *Batch) (Saved, error)
}

// StoredParcel is an announced parcel as a Store keeps it.
type StoredParcel struct {
	Parcel
	Source    string    `json:"source"`
	BatchID   string    `json:"batch_id"`
	Announced time.Time `json:"announced"`
	Updated   time.Time `json:"updated"`
	// Rev increases with every change to any announced parcel: an edge
	// that has seen up to Rev asks for what is after it.
	Rev int64 `json:"rev"`
}

// StoredBatch is an imported manifest as a Store keeps it.
type StoredBatch struct {
	ID       string    `json:"id"`
	Site     string    `json:"site"`
	Source   string    `json:"source"`
	Imported time.Time `json:"imported"`
	Saved    Saved     `json:"saved"`
}

// Import parses a manifest and saves its accepted parcels in s. A batch
// with no accepted parcel is not saved, and its Saved holds only the
// report.
func Import(ctx context.Context, s Store, r io.Reader, format string, opts Options) (*Batch, Saved, error) {
	b, err := Parse(r, format, opts)
	if err != nil {
		return nil, Saved{}, err
	}
	if len(b.Parcels) == 0 {
		return b, Saved{Report: b.Report}, nil
	}
	saved, err := s.SaveManifest(ctx, b)
	if err != nil {
		return b, Saved{}, fmt.Errorf("manifest %s: %w", b.Source, err)
	}
	return b, saved, nil
}
