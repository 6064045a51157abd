package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSFiles are the files of the edge's TLS to the broker, written by
// "hub provision edge": the county CA's certificate, and the edge's own
// certificate and key (none for an edge that logs in with a password).
type TLSFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string // the broker's name in its certificate; default the URL's host
}

// TLSConfig builds the uplink's TLS configuration. The CA is read now
// (a new CA needs a restart). The certificate and key are read now and
// again at each connection whose handshake finds their files changed, so
// a renewed certificate copied over the old one is used at the next
// reconnection without restarting the agent; a pair that does not load
// (half copied) leaves the previous one in use.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		data, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s: no PEM certificate", f.CAFile)
		}
		c.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("a client certificate needs both cert_file and key_file")
	}
	if f.CertFile != "" {
		kp := &keyPair{certFile: f.CertFile, keyFile: f.KeyFile}
		if _, err := kp.get(); err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return c, nil
}

// CheckKeyFile refuses a secret file (a private key, a password) that
// every user of the box can read: edge boxes sit where anyone walks in,
// and a local account should not be enough to copy the box's identity.
func CheckKeyFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o007 != 0 {
		return fmt.Errorf("%s is readable by every user (mode %04o): run chmod 600 %s (owned by the agent's user)", path, m, path)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s holds a secret and is writable by its group or every user (mode %04o): run chmod 600 %s (owned by the agent's user)", path, m, path)
	}
	return nil
}

// CheckSecretConfig refuses a configuration file holding a secret inline
// (mqtt.password) that every user of the box can read or others than its
// owner can change.
func CheckSecretConfig(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o004 != 0 || m&0o022 != 0 {
		return fmt.Errorf("%s holds a secret and is readable by every user or writable by others (mode %04o): run chmod 600 %s (owned by the agent's user), or move the secret to a password_file", path, m, path)
	}
	return nil
}

// keyPair is a certificate and key read from files, read again when they
// change.
type keyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	stamp             string
	cert              *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := fileStamp(k.certFile) + fileStamp(k.keyFile)
	if k.cert != nil && s == k.stamp {
		return k.cert, nil
	}
	cert, err := loadKeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	k.cert, k.stamp = cert, s
	return cert, nil
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	if err := CheckKeyFile(keyFile); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return &cert, nil
}

// Certificate reads the first certificate of a PEM file: the agent says
// at start whom its certificate names and when it expires.
func Certificate(certFile string) (*x509.Certificate, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s: no PEM certificate", certFile)
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return path + ":missing;"
	}
	return fmt.Sprintf("%s:%d:%d;", path, fi.Size(), fi.ModTime().UnixNano())
}

// Expiring is how long before its end a certificate is worth a warning.
const Expiring = 30 * 24 * time.Hour
