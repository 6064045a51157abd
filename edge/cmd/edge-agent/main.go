// Command edge-agent runs on a warehouse's edge box: it polls the field
// devices in its configuration and publishes their readings to the hub.
//
//	edge-agent [-config /etc/countylink/edge.yaml]
//	edge-agent check-config FILE
//	edge-agent --version
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/countylink/countylink/edge/agent"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/profiles"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "check-config" {
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: edge-agent check-config FILE")
			return 2
		}
		return checkConfig(args[1])
	}
	fs := flag.NewFlagSet("edge-agent", flag.ContinueOnError)
	path := fs.String("config", "/etc/countylink/edge.yaml", "configuration file")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println("edge-agent", agent.Version)
		return 0
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		return 1
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// checkConfig validates a file and its device profiles without starting.
func checkConfig(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bad := false
	for i, d := range cfg.Devices {
		if _, err := profiles.Load(cfg.ProfileDir, d.Profile); err != nil {
			fmt.Fprintf(os.Stderr, "%s: devices[%d].profile: %v\n", path, i, err)
			bad = true
		}
	}
	if bad {
		return 1
	}
	fmt.Printf("%s: ok (site %s, edge %s, %d devices)\n", path, cfg.Site, cfg.Edge, len(cfg.Devices))
	return 0
}
