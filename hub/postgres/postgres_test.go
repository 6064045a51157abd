package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/storetest"
)

// The tests run against the machine's PostgreSQL server (see
// testenv.RequirePostgres), each in a database of its own, dropped when it
// ends. Without a server they are skipped, except when CI is true: then
// they fail.
func requireServer(t testing.TB) string { return testenv.RequirePostgres(t) }

func freshDatabase(t testing.TB) string { return testenv.PostgresDatabase(t) }

// open opens a store in a fresh database.
func open(t testing.TB) (*DB, string) {
	t.Helper()
	dsn := freshDatabase(t)
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// TestLogistics runs the store's behaviour tests, shared with the other
// stores, on PostgreSQL.
func TestLogistics(t *testing.T) {
	requireServer(t)
	storetest.Logistics(t, func(t *testing.T) storetest.Store {
		db, _ := open(t)
		// The suite's precondition: every subtest starts on an empty store.
		items, err := db.Items(t.Context(), hub.ItemQuery{})
		if err != nil || len(items) != 0 {
			t.Fatalf("a new store holds %d items (%v)", len(items), err)
		}
		if runs, err := db.Runs(t.Context(), hub.RunQuery{}); err != nil || len(runs) != 0 {
			t.Fatalf("a new store holds %d runs (%v)", len(runs), err)
		}
		return db
	})
}

// TestMigrate: Open creates the schema once, however many hubs start at
// once, applies no step twice on a later start, and refuses a database of
// a newer hub.
func TestMigrate(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			db, err := Open(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			db.Close()
		})
	}
	wg.Wait()
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var steps, max int
	if err := db.pool.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_version`).Scan(&steps, &max); err != nil {
		t.Fatal(err)
	}
	if steps != len(migrations) || max != len(migrations) {
		t.Errorf("schema_version has %d steps up to %d, want %d", steps, max, len(migrations))
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, len(migrations)+5); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if db != nil {
			db.Close()
		}
		t.Errorf("open of a newer schema: err = %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{"postgres://nobody:secret@127.0.0.1:1/countylink?connect_timeout=2", "not a dsn=", "host=/nonexistent dbname=x"} {
		if db, err := Open(ctx, dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestFiguresDaylightSaving: in a zone PostgreSQL knows by name, a day is
// the zone's day on both sides of a change of offset (SQLite counts with
// the offset at the start of the period).
func TestFiguresDaylightSaving(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	db, _ := open(t)
	ctx := context.Background()
	// Clocks went back from 03:00 to 02:00 on 25 October 2026. 23:30 on
	// the 26th is 22:30 UTC; 00:30 on the 24th is 22:30 UTC on the 23rd.
	var evs []*hub.ParcelEvent
	for i, at := range []time.Time{
		time.Date(2026, 10, 24, 0, 30, 0, 0, berlin),
		time.Date(2026, 10, 26, 23, 30, 0, 0, berlin),
		time.Date(2026, 10, 27, 0, 30, 0, 0, berlin),
	} {
		evs = append(evs, &hub.ParcelEvent{ID: "s" + strconv.Itoa(i), Site: "tw01", Kind: contract.EventSorted,
			Waybill: "JT" + strconv.Itoa(i), Route: "r01", Bin: "b01", TS: at, Recv: at})
	}
	if _, err := db.SaveEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 10, 20, 0, 0, 0, 0, berlin)
	figs, err := db.Figures(ctx, from, from.AddDate(0, 0, 10), berlin)
	if err != nil {
		t.Fatal(err)
	}
	var days []string
	for _, f := range figs {
		days = append(days, f.Day)
	}
	if strings.Join(days, " ") != "2026-10-24 2026-10-26 2026-10-27" {
		t.Errorf("days %v", days)
	}
	// A zone named like a PostgreSQL abbreviation is counted by its
	// offset: CST is +08:00 here, -06:00 in PostgreSQL.
	cst := time.FixedZone("CST", 8*3600)
	if z, err := db.zoneOf(ctx, cst, from, from); err != nil || z.cast != "::interval" || z.arg != "28800 seconds" {
		t.Errorf("zone of CST %+v, %v", z, err)
	}
	if z, err := db.zoneOf(ctx, berlin, from, from); err != nil || z.cast != "::text" || z.arg != "Europe/Berlin" {
		t.Errorf("zone of Berlin %+v, %v", z, err)
	}
	if z, err := db.zoneOf(ctx, time.Local, from, from); err != nil || z.cast != "::interval" {
		t.Errorf("zone of Local %+v, %v", z, err)
	}
}

// TestSaveEventsRejected: an event PostgreSQL cannot store for its
// content (a time before its range) is refused as hub.ErrRejected, which
// the ingest drops the event on instead of retrying its batch for ever.
func TestSaveEventsRejected(t *testing.T) {
	db, _ := open(t)
	at := time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := db.SaveEvents(context.Background(), []*hub.ParcelEvent{{ID: "old", Site: "tw01", Kind: contract.EventSorted, Waybill: "JT1", TS: at, Recv: at}})
	if !errors.Is(err, hub.ErrRejected) {
		t.Errorf("err = %v, want hub.ErrRejected", err)
	}
	if _, err := db.SaveEvents(context.Background(), []*hub.ParcelEvent{{ID: "ok", Site: "tw01", Kind: contract.EventSorted, Waybill: "JT1", TS: time.Now(), Recv: time.Now()}}); err != nil {
		t.Error(err)
	}
}
