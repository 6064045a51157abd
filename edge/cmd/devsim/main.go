// Command devsim simulates the field devices of township warehouses and,
// for the demo, the edge agents that read them.
//
//	devsim -serve 127.0.0.1:1502 -rooms 2
//	    serve simulated cold-room transmitters (units 1..N) over Modbus TCP
//	devsim -county -hub http://127.0.0.1:8080 -broker tcp://127.0.0.1:18830
//	    ask the hub for its cold rooms, simulate each township's transmitters
//	    and run one real edge agent per township against them (make run)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/countylink/countylink/edge/agent"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/sim"
)

func main() { os.Exit(run()) }

func run() int {
	serve := flag.String("serve", "", "serve simulated transmitters on this Modbus TCP address")
	rooms := flag.Int("rooms", 1, "with -serve: transmitters to simulate, as units 1..N")
	county := flag.Bool("county", false, "simulate every township of the hub's county with an edge agent each")
	hubURL := flag.String("hub", "http://127.0.0.1:8080", "with -county: the hub whose cold rooms to simulate")
	brokerURL := flag.String("broker", "tcp://127.0.0.1:1883", "with -county: the broker the edge agents publish to")
	stateDir := flag.String("state", "data/edges", "with -county: state directory of the edge agents")
	speed := flag.Float64("speed", 30, "simulated seconds per real second (cold rooms change slowly)")
	interval := flag.Duration("interval", 5*time.Second, "with -county: the agents' poll interval")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case *serve != "":
		srv, err := sim.NewModbusTCPServer(*serve)
		if err != nil {
			log.Error("listen", "err", err)
			return 1
		}
		defer srv.Close()
		for u := 1; u <= *rooms; u++ {
			startRoom(ctx, srv, byte(u), "serve", 2, *speed)
		}
		fmt.Printf("devsim: %d cold-room transmitters on %s (units 1..%d, profile th-renke)\n", *rooms, srv.Addr(), *rooms)
		<-ctx.Done()
		return 0
	case *county:
		if err := runCounty(ctx, log, *hubURL, *brokerURL, *stateDir, *speed, *interval); err != nil {
			log.Error("county simulation", "err", err)
			return 1
		}
		return 0
	}
	flag.Usage()
	return 2
}

// startRoom attaches a simulated transmitter as unit u and runs its model.
func startRoom(ctx context.Context, srv *sim.ModbusTCPServer, u byte, name string, setpoint, speed float64) {
	cfg := sim.DefaultColdRoomConfig()
	h := fnv.New64a()
	h.Write([]byte(name))
	cfg.Seed = h.Sum64()
	cfg.Setpoint = setpoint
	if setpoint < -10 {
		cfg.Band, cfg.Ambient, cfg.CoolingPerHour = 1.5, 18, 20
	}
	room, err := sim.NewColdRoom(cfg)
	if err != nil {
		panic(err) // the defaults are valid; only a programming error gets here
	}
	// Start each room at its own point of the compressor cycle.
	for i := uint64(0); i < cfg.Seed%180; i++ {
		room.Step(time.Minute)
	}
	bank := sim.NewBank()
	room.WriteTo(bank, sim.LayoutRenke)
	srv.Attach(u, bank)
	go room.RunFast(ctx, bank, sim.LayoutRenke, 500*time.Millisecond, speed)
}

type hubRoom struct {
	Site  string  `json:"site"`
	Room  string  `json:"room"`
	Class string  `json:"class"`
	MinC  float64 `json:"min_c"`
	MaxC  float64 `json:"max_c"`
}

// fetchRooms asks the hub for its cold rooms, waiting for it to start.
func fetchRooms(ctx context.Context, hubURL string) ([]hubRoom, error) {
	for {
		rooms, err := func() ([]hubRoom, error) {
			resp, err := http.Get(hubURL + "/api/v1/coldrooms")
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("hub answered %s", resp.Status)
			}
			var rs []hubRoom
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

func runCounty(ctx context.Context, log *slog.Logger, hubURL, brokerURL, stateDir string, speed float64, interval time.Duration) error {
	rooms, err := fetchRooms(ctx, hubURL)
	if err != nil {
		return err
	}
	bySite := map[string][]hubRoom{}
	for _, r := range rooms {
		bySite[r.Site] = append(bySite[r.Site], r)
	}
	siteIDs := make([]string, 0, len(bySite))
	for s := range bySite {
		siteIDs = append(siteIDs, s)
	}
	sort.Strings(siteIDs)
	var wg sync.WaitGroup
	for _, site := range siteIDs {
		// One Modbus TCP gateway per warehouse, one transmitter per room behind it.
		srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg := config.Default()
		cfg.Site, cfg.Edge = site, site+"-e1"
		cfg.StateDir = filepath.Join(stateDir, cfg.Edge)
		cfg.MQTT.Broker = brokerURL
		cfg.StatusInterval = time.Minute
		for i, r := range bySite[site] {
			unit := byte(i + 1)
			startRoom(ctx, srv, unit, site+"/"+r.Room, (r.MinC+r.MaxC)/2, speed)
			cfg.Devices = append(cfg.Devices, config.Device{ID: r.Room + "-th", Room: r.Room, Profile: "th-renke",
				Address: srv.Addr(), Unit: int(unit), Interval: interval, Timeout: min(time.Second, interval/2), Retries: 1})
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%s: %w", site, err)
		}
		a, err := agent.New(cfg, log.With("sim", true))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	log.Info("county simulation running", "townships", len(siteIDs), "rooms", len(rooms), "broker", brokerURL, "speed", speed)
	wg.Wait()
	return nil
}
