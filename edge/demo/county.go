package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/countylink/countylink/edge/agent"
)

// CountyOptions describe the demo county: the hub whose cold rooms are
// simulated, and how.
type CountyOptions struct {
	Hub         string // the hub's base URL; its /api/v1/coldrooms lists the rooms
	Broker      string // the agents' broker URL
	StateDir    string // one directory per edge below it
	Interval    time.Duration
	Speed       float64
	Stations    int           // scanner stations per township; default 2
	ParcelEvery time.Duration // mean time between parcels at a station
}

// HubRoom is a cold room as the hub lists it.
type HubRoom struct {
	Site  string  `json:"site"`
	Room  string  `json:"room"`
	Class string  `json:"class"`
	MinC  float64 `json:"min_c"`
	MaxC  float64 `json:"max_c"`
}

// FetchRooms asks the hub for its cold rooms, waiting for it to start.
func FetchRooms(ctx context.Context, hubURL string) ([]HubRoom, error) {
	for {
		rooms, err := func() ([]HubRoom, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, hubURL+"/api/v1/coldrooms", nil)
			if err != nil {
				return nil, err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("hub answered %s", resp.Status)
			}
			var rs []HubRoom
			return rs, json.NewDecoder(resp.Body).Decode(&rs)
		}()
		if err == nil {
			return rooms, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("hub %s not reachable: %w", hubURL, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RunCounty simulates every township warehouse of the hub's county, each
// read by a real edge agent in this process, with staff sorting parcels
// at its stations, until ctx ends.
func RunCounty(ctx context.Context, log *slog.Logger, opt CountyOptions) error {
	if opt.Stations == 0 {
		opt.Stations = 2
	}
	rooms, err := FetchRooms(ctx, opt.Hub)
	if err != nil {
		return err
	}
	bySite := map[string][]Room{}
	for _, r := range rooms {
		bySite[r.Site] = append(bySite[r.Site], Room{ID: r.Room, Setpoint: (r.MinC + r.MaxC) / 2})
	}
	sites := make([]string, 0, len(bySite))
	for s := range bySite {
		sites = append(sites, s)
	}
	sort.Strings(sites)
	var wg sync.WaitGroup
	for _, site := range sites {
		w, err := New(ctx, Options{Site: site, Rooms: bySite[site], Broker: opt.Broker,
			StateDir: filepath.Join(opt.StateDir, site+"-e1"), Interval: opt.Interval, Speed: opt.Speed,
			Stations: opt.Stations, ParcelEvery: opt.ParcelEvery})
		if err != nil {
			return err
		}
		defer w.Close()
		// The couriers' manifest goes to the hub as well, which keeps the
		// announced parcels and sends them on to the edge.
		if w.Plan() != nil {
			if err := postManifest(ctx, opt.Hub, site, w.ManifestCSV()); err != nil {
				log.Warn("demo manifest not imported by the hub", "site", site, "err", err)
			}
		}
		a, err := agent.New(w.Config(), log.With("sim", true))
		if err != nil {
			return err
		}
		wg.Add(2)
		go func() { defer wg.Done(); a.Run(ctx) }()
		go func() { defer wg.Done(); w.Staff(ctx, true) }()
	}
	log.Info("county simulation running", "townships", len(sites), "rooms", len(rooms), "stations", len(sites)*opt.Stations,
		"broker", opt.Broker, "speed", opt.Speed)
	wg.Wait()
	return nil
}

func postManifest(ctx context.Context, hubURL, site string, csv []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hubURL+"/api/v1/manifests?format=csv&name=demo&site="+site, bytes.NewReader(csv))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hub answered %s", resp.Status)
	}
	return nil
}
