// Command devsim simulates the field devices of township warehouses and,
// for the demo, the edge agents that read them.
//
//	devsim -serve 127.0.0.1:1502 -rooms 2
//	    serve simulated cold-room transmitters (units 1..N) over Modbus TCP
//	devsim -county -hub http://127.0.0.1:8080 -broker ssl://127.0.0.1:18883 -pki data/pki -token-file data/demo-api-token -day 20m
//	    ask the hub (with the API token hub -demo writes to its data
//	    directory) for its sites and cold rooms, log every simulated MQTT
//	    client in with its own certificate from the hub's PKI directory
//	    (hub -demo writes data/pki/edges/<site>.<edge>/), simulate each township's
//	    warehouse (transmitters, a controller on RS-485, scales, scanners,
//	    GPIO, staff sorting parcels) with one real edge agent each, and play
//	    the county's days, a simulated day in -day of real time: trucks
//	    with manifests, coordinators sending vans out, village points
//	    scanning parcels in and weighing farm produce, phase 3 of the
//	    village points going live -rollout after the start (make run)
//	devsim -warehouse tw01 -rooms 19 -stations 2 -write-config edge.yaml
//	    simulate one warehouse and write the configuration an edge-agent in
//	    another process reads it with (the memory benchmark)
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/demo"
	"github.com/countylink/countylink/edge/sim"
)

func main() { os.Exit(run()) }

func run() int {
	serve := flag.String("serve", "", "serve simulated transmitters on this Modbus TCP address")
	rooms := flag.Int("rooms", 1, "with -serve or -warehouse: cold rooms to simulate")
	county := flag.Bool("county", false, "simulate every township of the hub's county with an edge agent each")
	warehouse := flag.String("warehouse", "", "simulate the warehouse of this township for an edge-agent in another process")
	stations := flag.Int("stations", 2, "scanner stations per warehouse")
	writeConfig := flag.String("write-config", "edge.yaml", "with -warehouse: where to write the agent's configuration")
	every := flag.Duration("parcel-every", 0, "mean pause of the staff between parcels at a station (default 5s with -warehouse, 20 simulated seconds with -county)")
	day := flag.Duration("day", 20*time.Minute, "with -county: real time a simulated day of the townships takes (the cold rooms keep -speed)")
	rollout := flag.Duration("rollout", 6*time.Hour, "with -county: simulated time after the start (06:00 of day 1) at which phase 3 of the village points goes live; negative for never")
	townships := flag.String("townships", "", "with -county: simulate only these townships, separated by commas")
	hubURL := flag.String("hub", "http://127.0.0.1:8080", "with -county: the hub whose cold rooms to simulate")
	tokenFile := flag.String("token-file", "data/demo-api-token", "with -county: the file of the API token (a county coordinator's) to call the hub with; waited for until it appears (hub -demo writes it)")
	brokerURL := flag.String("broker", "tcp://127.0.0.1:1883", "with -county: the broker the edge agents publish to")
	stateDir := flag.String("state", "data/edges", "with -county: state directory of the edge agents")
	pkiDir := flag.String("pki", "", "the hub's PKI directory (hub -demo's data/pki) where each simulated client takes its certificate and key from edges/<site>.<edge>/; -broker is then ssl://")
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
		cfg := demo.DefaultDayConfig()
		cfg.Rollout = *rollout
		var only []string
		if *townships != "" {
			only = strings.Split(*townships, ",")
		}
		token, err := demo.ReadTokenFile(ctx, *tokenFile)
		if err != nil {
			log.Error("county simulation", "err", err)
			return 1
		}
		err = demo.RunCounty(ctx, log, demo.CountyOptions{Hub: *hubURL, Token: token, Broker: *brokerURL, PKIDir: *pkiDir, StateDir: *stateDir,
			Interval: *interval, Speed: *speed, Stations: *stations, ParcelEvery: *every, Day: *day, DayConfig: &cfg,
			Townships: only})
		if err != nil {
			log.Error("county simulation", "err", err)
			return 1
		}
		return 0
	case *warehouse != "":
		if *every <= 0 {
			*every = 5 * time.Second
		}
		if err := runWarehouse(ctx, *warehouse, *rooms, *stations, *brokerURL, *pkiDir, *stateDir, *writeConfig, *interval, *speed, *every); err != nil {
			log.Error("warehouse simulation", "err", err)
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

// runWarehouse simulates one warehouse and writes the configuration that
// reads it; the staff scan parcels without waiting for the lamps, which
// light in the other process.
func runWarehouse(ctx context.Context, site string, rooms, stations int, broker, pkiDir, stateDir, out string, interval time.Duration, speed float64, every time.Duration) error {
	rs := make([]demo.Room, rooms)
	for i := range rs {
		rs[i] = demo.Room{ID: fmt.Sprintf("cr%d", i+1), Setpoint: 2}
	}
	opt := demo.Options{Site: site, Rooms: rs, Broker: broker, StateDir: filepath.Join(stateDir, site+"-e1"),
		Interval: interval, Speed: speed, Stations: stations, ParcelEvery: every}
	if pkiDir != "" {
		opt.TLS = demo.Credentials(pkiDir, contract.EdgeIdentity(site, site+"-e1"))
	}
	w, err := demo.New(ctx, opt)
	if err != nil {
		return err
	}
	defer w.Close()
	b, err := yaml.Marshal(w.Config())
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("devsim: warehouse %s simulated; agent configuration in %s\n", site, out)
	w.Staff(ctx, false)
	return nil
}
