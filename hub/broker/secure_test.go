package broker

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/provision/provisiontest"
)

// logBuf collects the broker's log.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// published records the publishes the broker accepted.
type published struct {
	mqtt.HookBase
	mu     sync.Mutex
	topics map[string]int
}

func (h *published) ID() string           { return "test-published" }
func (h *published) Provides(b byte) bool { return b == mqtt.OnPublished }
func (h *published) OnPublished(_ *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	h.topics[pk.TopicName+" "+string(pk.Payload)]++
	h.mu.Unlock()
}
func (h *published) count(topic, payload string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[topic+" "+payload]
}

const hubSecret = "in-process-secret"

var embeddedHub = contract.HubIdentity("embedded")

func startSecure(t *testing.T, c *provisiontest.County) (*Broker, *logBuf, *published) {
	t.Helper()
	logs := &logBuf{}
	b, err := StartSecure(SecureConfig{
		Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", TLS: c.ServerFiles(),
		PasswordFile: c.Path(provision.PasswdFile), Hub: embeddedHub, HubPassword: hubSecret,
		ReloadEvery: time.Hour, // the tests call Reload
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	rec := &published{topics: map[string]int{}}
	if err := b.srv.AddHook(rec, nil); err != nil {
		t.Fatal(err)
	}
	return b, logs, rec
}

// TestSecureCases puts the ACL's cases to the embedded broker through real
// clients: certificates on its TLS listener, passwords on its plain one.
func TestSecureCases(t *testing.T) {
	c := provisiontest.New(t)
	c.ProvisionCases(t)
	b, _, rec := startSecure(t, c)
	provisiontest.CheckCases(t, c, provisiontest.Broker{
		Name: "embedded",
		URL: func(id contract.Identity) string {
			if id == provisiontest.Observer {
				return b.URL() // a password login
			}
			return b.TLSURL()
		},
		DeniedPublish: func(topic, payload string) bool { return rec.count(topic, payload) == 0 },
	})
}

func connect(t *testing.T, o *paho.ClientOptions) (paho.Client, error) {
	t.Helper()
	cl := paho.NewClient(o.SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect timed out")
	}
	return cl, tok.Error()
}

// TestSecureRefusals: no credentials, a wrong password, certificates that
// are revoked, expired or from another CA, a will on another's topic: each
// refused and logged; the hub's own login works.
func TestSecureRefusals(t *testing.T) {
	c := provisiontest.New(t)
	e1, e2, pw := access.CaseEdge, access.CaseSameSite, contract.EdgeIdentity("tw03", "tw03-e1")
	c.Issue(t, e1, provision.IssueOptions{})
	c.Issue(t, e2, provision.IssueOptions{})
	c.Issue(t, pw, provision.IssueOptions{Password: true})
	expired := contract.EdgeIdentity("tw04", "tw04-e1")
	now := time.Now()
	c.Issue(t, expired, provision.IssueOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	revoked := contract.EdgeIdentity("tw05", "tw05-e1")
	c.Issue(t, revoked, provision.IssueOptions{})
	c.Revoke(t, revoked)
	other := provisiontest.New(t) // another county's CA, same names
	other.Issue(t, e1, provision.IssueOptions{})

	b, logs, _ := startSecure(t, c)
	opts := func(id contract.Identity, url string) *paho.ClientOptions { return c.Options(t, id, url) }

	if cl, err := connect(t, opts(e1, b.TLSURL())); err != nil {
		t.Fatalf("a provisioned edge: %v", err)
	} else {
		cl.Disconnect(50)
	}
	if cl, err := connect(t, opts(pw, b.URL())); err != nil {
		t.Fatalf("a password edge: %v", err)
	} else {
		cl.Disconnect(50)
	}
	if cl, err := connect(t, paho.NewClientOptions().AddBroker(b.URL()).SetUsername(embeddedHub.String()).SetPassword(hubSecret)); err != nil {
		t.Fatalf("the hub's own login: %v", err)
	} else {
		cl.Disconnect(50)
	}

	// A forger trusts the county's broker (its CA certificate is no
	// secret) and presents a certificate of its own CA with a valid name.
	forgedFiles := other.ClientFiles(e1)
	forgedFiles.CAFile = c.Path(provision.CACert)
	forgedTLS, err := pki.ClientTLS(forgedFiles)
	if err != nil {
		t.Fatal(err)
	}
	forged := paho.NewClientOptions().AddBroker(b.TLSURL()).SetTLSConfig(forgedTLS)
	noCert, err := pki.ClientTLS(pki.ClientFiles{CAFile: c.Path(provision.CACert), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]*paho.ClientOptions{
		"anonymous on the plain listener":   paho.NewClientOptions().AddBroker(b.URL()),
		"no certificate on TLS":             paho.NewClientOptions().AddBroker(b.TLSURL()).SetTLSConfig(noCert),
		"a password on TLS, no certificate": paho.NewClientOptions().AddBroker(b.TLSURL()).SetTLSConfig(noCert).SetUsername(pw.String()).SetPassword(c.Credentials(pw).Password),
		"wrong password":                    paho.NewClientOptions().AddBroker(b.URL()).SetUsername(pw.String()).SetPassword("guess"),
		"unknown user":                      paho.NewClientOptions().AddBroker(b.URL()).SetUsername("tw09.tw09-e1").SetPassword("guess"),
		"the hub with a wrong secret":       paho.NewClientOptions().AddBroker(b.URL()).SetUsername(embeddedHub.String()).SetPassword("guess"),
		"expired certificate":               opts(expired, b.TLSURL()),
		"revoked certificate":               opts(revoked, b.TLSURL()),
		"certificate of another CA":         forged,
		"a certificate edge on plain":       opts(e1, b.URL()),
		"a will as another edge": opts(e1, b.TLSURL()).SetBinaryWill(
			contract.StatusTopic(contract.DefaultPrefix, e2.Site, e2.Edge), []byte("offline"), 1, true),
	} {
		t.Run(name, func(t *testing.T) {
			if cl, err := connect(t, o); err == nil {
				cl.Disconnect(50)
				t.Fatal("connected")
			}
		})
	}
	log := logs.String()
	for _, want := range []string{
		"reason=anonymous", "reason=\"bad user name or password\"",
		"client certificate refused", "certificate expired", "certificate revoked", "not issued by the county CA", "no client certificate",
		"may not publish its will",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// TestSecureRevokeConnected: revoking a connected edge cuts it off at the
// next reload, and it cannot come back; the other edges stay connected.
func TestSecureRevokeConnected(t *testing.T) {
	c := provisiontest.New(t)
	e1, e2, pw := access.CaseEdge, access.CaseSameSite, contract.EdgeIdentity("tw03", "tw03-e1")
	for _, id := range []contract.Identity{e1, e2} {
		c.Issue(t, id, provision.IssueOptions{})
	}
	c.Issue(t, pw, provision.IssueOptions{Password: true})
	b, logs, _ := startSecure(t, c)

	clients := map[contract.Identity]paho.Client{}
	lost := map[contract.Identity]chan struct{}{}
	for id, url := range map[contract.Identity]string{e1: b.TLSURL(), e2: b.TLSURL(), pw: b.URL()} {
		ch := make(chan struct{})
		lost[id] = ch
		cl, err := connect(t, c.Options(t, id, url).SetConnectionLostHandler(func(paho.Client, error) { close(ch) }))
		if err != nil {
			t.Fatal(err)
		}
		clients[id] = cl
		defer cl.Disconnect(50)
	}
	c.Revoke(t, e1)
	c.Revoke(t, pw)
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []contract.Identity{e1, pw} {
		select {
		case <-lost[id]:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still connected after its revocation", id)
		}
	}
	if !clients[e2].IsConnectionOpen() {
		t.Error("an edge not revoked lost its connection")
	}
	if _, err := connect(t, c.Options(t, e1, b.TLSURL())); err == nil {
		t.Error("the revoked certificate connected again")
	}
	if _, err := connect(t, c.Options(t, pw, b.URL())); err == nil {
		t.Error("the revoked password connected again")
	}
	if !strings.Contains(logs.String(), "reason=\"certificate revoked\"") || !strings.Contains(logs.String(), "reason=\"password removed or changed\"") {
		t.Errorf("revocations not logged:\n%s", logs.String())
	}
}

// TestSecureClientIDIsIdentity: an edge cannot take over another's session
// by using its client id: the broker names every session by its identity.
func TestSecureClientIDIsIdentity(t *testing.T) {
	c := provisiontest.New(t)
	e1, e2 := access.CaseEdge, access.CaseSameSite
	c.Issue(t, e1, provision.IssueOptions{})
	c.Issue(t, e2, provision.IssueOptions{})
	b, _, _ := startSecure(t, c)
	lost := make(chan struct{})
	victim, err := connect(t, c.Options(t, e1, b.TLSURL()).SetClientID("edge-tw01-e1").SetConnectionLostHandler(func(paho.Client, error) { close(lost) }))
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Disconnect(50)
	thief, err := connect(t, c.Options(t, e2, b.TLSURL()).SetClientID("edge-tw01-e1"))
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Disconnect(50)
	// The thief's subscription round trip proves the broker handled its
	// connection completely.
	thief.Subscribe(contract.CommandFilter(contract.DefaultPrefix, e2.Site, e2.Edge), 1, nil).Wait()
	select {
	case <-lost:
		t.Fatal("a second edge using the first one's client id took its session")
	default:
	}
	if b.Clients() != 2 {
		t.Errorf("%d clients, want 2", b.Clients())
	}
}

// TestSecureReloadsCertificate: a renewed broker certificate is served to
// the next connection without a restart.
func TestSecureReloadsCertificate(t *testing.T) {
	c := provisiontest.New(t)
	c.Issue(t, access.CaseEdge, provision.IssueOptions{})
	b, _, _ := startSecure(t, c)
	serial := func() string {
		cfg := c.TLS(t, access.CaseEdge)
		var got string
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { got = cs.PeerCertificates[0].SerialNumber.Text(16); return nil }
		cl, err := connect(t, c.Options(t, access.CaseEdge, b.TLSURL()).SetTLSConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		cl.Disconnect(50)
		return got
	}
	before := serial()
	is, err := c.Registry.CA().Issue(pki.Request{CommonName: "localhost", Server: true, DNSNames: []string{"localhost"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // another modification time
	if err := pki.WriteKey(c.Path(provision.BrokerKey), is.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.Path(provision.BrokerCert), is.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if after := serial(); after == before || after != is.Cert.SerialNumber.Text(16) {
		t.Errorf("served certificate %s after the reload, before %s, new %s", after, before, is.Cert.SerialNumber.Text(16))
	}
}
