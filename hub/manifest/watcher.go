package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultPollInterval is how often a Watcher looks at its folder when its
// PollInterval is zero.
const DefaultPollInterval = 5 * time.Second

// Folders a Watcher moves files into, under its Dir.
const (
	DoneDir   = "done"
	FailedDir = "failed"
)

// Watcher imports the manifests dropped in a folder. It polls rather than
// subscribing to file system events, which network shares and some
// container mounts never deliver.
//
// A file named *.csv or *.json (names starting with "." or "~$" are left
// alone: editors' and uploaders' temporary files) is imported once its
// size and modification time are the same at two polls in a row, so a
// file still being written is not read half-way. A writer that pauses
// longer than PollInterval should write under a temporary name and rename
// the file when done. An imported file moves to done/ with its report
// beside it (<name>.report.json); one that could not be read, or had no
// acceptable row, to failed/. A file the store could not save stays and
// is tried again at the next poll.
type Watcher struct {
	Dir string
	// PollInterval is the time between two looks at Dir.
	PollInterval time.Duration
	// Options are those of every file. When Options.Site is empty and
	// Options.Sites lists the townships, a file named "<site>_..." (tw01_sf.csv)
	// is for that site; otherwise its rows must name their site.
	Options Options
	// OptionsFunc, when set, gives the options for each file instead of
	// Options: the sites may change while the hub runs.
	OptionsFunc func() Options
	Store       Store
	Log         *slog.Logger

	seen map[string]stat // files waiting to be stable, by name
	done map[stat]bool   // files handled but not moved away
}

type stat struct {
	name  string
	size  int64
	mtime time.Time
}

// FileReport is what a Watcher writes beside a file it moved.
type FileReport struct {
	File  string    `json:"file"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // why the file could not be read or saved
	Batch string    `json:"batch,omitempty"`
	Site  string    `json:"site,omitempty"`
	Saved *Saved    `json:"saved,omitempty"`
}

// Run polls until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	iv := w.PollInterval
	if iv <= 0 {
		iv = DefaultPollInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if _, err := w.Poll(ctx); err != nil {
			w.log().Warn("manifest folder", "dir", w.Dir, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Poll looks at the folder once and imports the files that have not
// changed since the previous look. It returns what it wrote about each.
func (w *Watcher) Poll(ctx context.Context) ([]FileReport, error) {
	if w.seen == nil {
		w.seen, w.done = map[string]stat{}, map[stat]bool{}
	}
	for _, d := range []string{DoneDir, FailedDir} {
		if err := os.MkdirAll(filepath.Join(w.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(w.Dir)
	if err != nil {
		return nil, err
	}
	var out []FileReport
	present := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !wanted(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since ReadDir
		}
		present[name] = true
		now := stat{name: name, size: info.Size(), mtime: info.ModTime()}
		if w.done[now] {
			continue
		}
		if prev, ok := w.seen[name]; !ok || prev != now {
			w.seen[name] = now // new or still changing
			continue
		}
		if rep, ok := w.importFile(ctx, now); ok {
			delete(w.seen, name)
			out = append(out, rep)
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
	for s := range w.done {
		if !present[s.name] {
			delete(w.done, s)
		}
	}
	return out, ctx.Err()
}

// wanted says whether a file name is a manifest to import.
func wanted(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") || strings.HasSuffix(name, ".report.json") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".csv" || ext == ".json"
}

func (w *Watcher) options() Options {
	if w.OptionsFunc != nil {
		return w.OptionsFunc()
	}
	return w.Options
}

// importFile imports one file and moves it. ok is false when the file
// stays to be tried again.
func (w *Watcher) importFile(ctx context.Context, s stat) (FileReport, bool) {
	log := w.log().With("file", s.name)
	rep := FileReport{File: s.name}
	opts := w.options()
	opts.Source = s.name
	if opts.Site == "" {
		opts.Site = w.siteOf(s.name)
	}
	f, err := os.Open(filepath.Join(w.Dir, s.name))
	if err != nil {
		log.Warn("manifest file", "err", err)
		return rep, false
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(s.name)), ".")
	b, err := Parse(f, format, opts)
	f.Close()
	dest := FailedDir
	switch {
	case err != nil:
		rep.Error = err.Error()
	case len(b.Parcels) == 0:
		rep.Batch, rep.Site, rep.Saved = b.ID, b.Site, &Saved{Report: b.Report}
		rep.Error = fmt.Sprintf("no acceptable row: %d rows, %d rejected", b.Report.Rows, b.Report.Rejected)
	default:
		saved, err := w.Store.SaveManifest(ctx, b)
		if err != nil {
			log.Warn("manifest not saved; will retry", "err", err)
			return rep, false
		}
		dest, rep.Batch, rep.Site, rep.Saved = DoneDir, b.ID, b.Site, &saved
	}
	rep.At = time.Now().UTC()
	moved, err := w.move(s.name, dest, rep)
	if err != nil {
		// Not imported twice for all that: remembered until it changes.
		log.Warn("manifest file not moved", "to", dest, "err", err)
		w.done[s] = true
	} else {
		rep.File = moved
	}
	if rep.Error != "" {
		log.Warn("manifest rejected", "to", dest, "err", rep.Error)
	} else {
		log.Info("manifest imported", "batch", rep.Batch, "site", rep.Site, "rows", b.Report.Rows,
			"accepted", b.Report.Accepted, "rejected", b.Report.Rejected, "inserted", rep.Saved.Inserted,
			"updated", rep.Saved.Updated, "unchanged", rep.Saved.Unchanged, "repeat", rep.Saved.Repeat)
	}
	return rep, true
}

// siteOf returns the site a file name starts with ("tw01_sf.csv"), when
// it is a known one.
func (w *Watcher) siteOf(name string) string {
	prefix, _, ok := strings.Cut(name, "_")
	if !ok {
		return ""
	}
	for _, s := range w.options().Sites {
		if s == prefix {
			return s
		}
	}
	return ""
}

// move moves a file into a sub-folder, under a free name, and writes its
// report beside it. It returns the path relative to Dir.
func (w *Watcher) move(name, sub string, rep FileReport) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	target := name
	for i := 2; ; i++ {
		_, err := os.Lstat(filepath.Join(w.Dir, sub, target))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if i > 1000 {
			return "", fmt.Errorf("%s: no free name in %s", name, sub)
		}
		target = base + "." + strconv.Itoa(i) + ext
	}
	if err := os.Rename(filepath.Join(w.Dir, name), filepath.Join(w.Dir, sub, target)); err != nil {
		return "", err
	}
	rep.File = name
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	rel := filepath.Join(sub, target)
	if err := os.WriteFile(filepath.Join(w.Dir, rel+".report.json"), append(js, '\n'), 0o644); err != nil {
		w.log().Warn("manifest report not written", "file", rel, "err", err)
	}
	return rel, nil
}

func (w *Watcher) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}
