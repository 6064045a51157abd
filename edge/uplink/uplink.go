// Package uplink is the edge's MQTT connection to the hub's broker: QoS 1
// publishes, a retained "online" status on every connect with an "offline"
// last will, reconnection with capped exponential backoff, the edge's
// command subscription and its other subscriptions (the site's retained
// sort plan).
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
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
	// CommandFilter and OnCommand receive the edge's commands, each on a
	// goroutine of its own: commands sent together may run at once.
	CommandFilter string
	OnCommand     func(topic string, payload []byte)
	// Subscriptions are made with the command subscription after every
	// connection (the session is clean: the broker forgets them with it).
	Subscriptions []Subscription
}

// Subscription is a topic filter the uplink subscribes to on every
// connection, and the handler of what it brings.
//
// The handler gets the subscription's messages one at a time, in the order
// the broker sent them (a retained message first, as the subscription is
// acknowledged), on a goroutine of the subscription's own: it may block
// (on a lock, a disk write) without holding up the connection, the commands
// or the other subscriptions, and a later message never overtakes an
// earlier one. A retained message comes again after every reconnection.
// A subscription without a filter or a handler is left out.
type Subscription struct {
	Filter  string
	QoS     byte // 0 or 1; the broker may grant less
	Handler func(topic string, payload []byte)
}

// Client is a connected (or reconnecting) uplink.
type Client struct {
	cfg    Config
	c      mqtt.Client
	log    *slog.Logger
	up     atomic.Bool
	nConns atomic.Int64

	closed chan struct{} // closed by Close: the subscriptions' inboxes stop
	once   sync.Once
}

// subscription is one filter to subscribe to on connect and its callback
// for paho, which must not block: paho calls it in its router goroutine.
type subscription struct {
	filter string
	qos    byte
	cb     mqtt.MessageHandler
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
	u := &Client{cfg: cfg, log: log, closed: make(chan struct{})}
	var subs []subscription
	if cfg.CommandFilter != "" && cfg.OnCommand != nil {
		// A goroutine per command, as paho's unordered dispatch did: a
		// write to a slow device does not hold up the next command.
		subs = append(subs, subscription{filter: cfg.CommandFilter, qos: 1, cb: func(_ mqtt.Client, m mqtt.Message) {
			go cfg.OnCommand(m.Topic(), m.Payload())
		}})
	}
	for _, s := range cfg.Subscriptions {
		if s.Filter == "" || s.Handler == nil {
			continue
		}
		in := newInbox(s.Handler, u.closed)
		subs = append(subs, subscription{filter: s.Filter, qos: min(s.QoS, 1), cb: func(_ mqtt.Client, m mqtt.Message) {
			in.put(m.Topic(), m.Payload())
		}})
	}
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
		// Callbacks run in paho's router goroutine, in arrival order; they
		// only hand the message on (a goroutine per command, a queue per
		// subscription), so none blocks the connection.
		SetOrderMatters(true).
		SetResumeSubs(false)
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	if cfg.WillTopic != "" {
		o.SetBinaryWill(cfg.WillTopic, cfg.WillPayload, 1, true)
	}
	o.SetOnConnectHandler(func(mqtt.Client) {
		n := u.nConns.Add(1)
		u.log.Info("uplink connected", "broker", logURL(cfg.Broker), "connection", n)
		// From a goroutine: paho's handler must not block on a token. The
		// subscriptions come first, all of them acknowledged (or timed
		// out); only then is the uplink up (Connected, so the status and
		// the queue go out) and OnConnect called: a hub that answers
		// "online" with a command (the room rules) must find the edge
		// listening.
		go func() {
			u.subscribe(subs)
			u.up.Store(true) // Connected also asks paho, so a connection lost meanwhile is not taken for up
			if cfg.OnConnect != nil {
				cfg.OnConnect(u)
			}
		}()
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		u.up.Store(false)
		u.log.Warn("uplink lost", "broker", logURL(cfg.Broker), "err", err)
	})
	o.SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
		u.up.Store(false)
	})
	u.c = mqtt.NewClient(o)
	u.c.Connect() // with ConnectRetry the token completes only once connected
	return u
}

// subscribe sends every subscription at once and waits, at most the
// connect timeout in all, for the broker to acknowledge them. A failure is
// logged, not retried: the next connection subscribes again.
func (u *Client) subscribe(subs []subscription) {
	if len(subs) == 0 {
		return
	}
	toks := make([]mqtt.Token, len(subs))
	for i, s := range subs {
		toks[i] = u.c.Subscribe(s.filter, s.qos, s.cb)
	}
	deadline := time.Now().Add(u.cfg.ConnectTimeout)
	for i, t := range toks {
		f := subs[i].filter
		switch {
		case !waitUntil(t, deadline):
			u.log.Warn("uplink: subscription not acknowledged in time", "filter", f)
		case t.Error() != nil:
			u.log.Warn("uplink: subscription failed", "filter", f, "err", t.Error())
		default:
			if st, ok := t.(*mqtt.SubscribeToken); ok && st.Result()[f] == 0x80 {
				u.log.Warn("uplink: subscription refused by the broker (its ACL?)", "filter", f)
			}
		}
	}
}

// waitUntil waits for t until deadline; a token already done is done even
// when the deadline has passed.
func waitUntil(t mqtt.Token, deadline time.Time) bool {
	select {
	case <-t.Done():
		return true
	default:
		return t.WaitTimeout(time.Until(deadline))
	}
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
//
// Subscription handlers get no message after Close; one running then
// finishes in its own time.
func (u *Client) Close(quiesce time.Duration) {
	u.up.Store(false)
	u.c.Disconnect(uint(quiesce / time.Millisecond))
	u.once.Do(func() { close(u.closed) })
}

// inbox delivers one subscription's messages to its handler in order, on
// a goroutine of its own, so paho's router never waits for the handler.
// The queue is unbounded: subscriptions are for rare messages (a plan).
type inbox struct {
	handler func(topic string, payload []byte)
	closed  <-chan struct{}

	mu   sync.Mutex
	q    []inMsg
	wake chan struct{} // capacity 1: a message is waiting
}

type inMsg struct {
	topic   string
	payload []byte
}

func newInbox(h func(string, []byte), closed <-chan struct{}) *inbox {
	in := &inbox{handler: h, closed: closed, wake: make(chan struct{}, 1)}
	go in.run()
	return in
}

func (in *inbox) put(topic string, payload []byte) {
	in.mu.Lock()
	in.q = append(in.q, inMsg{topic, payload})
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *inbox) run() {
	for {
		select {
		case <-in.closed:
			return
		case <-in.wake:
		}
		for {
			in.mu.Lock()
			if len(in.q) == 0 {
				in.mu.Unlock()
				break
			}
			m := in.q[0]
			in.q[0] = inMsg{}
			in.q = in.q[1:]
			in.mu.Unlock()
			select {
			case <-in.closed:
				return
			default:
			}
			in.handler(m.topic, m.payload)
		}
	}
}

// logURL is u as the log may show it: no password, no query (a token may
// ride in either).
func logURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery, p.Fragment = "", ""
	return p.Redacted()
}
