// Package broker runs an embedded MQTT broker (mochi-mqtt) inside the hub,
// so that the demo and a single-site install need no separate Mosquitto.
// Production points edges and hub at Mosquitto or EMQX instead; see deploy/.
//
// The embedded broker keeps sessions and retained messages in memory: a hub
// restart drops messages queued for offline subscribers. That is why it is
// the demo's and small installs' choice, not the county's.
package broker

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/countylink/countylink/contract"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves.
// Every client is allowed for now; the security work adds credentials and
// the same topic ACL as the Mosquitto configuration in deploy/.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	// The contract's payload limit plus room for the topic and headers.
	caps.MaximumPacketSize = contract.MaxPayloadBytes + 4096
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log.With("component", "broker"), InlineClient: false})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	// Listen here rather than in mochi so that a taken port fails now,
	// with a clear message, and port 0 can be resolved.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (set another address with -broker-listen)", addr, err)
	}
	real := ln.Addr().String()
	ln.Close()
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: real})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: real}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as an MQTT URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Clients is the number of connected clients.
func (b *Broker) Clients() int { return b.srv.Clients.Len() }

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }
