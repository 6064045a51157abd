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

// TestLoadConfigSecretModes: hub.yaml holding a secret inline, and every
// file a secret is read from, are refused when every user can read them
// or others than their owner can change them, naming the file, the
// fields and chmod 600; 0600 and 0640 are taken.
func TestLoadConfigSecretModes(t *testing.T) {
	dir := t.TempDir()
	secret := func(name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("https://qyapi.example/cgi-bin/webhook/send?key=k\n"), 0o600)
		return p
	}
	files := map[string]string{}
	for _, n := range []string{"mqtt-password", "influx-token", "wecom-url", "ding-secret", "smtp-password"} {
		files[n] = secret(n)
	}
	withFiles := "mqtt:\n  username: _hub.hub\n  password_file: " + files["mqtt-password"] + "\n" +
		"influx:\n  url: http://127.0.0.1:8086\n  bucket: countylink/autogen\n  token_file: " + files["influx-token"] + "\n" +
		"notify:\n  channels:\n" +
		"    wecom-tw01: {type: wecom, url_file: " + files["wecom-url"] + "}\n" +
		"    ding-county: {type: dingtalk, url: 'https://oapi.example/robot/send?access_token=t', secret_file: " + files["ding-secret"] + "}\n" +
		"    mail: {type: email, addr: 'smtp.example:465', from: a@example.cn, to: [b@example.cn], username: a, password_file: " + files["smtp-password"] + "}\n"
	write := func(y string, mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), "hub.yaml")
		os.WriteFile(p, []byte(y), mode)
		os.Chmod(p, mode) // past the umask
		return p
	}
	// Secrets in files: the configuration may be readable by all (the
	// DingTalk URL inline makes it a secret, so not here).
	noInline := strings.Replace(withFiles, "url: 'https://oapi.example/robot/send?access_token=t', ", "url_file: "+files["wecom-url"]+", ", 1)
	if _, err := LoadConfig(write(noInline, 0o644)); err != nil {
		t.Fatalf("secrets in 0600 files, hub.yaml 0644: %v", err)
	}
	// Each file readable by all, or writable by its group, is refused.
	for name, p := range files {
		for _, mode := range []os.FileMode{0o644, 0o604, 0o660, 0o602} {
			os.Chmod(p, mode)
			_, err := LoadConfig(write(noInline, 0o600))
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("%s at %04o: %v", name, mode, err)
			}
		}
		os.Chmod(p, 0o640)
		if _, err := LoadConfig(write(noInline, 0o600)); err != nil {
			t.Errorf("%s at 0640: %v", name, err)
		}
	}
	// Inline secrets make hub.yaml a secret.
	for field, y := range map[string]string{
		"mqtt.password":                   "mqtt:\n  username: _hub.hub\n  password: s3cret\n",
		"influx.token":                    "influx:\n  url: http://127.0.0.1:8086\n  bucket: b\n  token: s3cret\n",
		"store.dsn":                       "store:\n  driver: postgres\n  dsn: postgres://hub:s3cret@db:5432/countylink\ninflux:\n  url: http://127.0.0.1:8086\n  bucket: b\n",
		"store.dsn ":                      "store:\n  driver: postgres\n  dsn: host=db user=hub password=s3cret dbname=countylink\ninflux:\n  url: http://127.0.0.1:8086\n  bucket: b\n",
		"notify.channels.wecom-tw01.url":  "notify:\n  channels:\n    wecom-tw01: {type: wecom, url: 'https://qyapi.example/send?key=k'}\n",
		"notify.channels.hook.header":     "notify:\n  channels:\n    hook: {type: webhook, url: 'https://ops.example/alarms', secret_file: " + files["ding-secret"] + ", header: {Authorization: Bearer x}}\n",
		"notify.channels.hook.url":        "notify:\n  channels:\n    hook: {type: webhook, url: 'https://ops.example/alarms?token=x', secret_file: " + files["ding-secret"] + "}\n",
		"notify.channels.ding.secret":     "notify:\n  channels:\n    ding: {type: dingtalk, url_file: " + files["wecom-url"] + ", secret: SECx}\n",
		"notify.channels.mail.password":   "notify:\n  channels:\n    mail: {type: email, addr: 'smtp.example:465', from: a@example.cn, to: [b@example.cn], username: a, password: x}\n",
		"notify.channels.wecom-tw01.url ": "notify:\n  channels:\n    wecom-tw01: {type: wecom, url: 'https://qyapi.example/send?key=k'}\n",
	} {
		field = strings.TrimSpace(field)
		for _, mode := range []os.FileMode{0o644, 0o604, 0o620} {
			p := write(y, mode)
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("%s in a %04o hub.yaml: %v", field, mode, err)
			}
		}
		for _, mode := range []os.FileMode{0o600, 0o640} {
			if _, err := LoadConfig(write(y, mode)); err != nil {
				t.Errorf("%s in a %04o hub.yaml: %v", field, mode, err)
			}
		}
	}
	// A DSN without a password, a plain webhook: not secrets.
	if _, err := LoadConfig(write("notify:\n  channels:\n    hook: {type: webhook, url: 'https://ops.example/alarms', secret_file: "+files["ding-secret"]+"}\n", 0o644)); err != nil {
		t.Errorf("a webhook without a secret: %v", err)
	}
	if dsnHasPassword("postgres://countylink@db:5432/countylink?sslmode=verify-full") || dsnHasPassword("host=db user=hub passfile=/x") ||
		!dsnHasPassword("host=db password = x") || !dsnHasPassword("postgres://db/c?password=x") {
		t.Error("dsnHasPassword")
	}
}
