package provision

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/pki"
)

var (
	e1 = contract.EdgeIdentity("tw01", "tw01-e1")
	e2 = contract.EdgeIdentity("tw02", "tw02-e1")
)

func initDir(t *testing.T) (string, *Registry) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	r, err := Init(dir, InitOptions{CAName: "Test County CA", BrokerHosts: []string{"localhost", "127.0.0.1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir, r
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInit(t *testing.T) {
	dir, r := initDir(t)
	for name, want := range map[string]os.FileMode{CAKey: 0o600, BrokerKey: 0o600, CACert: 0o644, BrokerCert: 0o644,
		RegistryFile: 0o600, ACLFile: 0o644, PasswdFile: 0o640, CRLFile: 0o644} {
		if m := mode(t, filepath.Join(dir, name)); m != want {
			t.Errorf("%s is %04o, want %04o", name, m, want)
		}
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("directory is %04o", m)
	}
	if r.BrokerURL() != "ssl://localhost:8883" || r.Prefix() != "countylink" {
		t.Errorf("broker %q prefix %q", r.BrokerURL(), r.Prefix())
	}
	broker, _ := os.ReadFile(filepath.Join(dir, BrokerCert))
	cert, err := pki.ParseCertificate(broker)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if _, err := Init(dir, InitOptions{BrokerHosts: []string{"x"}}, time.Now()); !errors.Is(err, ErrExists) {
		t.Errorf("second init: %v", err)
	}
	if _, err := Init(t.TempDir(), InitOptions{}, time.Now()); err == nil {
		t.Error("init without a broker host")
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.BrokerURL() != r.BrokerURL() || !again.CA().Cert.Equal(r.CA().Cert) {
		t.Error("Open reads another registry")
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "hub provision init") {
		t.Errorf("Open of an empty directory: %v", err)
	}
}

func TestIssueRevoke(t *testing.T) {
	dir, r := initDir(t)
	now := time.Now()
	c1, err := r.Issue(e1, IssueOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c1.CertPEM == nil || c1.Password != "" {
		t.Fatalf("default credentials: cert %v password %q", c1.CertPEM != nil, c1.Password)
	}
	c2, err := r.Issue(e2, IssueOptions{Cert: true, Password: true}, now)
	if err != nil || c2.Password == "" || c2.CertPEM == nil {
		t.Fatalf("cert and password: %+v %v", c2, err)
	}
	hub, err := r.Issue(contract.HubIdentity("hub"), IssueOptions{Password: true}, now)
	if err != nil || hub.CertPEM != nil {
		t.Fatalf("hub: %+v %v", hub, err)
	}
	// One identity, one active life; an edge id once in the county.
	if _, err := r.Issue(e1, IssueOptions{}, now); err == nil || !strings.Contains(err.Error(), "-renew") {
		t.Errorf("issued twice: %v", err)
	}
	if _, err := r.Issue(contract.EdgeIdentity("tw03", "tw01-e1"), IssueOptions{}, now); err == nil || !strings.Contains(err.Error(), "unique") {
		t.Errorf("an edge id under a second site: %v", err)
	}
	if _, err := r.Issue(contract.EdgeIdentity("TW01", "x"), IssueOptions{}, now); err == nil {
		t.Error("an invalid identity issued")
	}
	renewed, err := r.Issue(e1, IssueOptions{Renew: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(now); err != nil {
		t.Fatal(err)
	}

	acl, _ := os.ReadFile(filepath.Join(dir, ACLFile))
	for _, want := range []string{"user tw01.tw01-e1\n", "user tw02.tw02-e1\n", "user _hub.hub\n", "topic write countylink/tw01/tw01-e1/telemetry/+\n"} {
		if !bytes.Contains(acl, []byte(want)) {
			t.Errorf("acl lacks %q:\n%s", want, acl)
		}
	}
	pw := readPasswords(t, dir)
	if !pw.Check("tw02.tw02-e1", c2.Password) || !pw.Check("_hub.hub", hub.Password) || len(pw) != 2 {
		t.Errorf("password file %v", pw)
	}
	v := verifier(t, dir)
	for _, c := range []*Credentials{c1, renewed, c2} {
		if id, err := v.Verify(chain(t, c), now); err != nil || id != c.Identity {
			t.Errorf("%s: %v %v", c.Identity, id, err)
		}
	}

	// Revoking e1 revokes both its certificates, removes its block, and
	// leaves e2 alone.
	if err := r.Revoke(e1, now); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(e1, now); err == nil {
		t.Error("revoked twice")
	}
	if err := r.Revoke(contract.EdgeIdentity("tw09", "x"), now); err == nil {
		t.Error("revoked an unknown identity")
	}
	if err := r.Save(now); err != nil {
		t.Fatal(err)
	}
	acl, _ = os.ReadFile(filepath.Join(dir, ACLFile))
	if bytes.Contains(acl, []byte("tw01.tw01-e1")) || !bytes.Contains(acl, []byte("user tw02.tw02-e1")) {
		t.Errorf("acl after revoking tw01.tw01-e1:\n%s", acl)
	}
	v = verifier(t, dir)
	for _, c := range []*Credentials{c1, renewed} {
		if _, err := v.Verify(chain(t, c), now); !errors.Is(err, pki.ErrRevoked) {
			t.Errorf("revoked certificate: %v", err)
		}
	}
	if _, err := v.Verify(chain(t, c2), now); err != nil {
		t.Errorf("another edge's certificate after a revocation: %v", err)
	}
	// e2 revoked: its password goes too.
	r.Revoke(e2, now)
	r.Save(now)
	if pw := readPasswords(t, dir); len(pw) != 1 {
		t.Errorf("password file after revoking a password edge: %v", pw)
	}
	// A replacement box for e1: a new life, the old certificates stay revoked.
	c1b, err := r.Issue(e1, IssueOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.Save(now)
	v = verifier(t, dir)
	if _, err := v.Verify(chain(t, c1b), now); err != nil {
		t.Errorf("replacement: %v", err)
	}
	if _, err := v.Verify(chain(t, c1), now); !errors.Is(err, pki.ErrRevoked) {
		t.Errorf("old certificate after the replacement: %v", err)
	}
	// The registry survives a reopen.
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.ACL(), r.ACL()) || len(again.Entries()) != 3 {
		t.Errorf("reopened registry differs: %d entries", len(again.Entries()))
	}
}

func readPasswords(t *testing.T, dir string) access.Passwords {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, PasswdFile))
	if err != nil {
		t.Fatal(err)
	}
	p, err := access.ParsePasswords(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verifier(t *testing.T, dir string) *pki.Verifier {
	t.Helper()
	v, err := pki.LoadVerifier(filepath.Join(dir, CACert), filepath.Join(dir, CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func chain(t *testing.T, c *Credentials) []*x509.Certificate {
	t.Helper()
	cert, err := pki.ParseCertificate(c.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{cert}
}

// TestPerSite: a kind of device every site has one of ("vp", a village
// point's phone) may share its edge id across sites when asked; each
// identity is still its own, and the second of a site is refused.
func TestPerSite(t *testing.T) {
	_, r := initDir(t)
	now := time.Now()
	for _, site := range []string{"tw01-v01", "tw01-v02"} {
		if _, err := r.Issue(contract.EdgeIdentity(site, "vp"), IssueOptions{PerSite: true}, now); err != nil {
			t.Fatalf("%s.vp: %v", site, err)
		}
	}
	if _, err := r.Issue(contract.EdgeIdentity("tw01-v03", "vp"), IssueOptions{}, now); err == nil || !strings.Contains(err.Error(), "unique") {
		t.Errorf("a shared edge id without PerSite: %v", err)
	}
	if _, err := r.Issue(contract.EdgeIdentity("tw01-v01", "vp"), IssueOptions{PerSite: true}, now); err == nil {
		t.Error("tw01-v01.vp issued twice")
	}
	if got := LocalBundle("/p", contract.EdgeIdentity("tw01-v01", "vp")); got != filepath.Join("/p", LocalEdges, "tw01-v01.vp") {
		t.Errorf("LocalBundle: %s", got)
	}
}

func TestWriteEdge(t *testing.T) {
	_, r := initDir(t)
	c, err := r.Issue(e1, IssueOptions{Cert: true, Password: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "box")
	if err := r.WriteEdge(out, c, EdgeBundle{InstallDir: "/etc/countylink"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{EdgeKey: 0o600, PasswordFile: 0o600, EdgeCert: 0o644, CACert: 0o644, EdgeConfig: 0o644} {
		if m := mode(t, filepath.Join(out, name)); m != want {
			t.Errorf("%s is %04o, want %04o", name, m, want)
		}
	}
	y, _ := os.ReadFile(filepath.Join(out, EdgeConfig))
	for _, want := range []string{
		"site: tw01\nedge: tw01-e1\n",
		"  broker: ssl://localhost:8883\n",
		"  username: tw01.tw01-e1\n  password_file: /etc/countylink/mqtt-password\n",
		"    ca_file: /etc/countylink/ca.crt\n    cert_file: /etc/countylink/edge.crt\n    key_file: /etc/countylink/edge.key\n    server_name: localhost\n",
	} {
		if !bytes.Contains(y, []byte(want)) {
			t.Errorf("edge.yaml lacks %q:\n%s", want, y)
		}
	}
	pw, _ := os.ReadFile(filepath.Join(out, PasswordFile))
	if strings.TrimSpace(string(pw)) != c.Password {
		t.Error("password file differs")
	}
	if err := r.WriteHub(out, c); err == nil {
		t.Error("an edge written as a hub")
	}
}

func TestCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != want {
			t.Fatalf("provision %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	run(2)
	run(2, "frobnicate")
	run(1, "edge", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1", "-out", t.TempDir()) // no init yet
	out := run(0, "init", "-dir", dir, "-broker-host", "hub.county.lan,10.0.0.5", "-ca-name", "Test County CA")
	if !strings.Contains(out, "ssl://hub.county.lan:8883") {
		t.Errorf("init output:\n%s", out)
	}
	run(1, "init", "-dir", dir, "-broker-host", "x")
	run(2, "edge", "-dir", dir, "-site", "tw01")
	run(2, "edge", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1", "-out", t.TempDir(), "-auth", "magic")
	box := t.TempDir()
	out = run(0, "edge", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1", "-out", box, "-auth", "both")
	if !strings.Contains(out, "tw01.tw01-e1 provisioned") || !strings.Contains(out, "systemctl reload mosquitto") {
		t.Errorf("edge output:\n%s", out)
	}
	out = run(0, "hub", "-dir", dir)
	if !strings.Contains(out, "_hub.hub provisioned") {
		t.Errorf("hub output:\n%s", out)
	}
	for _, f := range []string{HubCert, HubKey, PasswordFile, CACert} {
		if _, err := os.Stat(filepath.Join(dir, "hub-hub", f)); err != nil {
			t.Error(err)
		}
	}
	out = run(0, "list", "-dir", dir)
	for _, want := range []string{"_hub.hub", "hub", "cert+password", "tw01.tw01-e1", "edge", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	run(2, "revoke", "-dir", dir, "-site", "tw01")
	out = run(0, "revoke", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1")
	if !strings.Contains(out, "systemctl restart mosquitto") {
		t.Errorf("revoke output:\n%s", out)
	}
	run(1, "revoke", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1")
	if out = run(0, "list", "-dir", dir); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke:\n%s", out)
	}
}

// TestRealMosquitto: the files written load in a real Mosquitto with the
// deployed configuration; a certificate logs in on the TLS listener, the
// generated password on the local one, and after a revocation and a
// reload the password login is closed and refused while the others stay.
func TestRealMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Mosquitto")
	}
	dir, r := initDir(t)
	now := time.Now()
	edge, err := r.Issue(e1, IssueOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	pwEdge, err := r.Issue(e2, IssueOptions{Password: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(now); err != nil {
		t.Fatal(err)
	}
	box := filepath.Join(t.TempDir(), "e1")
	if err := r.WriteEdge(box, edge, EdgeBundle{InstallDir: box}, now); err != nil {
		t.Fatal(err)
	}
	broker := testenv.StartSecureMosquitto(t, dir)

	tlsCfg, err := pki.ClientTLS(pki.ClientFiles{CAFile: filepath.Join(box, CACert), CertFile: filepath.Join(box, EdgeCert), KeyFile: filepath.Join(box, EdgeKey), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	certClient := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.TLSURL()).SetClientID("e1").SetTLSConfig(tlsCfg).SetConnectTimeout(5 * time.Second))
	if tok := certClient.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("certificate login: %v\n%s", tok.Error(), broker.Log())
	}
	defer certClient.Disconnect(100)

	lost := make(chan error, 1)
	pwClient := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("e2").
		SetUsername(e2.String()).SetPassword(pwEdge.Password).SetAutoReconnect(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
	if tok := pwClient.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("password login: %v\n%s", tok.Error(), broker.Log())
	}
	bad := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("e2-bad").SetUsername(e2.String()).SetPassword("guess"))
	if tok := bad.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("a wrong password was accepted")
	}

	if err := r.Revoke(e2, now); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(now); err != nil {
		t.Fatal(err)
	}
	broker.Reload()
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked password login was not closed by the reload")
	}
	again := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("e2").SetUsername(e2.String()).SetPassword(pwEdge.Password))
	if tok := again.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("the revoked password was accepted")
	}
	if !certClient.IsConnectionOpen() {
		t.Error("the other edge lost its connection in the reload")
	}
}
