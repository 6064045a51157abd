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
//
// Each client's write queue is small (flow.go: 8 KiB a client, not
// mochi's 64 KiB), and publishers wait while the hub's ingest is behind
// rather than have mochi drop its messages; what is dropped anyway is
// logged and counted (Stats).
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

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
	flow    *flowControl
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
	flow, err := addFlow(srv, log)
	if err != nil {
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
	return &Broker{srv: srv, addr: real, flow: flow}, nil
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
	caps.MaximumClientWritesPending = int32(writesPending) // see flow.go
	caps.MaximumInflight = uint16(maxInflight)
	log = slog.New(withoutPacket{log.Handler()}).With("component", "broker")
	return mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log, InlineClient: false})
}

// addFlow adds the flow control (flow.go) to srv.
func addFlow(srv *mqtt.Server, log *slog.Logger) (*flowControl, error) {
	flow := newFlowControl(srv, log.With("component", "broker"))
	if err := srv.AddHook(flow, nil); err != nil {
		return nil, err
	}
	return flow, nil
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

// Stats are the broker's counts of messages held back, refused or lost
// because a subscriber was behind (see flow.go).
type Stats struct {
	// Held counts publishes that waited for a subscriber keeping its
	// session (the hub's ingest) to catch up.
	Held uint64
	// HeldTooLong counts publishes let go after waiting holdFor for a
	// subscriber that did not catch up.
	HeldTooLong uint64
	// Dropped counts messages lost: to a subscriber whose write queue was
	// full, or one holding too many unacknowledged messages (mochi's
	// MaximumInflight) while it was away. Each is logged.
	Dropped uint64
	// Queued is the messages waiting in the write queues of the clients
	// keeping their session (the hub's ingest), now.
	Queued int64
}

// Stats returns the counts since the broker started.
func (b *Broker) Stats() Stats {
	var queued int64
	b.flow.inSession.Range(func(k, _ any) bool {
		queued += b.flow.queue(k.(*mqtt.Client))
		return true
	})
	return Stats{Queued: queued, Held: b.flow.held.Load(), HeldTooLong: b.flow.heldTooLong.Load(),
		Dropped: b.flow.dropped.Load() + uint64(atomic.LoadInt64(&b.srv.Info.InflightDropped))}
}

// Close stops the broker.
func (b *Broker) Close() error {
	if b.stop != nil {
		close(b.stop)
		<-b.done
	}
	return b.srv.Close()
}
