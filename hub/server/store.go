package server

import (
	"context"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/postgres"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/timeline"
)

// Store is what the hub keeps besides time series: the parcels, runs and
// audit log, the manifests, the latest readings and edge states, the seen
// message ids, the alarms, the sites edited through the API and named
// values, and the people's accounts, sessions and tokens. SQLite keeps it for one hub (the embedded default, which also
// keeps the time series); PostgreSQL for several hubs sharing it
// (store.driver: postgres, with the time series in InfluxDB). Each part of
// the hub takes only the role it needs: alarmStore, manifestStore,
// correctorStore, siteStore, or hub.KV for the sort plans.
type Store interface {
	hub.LogisticsStore
	hub.StateStore
	hub.SeenStore
	hub.AlarmStore
	hub.KV
	hub.SiteStore
	hub.AccountStore
	manifestStore
	// SetPlaces and SetOptions give the store what it derives items
	// with: the townships and their routes, the heaviest parcel.
	SetPlaces(p timeline.Places)
	SetOptions(o timeline.Options)
	Close() error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// alarmStore is where the alarm service keeps its transitions and the
// engine's state.
type alarmStore interface {
	hub.AlarmStore
	hub.KV
}

// manifestStore keeps the courier manifests and each edge's cursor in
// them, and answers the API's questions about them.
type manifestStore interface {
	manifest.Store
	hub.KV
	ManifestParcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error)
	ManifestForSite(ctx context.Context, site string, afterRev int64, limit int) ([]*manifest.StoredParcel, error)
	ManifestBatches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error)
}

// correctorStore is what the sort corrector reads and records.
type correctorStore interface {
	hub.EventWriter
	Events(ctx context.Context, q hub.EventQuery) ([]*hub.ParcelEvent, error)
	Item(ctx context.Context, id string) (*hub.Item, error)
	ManifestParcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error)
}

// siteStore keeps the sites edited through the API and audits the edits.
type siteStore interface {
	hub.SiteStore
	Audit(ctx context.Context, e hub.AuditEntry) error
}
