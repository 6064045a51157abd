package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("secret-token\n"), 0o600)
	path := filepath.Join(dir, "hub.yaml")
	os.WriteFile(path, []byte("influx:\n  url: http://127.0.0.1:8086\n  bucket: countylink/autogen\n  token_file: "+tok+"\n"), 0o600)
	c, err := LoadConfig(path)
	if err != nil || c.Influx.Token != "secret-token" {
		t.Fatalf("%v %q", err, c.Influx.Token)
	}
	zoned := filepath.Join(dir, "zoned.yaml")
	os.WriteFile(zoned, []byte("time_zone: Asia/Shanghai\n"), 0o600)
	if c, err := LoadConfig(zoned); err != nil {
		t.Errorf("time_zone Asia/Shanghai: %v", err)
	} else if loc, _ := c.Location(); loc.String() != "Asia/Shanghai" {
		t.Errorf("location %v", loc)
	}
	replicas := filepath.Join(dir, "replicas.yaml")
	os.WriteFile(replicas, []byte("mqtt:\n  shared_group: hubs\n  client_id: Hub-A\n  replica_id: hub-a\n"), 0o600)
	if c, err := LoadConfig(replicas); err != nil || c.MQTT.Replica() != "hub-a" {
		t.Errorf("replica_id hub-a beside client_id Hub-A: %v %q", err, c.MQTT.Replica())
	}
	for name, y := range map[string]string{
		"no bucket":    "influx:\n  url: http://x:8086\n",
		"bad listen":   "listen: 8080\n",
		"bad group":    "mqtt:\n  shared_group: A/B\n",
		"bad replica":  "mqtt:\n  shared_group: hubs\n  replica_id: Hub/A\n",
		"bad client":   "mqtt:\n  shared_group: hubs\n  client_id: Hub-A\n",
		"tiny stale":   "stale_after: 1s\n",
		"unknown key":  "colour: red\n",
		"bad level":    "log_level: loud\n",
		"missing file": "influx:\n  token_file: /nonexistent/token\n",
		"bad zone":     "time_zone: Mars/Olympus\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		os.WriteFile(p, []byte(y), 0o600)
		if _, err := LoadConfig(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
