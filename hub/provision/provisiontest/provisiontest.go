// Package provisiontest provisions a county for tests: a PKI directory
// made by hub/provision as "hub provision" makes it, with the broker's
// certificate valid for localhost and 127.0.0.1, and identities whose
// credentials are written like an edge's bundle, ready for a broker test.
package provisiontest

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
)

// County is a provisioned PKI directory.
type County struct {
	Dir      string
	Registry *provision.Registry
	boxes    map[contract.Identity]string
	creds    map[contract.Identity]*provision.Credentials
}

// New initialises a PKI directory in a temporary directory.
func New(t testing.TB) *County {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	r, err := provision.Init(dir, provision.InitOptions{CAName: "Test County CA", BrokerHosts: []string{"localhost", "127.0.0.1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Save(time.Now()); err != nil {
		t.Fatal(err)
	}
	return &County{Dir: dir, Registry: r, boxes: map[contract.Identity]string{}, creds: map[contract.Identity]*provision.Credentials{}}
}

// Issue provisions id with o, writes its credentials to a directory of its
// own (Box) and saves the registry (ACL, password file, CRL).
func (c *County) Issue(t testing.TB, id contract.Identity, o provision.IssueOptions) *provision.Credentials {
	t.Helper()
	cr, err := c.Registry.Issue(id, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	box := filepath.Join(t.TempDir(), id.String())
	if id.Hub {
		err = c.Registry.WriteHub(box, cr)
	} else {
		err = c.Registry.WriteEdge(box, cr, provision.EdgeBundle{InstallDir: box, StateDir: filepath.Join(box, "state")}, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Save(t)
	c.boxes[id], c.creds[id] = box, cr
	return cr
}

// Revoke revokes id and saves the registry.
func (c *County) Revoke(t testing.TB, id contract.Identity) {
	t.Helper()
	if err := c.Registry.Revoke(id, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Save(t)
}

// Save writes the registry, ACL, password file and CRL.
func (c *County) Save(t testing.TB) {
	t.Helper()
	if err := c.Registry.Save(time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Box is the directory of id's credentials (edge.yaml for an edge).
func (c *County) Box(id contract.Identity) string { return c.boxes[id] }

// Credentials are id's last credentials.
func (c *County) Credentials(id contract.Identity) *provision.Credentials { return c.creds[id] }

// ServerFiles are the broker's TLS files.
func (c *County) ServerFiles() pki.ServerFiles {
	return pki.ServerFiles{CAFile: c.Path(provision.CACert), CertFile: c.Path(provision.BrokerCert), KeyFile: c.Path(provision.BrokerKey), CRLFile: c.Path(provision.CRLFile)}
}

// Path is a file of the PKI directory.
func (c *County) Path(name string) string { return filepath.Join(c.Dir, name) }

// ClientFiles are id's TLS files (no certificate for a password-only id).
func (c *County) ClientFiles(id contract.Identity) pki.ClientFiles {
	box := c.boxes[id]
	f := pki.ClientFiles{CAFile: filepath.Join(box, provision.CACert), ServerName: "localhost"}
	cert, key := provision.EdgeCert, provision.EdgeKey
	if id.Hub {
		cert, key = provision.HubCert, provision.HubKey
	}
	if _, err := os.Stat(filepath.Join(box, cert)); err == nil {
		f.CertFile, f.KeyFile = filepath.Join(box, cert), filepath.Join(box, key)
	}
	return f
}

// TLS is id's client TLS configuration.
func (c *County) TLS(t testing.TB, id contract.Identity) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientTLS(c.ClientFiles(id))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Options are paho options for id on url: its certificate on an ssl://
// URL, its password (if it has one) otherwise. The client id is the
// identity's, automatic reconnection is off.
func (c *County) Options(t testing.TB, id contract.Identity, url string) *mqtt.ClientOptions {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id.String()).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second)
	if len(url) > 6 && url[:6] == "ssl://" {
		o.SetTLSConfig(c.TLS(t, id))
	} else if cr := c.creds[id]; cr != nil && cr.Password != "" {
		o.SetUsername(id.String()).SetPassword(cr.Password)
	}
	return o
}
