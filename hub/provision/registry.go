package provision

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/pki"
)

// Files of the PKI directory.
const (
	CACert       = "ca.crt"
	CAKey        = "ca.key"
	CRLFile      = "crl.pem"
	BrokerCert   = "broker.crt"
	BrokerKey    = "broker.key"
	ACLFile      = "acl"
	EMQXACLFile  = "emqx-acl.conf" // the same table for an EMQX cluster (deploy/scaleout)
	PasswdFile   = "passwd"
	RegistryFile = "registry.json"
)

// Registry is the PKI directory: the CA, the broker's certificate, and
// every identity provisioned, from which the ACL, the password file and
// the revocation list are written. Nothing is written before Save.
type Registry struct {
	Dir string
	ca  *pki.CA
	reg registryFile
}

// registryFile is registry.json.
type registryFile struct {
	Prefix     string   `json:"prefix"`      // the topic prefix the ACL is written for
	BrokerURL  string   `json:"broker_url"`  // what edges are told to connect to
	ServerName string   `json:"server_name"` // the broker's name in its certificate
	CRLNumber  int64    `json:"crl_number"`  // of the last revocation list written
	Entries    []*Entry `json:"identities"`
}

// Entry is one provisioned identity: an edge or a hub.
type Entry struct {
	Identity string `json:"identity"` // contract.Identity's string
	Kind     string `json:"kind"`     // edge or hub
	// PasswordHash is the identity's Mosquitto password hash, when it may
	// log in with a password; empty for certificate-only identities.
	PasswordHash string       `json:"password_hash,omitempty"`
	Certs        []CertRecord `json:"certificates,omitempty"`
	Provisioned  time.Time    `json:"provisioned"`
	// Revoked is when the identity was revoked: its certificates are on
	// the revocation list, and it has no ACL entry and no password.
	// Provisioning it again starts a new life with new credentials.
	Revoked *time.Time `json:"revoked,omitempty"`
}

