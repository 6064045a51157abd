package broker

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/pki"
)

// SecureConfig is the embedded broker of an install: the same rules as
// the deployed Mosquitto (deploy/mosquitto/mosquitto.conf), from the same
// files "hub provision" writes.
type SecureConfig struct {
	// Listen is the plain MQTT listener (host:port): password logins only,
	// the hub's own and those of PasswordFile. Keep it on the loopback
	// interface, as Mosquitto's 1883 is: a password crosses it in clear.
	Listen string
	// TLSListen is the MQTT-over-TLS listener (host:port) where edges log
	// in with their client certificates; empty for none.
	TLSListen string
	TLS       pki.ServerFiles // CA, broker certificate and key, CRL
	// PasswordFile is a Mosquitto password file (hub provision's passwd);
	// empty for no password logins but the hub's.
	PasswordFile string
	Prefix       string // the topic prefix the ACL applies to
	// Hub and HubPassword are the hub's own login on the plain listener:
	// the hub process connects to its embedded broker with them.
	Hub         contract.Identity
	HubPassword string
	// ReloadEvery is how often the files are checked for a change
	// (default 10s). Reload checks at once.
	ReloadEvery time.Duration
}

// StartSecure starts the broker with authentication and the topic ACL:
//
//   - on the TLS listener a client presents a certificate from the CA,
//     valid and not revoked (pki.Server refuses and logs the others); its
//     common name is its identity, a password is not asked;
//   - on the plain listener a client logs in with its identity as user
//     name and its password from PasswordFile (or the hub's own);
//   - anonymous clients, and a will on a topic the client may not publish,
//     are refused at CONNECT (bad user name or password), logged;
//   - the identity becomes the client id, as Mosquitto's
//     use_username_as_clientid does: nobody can take over another's
//     session by borrowing its client id;
//   - every publish, subscription and delivery is checked against
//     access.Rules of the identity. A refused QoS 1 publish disconnects an
//     MQTT 3.1.1 client (mochi's behaviour; Mosquitto acknowledges it and
//     drops it), a refused subscription gets the failure code 0x80 in its
//     SUBACK (Mosquitto grants it and delivers nothing). The first refusal
//     of each connection is logged.
//
// The certificate, CA, revocation list and password file are re-read when
// they change (every ReloadEvery, or Reload): a client whose certificate is
// now revoked, or whose password entry changed or went, is refused at
// once and disconnected.
func StartSecure(c SecureConfig, log *slog.Logger) (*Broker, error) {
	if c.Prefix == "" {
		c.Prefix = contract.DefaultPrefix
	}
	if c.ReloadEvery <= 0 {
		c.ReloadEvery = 10 * time.Second
	}
	srv := newServer(log)
	log = log.With("component", "broker")
	g := &guard{cfg: c, log: log, clients: map[*mqtt.Client]*session{}}
	if c.Hub.Valid() && c.HubPassword != "" {
		g.hubRules = access.Rules(c.Prefix, c.Hub)
	}
	if c.TLSListen != "" {
		var err error
		if g.tls, err = pki.NewServer(c.TLS, log); err != nil {
			return nil, fmt.Errorf("embedded broker TLS: %w", err)
		}
	}
	if _, err := g.loadPasswords(); err != nil {
		return nil, fmt.Errorf("embedded broker: password file: %w", err)
	}
	g.srv = srv
	if err := srv.AddHook(g, nil); err != nil {
		return nil, err
	}
	flow, err := addFlow(srv, log)
	if err != nil {
		return nil, err
	}
	b := &Broker{srv: srv, guard: g, flow: flow, stop: make(chan struct{}), done: make(chan struct{})}
	if b.addr, err = resolve(c.Listen, "mqtt.embedded_listen"); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: listenerPlain, Address: b.addr})); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if g.tls != nil {
		if b.tlsAddr, err = resolve(c.TLSListen, "mqtt.embedded_tls.listen"); err != nil {
			return nil, err
		}
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: listenerTLS, Address: b.tlsAddr, TLSConfig: g.tls.TLSConfig()})); err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	go func() {
		defer close(b.done)
		tick := time.NewTicker(c.ReloadEvery)
		defer tick.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-tick.C:
				if err := b.Reload(); err != nil {
					log.Error("broker: reloading the certificates or the password file failed; the previous ones stay in use", "err", err)
				}
			}
		}
	}()
	return b, nil
}

// TLSURL is the TLS listener's address as an MQTT URL; empty when none.
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "ssl://" + b.tlsAddr
}

// Reload re-reads the certificate, CA, revocation list and password file
// if they changed, and refuses and disconnects the clients they no longer
// admit. An open broker has nothing to reload.
func (b *Broker) Reload() error {
	if b.guard == nil {
		return nil
	}
	return b.guard.reload()
}

// guard is the authentication and ACL hook.
type guard struct {
	mqtt.HookBase
	cfg      SecureConfig
	log      *slog.Logger
	tls      *pki.Server
	srv      *mqtt.Server
	hubRules []access.Rule

	reloadMu sync.Mutex // one reload at a time

	mu        sync.RWMutex
	passwords access.Passwords
	pwStamp   string
	clients   map[*mqtt.Client]*session
}

// session is what the guard knows of a connected client.
type session struct {
	id      contract.Identity
	rules   []access.Rule
	remote  string
	cert    *x509.Certificate // a certificate login
	pwUser  string            // a password-file login: its user and hash
	pwHash  string
	revoked atomic.Bool
	logged  atomic.Bool // a refusal was logged for this connection
}

var _ mqtt.Hook = (*guard)(nil)

