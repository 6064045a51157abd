// Command hub is the county server: it ingests the edges' MQTT messages,
// stores them, and serves the API and the dashboard.
//
//	hub -config /etc/countylink/hub.yaml
//	hub -demo                      embedded broker and store, for make run: a county CA
//	                               and every simulated client's credentials in data/pki,
//	                               the broker's TLS listener for them (-broker-tls-listen)
//	hub check-config FILE
//	hub provision init|hub|edge|revoke|list ...   identities on the broker
//	hub user add [-config FILE] -name NAME -role ROLE [-township ID] [-display-name TEXT]
//	                               make an account (the first admin of an install);
//	                               the password comes on stdin, or is made and printed
//	hub --version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	_ "time/tzdata" // time_zone works on a machine without the zone database

	"github.com/countylink/countylink/hub"
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
	if len(args) > 1 && args[0] == "user" && args[1] == "add" {
		return userAdd(args[2:])
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
	brokerTLSListen := fs.String("broker-tls-listen", "", "embedded broker's TLS address (client certificates), overrides mqtt.embedded_tls_listen; -demo's default 127.0.0.1:8883")
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
	// A slice, not a map keyed by the values: two flags may have the same
	// value (127.0.0.1:0).
	for _, f := range []struct{ val, dst *string }{{listen, &cfg.Listen}, {data, &cfg.DataDir},
		{brokerListen, &cfg.MQTT.EmbeddedListen}, {brokerTLSListen, &cfg.MQTT.EmbeddedTLSListen}} {
		if *f.val != "" {
			*f.dst = *f.val
		}
	}
	if *demo {
		// The demo's broker is secured as an install's is: its own CA,
		// made at the first start, and an identity per simulated client.
		if cfg.MQTT.EmbeddedPKIDir == "" {
			cfg.MQTT.EmbeddedPKIDir = filepath.Join(cfg.DataDir, "pki")
		}
		if cfg.MQTT.EmbeddedTLSListen == "" {
			cfg.MQTT.EmbeddedTLSListen = "127.0.0.1:8883"
		}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	m := &server.Main{Config: cfg, Log: log, Demo: *demo}
	if err := m.Open(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	fmt.Printf("\n  Dashboard: http://%s\n  MQTT broker: %s\n", m.HTTPAddr, m.BrokerURL)
	if a := m.DemoAccess; a != nil {
		if a.Password != "" {
			fmt.Printf("  Login: %s / %s   (shown once; also in %s)\n", a.Admin, a.Password, a.PasswordFile)
		} else {
			fmt.Printf("  Login: %s, password in %s\n", a.Admin, a.PasswordFile)
		}
		fmt.Printf("  Wall screen (kiosk, no login): http://%s%s\n", m.HTTPAddr, a.KioskPath)
		if a.PKIDir != "" {
			fmt.Printf("  Edges connect to %s with client certificates; no anonymous client gets in.\n", a.BrokerTLSURL)
			fmt.Printf("  County CA (ca.key, keep it): %s   identities: hub provision list -dir %s\n", a.PKIDir, a.PKIDir)
			fmt.Printf("  Edge credentials (%d, keys 0600): %s/<site>.<edge>/\n", a.Identities, a.EdgesDir)
		}
	}
	fmt.Println()
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

// userAdd makes an account in the configured store: hub user add.
func userAdd(args []string) int {
	fs := flag.NewFlagSet("hub user add", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML); without it the defaults apply")
	data := fs.String("data", "", "data directory, overrides the config's data_dir")
	name := fs.String("name", "", "the login name (letters or printable ASCII, no spaces)")
	role := fs.String("role", "admin", "viewer, staff, township_coordinator, county_coordinator or admin")
	township := fs.String("township", "", "the township id, for staff and township coordinators")
	display := fs.String("display-name", "", "the name shown on the pages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := server.LoadConfig(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	password := ""
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub: password from stdin:", err)
			return 1
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	made, err := server.AddUser(context.Background(), cfg, hub.User{Name: *name, DisplayName: *display, Role: hub.Role(*role), Township: *township},
		password, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	if made != "" {
		fmt.Printf("user %s (%s) made; password: %s\n", *name, *role, made)
	} else {
		fmt.Printf("user %s (%s) made\n", *name, *role)
	}
	return 0
}
