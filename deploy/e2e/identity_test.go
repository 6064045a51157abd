package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/sim"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/provision/provisiontest"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/state"
)

// deniedByMosquitto reads Mosquitto's log for a refused publish on topic:
// "Denied PUBLISH from <client> (d0, q1, r0, m1, '<topic>', ...". It is
// logged at debug level only, which the tests add to the deployed levels.
func deniedByMosquitto(b *testenv.Mosquitto) func(topic, payload string) bool {
	return func(topic, _ string) bool {
		for _, line := range strings.Split(b.Log(), "\n") {
			if strings.Contains(line, "Denied PUBLISH") && strings.Contains(line, "'"+topic+"'") {
				return true
			}
		}
		return false
	}
}

// TestMosquittoACLCases puts the ACL's cases (hub/access) to a real
// Mosquitto running the deployed configuration with the files "hub
// provision" wrote: each edge on the TLS listener with its certificate,
// the observer hub on the loopback listener with its password.
func TestMosquittoACLCases(t *testing.T) {
	skipShort(t)
	c := provisiontest.New(t)
	c.ProvisionCases(t)
	b := testenv.StartSecureMosquitto(t, c.Dir, "log_type debug")
	provisiontest.CheckCases(t, c, provisiontest.Broker{
		Name: "mosquitto",
		URL: func(id contract.Identity) string {
			if id == provisiontest.Observer {
				return b.URL()
			}
			return b.TLSURL()
		},
		GrantsAll:     true,
		DeniedPublish: deniedByMosquitto(b),
	})
}

func tryConnect(t *testing.T, o *mqtt.ClientOptions) (mqtt.Client, error) {
	t.Helper()
	cl := mqtt.NewClient(o.SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetConnectRetry(false))
	tok := cl.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		t.Fatal("connect timed out")
	}
	return cl, tok.Error()
}

