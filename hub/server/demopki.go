package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/provision"
)

// The MQTT clients of the demo county (devsim -county, edge/demo) at each
// site: a township's edge agent and its dock handheld, a village point's
// phone. Each has its own identity, as the brokers name a session by it.
const (
	demoEdgeSuffix     = "-e1" // the township's edge agent: tw01.tw01-e1
	demoHandheldSuffix = "-h"  // its dock handheld: tw01.tw01-h
	demoVillageEdge    = "vp"  // a village point's phone: tw01-v03.vp
)

// DemoIdentities are the broker identities of the clients the demo county
// runs at site s: none at the county centre.
func DemoIdentities(s hub.Site) []contract.Identity {
	switch s.Kind {
	case hub.Township:
		return []contract.Identity{contract.EdgeIdentity(s.ID, s.ID+demoEdgeSuffix), contract.EdgeIdentity(s.ID, s.ID+demoHandheldSuffix)}
	case hub.Village:
		return []contract.Identity{contract.EdgeIdentity(s.ID, demoVillageEdge)}
	}
	return nil
}

// demoPKI is the demo's county CA and its clients' credentials, in
// mqtt.embedded_pki_dir (data/pki): what "hub provision" would make, made
// at the first start and kept. Each client's bundle (ca.crt, edge.crt,
// edge.key 0600, edge.yaml) is in edges/<site>.<edge>/.
type demoPKI struct {
	dir string
	log *slog.Logger

	mu  sync.Mutex // one issuance at a time: the registry is rewritten whole
	reg *provision.Registry
}

// openDemoPKI opens the PKI directory, or creates the CA and the
// broker's certificate (for the loopback addresses and the TLS listener's
// host) when the directory has none.
func openDemoPKI(dir, tlsListen, prefix string, log *slog.Logger) (*demoPKI, error) {
	p := &demoPKI{dir: dir, log: log}
	var err error
	if _, statErr := os.Stat(filepath.Join(dir, provision.RegistryFile)); statErr == nil {
		p.reg, err = provision.Open(dir)
		return p, err
	} else if !errors.Is(statErr, os.ErrNotExist) {
		return nil, statErr
	}
	hosts := []string{"127.0.0.1", "localhost"}
	host, portText, _ := net.SplitHostPort(tlsListen)
	if ip := net.ParseIP(host); host != "" && host != "localhost" && (ip == nil || !ip.IsUnspecified() && !ip.IsLoopback()) {
		hosts = append(hosts, host)
	}
	port, _ := strconv.Atoi(portText)
	if port == 0 {
		port = 8883
	}
	now := time.Now()
	if p.reg, err = provision.Init(dir, provision.InitOptions{CAName: "CountyLink Demo County CA", BrokerHosts: hosts, BrokerPort: port, Prefix: prefix}, now); err != nil {
		return nil, err
	}
	if err := p.reg.Save(now); err != nil {
		return nil, err
	}
	log.Info("demo: county CA and broker certificate created", "dir", dir)
	return p, nil
}

// ensure gives every client of the sites an identity with a client
// certificate and writes its bundle, unless it has one already. It
// answers how many it issued.
func (p *demoPKI) ensure(sites []hub.Site) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	issued := 0
	for _, s := range sites {
		for _, id := range DemoIdentities(s) {
			out := provision.LocalBundle(p.dir, id)
			o := provision.IssueOptions{Cert: true, PerSite: id.Edge == demoVillageEdge}
			if e := p.reg.Entry(id); e != nil && e.Active() {
				if _, err := os.Stat(filepath.Join(out, provision.EdgeKey)); err == nil {
					continue
				}
				o.Renew = true // the bundle was removed: a new one
			}
			c, err := p.reg.Issue(id, o, now)
			if err != nil {
				return issued, err
			}
			if err := p.reg.WriteEdge(out, c, provision.EdgeBundle{InstallDir: out}, now); err != nil {
				return issued, fmt.Errorf("%s: %w", id, err)
			}
			issued++
		}
	}
	if issued > 0 {
		if err := p.reg.Save(now); err != nil {
			return issued, err
		}
	}
	return issued, nil
}

// siteAdded gives a site added through the API its clients' identities.
func (p *demoPKI) siteAdded(s hub.Site) {
	n, err := p.ensure([]hub.Site{s})
	if err != nil {
		p.log.Error("demo: no credentials for the new site's clients; they cannot connect", "site", s.ID, "err", err)
		return
	}
	if n > 0 {
		p.log.Info("demo: credentials issued for the new site's clients", "site", s.ID, "identities", n, "dir", filepath.Join(p.dir, provision.LocalEdges))
	}
}

// count is the number of identities in the registry that are active.
func (p *demoPKI) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.reg.Entries() {
		if e.Active() {
			n++
		}
	}
	return n
}

// siteEditor is the API's site editor, telling the demo's PKI of the
// sites added.
func (m *Main) siteEditor() *SiteEditor {
	e := &SiteEditor{db: m.Store, state: m.State, log: m.Log.With("component", "sites")}
	if m.demoPKI != nil {
		e.saved = m.demoPKI.siteAdded
	}
	return e
}
