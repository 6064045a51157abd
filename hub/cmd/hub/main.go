// Command hub is the county server: it ingests the edges' MQTT messages,
// stores them, and serves the API and the dashboard.
//
//	hub -config /etc/countylink/hub.yaml
//	hub -demo                      embedded broker and store, for make run
//	hub check-config FILE
//	hub provision init|hub|edge|revoke|list ...   identities on the broker
//	hub --version
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time_zone works on a machine without the zone database

	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 && args[0] == "provision" {
		return provision.Main(args[1:], os.Stdout, os.Stderr)
	}
	if len(args) > 0 && args[0] == "check-config" {
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: hub check-config FILE")
			return 2
		}
		if _, err := server.LoadConfig(args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(args[1] + ": ok")
		return 0
	}
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML); without it the defaults apply")
	demo := fs.Bool("demo", false, "run with an embedded broker and store in ./data, as make run does")
	listen := fs.String("listen", "", "HTTP address, overrides the config's listen")
	data := fs.String("data", "", "data directory, overrides the config's data_dir")
	brokerListen := fs.String("broker-listen", "", "embedded broker address, overrides mqtt.embedded_listen")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println("hub", version)
		return 0
	}
	cfg, err := server.LoadConfig(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	if *demo {
		cfg.MQTT.Embedded = true
		cfg.DataDir = "data"
	}
	for flagVal, dst := range map[string]*string{*listen: &cfg.Listen, *data: &cfg.DataDir, *brokerListen: &cfg.MQTT.EmbeddedListen} {
		if flagVal != "" {
			*dst = flagVal
		}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	m := &server.Main{Config: cfg, Log: log}
	if err := m.Open(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	fmt.Printf("\n  Dashboard: http://%s\n  MQTT broker: %s\n\n", m.HTTPAddr, m.BrokerURL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("stopping")
	if err := m.Close(); err != nil {
		log.Error("close", "err", err)
		return 1
	}
	return 0
}