// TestMosquittoRefusals: connecting without credentials, with a wrong
// password, with an expired certificate, a revoked one or one from another
// CA is refused by the deployed Mosquitto, and each refusal is in its log;
// a will on another edge's topic and another edge's client id do not get
// an edge anywhere.
func TestMosquittoRefusals(t *testing.T) {
	skipShort(t)
	c := provisiontest.New(t)
	e1, e2 := access.CaseEdge, access.CaseSameSite
	c.Issue(t, e1, provision.IssueOptions{})
	c.Issue(t, e2, provision.IssueOptions{})
	pw := contract.EdgeIdentity("tw03", "tw03-e1")
	c.Issue(t, pw, provision.IssueOptions{Password: true})
	now := time.Now()
	expired := contract.EdgeIdentity("tw04", "tw04-e1")
	c.Issue(t, expired, provision.IssueOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	revoked := contract.EdgeIdentity("tw05", "tw05-e1")
	c.Issue(t, revoked, provision.IssueOptions{})
	c.Revoke(t, revoked)
	other := provisiontest.New(t)
	other.Issue(t, e1, provision.IssueOptions{})
	b := testenv.StartSecureMosquitto(t, c.Dir)

	for name, o := range map[string]*mqtt.ClientOptions{
		"certificate": c.Options(t, e1, b.TLSURL()),
		"password":    c.Options(t, pw, b.URL()),
	} {
		cl, err := tryConnect(t, o)
		if err != nil {
			t.Fatalf("%s login: %v\n%s", name, err, b.Log())
		}
		cl.Disconnect(50)
	}

	forgedFiles := other.ClientFiles(e1)
	forgedFiles.CAFile = c.Path(provision.CACert) // the county's CA certificate is no secret
	forgedTLS, err := pki.ClientTLS(forgedFiles)
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := pki.ClientTLS(pki.ClientFiles{CAFile: c.Path(provision.CACert), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name string
		o    *mqtt.ClientOptions
		log  string // what Mosquitto logs
	}{
		{"anonymous", mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("anon"), "disconnected, not authorised"},
		{"wrong password", mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("guess").SetUsername(pw.String()).SetPassword("guess"), "disconnected, not authorised"},
		{"no certificate", mqtt.NewClientOptions().AddBroker(b.TLSURL()).SetClientID("nocert").SetTLSConfig(noCert), "peer did not return a certificate"},
		// Mosquitto logs these as "certificate verify failed", without
		// saying why; the same certificates but valid connect.
		{"expired certificate", c.Options(t, expired, b.TLSURL()), "certificate verify failed"},
		{"revoked certificate", c.Options(t, revoked, b.TLSURL()), "certificate verify failed"},
		{"certificate of another CA", mqtt.NewClientOptions().AddBroker(b.TLSURL()).SetClientID("forged").SetTLSConfig(forgedTLS), "certificate verify failed"},
	} {
		t.Run(r.name, func(t *testing.T) {
			before := strings.Count(b.Log(), r.log)
			if cl, err := tryConnect(t, r.o); err == nil {
				cl.Disconnect(50)
				t.Fatal("connected")
			}
			waitFor(t, 5*time.Second, "the refusal logged", func() error {
				if strings.Count(b.Log(), r.log) == before {
					return fmt.Errorf("no new %q in the broker log", r.log)
				}
				return nil
			})
		})
	}

	// A will on another edge's status topic: Mosquitto 2.0.11 accepts the
	// connection but checks the ACL when the will is due: it never reaches
	// anyone. (The embedded broker refuses such a CONNECT.)
	c.Issue(t, provisiontest.Observer, provision.IssueOptions{Password: true})
	b.Reload()
	got := make(chan string, 8)
	observer, err := tryConnect(t, c.Options(t, provisiontest.Observer, b.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Disconnect(50)
	e2Status := contract.StatusTopic(contract.DefaultPrefix, e2.Site, e2.Edge)
	observer.Subscribe(contract.DefaultPrefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) }).Wait()
	// willDelivered connects e1 through a proxy with its will on topic,
	// cuts the connection, and reports whether the will reached the
	// observer before a sentinel published after the broker saw the cut.
	cuts := 0
	willDelivered := func(topic, payload string) bool {
		t.Helper()
		proxy := testenv.StartProxy(t, "127.0.0.1:"+fmt.Sprint(b.TLSPort()))
		wc, err := tryConnect(t, c.Options(t, e1, "ssl://"+proxy.Addr()).SetBinaryWill(topic, []byte(payload), 1, false))
		if err != nil {
			t.Fatalf("connecting with a will on %s: %v", topic, err)
		}
		defer wc.Disconnect(0)
		proxy.Cut() // an unexpected disconnection: the will is due
		cuts++
		waitFor(t, 10*time.Second, "the broker to notice the cut", func() error {
			if n := strings.Count(b.Log(), "Client tw01.tw01-e1 closed its connection"); n < cuts {
				return fmt.Errorf("%d cuts seen", n)
			}
			return nil
		})
		sentinel, err := tryConnect(t, c.Options(t, e2, b.TLSURL()))
		if err != nil {
			t.Fatal(err)
		}
		defer sentinel.Disconnect(50)
		sentinel.Publish(e2Status, 1, false, "sentinel "+payload).Wait()
		delivered := false
		for {
			select {
			case m := <-got:
				if m == topic+" "+payload {
					delivered = true
				}
				if m == e2Status+" sentinel "+payload {
					return delivered
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the sentinel never came")
			}
		}
	}
	if !willDelivered(contract.StatusTopic(contract.DefaultPrefix, e1.Site, e1.Edge), "own will") {
		t.Error("a will on the edge's own status topic was not delivered")
	}
	if willDelivered(e2Status, "forged will") {
		t.Error("a will on another edge's status topic was delivered")
	}

	// Another edge's client id does not take its session: the broker uses
	// the identity as client id (use_username_as_clientid).
	lost := make(chan struct{})
	victim, err := tryConnect(t, c.Options(t, e1, b.TLSURL()).SetClientID("edge-tw01-e1").SetConnectionLostHandler(func(mqtt.Client, error) { close(lost) }))
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Disconnect(50)
	thief, err := tryConnect(t, c.Options(t, e2, b.TLSURL()).SetClientID("edge-tw01-e1"))
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Disconnect(50)
	thief.Subscribe(contract.CommandFilter(contract.DefaultPrefix, e2.Site, e2.Edge), 1, nil).Wait()
	select {
	case <-lost:
		t.Error("an edge using another's client id took its session")
	default:
	}
	if !strings.Contains(b.Log(), "as tw01.tw01-e1 ") || !strings.Contains(b.Log(), "as tw01.tw01-e2 ") {
		t.Errorf("the sessions are not named by identity:\n%s", b.Log())
	}
}

// TestMosquittoRevokeConnected: "hub provision revoke" and a reload of the
// deployed Mosquitto cut a connected edge off from every topic at once (a
// password login is disconnected), the other edges untouched; the revoked
// certificate cannot connect once Mosquitto has restarted (2.0 reads the
// CRL at start only).
func TestMosquittoRevokeConnected(t *testing.T) {
	skipShort(t)
	c := provisiontest.New(t)
	e1, e2 := access.CaseEdge, access.CaseSameSite
	c.Issue(t, e1, provision.IssueOptions{})
	c.Issue(t, e2, provision.IssueOptions{})
	pw := contract.EdgeIdentity("tw03", "tw03-e1")
	c.Issue(t, pw, provision.IssueOptions{Password: true})
	c.Issue(t, provisiontest.Observer, provision.IssueOptions{Password: true})
	ops := contract.HubIdentity("ops") // sends a command; the observer keeps its session
	c.Issue(t, ops, provision.IssueOptions{Password: true})
	b := testenv.StartSecureMosquitto(t, c.Dir)
	prefix := contract.DefaultPrefix

	got := make(chan string, 64)
	observer, err := tryConnect(t, c.Options(t, provisiontest.Observer, b.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Disconnect(50)
	observer.Subscribe(prefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) }).Wait()

	lost := map[contract.Identity]chan struct{}{e1: make(chan struct{}), e2: make(chan struct{}), pw: make(chan struct{})}
	clients := map[contract.Identity]mqtt.Client{}
	cmds := make(chan string, 8)
	for id, url := range map[contract.Identity]string{e1: b.TLSURL(), e2: b.TLSURL(), pw: b.URL()} {
		ch := lost[id]
		cl, err := tryConnect(t, c.Options(t, id, url).SetConnectionLostHandler(func(mqtt.Client, error) { close(ch) }))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Disconnect(50)
		clients[id] = cl
	}
	clients[e1].Subscribe(contract.CommandFilter(prefix, e1.Site, e1.Edge), 1, func(_ mqtt.Client, m mqtt.Message) { cmds <- m.Topic() }).Wait()

	c.Revoke(t, e1)
	c.Revoke(t, pw)
	b.Reload()

	select {
	case <-lost[pw]:
	case <-time.After(10 * time.Second):
		t.Error("the revoked password login is still connected after the reload")
	}
	// The revoked certificate's connection stays open, but it can neither
	// publish nor receive; e2 goes on.
	telemetry := func(id contract.Identity) string { return contract.TelemetryTopic(prefix, id.Site, id.Edge, "cr1-th") }
	if tok := clients[e1].Publish(telemetry(e1), 1, false, "after revocation"); tok.WaitTimeout(5*time.Second) && tok.Error() != nil {
		t.Logf("the revoked edge's publish failed: %v", tok.Error())
	}
	hub, err := tryConnect(t, c.Options(t, ops, b.URL()))
	if err == nil {
		hub.Publish(contract.CommandTopic(prefix, e1.Site, e1.Edge, "ping"), 1, false, "{}").Wait()
		hub.Disconnect(50)
	}
	if tok := clients[e2].Publish(telemetry(e2), 1, false, "still here"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("e2: %v", tok.Error())
	}
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case m := <-got:
			if m == telemetry(e1)+" after revocation" {
				t.Error("the revoked edge's reading was delivered")
			}
			if m == telemetry(e2)+" still here" {
				break wait
			}
		case <-deadline:
			t.Fatal("the other edge's reading never came")
		}
	}
	select {
	case m := <-cmds:
		t.Errorf("the revoked edge received %s", m)
	default:
	}
	select {
	case <-lost[e2]:
		t.Error("an edge not revoked lost its connection")
	default:
	}

	// After a restart the CRL is read: the certificate is refused at once.
	b.Stop()
	b.Start()
	if cl, err := tryConnect(t, c.Options(t, e1, b.TLSURL())); err == nil {
		cl.Disconnect(50)
		t.Error("the revoked certificate connected after the restart")
	}
	if cl, err := tryConnect(t, c.Options(t, e2, b.TLSURL())); err != nil {
		t.Errorf("the other edge after the restart: %v", err)
	} else {
		cl.Disconnect(50)
	}
}

// TestProvisionedEdgeToHub is the whole path with the identity the
// provisioning command gives, through each broker: "hub provision" makes
// the county, the hub's identity and an edge's bundle; the bundle's
// edge.yaml (devices added) passes check-config; the real edge-agent
// binary reads a simulated transmitter and its readings reach the hub,
// which is logged in with its own identity. A client with the edge's
// certificate posing as another edge gets nothing through, and a payload
// naming another edge on its own topic is rejected by the hub.
func TestProvisionedEdgeToHub(t *testing.T) {
	skipShort(t)
	agentBin := binary(t, "./edge/cmd/edge-agent", "amd64")
	for _, brokerKind := range []string{"mosquitto", "embedded"} {
		t.Run(brokerKind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			provisionCmd(t, "init", "-dir", dir, "-broker-host", "localhost,127.0.0.1", "-ca-name", "Test County CA")
			hubOut := filepath.Join(t.TempDir(), "hub")
			provisionCmd(t, "hub", "-dir", dir, "-out", hubOut)

			var hub *server.Main
			var brokerURL string
			var mosq *testenv.Mosquitto
			if brokerKind == "mosquitto" {
				mosq = testenv.StartSecureMosquitto(t, dir)
				brokerURL = mosq.TLSURL()
				hub = startHub(t, func(c *server.Config) {
					c.MQTT.Broker = mosq.TLSURL()
					c.MQTT.TLS = server.TLSConfig{CAFile: filepath.Join(hubOut, provision.CACert), CertFile: filepath.Join(hubOut, provision.HubCert),
						KeyFile: filepath.Join(hubOut, provision.HubKey), ServerName: "localhost"}
				})
			} else {
				hub = startHub(t, func(c *server.Config) {
					c.MQTT.Embedded, c.MQTT.EmbeddedListen = true, "127.0.0.1:0"
					c.MQTT.EmbeddedPKIDir, c.MQTT.EmbeddedTLSListen = dir, "127.0.0.1:0"
				})
				brokerURL = hub.Broker.TLSURL()
			}

			box := filepath.Join(t.TempDir(), "box")
			provisionCmd(t, "edge", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1", "-out", box, "-install-dir", box,
				"-broker", brokerURL, "-state-dir", filepath.Join(box, "state"))
			if mosq != nil {
				mosq.Reload() // the new edge's ACL block
			}
			srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			bank := sim.NewBank()
			bank.SetHolding(0, 815)
			bank.SetHoldingInt16(1, 37)
			srv.Attach(1, bank)
			edgeYAML := filepath.Join(box, provision.EdgeConfig)
			y, err := os.ReadFile(edgeYAML)
			if err != nil {
				t.Fatal(err)
			}
			y = append(y, fmt.Sprintf("log_level: info\ndevices:\n  - {id: cr1-th, room: cr1, profile: th-renke, address: %q, unit: 1, interval: 200ms, timeout: 150ms}\n", srv.Addr())...)
			if err := os.WriteFile(edgeYAML, y, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(edgeYAML); err != nil {
				t.Fatalf("the provisioned edge.yaml does not load: %v\n%s", err, y)
			}
			agent := startAgent(t, "", agentBin, edgeYAML)

			waitFor(t, 30*time.Second, "the edge's reading at the hub", func() error {
				v, err := coldRoom(t, hub, "tw01", "cr1")
				if err != nil || v.Temperature == nil || *v.Temperature != 3.7 || v.State != state.RoomOK {
					return fmt.Errorf("%+v %v", v, err)
				}
				return nil
			})
			if !strings.Contains(agent.log.String(), "identity=tw01.tw01-e1") {
				t.Errorf("the agent does not log its certificate's identity:\n%s", agent.log.String())
			}

			// The box stolen: its certificate (the agent stopped: the same
			// identity has one session at a time) posing as another edge
			// gets nothing through the broker; on its own topic with
			// another edge named in the payload, it is rejected by the hub.
			if err := agent.stop(os.Interrupt); err != nil {
				t.Logf("agent stop: %v", err)
			}
			forger := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("forger")
			tlsCfg, err := pki.ClientTLS(pki.ClientFiles{CAFile: filepath.Join(box, provision.CACert), CertFile: filepath.Join(box, provision.EdgeCert),
				KeyFile: filepath.Join(box, provision.EdgeKey), ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			forger.SetTLSConfig(tlsCfg)
			ts := time.Now().UTC().Format(time.RFC3339Nano)
			asOther := fmt.Sprintf(`{"v":1,"id":"forged-1","site":"tw02","edge":"tw02-e1","device":"cr1-th","room":"cr1","ts":%q,"fields":{"temperature":-40}}`, ts)
			cl, err := tryConnect(t, forger)
			if err != nil {
				t.Fatal(err)
			}
			cl.Publish(contract.TelemetryTopic(contract.DefaultPrefix, "tw02", "tw02-e1", "cr1-th"), 1, false, asOther).WaitTimeout(5 * time.Second)
			cl.Disconnect(50)
			cl, err = tryConnect(t, forger)
			if err != nil {
				t.Fatal(err)
			}
			onOwnTopic := fmt.Sprintf(`{"v":1,"id":"forged-2","site":"tw02","edge":"tw02-e1","device":"cr1-th","room":"cr1","ts":%q,"fields":{"temperature":-40}}`, ts)
			cl.Publish(contract.TelemetryTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "cr1-th"), 1, false, onOwnTopic).WaitTimeout(5 * time.Second)
			cl.Disconnect(50)
			waitFor(t, 10*time.Second, "the payload naming another edge rejected", func() error {
				if n := hub.Ingest.Stats().Rejected[contract.ReasonIdentity]; n != 1 {
					return fmt.Errorf("identity rejections %d", n)
				}
				return nil
			})
			if v, err := coldRoom(t, hub, "tw02", "cr1"); err == nil && v.Temperature != nil {
				t.Errorf("a forged reading reached tw02's cold room: %+v", v)
			}
		})
	}
}

// provisionCmd runs "hub provision" as the hub binary does.
func provisionCmd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := provision.Main(args, &out, &errOut); code != 0 {
		t.Fatalf("hub provision %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}
