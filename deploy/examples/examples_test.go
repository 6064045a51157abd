// Package examples holds the example configurations shipped for installers;
// its test keeps them valid as the configuration evolves.
package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/profiles"
	"github.com/countylink/countylink/edge/uplink/uplinktest"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/server"
)

func TestExamplesValid(t *testing.T) {
	// The edge's example names the files "hub provision edge" writes;
	// make them in a scratch directory.
	eb, err := os.ReadFile("edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edir := t.TempDir()
	ca := uplinktest.NewCA(t, edir)
	ca.Issue(t, edir, "edge", "tw01.tw01-e1", false)
	edgeYAML := filepath.Join(edir, "edge.yaml")
	os.WriteFile(edgeYAML, []byte(strings.ReplaceAll(string(eb), "/etc/countylink/", edir+"/")), 0o600)
	ec, err := config.Load(edgeYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ec.Devices {
		if _, err := profiles.Load(ec.ProfileDir, d.Profile); err != nil {
			t.Error(err)
		}
	}
	// The hub's example names secret files an installer writes; give it
	// some in a scratch directory.
	b, err := os.ReadFile("hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"county-wecom-url", "duty-webhook", "pki/hub-hub/mqtt-password"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
		os.WriteFile(filepath.Join(dir, name), []byte("https://example.invalid/robot?key=k\n"), 0o600)
	}
	secrets := strings.NewReplacer("/etc/countylink/secrets/", dir+"/", "/etc/countylink/pki/", dir+"/pki/")
	hubYAML := filepath.Join(dir, "hub.yaml")
	os.WriteFile(hubYAML, []byte(secrets.Replace(string(b))), 0o600)
	if _, err := server.LoadConfig(hubYAML); err != nil {
		t.Fatal(err)
	}
	// Its PostgreSQL lines, uncommented, load too.
	pg := strings.Replace(secrets.Replace(string(b)),
		"  driver: sqlite\n  # driver: postgres\n  # dsn:", "  driver: postgres\n  dsn:", 1)
	if !strings.Contains(pg, "driver: postgres\n  dsn: postgres://") {
		t.Fatal("hub.yaml lacks the commented store.driver postgres and store.dsn lines")
	}
	os.WriteFile(hubYAML, []byte(pg), 0o600)
	if c, err := server.LoadConfig(hubYAML); err != nil || c.Store.Driver != server.DriverPostgres {
		t.Fatalf("hub.yaml with store.driver postgres: %v", err)
	}
}

// TestScaleOutReplicaValid keeps the scale-out reference's replica
// configuration loadable: PostgreSQL, InfluxDB and a shared group.
func TestScaleOutReplicaValid(t *testing.T) {
	b, err := os.ReadFile("../scaleout/hub-replica.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Its sites file is the installer's; give it the demo county's, and
	// its identity from a PKI directory the provisioning command made.
	pkiDir := filepath.Join(t.TempDir(), "pki")
	var out, errOut strings.Builder
	for _, args := range [][]string{{"init", "-dir", pkiDir, "-broker-host", "10.0.1.11"}, {"hub", "-dir", pkiDir, "-name", "hub-1"}} {
		if code := provision.Main(args, &out, &errOut); code != 0 {
			t.Fatalf("hub provision %v: %d\n%s", args, code, errOut.String())
		}
	}
	if acl, err := os.ReadFile(filepath.Join(pkiDir, provision.EMQXACLFile)); err != nil || !strings.Contains(string(acl), `{username, "_hub.hub-1"}`) {
		t.Errorf("the EMQX ACL emqx.conf names: %v\n%s", err, acl)
	}
	p := filepath.Join(t.TempDir(), "hub-1.yaml")
	os.WriteFile(p, []byte(strings.NewReplacer("/etc/countylink/sites.yaml", "../../hub/sites/demo-county.yaml",
		"/etc/countylink/pki/", pkiDir+"/").Replace(string(b))), 0o600)
	c, err := server.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != server.DriverPostgres || c.MQTT.SharedGroup == "" || c.Influx.URL == "" || c.MQTT.ClientID == "" {
		t.Errorf("replica config: store %q, shared group %q, influx %q, client id %q", c.Store.Driver, c.MQTT.SharedGroup, c.Influx.URL, c.MQTT.ClientID)
	}
}
