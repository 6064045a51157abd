package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/countylink/countylink/contract"
)

// Why a client certificate is refused; Verify's errors wrap one of these
// (errors.Is).
var (
	ErrNoCertificate = errors.New("no client certificate")
	ErrExpired       = errors.New("certificate expired or not yet valid")
	ErrUnknownCA     = errors.New("certificate not issued by the county CA")
	ErrRevoked       = errors.New("certificate revoked")
	ErrNotClient     = errors.New("certificate not made for a client")
	ErrIdentity      = errors.New("certificate common name is no broker identity (<site>.<edge> or _hub.<name>)")
)

// Verifier checks client certificates against the CA and its revocation
// list, as Mosquitto does with cafile, require_certificate and crlfile.
type Verifier struct {
	ca      *x509.Certificate
	roots   *x509.CertPool
	revoked map[string]time.Time // serial (hex) to revocation time
}

// NewVerifier builds a verifier from the CA certificate and, when crlPEM
// is not empty, its revocation list (which the CA must have signed).
func NewVerifier(caPEM, crlPEM []byte) (*Verifier, error) {
	ca, err := ParseCertificate(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	v := &Verifier{ca: ca, roots: x509.NewCertPool(), revoked: map[string]time.Time{}}
	v.roots.AddCert(ca)
	if len(crlPEM) > 0 {
		crl, err := ParseCRL(crlPEM, ca)
		if err != nil {
			return nil, fmt.Errorf("revocation list: %w", err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			v.revoked[e.SerialNumber.Text(16)] = e.RevocationTime
		}
	}
	return v, nil
}

// LoadVerifier is NewVerifier from files; crlFile may be empty.
func LoadVerifier(caFile, crlFile string) (*Verifier, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	var crlPEM []byte
	if crlFile != "" {
		if crlPEM, err = os.ReadFile(crlFile); err != nil {
			return nil, err
		}
	}
	return NewVerifier(caPEM, crlPEM)
}

// CA is the certificate the verifier trusts.
func (v *Verifier) CA() *x509.Certificate { return v.ca }

// Revoked reports whether the certificate with serial is on the
// revocation list.
func (v *Verifier) Revoked(cert *x509.Certificate) bool {
	_, ok := v.revoked[cert.SerialNumber.Text(16)]
	return ok
}

// Verify checks a client's certificate chain (leaf first) at now: issued
// by the CA for client authentication, valid now, not revoked, and naming
// a broker identity, which it returns.
func (v *Verifier) Verify(chain []*x509.Certificate, now time.Time) (contract.Identity, error) {
	if len(chain) == 0 {
		return contract.Identity{}, ErrNoCertificate
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case err == nil:
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return contract.Identity{}, fmt.Errorf("%w (valid %s to %s)", ErrExpired,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return contract.Identity{}, ErrNotClient
	case errors.As(err, &unknown):
		return contract.Identity{}, fmt.Errorf("%w (issuer %q)", ErrUnknownCA, leaf.Issuer.CommonName)
	default:
		return contract.Identity{}, fmt.Errorf("%w: %v", ErrUnknownCA, err)
	}
	if at, ok := v.revoked[leaf.SerialNumber.Text(16)]; ok {
		return contract.Identity{}, fmt.Errorf("%w on %s", ErrRevoked, at.UTC().Format(time.RFC3339))
	}
	id, ok := contract.ParseIdentity(leaf.Subject.CommonName)
	if !ok {
		return contract.Identity{}, ErrIdentity
	}
	return id, nil
}