// CertRecord is a certificate issued to an identity.
type CertRecord struct {
	Serial  string     `json:"serial"` // hexadecimal
	Issued  time.Time  `json:"issued"`
	Expires time.Time  `json:"expires"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Kinds of entries.
const (
	KindEdge = "edge"
	KindHub  = "hub"
)

// ID is the entry's identity.
func (e *Entry) ID() contract.Identity {
	id, _ := contract.ParseIdentity(e.Identity)
	return id
}

// Active reports whether the entry is not revoked.
func (e *Entry) Active() bool { return e.Revoked == nil }

// InitOptions are the choices made once, when the CA is created.
type InitOptions struct {
	CAName string // "CountyLink Example County CA"
	// BrokerHosts are the names and addresses in the broker's server
	// certificate (hub.county.lan, 10.0.0.5); the first is the name edges
	// connect to.
	BrokerHosts []string
	BrokerPort  int    // TLS port edges connect to (8883)
	Prefix      string // topic prefix (countylink)
}

// ErrExists is returned by Init when a CA is already there.
var ErrExists = errors.New("provision: a CA already exists in this directory (its key is ca.key); remove the directory to start again, and every edge with it")

// Init creates the CA and the broker's certificate in dir (created 0700
// if missing), with an empty registry. Call Save to write the rest.
func Init(dir string, o InitOptions, now time.Time) (*Registry, error) {
	if o.CAName == "" {
		o.CAName = "CountyLink CA"
	}
	if o.Prefix == "" {
		o.Prefix = contract.DefaultPrefix
	}
	if o.BrokerPort == 0 {
		o.BrokerPort = 8883
	}
	if len(o.BrokerHosts) == 0 {
		return nil, errors.New("provision: name the broker's host (its DNS name or address, as the edges reach it)")
	}
	if strings.ContainsAny(o.Prefix, "+#") || o.Prefix == "" {
		return nil, fmt.Errorf("provision: topic prefix %q must be set and hold no wildcard", o.Prefix)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKey)); err == nil {
		return nil, ErrExists
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, caKey, err := pki.NewCA(o.CAName, now, pki.CAValidity)
	if err != nil {
		return nil, err
	}
	var dns []string
	var ips []net.IP
	for _, h := range o.BrokerHosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	srv, err := ca.Issue(pki.Request{CommonName: o.BrokerHosts[0], Server: true, DNSNames: dns, IPs: ips}, now)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		key  bool
	}{{CAKey, caKey, true}, {CACert, ca.CertPEM, false}, {BrokerKey, srv.KeyPEM, true}, {BrokerCert, srv.CertPEM, false}} {
		perm := os.FileMode(0o644)
		if f.key {
			perm = 0o600
		}
		if err := pki.WriteFile(filepath.Join(dir, f.name), f.data, perm); err != nil {
			return nil, err
		}
	}
	u := url.URL{Scheme: "ssl", Host: net.JoinHostPort(o.BrokerHosts[0], fmt.Sprint(o.BrokerPort))}
	return &Registry{Dir: dir, ca: ca, reg: registryFile{Prefix: o.Prefix, BrokerURL: u.String(), ServerName: o.BrokerHosts[0]}}, nil
}

// Open reads the PKI directory dir: its registry and CA.
func Open(dir string) (*Registry, error) {
	data, err := os.ReadFile(filepath.Join(dir, RegistryFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("provision: %s has no %s: run \"hub provision init\" first", dir, RegistryFile)
		}
		return nil, err
	}
	r := &Registry{Dir: dir}
	if err := json.Unmarshal(data, &r.reg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, RegistryFile), err)
	}
	if r.ca, err = pki.LoadCA(filepath.Join(dir, CACert), filepath.Join(dir, CAKey)); err != nil {
		return nil, err
	}
	return r, nil
}

// Prefix is the topic prefix the registry's ACL is written for.
func (r *Registry) Prefix() string { return r.reg.Prefix }

// BrokerURL is the broker address edges are given.
func (r *Registry) BrokerURL() string { return r.reg.BrokerURL }

// ServerName is the broker's name in its certificate.
func (r *Registry) ServerName() string { return r.reg.ServerName }

// CA is the registry's certificate authority.
func (r *Registry) CA() *pki.CA { return r.ca }

// Entries are the identities, sorted by name.
func (r *Registry) Entries() []*Entry {
	out := append([]*Entry(nil), r.reg.Entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Entry is the entry of id, or nil.
func (r *Registry) Entry(id contract.Identity) *Entry {
	for _, e := range r.reg.Entries {
		if e.Identity == id.String() {
			return e
		}
	}
	return nil
}

// Credentials are what an identity was given: the files for its box or
// its hub. Nothing here is kept in the registry but the certificate's
// serial and the password's hash.
type Credentials struct {
	Identity contract.Identity
	CertPEM  []byte // nil for a password-only identity
	KeyPEM   []byte
	Expires  time.Time
	Password string // empty for a certificate-only identity
}

// IssueOptions choose an identity's credentials.
type IssueOptions struct {
	Cert     bool // a client certificate (the default when neither is set)
	Password bool // a password for brokers without client certificates
	// Renew issues new credentials to an identity that has them already;
	// the old certificate stays valid until it expires or is revoked.
	Renew bool
	// PerSite lets the edge id be one that other sites have too: it names
	// a kind of device each site has one of (a village point's phone,
	// "vp"), and only <site>.<edge> is unique. Edge boxes keep ids unique
	// in the county.
	PerSite bool
	// Validity of the certificate (default pki.ClientValidity); NotBefore
	// and NotAfter, when set, replace it (tests issue expired ones).
	Validity            time.Duration
	NotBefore, NotAfter time.Time
}

// Issue gives id new credentials and records them. An identity already
// active needs Renew; a revoked one starts again.
func (r *Registry) Issue(id contract.Identity, o IssueOptions, now time.Time) (*Credentials, error) {
	if !id.Valid() {
		return nil, fmt.Errorf("provision: %q is not a valid identity (ids are 1-64 of a-z 0-9 - _)", id)
	}
	if !o.Cert && !o.Password {
		o.Cert = true
	}
	e := r.Entry(id)
	switch {
	case e == nil:
		e = &Entry{Identity: id.String(), Kind: KindEdge, Provisioned: now.UTC()}
		if id.Hub {
			e.Kind = KindHub
		}
		if !id.Hub && !o.PerSite {
			for _, other := range r.reg.Entries {
				if oid := other.ID(); other.Active() && !oid.Hub && oid.Edge == id.Edge {
					return nil, fmt.Errorf("provision: edge id %q is already provisioned for site %q: edge ids are unique in the county", id.Edge, oid.Site)
				}
			}
		}
		r.reg.Entries = append(r.reg.Entries, e)
	case e.Active() && !o.Renew:
		return nil, fmt.Errorf("provision: %s is already provisioned (on %s); renew its credentials with -renew, or revoke it first", id, e.Provisioned.Format(time.DateOnly))
	case !e.Active():
		e.Revoked, e.Provisioned = nil, now.UTC()
	}
	c := &Credentials{Identity: id}
	e.PasswordHash = ""
	if o.Cert {
		validity := o.Validity
		if validity == 0 {
			validity = pki.ClientValidity
		}
		notAfter := o.NotAfter
		if notAfter.IsZero() {
			notAfter = now.Add(validity)
		}
		is, err := r.ca.Issue(pki.Request{CommonName: id.String(), NotBefore: o.NotBefore, NotAfter: notAfter}, now)
		if err != nil {
			return nil, err
		}
		c.CertPEM, c.KeyPEM, c.Expires = is.CertPEM, is.KeyPEM, is.Cert.NotAfter
		e.Certs = append(e.Certs, CertRecord{Serial: is.Cert.SerialNumber.Text(16), Issued: now.UTC(), Expires: is.Cert.NotAfter.UTC()})
	}
	if o.Password {
		pw, err := newPassword()
		if err != nil {
			return nil, err
		}
		h, err := access.HashPassword(pw)
		if err != nil {
			return nil, err
		}
		c.Password, e.PasswordHash = pw, h
	}
	return c, nil
}

// Revoke revokes id: every certificate it holds goes on the revocation
// list, and it loses its ACL entry and its password at the next Save.
func (r *Registry) Revoke(id contract.Identity, now time.Time) error {
	e := r.Entry(id)
	if e == nil {
		return fmt.Errorf("provision: %s was never provisioned", id)
	}
	if !e.Active() {
		return fmt.Errorf("provision: %s was revoked already, on %s", id, e.Revoked.Format(time.DateOnly))
	}
	t := now.UTC()
	e.Revoked, e.PasswordHash = &t, ""
	for i := range e.Certs {
		if e.Certs[i].Revoked == nil {
			e.Certs[i].Revoked = &t
		}
	}
	return nil
}

// ACL is Mosquitto's acl_file for the active identities.
func (r *Registry) ACL() []byte {
	return access.MosquittoACL(r.reg.Prefix, r.activeIDs())
}

// EMQXACL is the same ACL for EMQX 5's file authorization source.
func (r *Registry) EMQXACL() []byte {
	return access.EMQXACL(r.reg.Prefix, r.activeIDs())
}

// activeIDs is the identities not revoked.
func (r *Registry) activeIDs() []contract.Identity {
	var ids []contract.Identity
	for _, e := range r.reg.Entries {
		if e.Active() {
			ids = append(ids, e.ID())
		}
	}
	return ids
}

// Passwords is the password file of the active identities that have one.
func (r *Registry) Passwords() access.Passwords {
	p := access.Passwords{}
	for _, e := range r.reg.Entries {
		if e.Active() && e.PasswordHash != "" {
			p[e.Identity] = e.PasswordHash
		}
	}
	return p
}

// Save writes the registry, the ACL, the password file and a new
// revocation list, each atomically. The password file holds only hashes
// but is kept 0640 (Mosquitto reads it through its group).
func (r *Registry) Save(now time.Time) error {
	var revoked []pki.Revoked
	for _, e := range r.reg.Entries {
		for _, c := range e.Certs {
			if c.Revoked == nil || c.Expires.Before(now) {
				continue // an expired certificate is refused anyway
			}
			serial, ok := new(big.Int).SetString(c.Serial, 16)
			if !ok {
				return fmt.Errorf("provision: %s: bad serial %q in the registry", e.Identity, c.Serial)
			}
			revoked = append(revoked, pki.Revoked{Serial: serial, At: *c.Revoked})
		}
	}
	r.reg.CRLNumber++
	crl, err := r.ca.CRL(revoked, r.reg.CRLNumber, now)
	if err != nil {
		return err
	}
	reg, err := json.MarshalIndent(r.reg, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{RegistryFile, append(reg, '\n'), 0o600},
		{ACLFile, r.ACL(), 0o644},
		{EMQXACLFile, r.EMQXACL(), 0o644},
		{PasswdFile, r.Passwords().Render(), 0o640},
		{CRLFile, crl, 0o644},
	} {
		if err := pki.WriteFile(filepath.Join(r.Dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// newPassword is 24 random bytes, URL-safe base64: 32 characters that
// survive YAML, a shell and a password file.
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
