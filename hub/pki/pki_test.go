package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
)

func newCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, _, err := NewCA(name, time.Now(), CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *CA, req Request) *Issued {
	t.Helper()
	is, err := ca.Issue(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestVerify(t *testing.T) {
	ca := newCA(t, "Test County CA")
	other := newCA(t, "Test County CA") // same name, another key: a forgery
	now := time.Now()
	edge := contract.EdgeIdentity("tw01", "tw01-e1").String()
	good := issue(t, ca, Request{CommonName: edge})
	revoked := issue(t, ca, Request{CommonName: contract.EdgeIdentity("tw01", "tw01-e2").String()})
	expired := issue(t, ca, Request{CommonName: edge, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := issue(t, ca, Request{CommonName: edge, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	forged := issue(t, other, Request{CommonName: edge})
	server := issue(t, ca, Request{CommonName: "broker", Server: true, DNSNames: []string{"broker"}})
	noID := issue(t, ca, Request{CommonName: "tw01/tw01-e1"})
	hub := issue(t, ca, Request{CommonName: contract.HubIdentity("hub").String()})

	crl, err := ca.CRL([]Revoked{{Serial: revoked.Cert.SerialNumber, At: now}}, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ca.CertPEM, crl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cert *Issued
		want error
		id   string
	}{
		{"good", good, nil, edge},
		{"hub", hub, nil, "_hub.hub"},
		{"revoked", revoked, ErrRevoked, ""},
		{"expired", expired, ErrExpired, ""},
		{"not yet valid", future, ErrExpired, ""},
		{"other CA", forged, ErrUnknownCA, ""},
		{"server certificate", server, ErrNotClient, ""},
		{"no identity", noID, ErrIdentity, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := v.Verify([]*x509.Certificate{c.cert.Cert}, now)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if err == nil && id.String() != c.id {
				t.Fatalf("identity %q, want %q", id, c.id)
			}
		})
	}
	if _, err := v.Verify(nil, now); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no certificate: %v", err)
	}
	// A revocation list signed by another CA is refused.
	otherCRL, err := other.CRL(nil, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(ca.CertPEM, otherCRL); err == nil {
		t.Error("a revocation list from another CA was accepted")
	}
}

func TestCertificateNeverOutlivesCA(t *testing.T) {
	ca, _, err := NewCA("short", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is := issue(t, ca, Request{CommonName: "tw01.e1"})
	if is.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("certificate valid to %v, CA to %v", is.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestParseCA(t *testing.T) {
	ca, keyPEM, err := NewCA("c", time.Now(), CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(ca.CertPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := NewCA("c", time.Now(), CAValidity)
	if _, err := ParseCA(ca.CertPEM, otherKey); err == nil {
		t.Error("a CA with another's key was accepted")
	}
	leaf := issue(t, ca, Request{CommonName: "tw01.e1"})
	if _, err := ParseCA(leaf.CertPEM, leaf.KeyPEM); err == nil {
		t.Error("a leaf certificate was accepted as a CA")
	}
}

func TestKeyFileMode(t *testing.T) {
	dir := t.TempDir()
	ca, keyPEM, err := NewCA("c", time.Now(), CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "ca.key")
	if err := WriteKey(key, keyPEM); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key written %04o", fi.Mode().Perm())
	}
	cert := filepath.Join(dir, "ca.crt")
	if err := WriteFile(cert, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(cert, key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key, 0o640)
	if _, err := LoadCA(cert, key); err != nil {
		t.Fatalf("a group-readable key was refused: %v", err)
	}
	os.Chmod(key, 0o644)
	_, err = LoadCA(cert, key)
	if err == nil || !strings.Contains(err.Error(), "readable by every user") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// logBuf collects log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type pkiFiles struct {
	dir string
	ca  *CA
}

func (p pkiFiles) path(name string) string { return filepath.Join(p.dir, name) }

func (p pkiFiles) write(t *testing.T, name string, is *Issued) ClientFiles {
	t.Helper()
	if err := WriteFile(p.path(name+".crt"), is.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(p.path(name+".key"), is.KeyPEM); err != nil {
		t.Fatal(err)
	}
	return ClientFiles{CAFile: p.path("ca.crt"), CertFile: p.path(name + ".crt"), KeyFile: p.path(name + ".key"), ServerName: "broker.test"}
}

// handshake connects a client with cfg to a TLS listener of s and returns
// the identity the server saw, or the client's error.
func handshake(t *testing.T, s *Server, cfg *tls.Config) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- ""
			return
		}
		cs := tc.ConnectionState()
		got <- cs.PeerCertificates[0].Subject.CommonName
		c.Write([]byte{1}) // the client's read below returns at once
		io.Copy(io.Discard, c)
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err == nil {
		// TLS 1.3: the client learns of a refused certificate at its first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	cn := <-got
	if err == nil && cn == "" {
		err = errors.New("server refused")
	}
	return cn, err
}

func TestTLSHandshakes(t *testing.T) {
	p := pkiFiles{dir: t.TempDir(), ca: newCA(t, "Test County CA")}
	ca := p.ca
	if err := WriteFile(p.path("ca.crt"), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := issue(t, ca, Request{CommonName: "broker.test", Server: true, DNSNames: []string{"broker.test"}})
	p.write(t, "broker", srv)
	crl, _ := ca.CRL(nil, 1, time.Now())
	WriteFile(p.path("crl.pem"), crl, 0o644)
	var logs logBuf
	s, err := NewServer(ServerFiles{CAFile: p.path("ca.crt"), CertFile: p.path("broker.crt"), KeyFile: p.path("broker.key"), CRLFile: p.path("crl.pem")},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}

	e1 := issue(t, ca, Request{CommonName: "tw01.tw01-e1"})
	files := p.write(t, "e1", e1)
	cfg, err := ClientTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	if cn, err := handshake(t, s, cfg); err != nil || cn != "tw01.tw01-e1" {
		t.Fatalf("good client: %q, %v", cn, err)
	}

	// A renewed certificate in the same files is taken at the next
	// connection, without a new configuration.
	e1b := issue(t, ca, Request{CommonName: "tw01.tw01-e1"})
	time.Sleep(10 * time.Millisecond) // a different modification time
	p.write(t, "e1", e1b)
	if _, err := handshake(t, s, cfg); err != nil {
		t.Fatal(err)
	}
	// Revoked, after the server reloads the list: refused and logged.
	crl, _ = ca.CRL([]Revoked{{Serial: e1b.Cert.SerialNumber, At: time.Now()}}, 2, time.Now())
	WriteFile(p.path("crl.pem"), crl, 0o644)
	if changed, err := s.Reload(); err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if _, err := handshake(t, s, cfg); err == nil {
		t.Fatal("revoked certificate accepted")
	}
	if !strings.Contains(logs.String(), "certificate revoked") || !strings.Contains(logs.String(), "cn=tw01.tw01-e1") {
		t.Errorf("revocation not logged:\n%s", logs.String())
	}
	// From another CA; expired; none at all.
	forged := issue(t, newCA(t, "Test County CA"), Request{CommonName: "tw01.tw01-e3"})
	expired := issue(t, ca, Request{CommonName: "tw01.tw01-e4", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for name, is := range map[string]*Issued{"forged": forged, "expired": expired} {
		c, err := ClientTLS(p.write(t, name, is))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := handshake(t, s, c); err == nil {
			t.Errorf("%s certificate accepted", name)
		}
	}
	anon, _ := ClientTLS(ClientFiles{CAFile: p.path("ca.crt"), ServerName: "broker.test"})
	if _, err := handshake(t, s, anon); err == nil {
		t.Error("a client without a certificate was accepted")
	}
	for _, want := range []string{"not issued by the county CA", "expired", "no client certificate"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}
	// A client refuses a broker of another CA.
	other := pkiFiles{dir: t.TempDir(), ca: newCA(t, "other")}
	WriteFile(other.path("ca.crt"), other.ca.CertPEM, 0o644)
	c, _ := ClientTLS(other.write(t, "e1", issue(t, other.ca, Request{CommonName: "tw01.tw01-e1"})))
	if _, err := handshake(t, s, c); err == nil {
		t.Error("a client trusted a broker of another CA")
	}
}

func TestClientTLSRefusesOpenKey(t *testing.T) {
	p := pkiFiles{dir: t.TempDir(), ca: newCA(t, "c")}
	WriteFile(p.path("ca.crt"), p.ca.CertPEM, 0o644)
	f := p.write(t, "e1", issue(t, p.ca, Request{CommonName: "tw01.e1"}))
	os.Chmod(f.KeyFile, 0o604)
	if _, err := ClientTLS(f); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Fatalf("ClientTLS with a world-readable key: %v", err)
	}
	f.KeyFile = ""
	if _, err := ClientTLS(f); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
}
