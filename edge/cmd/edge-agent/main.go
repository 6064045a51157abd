// Command edge-agent runs on a warehouse's edge box: it polls the field
// devices in its configuration and publishes their readings to the hub.
//
//	edge-agent [-config /etc/countylink/edge.yaml]
//	edge-agent check-config FILE
//	edge-agent probe [-config FILE] [-scan-wait 20s] [-lamp-for 1s]
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
	"time"

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
	if len(args) > 0 && args[0] == "probe" {
		return probe(args[1:])
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
	if err := agent.CheckPlan(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 1
	}
	fmt.Printf("%s: ok (site %s, edge %s, %d Modbus devices, %d scales, %d scanners, %d GPIO lines, %d stations)\n", path, cfg.Site, cfg.Edge,
		len(cfg.Devices), len(cfg.Scales), len(cfg.Scanners), len(cfg.Inputs)+len(cfg.Outputs), len(cfg.Stations))
	return 0
}

// probe asks every configured device once and reports what it answered:
// the installer's check at the box, with the agent service stopped.
func probe(args []string) int {
	fs := flag.NewFlagSet("edge-agent probe", flag.ContinueOnError)
	path := fs.String("config", "/etc/countylink/edge.yaml", "configuration file")
	scanWait := fs.Duration("scan-wait", 20*time.Second, "how long to wait for a scan at each scanner (0 skips them)")
	lampFor := fs.Duration("lamp-for", time.Second, "how long to switch each output on (0 skips them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if n := agent.Probe(ctx, cfg, os.Stdout, agent.ProbeOptions{ScanWait: *scanWait, LampFor: *lampFor}); n > 0 {
		fmt.Printf("%d failed\n", n)
		return 1
	}
	fmt.Println("all devices answered")
	return 0
}
