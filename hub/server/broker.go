package server

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/broker"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
)

// EmbeddedHub is the identity the hub logs in to its own secured embedded
// broker with, by a secret drawn at each start that never leaves the
// process.
var EmbeddedHub = contract.HubIdentity("hub-embedded")

// startBroker starts the embedded broker when the configuration asks for
// one, and returns what the hub's own MQTT connection logs in with.
func (m *Main) startBroker() (user, password string, tlsCfg *tls.Config, err error) {
	c := m.Config.MQTT
	if !c.Embedded {
		if c.TLS != (TLSConfig{}) {
			tlsCfg, err = pki.ClientTLS(pki.ClientFiles{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, ServerName: c.TLS.ServerName})
			if err != nil {
				return "", "", nil, fmt.Errorf("mqtt.tls: %w", err)
			}
		}
		return c.Username, c.Password, tlsCfg, nil
	}
	if c.EmbeddedPKIDir == "" {
		if m.Broker, err = broker.Start(c.EmbeddedListen, m.Log); err != nil {
			return "", "", nil, err
		}
		m.BrokerURL = m.Broker.URL()
		return c.Username, c.Password, nil, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	dir := c.EmbeddedPKIDir
	m.Broker, err = broker.StartSecure(broker.SecureConfig{
		Listen:    c.EmbeddedListen,
		TLSListen: c.EmbeddedTLSListen,
		TLS: pki.ServerFiles{CAFile: filepath.Join(dir, provision.CACert), CertFile: filepath.Join(dir, provision.BrokerCert),
			KeyFile: filepath.Join(dir, provision.BrokerKey), CRLFile: filepath.Join(dir, provision.CRLFile)},
		PasswordFile: filepath.Join(dir, provision.PasswdFile),
		Prefix:       c.TopicPrefix,
		Hub:          EmbeddedHub,
		HubPassword:  secret,
	}, m.Log)
	if err != nil {
		return "", "", nil, fmt.Errorf("mqtt.embedded_pki_dir %s: %w", dir, err)
	}
	m.BrokerURL = m.Broker.URL()
	return EmbeddedHub.String(), secret, nil, nil
}
