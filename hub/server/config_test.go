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
	pgStore := "store:\n  driver: postgres\n  dsn: postgres://127.0.0.1/countylink\ninflux:\n  url: http://127.0.0.1:8086\n  bucket: countylink/autogen\n"
	os.WriteFile(replicas, []byte("mqtt:\n  shared_group: hubs\n  client_id: Hub-A\n  replica_id: hub-a\n"+pgStore), 0o600)
	if c, err := LoadConfig(replicas); err != nil || c.MQTT.Replica() != "hub-a" {
		t.Errorf("replica_id hub-a beside client_id Hub-A: %v %q", err, c.MQTT.Replica())
	}
	for name, y := range map[string]string{
		"no bucket":    "influx:\n  url: http://x:8086\n",
		"bad listen":   "listen: 8080\n",
		"bad group":    "mqtt:\n  shared_group: A/B\n",
		"bad replica":  "mqtt:\n  shared_group: hubs\n  replica_id: Hub/A\n" + pgStore,
		"bad client":   "mqtt:\n  shared_group: hubs\n  client_id: Hub-A\n" + pgStore,
		"group sqlite": "mqtt:\n  shared_group: hubs\n",
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

// TestStoreConfig: the store's driver and DSN, and what PostgreSQL needs
// beside it (InfluxDB for the time series), each error naming its field.
func TestStoreConfig(t *testing.T) {
	influx := "influx:\n  url: http://127.0.0.1:8086\n  bucket: countylink/autogen\n"
	for _, tc := range []struct {
		name, yaml string
		want       string // in the error; empty for a valid file
	}{
		{"default sqlite", "log_level: info\n", ""},
		{"sqlite", "store:\n  driver: sqlite\n", ""},
		{"postgres", "store:\n  driver: postgres\n  dsn: postgres://countylink@127.0.0.1:5432/countylink\n" + influx, ""},
		{"postgres key=value", "store:\n  driver: postgres\n  dsn: host=127.0.0.1 dbname=countylink\n" + influx, ""},
		{"postgres without dsn", "store:\n  driver: postgres\n" + influx, "store.dsn: must be set"},
		{"postgres without influx", "store:\n  driver: postgres\n  dsn: postgres://127.0.0.1/countylink\n", "influx.url: must be set with store.driver postgres"},
		{"bad dsn", "store:\n  driver: postgres\n  dsn: 'postgres://u:secret@127.0.0.1:notaport/x'\n" + influx, "store.dsn"},
		{"dsn with sqlite", "store:\n  dsn: postgres://127.0.0.1/countylink\n", "store.dsn: is for driver postgres"},
		{"unknown driver", "store:\n  driver: mysql\n", `store.driver: "mysql" must be sqlite or postgres`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "hub.yaml")
			os.WriteFile(p, []byte(tc.yaml), 0o600)
			c, err := LoadConfig(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				if c.Store.Driver != DriverSQLite && !strings.Contains(tc.yaml, "postgres") {
					t.Errorf("default driver %q", c.Store.Driver)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case strings.Contains(err.Error(), "secret"):
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
