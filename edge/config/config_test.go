package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/edge/uplink/uplinktest"
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
		"reserved edge": strings.Replace(good, "edge: tw01-e1", "edge: _site", 1), // contract.SiteEdge: every edge of the site
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

// TestLoadSecretModes: edge.yaml with mqtt.password inline, and the
// password file, are refused when every user can read them or others
// than their owner can change them, naming the file and chmod 600.
func TestLoadSecretModes(t *testing.T) {
	dir := t.TempDir()
	inline := filepath.Join(dir, "inline.yaml")
	os.WriteFile(inline, []byte(strings.Replace(good, "mqtt:\n", "mqtt:\n  password: s3cret\n", 1)), 0o600)
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	viaFile := filepath.Join(dir, "file.yaml")
	os.WriteFile(viaFile, []byte(strings.Replace(good, "mqtt:\n", "mqtt:\n  password_file: "+pw+"\n", 1)), 0o600)
	for _, mode := range []os.FileMode{0o644, 0o604, 0o620, 0o602} {
		os.Chmod(inline, mode)
		if _, err := Load(inline); err == nil || !strings.Contains(err.Error(), "mqtt.password") || !strings.Contains(err.Error(), inline) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("inline password in a %04o edge.yaml: %v", mode, err)
		}
		os.Chmod(pw, mode)
		if _, err := Load(viaFile); err == nil || !strings.Contains(err.Error(), "mqtt.password_file") || !strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a %04o password file: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o640} {
		os.Chmod(inline, mode)
		os.Chmod(pw, mode)
		if c, err := Load(inline); err != nil || c.MQTT.Password != "s3cret" {
			t.Errorf("inline password in a %04o edge.yaml: %v", mode, err)
		}
		if _, err := Load(viaFile); err != nil {
			t.Errorf("a %04o password file: %v", mode, err)
		}
	}
	// Without a secret, edge.yaml may be readable by all.
	plain := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plain, []byte(good), 0o644)
	if _, err := Load(plain); err != nil {
		t.Errorf("edge.yaml without a secret, 0644: %v", err)
	}
}

const warehouse = `site: tw03
edge: tw03-e1
state_dir: /var/lib/countylink-edge
buses:
  - id: rs485-1
    device: /dev/ttyUSB0
    baud: 19200
    parity: E
devices:
  - {id: cr1-th, room: cr1, profile: th-renke, transport: rtu, bus: rs485-1, unit: 1}
  - {id: cr1-ctl, room: cr1, profile: coldroom-ctrl, transport: rtu, bus: rs485-1, unit: 2}
scales:
  - {id: st1-scale, port: /dev/ttyUSB1, format: toledo, baud: 4800}
scanners:
  - {id: st1-scan, kind: hid, port: /dev/input/by-id/usb-scanner-event-kbd}
  - {id: st2-scan, kind: tcp, address: 192.168.10.21:2001}
inputs:
  - {id: cr1-door, pin: GPIO17, kind: door, room: cr1, active_low: true}
  - {id: st1-ok, pin: GPIO27, kind: button, active_low: true}
outputs:
  - {id: st1-b1, pin: GPIO5}
  - {id: st1-b2, pin: GPIO6}
  - {id: st1-x, pin: GPIO13}
  - {id: st1-buzz, pin: GPIO19}
  - {id: st2-b1, pin: sim:st2-b1}
  - {id: red, pin: GPIO20}
  - {id: green, pin: GPIO21}
stack_light: {red: red, green: green}
stations:
  - id: st1
    scanner: st1-scan
    scale: st1-scale
    lamps: {b1: st1-b1, b2: st1-b2, x: st1-x}
    buzzer: st1-buzz
    confirm: st1-ok
  - {id: st2, scanner: st2-scan, lamps: {b1: st2-b1}}
`

func TestParseWarehouse(t *testing.T) {
	c, err := Parse([]byte(warehouse))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Buses[0]
	// Keys left out take the bus defaults, not zero: retries 1, 1 stop bit.
	if b.Baud != 19200 || b.Parity != "E" || b.StopBits != 1 || b.Retries != 1 || b.DataBits != 8 || b.Timeout == 0 || b.OfflineAfter != 3 {
		t.Errorf("bus defaults: %+v", b)
	}
	sc := c.Scales[0]
	if sc.Format != "toledo" || sc.Baud != 4800 || sc.DataBits != 8 || sc.Division != 0.005 || sc.StableFor == 0 {
		t.Errorf("scale defaults: %+v", sc)
	}
	if c.Devices[1].Unit != 2 || c.Stations[0].LampFor != 8*time.Second || c.Scanners[1].Baud != 9600 {
		t.Errorf("defaults: %+v %+v", c.Devices[1], c.Stations[0])
	}
	if c.SortPlan != "/var/lib/countylink-edge/sortplan.json" || c.Manifest != "/var/lib/countylink-edge/manifest.csv" {
		t.Errorf("plan %q manifest %q", c.SortPlan, c.Manifest)
	}
}

