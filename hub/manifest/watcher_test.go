package manifest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/sqlite"
)

func newWatcher(t *testing.T, store manifest.Store) *manifest.Watcher {
	t.Helper()
	o := opts("")
	return &manifest.Watcher{
		Dir: t.TempDir(), Options: o, Store: store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func poll(t *testing.T, w *manifest.Watcher) []manifest.FileReport {
	t.Helper()
	reps, err := w.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return reps
}

func write(t *testing.T, path, s string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readReport(t *testing.T, path string) manifest.FileReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r manifest.FileReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWatcherImportsStableFiles(t *testing.T) {
	db := openDB(t)
	w := newWatcher(t, db)
	ctx := context.Background()
	path := filepath.Join(w.Dir, "tw01_sf.csv")
	half := strings.Index(goodCSV, "731234567890")

	// Written in two steps, with polls between: imported only whole.
	write(t, path, goodCSV[:half], os.O_TRUNC)
	if reps := poll(t, w); len(reps) != 0 {
		t.Fatalf("first sight imported: %+v", reps)
	}
	write(t, path, goodCSV[half:], os.O_APPEND)
	if reps := poll(t, w); len(reps) != 0 {
		t.Fatalf("changing file imported: %+v", reps)
	}
	reps := poll(t, w)
	if len(reps) != 1 || reps[0].Error != "" || reps[0].Site != "tw01" || reps[0].Saved.Inserted != 3 {
		t.Fatalf("import %+v", reps)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file left in the folder: %v", err)
	}
	rep := readReport(t, filepath.Join(w.Dir, "done", "tw01_sf.csv.report.json"))
	if rep.File != "tw01_sf.csv" || rep.Saved.Report.Accepted != 3 || rep.Batch == "" {
		t.Errorf("report file %+v", rep)
	}
	if p, err := db.ManifestParcel(ctx, "731234567890"); err != nil || p == nil || p.Source != "tw01_sf.csv" {
		t.Errorf("stored %+v, %v", p, err)
	}
	if reps := poll(t, w); len(reps) != 0 {
		t.Errorf("imported twice: %+v", reps)
	}

	// The same manifest dropped again under the same name: moved beside
	// the first, reported as a repeat, nothing changed.
	write(t, path, goodCSV, os.O_TRUNC)
	poll(t, w)
	reps = poll(t, w)
	if len(reps) != 1 || !reps[0].Saved.Repeat || reps[0].File != filepath.Join("done", "tw01_sf.2.csv") {
		t.Fatalf("repeat %+v", reps)
	}
}

func TestWatcherFailedAndIgnored(t *testing.T) {
	w := newWatcher(t, openDB(t))
	files := map[string]string{
		"tw01_broken.json": `[{"waybill": `,
		"tw01_allbad.csv":  "waybill,village\nSF1234567890123,nowhere\n",
		"nosite.csv":       "waybill,village\nSF1234567890123,tw01-v01\n",
		".hidden.csv":      goodCSV,
		"~$tw01_open.csv":  goodCSV,
		"readme.txt":       "not a manifest",
		"tw01_x.csv.part":  goodCSV,
	}
	for name, s := range files {
		write(t, filepath.Join(w.Dir, name), s, os.O_TRUNC)
	}
	poll(t, w)
	reps := poll(t, w)
	if len(reps) != 3 {
		t.Fatalf("reports %+v", reps)
	}
	for _, name := range []string{"tw01_broken.json", "tw01_allbad.csv", "nosite.csv"} {
		rep := readReport(t, filepath.Join(w.Dir, "failed", name+".report.json"))
		if rep.Error == "" {
			t.Errorf("%s: no error in %+v", name, rep)
		}
	}
	if rep := readReport(t, filepath.Join(w.Dir, "failed", "tw01_allbad.csv.report.json")); rep.Saved == nil ||
		rep.Saved.Report.Errors[0].Field != "village" {
		t.Errorf("row errors not reported: %+v", rep)
	}
	for _, name := range []string{".hidden.csv", "~$tw01_open.csv", "readme.txt", "tw01_x.csv.part"} {
		if _, err := os.Stat(filepath.Join(w.Dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// failing is a store that fails until told otherwise.
type failing struct {
	manifest.Store
	fail bool
}

func (f *failing) SaveManifest(ctx context.Context, b *manifest.Batch) (manifest.Saved, error) {
	if f.fail {
		return manifest.Saved{}, errors.New("disk full")
	}
	return f.Store.SaveManifest(ctx, b)
}

func TestWatcherRetriesStore(t *testing.T) {
	store := &failing{Store: openDB(t), fail: true}
	w := newWatcher(t, store)
	path := filepath.Join(w.Dir, "tw01_sf.csv")
	write(t, path, goodCSV, os.O_TRUNC)
	poll(t, w)
	if reps := poll(t, w); len(reps) != 0 {
		t.Fatalf("reports %+v", reps)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file moved though not saved: %v", err)
	}
	store.fail = false
	if reps := poll(t, w); len(reps) != 1 || reps[0].Saved.Inserted != 3 {
		t.Fatalf("retry %+v", reps)
	}
}