func (g *guard) ID() string { return "countylink-access" }

func (g *guard) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnDisconnect
}

func (g *guard) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	s, err := g.authenticate(cl, pk)
	if err == nil && pk.Connect.WillFlag && !access.Allowed(s.rules, pk.Connect.WillTopic, true) {
		// Mosquitto refuses such a CONNECT; mochi would publish the will
		// unchecked.
		err = fmt.Errorf("%s may not publish its will on %q", s.id, pk.Connect.WillTopic)
	}
	if err != nil {
		g.log.Warn("broker: connection refused", "remote", cl.Net.Remote, "listener", cl.Net.Listener,
			"client_id", pk.Connect.ClientIdentifier, "user", string(pk.Connect.Username), "reason", err)
		return false
	}
	cl.ID = s.id.String()
	g.mu.Lock()
	g.clients[cl] = s
	g.mu.Unlock()
	return true
}

func (g *guard) authenticate(cl *mqtt.Client, pk packets.Packet) (*session, error) {
	s := &session{remote: cl.Net.Remote}
	switch cl.Net.Listener {
	case listenerTLS:
		tc, ok := cl.Net.Conn.(*tls.Conn)
		if !ok {
			return nil, errors.New("not a TLS connection")
		}
		// The handshake verified it (CA, validity, revocation list).
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return nil, pki.ErrNoCertificate
		}
		id, ok := contract.ParseIdentity(certs[0].Subject.CommonName)
		if !ok {
			return nil, pki.ErrIdentity
		}
		s.id, s.cert = id, certs[0]
	case listenerPlain:
		user, password := string(pk.Connect.Username), string(pk.Connect.Password)
		if !pk.Connect.UsernameFlag || user == "" {
			return nil, errors.New("anonymous")
		}
		if g.hubRules != nil && user == g.cfg.Hub.String() &&
			subtle.ConstantTimeCompare([]byte(password), []byte(g.cfg.HubPassword)) == 1 {
			s.id, s.rules = g.cfg.Hub, g.hubRules
			return s, nil
		}
		g.mu.RLock()
		hash, known := g.passwords[user]
		g.mu.RUnlock()
		if !known || !access.CheckPassword(hash, password) {
			if !known {
				access.CheckPassword(dummyHash, password) // the same time for an unknown user
			}
			return nil, errors.New("bad user name or password")
		}
		id, ok := contract.ParseIdentity(user)
		if !ok {
			return nil, fmt.Errorf("user %q is no broker identity", user)
		}
		s.id, s.pwUser, s.pwHash = id, user, hash
	default:
		return nil, fmt.Errorf("unknown listener %q", cl.Net.Listener)
	}
	s.rules = access.Rules(g.cfg.Prefix, s.id)
	return s, nil
}

var dummyHash, _ = access.HashPassword("countylink-no-such-user")

func (g *guard) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	g.mu.RLock()
	s := g.clients[cl]
	g.mu.RUnlock()
	if s == nil || s.revoked.Load() {
		return false
	}
	if access.Allowed(s.rules, topic, write) {
		return true
	}
	if s.logged.CompareAndSwap(false, true) {
		what := "subscribe"
		if write {
			what = "publish"
		}
		g.log.Warn("broker: refused by the ACL (further refusals of this connection are not logged)",
			"identity", s.id.String(), "remote", s.remote, "action", what, "topic", topic)
	}
	return false
}

func (g *guard) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	g.mu.Lock()
	delete(g.clients, cl)
	g.mu.Unlock()
}

// loadPasswords reads the password file if it changed and reports whether
// it did.
func (g *guard) loadPasswords() (bool, error) {
	if g.cfg.PasswordFile == "" {
		g.mu.Lock()
		if g.passwords == nil {
			g.passwords = access.Passwords{}
		}
		g.mu.Unlock()
		return false, nil
	}
	st := fileStamp(g.cfg.PasswordFile)
	g.mu.RLock()
	same := g.passwords != nil && st == g.pwStamp
	g.mu.RUnlock()
	if same {
		return false, nil
	}
	data, err := os.ReadFile(g.cfg.PasswordFile)
	if err != nil {
		return false, err
	}
	p, err := access.ParsePasswords(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", g.cfg.PasswordFile, err)
	}
	g.mu.Lock()
	g.passwords, g.pwStamp = p, st
	g.mu.Unlock()
	return true, nil
}

func (g *guard) reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	var errs []error
	certs := false
	if g.tls != nil {
		changed, err := g.tls.Reload()
		errs = append(errs, err)
		certs = changed
	}
	pws, err := g.loadPasswords()
	errs = append(errs, err)
	if !certs && !pws {
		return errors.Join(errs...)
	}
	g.log.Info("broker: certificates or password file reloaded", "certificates", certs, "passwords", pws)
	var v *pki.Verifier
	if g.tls != nil {
		v = g.tls.Verifier()
	}
	var out []*mqtt.Client
	g.mu.RLock()
	for cl, s := range g.clients {
		why := ""
		switch {
		case s.cert != nil && v != nil && v.Revoked(s.cert):
			why = "certificate revoked"
		case s.pwUser != "" && g.passwords[s.pwUser] != s.pwHash:
			why = "password removed or changed"
		}
		if why != "" && !s.revoked.Swap(true) {
			g.log.Warn("broker: client disconnected", "identity", s.id.String(), "remote", s.remote, "reason", why)
			out = append(out, cl)
		}
	}
	g.mu.RUnlock()
	for _, cl := range out {
		cl.Stop(packets.ErrNotAuthorized)
	}
	return errors.Join(errs...)
}

func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
}