func TestParseWarehouseRefuses(t *testing.T) {
	cases := map[string]struct{ from, to, want string }{
		"bus baud":           {"baud: 19200", "baud: 12345", "line 7: buses[0].baud"},
		"bus parity":         {"parity: E", "parity: even", "buses[0].parity"},
		"unknown bus":        {"bus: rs485-1, unit: 2", "bus: rs485-9, unit: 2", "line 11: devices[1].bus"},
		"rtu unit":           {"bus: rs485-1, unit: 2", "bus: rs485-1, unit: 250", "devices[1].unit"},
		"port twice":         {"port: /dev/ttyUSB1", "port: /dev/ttyUSB0", "scales[0].port"},
		"scale format":       {"format: toledo", "format: krups", "scales[0]"},
		"scanner kind":       {"kind: hid", "kind: bluetooth", "line 15: scanners[0].kind"},
		"pin twice":          {"pin: GPIO6", "pin: GPIO5", "outputs[1].pin"},
		"door room":          {"kind: door, room: cr1", "kind: door", "inputs[0].room"},
		"lamp unknown":       {"b2: st1-b2", "b2: st1-b9", "stations[0].lamps.b2"},
		"output shared":      {"lamps: {b1: st2-b1}", "lamps: {b1: st1-b1}", "stations[1].lamps.b1"},
		"confirm not button": {"confirm: st1-ok", "confirm: cr1-door", "stations[0].confirm"},
		"scanner shared":     {"scanner: st2-scan", "scanner: st1-scan", "stations[1].scanner"},
		"stack unknown":      {"green: green", "green: blue", "stack_light.green"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(warehouse, c.from) {
				t.Fatalf("case does not apply: %q", c.from)
			}
			_, err := Parse([]byte(strings.Replace(warehouse, c.from, c.to, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to name %q", err, c.want)
			}
		})
	}
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	ca := uplinktest.NewCA(t, dir)
	cert, key := ca.Issue(t, dir, "edge", "tw01.tw01-e1", false)
	other, otherKey := ca.Issue(t, dir, "other", "tw01.tw01-e2", false)
	write := func(t *testing.T, tls string) string {
		t.Helper()
		y := strings.Replace(good, "tcp://hub.example:1883", "ssl://hub.example:8883", 1)
		y = strings.Replace(y, "mqtt:\n", "mqtt:\n  tls:\n"+tls, 1)
		path := filepath.Join(t.TempDir(), "edge.yaml")
		os.WriteFile(path, []byte(y), 0o644)
		return path
	}
	files := func(c, k string) string {
		return "    ca_file: " + ca.File + "\n    cert_file: " + c + "\n    key_file: " + k + "\n    server_name: hub.example\n"
	}
	c, err := Load(write(t, files(cert, key)))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.TLS.CertFile != cert || c.MQTT.TLS.ServerName != "hub.example" {
		t.Errorf("tls %+v", c.MQTT.TLS)
	}
	// Another edge's certificate: the broker would confine this edge to
	// the other's topics.
	if _, err := Load(write(t, files(other, otherKey))); err == nil || !strings.Contains(err.Error(), `the certificate is for "tw01.tw01-e2", this edge is "tw01.tw01-e1"`) {
		t.Errorf("another edge's certificate: %v", err)
	}
	if _, err := Load(write(t, "    ca_file: "+ca.File+"\n    cert_file: "+cert+"\n")); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("a certificate without its key: %v", err)
	}
	os.Chmod(key, 0o644)
	if _, err := Load(write(t, files(cert, key))); err == nil || !strings.Contains(err.Error(), "mqtt.tls.key_file") || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("a world-readable key: %v", err)
	}
	os.Chmod(key, 0o600)
	// TLS files with a plain broker URL.
	plain := strings.Replace(good, "mqtt:\n", "mqtt:\n  tls:\n    ca_file: "+ca.File+"\n", 1)
	if _, err := Parse([]byte(plain)); err == nil || !strings.Contains(err.Error(), "ssl://host:8883") {
		t.Errorf("tls with tcp://: %v", err)
	}
	// A world-readable password file is refused too.
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o644)
	path := filepath.Join(dir, "pw.yaml")
	os.WriteFile(path, []byte(strings.Replace(good, "mqtt:\n", "mqtt:\n  password_file: "+pw+"\n", 1)), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "mqtt.password_file") {
		t.Errorf("a world-readable password file: %v", err)
	}
}
