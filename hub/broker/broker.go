// Package broker runs an embedded MQTT broker (mochi-mqtt) inside the hub,
// so that the demo and a single-site install need no separate Mosquitto.
// Production points edges and hub at Mosquitto or EMQX instead; see deploy/.
//
// The embedded broker keeps sessions and retained messages in memory: a hub
// restart drops messages queued for offline subscribers. That is why it is
// the demo's and small installs' choice, not the county's.
//
// Start runs it open, for the demo: anyone may connect and do anything.
// StartSecure runs it as the deployed Mosquitto runs (secure.go): a TLS
// listener taking client certificates from the county CA, a plain listener
// for password logins, the topic ACL of hub/access, the files of
// "hub provision" re-read as they change.
package broker

import (
	"context"
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
	srv     *mqtt.Server
	addr    string
	tlsAddr string
	guard   *guard // nil when open
	stop    chan struct{}
	done    chan struct{}
}

// Start listens on addr (host:port; port 0 picks a free one) and serves
// every client, anonymous or not, on every topic: the demo's broker.
// StartSecure is the broker of an install.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	srv := newServer(log)
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	real, err := resolve(addr, "-broker-listen")
	if err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: listenerPlain, Address: real})); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: real}, nil
}

// Listener ids.
const (
	listenerPlain = "tcp"
	listenerTLS   = "tls"
)

func newServer(log *slog.Logger) *mqtt.Server {
	caps := mqtt.NewDefaultServerCapabilities()
	// The contract's payload limit plus room for the topic and headers.
	caps.MaximumPacketSize = contract.MaxPayloadBytes + 4096
	log = slog.New(withoutPacket{log.Handler()}).With("component", "broker")
	return mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log, InlineClient: false})
}

// withoutPacket drops the "pk" attribute mochi adds to a packet it could
// not process (a publish the ACL refused): the whole packet, payload
// bytes included, in one log line.
type withoutPacket struct{ slog.Handler }

func (h withoutPacket) Handle(ctx context.Context, r slog.Record) error {
	keep := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" {
			keep.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, keep)
}

func (h withoutPacket) WithAttrs(as []slog.Attr) slog.Handler {
	return withoutPacket{h.Handler.WithAttrs(as)}
}

func (h withoutPacket) WithGroup(name string) slog.Handler {
	return withoutPacket{h.Handler.WithGroup(name)}
}

// resolve listens on addr and closes it at once, rather than leave it to
// mochi, so that a taken port fails now with a clear message (naming the
// setting to change) and port 0 is resolved.
func resolve(addr, setting string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("embedded broker: listen on %s: %w (set another address with %s)", addr, err, setting)
	}
	real := ln.Addr().String()
	ln.Close()
	return real, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as an MQTT URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// TLSAddr is the address of the TLS listener; empty when there is none.
func (b *Broker) TLSAddr() string { return b.tlsAddr }

// Clients is the number of connected clients.
func (b *Broker) Clients() int { return b.srv.Clients.Len() }

// Close stops the broker.
func (b *Broker) Close() error {
	if b.stop != nil {
		close(b.stop)
		<-b.done
	}
	return b.srv.Close()
}
