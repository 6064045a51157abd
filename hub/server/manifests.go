package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/manifest"
)

// manifestChunk is how many parcels one manifest command carries: well
// inside the contract's 64 KiB payload.
const manifestChunk = 500

// Manifests imports courier manifests (API and drop folder) and pushes
// the announced parcels to the edges of their township, so that the
// scanner stations decide by destination village. Each edge's progress is
// the revision of the last parcel it took, kept in the store: an edge that
// was offline during an import gets what it missed when it comes back.
type Manifests struct {
	ctx      context.Context // the hub's lifetime: pushes stop with it
	db       manifestStore
	commands *command.Tracker
	log      *slog.Logger
	sites    func() []hub.Site
	edges    func(site string) []hub.EdgeState

	mu      sync.Mutex
	pushing map[[2]string]bool // edges a push is running for
	noPush  bool               // keep the parcels on the hub (ManifestsConfig.NoPush)
	// announced, when set, gets the waybills of each import that changed
	// something: the corrector looks for those just sorted without them.
	announced func(waybills []string)
}

func newManifests(db manifestStore, cmds *command.Tracker, sites func() []hub.Site, edges func(site string) []hub.EdgeState, log *slog.Logger) *Manifests {
	return &Manifests{db: db, commands: cmds, log: log, sites: sites, edges: edges, pushing: map[[2]string]bool{}}
}

// options are the import options of the sites as they are now: a village
// point added through the API is known to the next import.
func (m *Manifests) options() manifest.Options {
	opts := manifest.Options{Source: "api"}
	for _, s := range m.sites() {
		if s.Kind == hub.Township {
			opts.Sites = append(opts.Sites, s.ID)
		}
		if s.Kind == hub.Village {
			names := []string{s.Name}
			if s.NameEN != "" {
				names = append(names, s.NameEN)
			}
			opts.Villages = append(opts.Villages, manifest.Village{ID: s.ID, Site: s.Parent, Names: names})
		}
	}
	return opts
}

// Options are the import options for a batch for site ("" for the rows'
// own site column), from source.
func (m *Manifests) Options(site, source string) manifest.Options {
	o := m.options()
	o.Site, o.Source = site, source
	return o
}

// Imported pushes a saved batch's parcels to the edges of its sites.
func (m *Manifests) Imported(b *manifest.Batch) {
	sites := map[string]bool{}
	for _, p := range b.Parcels {
		sites[p.Site] = true
	}
	for site := range sites {
		for _, e := range m.edges(site) {
			if e.Online && e.Agent != "" { // an edge agent, not a handheld
				go m.push(site, e.Edge)
			}
		}
	}
}

// EdgeOnline pushes what an edge has not taken yet.
func (m *Manifests) EdgeOnline(site, edge string) { go m.push(site, edge) }

func revKey(site, edge string) string { return "manifest-rev/" + site + "/" + edge }

// push sends an edge the parcels of its site after the last revision it
// took, a chunk per command, recording its progress after each.
func (m *Manifests) push(site, edge string) {
	if m.noPush {
		return
	}
	key := [2]string{site, edge}
	m.mu.Lock()
	if m.pushing[key] {
		m.mu.Unlock()
		return
	}
	m.pushing[key] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.pushing, key)
		m.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(lifetime(m.ctx), 10*time.Minute)
	defer cancel()
	var rev int64
	if b, err := m.db.Get(ctx, revKey(site, edge)); err == nil && b != nil {
		rev, _ = strconv.ParseInt(string(b), 10, 64)
	}
	sent := 0
	for {
		rows, err := m.db.ManifestForSite(ctx, site, rev, manifestChunk)
		if err != nil {
			m.log.Error("read the manifest to push", "site", site, "err", err)
			return
		}
		var args struct {
			Parcels map[string]string `json:"parcels"`
		}
		args.Parcels = map[string]string{}
		last := rev
		for _, r := range rows {
			if r.Village != "" {
				args.Parcels[r.Waybill] = r.Village
			}
			last = max(last, r.Rev)
		}
		if len(rows) == 0 {
			break
		}
		if len(args.Parcels) > 0 {
			b, _ := json.Marshal(args)
			if !sendToEdge(ctx, m.commands, m.log, site, edge, "manifest", b, "manifest", "when it next comes online") {
				return
			}
			sent += len(args.Parcels)
		}
		rev = last
		if err := m.db.Put(ctx, revKey(site, edge), []byte(strconv.FormatInt(rev, 10))); err != nil {
			m.log.Error("record manifest progress", "edge", edge, "err", err)
			return
		}
		if len(rows) < manifestChunk {
			break
		}
	}
	if sent > 0 {
		m.log.Info("manifest pushed to the edge", "site", site, "edge", edge, "parcels", sent, "rev", rev)
	}
}

// SaveManifest saves a batch and pushes what it announced: it is the
// manifest.Store the API and the drop folder import into.
func (m *Manifests) SaveManifest(ctx context.Context, b *manifest.Batch) (manifest.Saved, error) {
	saved, err := m.db.SaveManifest(ctx, b)
	if err == nil && saved.Inserted+saved.Updated > 0 {
		m.Imported(b)
		if m.announced != nil {
			wbs := make([]string, 0, len(b.Parcels))
			for _, p := range b.Parcels {
				wbs = append(wbs, p.Waybill)
			}
			m.announced(wbs)
		}
	}
	return saved, err
}

// Import parses and saves a manifest for site ("" when its rows name their
// township) from source.
func (m *Manifests) Import(ctx context.Context, r io.Reader, site, format, source string) (*manifest.Batch, manifest.Saved, error) {
	return manifest.Import(ctx, m, r, format, m.Options(site, source))
}

// Batches lists imported batches, newest first.
func (m *Manifests) Batches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error) {
	return m.db.ManifestBatches(ctx, site, limit)
}

// Parcel is an announced parcel, nil when unknown.
func (m *Manifests) Parcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error) {
	return m.db.ManifestParcel(ctx, waybill)
}
