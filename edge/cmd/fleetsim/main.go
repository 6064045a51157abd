// Command fleetsim connects a fleet of simulated edge agents to a broker,
// for load tests of the hub (see package edge/fleet).
//
//	fleetsim -county -broker tcp://127.0.0.1:18830
//	    the demo county: its 19 township edges and 303 village point
//	    devices, with their real site ids (a hub started with -demo)
//	fleetsim -edges 10000 -sites-out province.yaml
//	    write the sites file of a province of 10,000 edges and exit: the
//	    hub refuses unknown sites, so start it with sites_file pointing there
//	fleetsim -edges 10000 -broker tcp://127.0.0.1:1883 -connect-rate 1000
//	    then connect that province, 1,000 new connections a second
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/countylink/countylink/edge/fleet"
	"github.com/countylink/countylink/hub/sites"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() { os.Exit(run()) }

func run() int {
	def := fleet.DefaultConfig()
	county := flag.Bool("county", false, "simulate the demo county: 19 township edges and 303 village point devices with their real site ids")
	phase := flag.Int("phase", 0, "with -county: only the village points live at this rollout phase (0: all)")
	edges := flag.Int("edges", 0, "simulate a province of this many edges (townships t0001... of 20 village points each)")
	rooms := flag.Int("rooms", 1, "with -edges: cold rooms per edge (a reading of each every -reading-every)")
	sitesOut := flag.String("sites-out", "", "with -edges: write the province's sites file (for the hub's sites_file) here and exit")
	broker := flag.String("broker", "tcp://127.0.0.1:1883", "MQTT broker")
	username := flag.String("username", "", "MQTT user name of every edge")
	passwordFile := flag.String("password-file", "", "file holding the MQTT password of every edge")
	prefix := flag.String("prefix", def.Prefix, "topic prefix")
	readingEvery := flag.Duration("reading-every", def.ReadingEvery, "each cold room's reading period (0: none)")
	scanEvery := flag.Duration("scan-every", def.ScanEvery, "mean pause between an edge's parcel events (0: none)")
	jitter := flag.Float64("jitter", def.Jitter, "spread of the reading period, a fraction of it")
	rate := flag.Float64("connect-rate", def.ConnectRate, "new connections per second (0: all at once)")
	qos := flag.Int("qos", int(def.QoS), "QoS of the messages, 0 or 1")
	clientPrefix := flag.String("client-id-prefix", "", "put before each edge's name in its MQTT client id")
	keepalive := flag.Duration("keepalive", def.KeepAlive, "MQTT keepalive")
	answer := flag.Bool("answer-commands", def.AnswerCommands, "subscribe to the hub's commands and answer them")
	seed := flag.Int64("seed", def.Seed, "seed of the random readings, scans and jitter")
	statsEvery := flag.Duration("stats-every", 10*time.Second, "log the fleet's counts this often (0: only at the end)")
	runFor := flag.Duration("for", 0, "stop after this long (0: at Ctrl-C)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("fleetsim", version)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *county == (*edges > 0) {
		fmt.Fprintln(os.Stderr, "fleetsim: give either -county or -edges N")
		return 2
	}
	if *sitesOut != "" {
		if *edges <= 0 {
			fmt.Fprintln(os.Stderr, "fleetsim: -sites-out goes with -edges N")
			return 2
		}
		b := fleet.ProvinceSitesYAML(*edges, *rooms)
		if _, err := sites.Parse(b); err != nil { // what the hub will say of it
			fmt.Fprintln(os.Stderr, "fleetsim: the generated sites file does not pass the hub's check:", err)
			return 1
		}
		if err := os.WriteFile(*sitesOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fleetsim:", err)
			return 1
		}
		fmt.Printf("%s: %d edges' sites; start the hub with sites_file: %s\n", *sitesOut, *edges, *sitesOut)
		return 0
	}

	cfg := def
	cfg.Broker, cfg.Username, cfg.Prefix = *broker, *username, *prefix
	if *passwordFile != "" {
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetsim:", err)
			return 1
		}
		cfg.Password = strings.TrimSpace(string(b))
	}
	cfg.ReadingEvery, cfg.ScanEvery, cfg.Jitter, cfg.ConnectRate = *readingEvery, *scanEvery, *jitter, *rate
	cfg.QoS, cfg.ClientIDPrefix, cfg.KeepAlive, cfg.AnswerCommands, cfg.Seed = byte(*qos), *clientPrefix, *keepalive, *answer, *seed
	cfg.Agent, cfg.Log = "fleetsim "+version, log
	if *qos < 0 || *qos > 1 {
		fmt.Fprintln(os.Stderr, "fleetsim: -qos must be 0 or 1")
		return 2
	}
	if *county {
		cfg.Edges = fleet.FromSites(countySites(*phase))
	} else {
		cfg.Edges = fleet.Province(*edges, *rooms)
	}
	f, err := fleet.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	if *statsEvery > 0 {
		go func() {
			t := time.NewTicker(*statsEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					log.Info("fleet", "stats", f.Stats().String())
				}
			}
		}()
	}
	if err := f.Run(ctx); err != nil {
		log.Error("fleet", "err", err)
		return 1
	}
	fmt.Println(f.Stats().String())
	return 0
}

// countySites is the demo county as the fleet needs it: each site's kind
// and cold rooms, the village points live at phase (all for 0).
func countySites(phase int) []fleet.Site {
	var out []fleet.Site
	for _, s := range sites.Rollout(sites.Demo(), phase) {
		fs := fleet.Site{ID: s.ID, Kind: string(s.Kind)}
		for _, r := range s.Rooms {
			fs.Rooms = append(fs.Rooms, fleet.Room{ID: r.ID, Class: r.Class})
		}
		out = append(out, fs)
	}
	return out
}
