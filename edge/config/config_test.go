package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `site: tw01
edge: tw01-e1
state_dir: /tmp/x
mqtt:
  broker: tcp://hub.example:1883
devices:
  - id: cr1-th
    room: cr1
    profile: th-renke
    address: 10.0.0.5:502
    unit: 1
    interval: 5s
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Devices[0]
	if d.Interval != 5*time.Second || d.Timeout != time.Second || d.Transport != "tcp" || c.MQTT.TopicPrefix != "countylink" {
		t.Fatalf("defaults not applied: %+v %+v", d, c.MQTT)
	}
}

func TestParseBadNamesFieldAndLine(t *testing.T) {
	bad := strings.Replace(good, "address: 10.0.0.5:502", "address: nowhere", 1)
	bad = strings.Replace(bad, "site: tw01", "site: TW 01", 1)
	_, err := Parse([]byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"line 10: devices[0].address", "line 1: site"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("not a FieldError: %T", err)
	}
}

func TestParseRefuses(t *testing.T) {
	cases := map[string]string{
		"unknown key":   good + "colour: red\n",
		"bad duration":  strings.Replace(good, "interval: 5s", "interval: often", 1),
		"dup device":    good + "  - {id: cr1-th, profile: th-renke, address: a:1}\n",
		"bad broker":    strings.Replace(good, "tcp://hub.example:1883", "hub.example", 1),
		"timeout>int":   good[:len(good)-1] + "\n    timeout: 10s\n",
		"not yaml":      "site: [",
		"bad transport": strings.Replace(good, "unit: 1", "unit: 1\n    transport: carrier-pigeon", 1),
	}
	for name, y := range cases {
		if _, err := Parse([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(good, "mqtt:\n", "mqtt:\n  password_file: "+pw+"\n", 1)), 0o600)
	c, err := Load(cfg)
	if err != nil || c.MQTT.Password != "s3cret" {
		t.Fatalf("Load: %v %q", err, c.MQTT.Password)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
}
