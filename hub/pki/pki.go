// Package pki is the county's small certificate authority: it creates the
// CA, issues the broker's server certificate and the client certificates
// of the hub and of each edge (whose common name is its broker identity,
// contract.Identity: "tw01.tw01-e1"), writes the revocation list the
// brokers load, and builds the TLS configurations both ends of an MQTT
// connection use, re-reading certificates, keys and the revocation list
// when their files change.
//
// Standard library only: ECDSA P-256 keys, X.509 certificates and CRLs in
// PEM files that Mosquitto (OpenSSL) and Go read alike. Private keys are
// written 0600, and a key file others can read is refused (CheckKeyFile).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Default validities.
const (
	CAValidity     = 20 * 365 * 24 * time.Hour
	ServerValidity = 5 * 365 * 24 * time.Hour
	ClientValidity = 3 * 365 * 24 * time.Hour
)

// CA is a certificate authority able to issue certificates and CRLs.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA creates a self-signed CA named name (the county: "CountyLink
// Example County CA"), valid from now for validity. It returns the CA and
// its private key in PEM, which the caller keeps 0600 (WriteKey).
func NewCA(name string, now time.Time, validity time.Duration) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"CountyLink"}},
		NotBefore:             now.Add(-time.Hour), // a box whose clock lags a little still accepts it
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, keyPEM, nil
}

// ParseCA reads a CA from its certificate and private key in PEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("pki: the CA key does not belong to the CA certificate")
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// Request is a certificate to issue.
type Request struct {
	// CommonName is the subject: a broker identity for a client
	// (contract.Identity.String()), the broker's host name for a server.
	CommonName string
	// Server makes a TLS server certificate for DNSNames and IPs; otherwise
	// a TLS client certificate.
	Server   bool
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter default to an hour ago and the kind's
	// validity from now (tests set them to issue expired certificates).
	NotBefore, NotAfter time.Time
}

// Issued is a certificate the CA issued, with its new private key.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Issue creates a key and a certificate for req, signed by the CA. A
// certificate never outlives its CA.
func (ca *CA) Issue(req Request, now time.Time) (*Issued, error) {
	if req.CommonName == "" {
		return nil, errors.New("pki: a certificate needs a common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: ca.Cert.Subject.Organization},
		NotBefore:    req.NotBefore,
		NotAfter:     req.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	validity := ClientValidity
	if req.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = req.DNSNames, req.IPs
		validity = ServerValidity
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(validity)
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: keyPEM}, nil
}

// Revoked is a revoked certificate, by serial number.
type Revoked struct {
	Serial *big.Int
	At     time.Time
}

// CRL writes the CA's certificate revocation list in PEM: revoked, number
// (increasing with each list), issued now, and valid until the CA expires.
// A revocation list the brokers load from a file, rather than fetch, must
// not expire under them: OpenSSL refuses every client once a CRL is past
// its next update, so the list is as long-lived as the CA itself and
// replaced whenever a certificate is revoked.
func (ca *CA) CRL(revoked []Revoked, number int64, now time.Time) ([]byte, error) {
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.At.UTC()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.Add(-time.Hour).UTC(),
		NextUpdate:                ca.Cert.NotAfter.UTC(),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.key)
	if err != nil {
		return nil, err
	}
	return pemBlock("X509 CRL", der), nil
}

// NewSerial is a random 128-bit certificate serial number.
func NewSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// ParseCertificate reads the first certificate of a PEM file.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no PEM certificate")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// ParseKey reads an ECDSA private key in PEM (SEC 1 "EC PRIVATE KEY" or
// PKCS #8 "PRIVATE KEY").
func ParseKey(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no PEM private key")
		}
		switch b.Type {
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			ec, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("pki: a %T key, not ECDSA", k)
			}
			return ec, nil
		}
	}
}

// ParseCRL reads a revocation list in PEM (or DER) and checks that ca
// signed it.
func ParseCRL(data []byte, ca *x509.Certificate) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("pki: a PEM %q block, not an X509 CRL", b.Type)
		}
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, err
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("pki: the revocation list is not signed by %q: %w", ca.Subject.CommonName, err)
	}
	return crl, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
