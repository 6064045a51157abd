// Package uplink is the edge's MQTT connection to the hub's broker: QoS 1
// publishes, a retained "online" status on every connect with an "offline"
// last will, reconnection with capped exponential backoff, and the edge's
// command subscription.
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Config is what the uplink needs to reach the broker.
type Config struct {
	Broker               string // tcp://host:1883, ssl://host:8883
	ClientID             string
	Username             string
	Password             string
	TLS                  *tls.Config
	Keepalive            time.Duration
	ConnectTimeout       time.Duration
	MaxReconnectInterval time.Duration

	WillTopic   string
	WillPayload []byte

	// OnConnect runs after every (re)connection, before queued publishes
	// resume; the agent publishes its online status and subscribes here.
	OnConnect func(*Client)
	// CommandFilter and OnCommand receive the edge's commands.
	CommandFilter string
	OnCommand     func(topic string, payload []byte)
}

// Client is a connected (or reconnecting) uplink.
type Client struct {
	cfg    Config
	c      mqtt.Client
	log    *slog.Logger
	up     atomic.Bool
	nConns atomic.Int64
}

// ErrOffline is returned by Publish while the broker is unreachable.
var ErrOffline = errors.New("uplink: not connected to the broker")

// New creates the client and starts connecting in the background; it
// returns at once. Connection attempts repeat with backoff until Close.
func New(cfg Config, log *slog.Logger) *Client {
	if cfg.Keepalive == 0 {
		cfg.Keepalive = 30 * time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxReconnectInterval == 0 {
		cfg.MaxReconnectInterval = time.Minute
	}
	u := &Client{cfg: cfg, log: log}
	o := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetKeepAlive(cfg.Keepalive).
		SetPingTimeout(cfg.Keepalive/2 + time.Second).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.ConnectTimeout).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetOrderMatters(false).
		SetResumeSubs(false)
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	if cfg.WillTopic != "" {
		o.SetBinaryWill(cfg.WillTopic, cfg.WillPayload, 1, true)
	}
	o.SetOnConnectHandler(func(mqtt.Client) {
		n := u.nConns.Add(1)
		u.log.Info("uplink connected", "broker", cfg.Broker, "connection", n)
		// From a goroutine: paho's handler must not block on a token. The
		// command subscription comes first; only then is the uplink up
		// (Connected, so the status and the queue go out) and OnConnect
		// called: a hub that answers "online" with a command (the room
		// rules) must find the edge listening.
		go func() {
			if cfg.CommandFilter != "" && cfg.OnCommand != nil {
				t := u.c.Subscribe(cfg.CommandFilter, 1, func(_ mqtt.Client, m mqtt.Message) {
					cfg.OnCommand(m.Topic(), m.Payload())
				})
				if !t.WaitTimeout(cfg.ConnectTimeout) {
					u.log.Warn("uplink: command subscription not acknowledged in time")
				} else if t.Error() != nil {
					u.log.Warn("uplink: command subscription failed", "err", t.Error())
				}
			}
			u.up.Store(true) // Connected also asks paho, so a connection lost meanwhile is not taken for up
			if cfg.OnConnect != nil {
				cfg.OnConnect(u)
			}
		}()
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		u.up.Store(false)
		u.log.Warn("uplink lost", "broker", cfg.Broker, "err", err)
	})
	o.SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
		u.up.Store(false)
	})
	u.c = mqtt.NewClient(o)
	u.c.Connect() // with ConnectRetry the token completes only once connected
	return u
}

// Connected reports whether the broker connection is up.
func (u *Client) Connected() bool { return u.up.Load() && u.c.IsConnectionOpen() }

// Connections counts successful connections since New.
func (u *Client) Connections() int64 { return u.nConns.Load() }

// Publish sends payload at QoS 1 and waits for the broker's PUBACK or ctx.
// While offline it fails at once with ErrOffline rather than handing the
// message to paho's in-memory store: the caller keeps it and retries.
func (u *Client) Publish(ctx context.Context, topic string, payload []byte, retained bool) error {
	if !u.Connected() {
		return ErrOffline
	}
	t := u.c.Publish(topic, 1, retained, payload)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("uplink publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishAsync hands payload to the client at QoS 1 and returns the token
// that completes on the broker's PUBACK, so that several messages can be in
// flight at once. While offline it fails at once with ErrOffline.
func (u *Client) PublishAsync(topic string, payload []byte, retained bool) (mqtt.Token, error) {
	if !u.Connected() {
		return nil, ErrOffline
	}
	return u.c.Publish(topic, 1, retained, payload), nil
}

// Close publishes nothing more and disconnects, waiting up to quiesce for
// in-flight work. A clean disconnect does not fire the last will, so the
// caller publishes its offline status first.
func (u *Client) Close(quiesce time.Duration) {
	u.up.Store(false)
	u.c.Disconnect(uint(quiesce / time.Millisecond))
}
