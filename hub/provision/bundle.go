package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/pki"
)

// LocalEdges is the directory of the PKI directory where a hub whose
// edges run on its own machine (hub -demo and its simulated county) keeps
// their bundles, one directory per identity.
const LocalEdges = "edges"

// LocalBundle is the directory of id's bundle in the PKI directory dir:
// dir/edges/<site>.<edge>.
func LocalBundle(dir string, id contract.Identity) string {
	return filepath.Join(dir, LocalEdges, id.String())
}

// Files of an edge's bundle, copied to the box's configuration directory.
const (
	EdgeConfig   = "edge.yaml"
	EdgeCert     = "edge.crt"
	EdgeKey      = "edge.key"
	HubCert      = "hub.crt"
	HubKey       = "hub.key"
	PasswordFile = "mqtt-password"
)

// EdgeBundle describes the configuration an edge is given.
type EdgeBundle struct {
	// InstallDir is where the files will be on the box
	// (/etc/countylink): the configuration names them there.
	InstallDir string
	BrokerURL  string // default the registry's
	ServerName string // default the registry's, when it differs from the URL's host
	StateDir   string // default /var/lib/countylink-edge
}

// WriteEdge writes an edge's bundle into out (created 0700): edge.yaml,
// the CA certificate, and its certificate and key (0600) and/or password
// file (0600).
func (r *Registry) WriteEdge(out string, c *Credentials, b EdgeBundle, now time.Time) error {
	if c.Identity.Hub {
		return fmt.Errorf("provision: %s is a hub, not an edge", c.Identity)
	}
	if b.InstallDir == "" {
		b.InstallDir = "/etc/countylink"
	}
	if b.BrokerURL == "" {
		b.BrokerURL = r.reg.BrokerURL
	}
	if b.ServerName == "" {
		b.ServerName = r.reg.ServerName
	}
	if b.StateDir == "" {
		b.StateDir = "/var/lib/countylink-edge"
	}
	if err := r.writeCredentials(out, c, EdgeCert, EdgeKey); err != nil {
		return err
	}
	inst := func(name string) string { return filepath.Join(b.InstallDir, name) }
	var y strings.Builder
	fmt.Fprintf(&y, "# Written by \"hub provision edge\" on %s for %s.\n", now.UTC().Format(time.DateOnly), c.Identity)
	fmt.Fprintf(&y, "# Copy this directory's files to %s on the box, readable by the agent's\n", b.InstallDir)
	y.WriteString("# user only where they are secret (the key and the password stay 0600), add\n")
	y.WriteString("# the devices (see deploy/examples/edge.yaml) and check it with\n")
	fmt.Fprintf(&y, "#   edge-agent check-config %s\n", inst(EdgeConfig))
	fmt.Fprintf(&y, "site: %s\nedge: %s\nstate_dir: %s\n", c.Identity.Site, c.Identity.Edge, b.StateDir)
	fmt.Fprintf(&y, "mqtt:\n  broker: %s\n", b.BrokerURL)
	if c.Password != "" {
		fmt.Fprintf(&y, "  username: %s\n  password_file: %s\n", c.Identity, inst(PasswordFile))
	}
	y.WriteString("  tls:\n")
	fmt.Fprintf(&y, "    ca_file: %s\n", inst(CACert))
	if c.CertPEM != nil {
		fmt.Fprintf(&y, "    cert_file: %s\n    key_file: %s\n", inst(EdgeCert), inst(EdgeKey))
	}
	if b.ServerName != "" {
		fmt.Fprintf(&y, "    server_name: %s\n", b.ServerName)
	}
	return pki.WriteFile(filepath.Join(out, EdgeConfig), []byte(y.String()), 0o644)
}

// WriteHub writes a hub's credentials into out (created 0700): the CA
// certificate, its certificate and key and/or its password file.
func (r *Registry) WriteHub(out string, c *Credentials) error {
	if !c.Identity.Hub {
		return fmt.Errorf("provision: %s is an edge, not a hub", c.Identity)
	}
	return r.writeCredentials(out, c, HubCert, HubKey)
}

func (r *Registry) writeCredentials(out string, c *Credentials, certName, keyName string) error {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	if err := pki.WriteFile(filepath.Join(out, CACert), r.ca.CertPEM, 0o644); err != nil {
		return err
	}
	if c.CertPEM != nil {
		if err := pki.WriteKey(filepath.Join(out, keyName), c.KeyPEM); err != nil {
			return err
		}
		if err := pki.WriteFile(filepath.Join(out, certName), c.CertPEM, 0o644); err != nil {
			return err
		}
	}
	if c.Password != "" {
		if err := pki.WriteFile(filepath.Join(out, PasswordFile), []byte(c.Password+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}
