package uplink

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/uplink/uplinktest"
)

// presented dials a TLS server requiring client certificates with cfg
// and returns the common name the server saw.
func presented(t *testing.T, server, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
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
			got <- "refused: " + err.Error()
			return
		}
		got <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err == nil {
		c.Read(make([]byte, 1)) // the server's verdict (TLS 1.3 sends it after the handshake)
		c.Close()
	}
	return <-got
}

func TestTLSConfigReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := uplinktest.NewCA(t, dir)
	srvCert, srvKey := ca.Issue(t, dir, "broker", "broker", true)
	server := ca.ServerTLS(t, srvCert, srvKey)
	cert, key := ca.Issue(t, dir, "edge", "tw01.tw01-e1", false)
	cfg, err := TLSConfig(TLSFiles{CAFile: ca.File, CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	if cn := presented(t, server, cfg); cn != "tw01.tw01-e1" {
		t.Fatalf("presented %q", cn)
	}
	// A renewed certificate copied over the old files is used at the next
	// connection, with the same configuration.
	time.Sleep(10 * time.Millisecond) // another modification time
	ca.Issue(t, dir, "edge", "tw01.tw01-e1-renewed", false)
	if cn := presented(t, server, cfg); cn != "tw01.tw01-e1-renewed" {
		t.Fatalf("after the renewal presented %q", cn)
	}
	// A half-copied pair keeps the previous one.
	os.WriteFile(cert, []byte("garbage"), 0o644)
	if cn := presented(t, server, cfg); cn != "tw01.tw01-e1-renewed" {
		t.Fatalf("with a broken file presented %q", cn)
	}
}

func TestTLSConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := uplinktest.NewCA(t, dir)
	cert, key := ca.Issue(t, dir, "edge", "tw01.tw01-e1", false)
	if _, err := TLSConfig(TLSFiles{CAFile: ca.File, CertFile: cert}); err == nil {
		t.Error("a certificate without its key")
	}
	if _, err := TLSConfig(TLSFiles{CAFile: cert + ".missing"}); err == nil {
		t.Error("a missing CA file")
	}
	os.Chmod(key, 0o644)
	_, err := TLSConfig(TLSFiles{CAFile: ca.File, CertFile: cert, KeyFile: key})
	if err == nil || !strings.Contains(err.Error(), "readable by every user") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key: %v", err)
	}
	// The broker of another CA is not trusted.
	other := uplinktest.NewCA(t, t.TempDir())
	os.Chmod(key, 0o600)
	srvCert, srvKey := other.Issue(t, dir, "broker", "broker", true)
	cfg, err := TLSConfig(TLSFiles{CAFile: ca.File, CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	if cn := presented(t, other.ServerTLS(t, srvCert, srvKey), cfg); !strings.HasPrefix(cn, "refused") {
		t.Errorf("connected to a broker of another CA: %q", cn)
	}
}
