package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigMQTTSecurity(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hub.key")
	pw := filepath.Join(dir, "mqtt-password")
	os.WriteFile(key, []byte("a key"), 0o600)
	os.WriteFile(pw, []byte("s3cret\n"), 0o640)
	load := func(y string) error {
		t.Helper()
		path := filepath.Join(t.TempDir(), "hub.yaml")
		os.WriteFile(path, []byte(y), 0o600)
		_, err := LoadConfig(path)
		return err
	}
	for _, y := range []string{
		"mqtt:\n  broker: tcp://127.0.0.1:1883\n  username: _hub.hub\n  password_file: " + pw + "\n",
		"mqtt:\n  broker: ssl://hub.county.lan:8883\n  tls:\n    ca_file: /etc/countylink/pki/ca.crt\n    cert_file: /x/hub.crt\n    key_file: " + key + "\n",
		"mqtt:\n  embedded: true\n  embedded_pki_dir: /etc/countylink/pki\n  embedded_tls_listen: 0.0.0.0:8883\n",
	} {
		if err := load(y); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
	for want, y := range map[string]string{
		"plain MQTT":           "mqtt:\n  broker: tcp://127.0.0.1:1883\n  tls:\n    ca_file: /x/ca.crt\n",
		"go together":          "mqtt:\n  broker: ssl://h:8883\n  tls:\n    cert_file: /x/hub.crt\n",
		"embedded_pki_dir set": "mqtt:\n  embedded: true\n  embedded_tls_listen: 0.0.0.0:8883\n",
		"must be host:port":    "mqtt:\n  embedded: true\n  embedded_pki_dir: /x\n  embedded_tls_listen: 8883\n",
	} {
		if err := load(y); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", y, err, want)
		}
	}
	// Secrets every user can read are refused, naming the field.
	os.Chmod(key, 0o644)
	if err := load("mqtt:\n  broker: ssl://h:8883\n  tls:\n    cert_file: /x/hub.crt\n    key_file: " + key + "\n"); err == nil ||
		!strings.Contains(err.Error(), "mqtt.tls.key_file") || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("a world-readable key: %v", err)
	}
	os.Chmod(pw, 0o644)
	if err := load("mqtt:\n  username: _hub.hub\n  password_file: " + pw + "\n"); err == nil || !strings.Contains(err.Error(), "mqtt.password_file") {
		t.Errorf("a world-readable password file: %v", err)
	}
}
