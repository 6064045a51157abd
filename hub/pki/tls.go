package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ClientFiles are the files of an MQTT client's TLS: the CA that signed
// the broker's certificate, and the client's own certificate and key
// (empty for a client that logs in with a password over TLS).
type ClientFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string // the broker's name in its certificate; default the URL's host
}

// ClientTLS builds the TLS configuration of a client connecting to a
// broker. The certificate and key are read now, and again at each new
// connection whose handshake finds the files changed, so a renewed
// certificate is taken at the next reconnection without a restart; a
// changed file that does not load is logged by the caller's handshake
// error and the previous pair kept. The CA is read once: a new CA needs
// a restart.
func ClientTLS(f ClientFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pool, err := certPool(f.CAFile)
		if err != nil {
			return nil, err
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

func certPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return pool, nil
}

// keyPair is a certificate and key read from files, read again when the
// files change.
type keyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	stamp             string
	cert              *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := stamp(k.certFile, k.keyFile)
	if k.cert != nil && s == k.stamp {
		return k.cert, nil
	}
	cert, err := loadKeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // half-replaced files: keep the pair that worked
		}
		return nil, err
	}
	k.cert, k.stamp = cert, s
	return cert, nil
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// ServerFiles are the files of a broker's TLS listener: the CA its
// clients' certificates must come from, its own certificate and key, and
// the CA's revocation list (optional).
type ServerFiles struct {
	CAFile   string
	CertFile string
	KeyFile  string
	CRLFile  string
}

// Server is the TLS side of a broker listener requiring client
// certificates from the CA: a client without one, with an expired or
// revoked one, or with one from another CA is refused in the handshake
// and logged with its address. Reload re-reads the files.
type Server struct {
	files ServerFiles
	log   *slog.Logger

	mu       sync.RWMutex
	stamp    string
	cert     *tls.Certificate
	verifier *Verifier
}

// NewServer reads the files; a key others can read is refused.
func NewServer(files ServerFiles, log *slog.Logger) (*Server, error) {
	s := &Server{files: files, log: log}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads the files if any changed since they were last read,
// and reports whether it did. On an error the previous ones stay in use.
func (s *Server) Reload() (bool, error) {
	f := s.files
	st := stamp(f.CAFile, f.CertFile, f.KeyFile, f.CRLFile)
	s.mu.RLock()
	same := s.cert != nil && st == s.stamp
	s.mu.RUnlock()
	if same {
		return false, nil
	}
	cert, err := loadKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return false, err
	}
	v, err := LoadVerifier(f.CAFile, f.CRLFile)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.cert, s.verifier, s.stamp = cert, v, st
	s.mu.Unlock()
	return true, nil
}

// Verifier is the verifier in use.
func (s *Server) Verifier() *Verifier {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.verifier
}

// TLSConfig is the listener's configuration. Each handshake takes the
// certificate, CA and revocation list in use at that moment.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.RLock()
			cert, v := s.cert, s.verifier
			s.mu.RUnlock()
			remote := "?"
			if hello.Conn != nil {
				remote = hello.Conn.RemoteAddr().String()
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*cert},
				// Asked for, and checked below rather than by crypto/tls,
				// so that every refusal is logged with its reason.
				ClientAuth: tls.RequestClientCert,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if _, err := v.Verify(cs.PeerCertificates, time.Now()); err != nil {
						attrs := []any{"remote", remote, "reason", err}
						if len(cs.PeerCertificates) > 0 {
							leaf := cs.PeerCertificates[0]
							attrs = append(attrs, "cn", leaf.Subject.CommonName, "serial", leaf.SerialNumber.Text(16), "issuer", leaf.Issuer.CommonName)
						}
						s.log.Warn("broker: client certificate refused", attrs...)
						return err
					}
					return nil
				},
			}, nil
		},
	}
}
