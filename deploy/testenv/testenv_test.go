package testenv

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Ports and binaries

func TestFreePort(t *testing.T) {
	ports := freePorts(t, 3)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("bad or repeated port in %v", ports)
		}
		seen[p] = true
	}
	p := FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("FreePort %d cannot be bound: %v", p, err)
	}
	l.Close()
}

// recordingTB records Fatalf and Skipf instead of acting on them; like the
// real ones, they end the calling goroutine.
type recordingTB struct {
	testing.TB
	mu           sync.Mutex
	fatals, skip []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skip = append(r.skip, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

// requireBinary runs RequireBinary on a recordingTB in its own goroutine.
func requireBinary(t *testing.T, name string, candidates ...string) (path string, rec *recordingTB) {
	rec = &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = RequireBinary(rec, name, candidates...)
	}()
	<-done
	return path, rec
}

func TestRequireBinary(t *testing.T) {
	const missing = "countylink-no-such-binary"

	t.Run("found in PATH", func(t *testing.T) {
		p, rec := requireBinary(t, "sh")
		if p == "" || len(rec.fatals)+len(rec.skip) > 0 {
			t.Fatalf("sh: path %q, fatals %q, skips %q", p, rec.fatals, rec.skip)
		}
	})

	t.Run("found as candidate", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), missing)
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		p, rec := requireBinary(t, missing, "/nonexistent/"+missing, bin)
		if p != bin || len(rec.fatals)+len(rec.skip) > 0 {
			t.Fatalf("path %q, want %q; fatals %q, skips %q", p, bin, rec.fatals, rec.skip)
		}
	})

	t.Run("missing with CI=true fails", func(t *testing.T) {
		t.Setenv("CI", "true")
		p, rec := requireBinary(t, missing, "/nonexistent/"+missing)
		if p != "" || len(rec.skip) != 0 || len(rec.fatals) != 1 {
			t.Fatalf("path %q, fatals %q, skips %q; want exactly one Fatalf", p, rec.fatals, rec.skip)
		}
		msg := rec.fatals[0]
		for _, want := range []string{missing, "make deps", "CI=true", "/nonexistent/" + missing} {
			if !strings.Contains(msg, want) {
				t.Errorf("Fatalf message lacks %q: %s", want, msg)
			}
		}
		t.Logf("message: %s", msg)
	})

	t.Run("missing without CI skips with the same hint", func(t *testing.T) {
		t.Setenv("CI", "")
		p, rec := requireBinary(t, missing)
		if p != "" || len(rec.fatals) != 0 || len(rec.skip) != 1 {
			t.Fatalf("path %q, fatals %q, skips %q; want exactly one Skipf", p, rec.fatals, rec.skip)
		}
		if !strings.Contains(rec.skip[0], "make deps") || !strings.Contains(rec.skip[0], missing) {
			t.Errorf("Skipf message lacks the install hint: %s", rec.skip[0])
		}
	})

	t.Run("CI=1 counts as CI", func(t *testing.T) {
		t.Setenv("CI", "1")
		_, rec := requireBinary(t, missing)
		if len(rec.fatals) != 1 || len(rec.skip) != 0 {
			t.Fatalf("CI=1: fatals %q, skips %q; want one Fatalf", rec.fatals, rec.skip)
		}
	})
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	for _, f := range []string{"go.mod", MosquittoConfPath, InfluxConfPath} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// ---------------------------------------------------------------------------
// Configuration generation

func TestMosquittoConfFromDeployed(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(RepoRoot(t), MosquittoConfPath))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := renderMosquittoConf(string(src), 41883, "/tmp/x/", "/tmp/x/m.log", "root",
		[]string{"max_queued_messages 7", "log_type debug"})
	if err != nil {
		t.Fatal(err)
	}
	got := activeMosquittoLines(conf)
	// The deployed sizing and limits are kept (the point of the harness).
	for _, want := range []string{
		"max_inflight_messages 20000",
		"max_queued_bytes 536870912",
		"message_size_limit 65536",
		"persistence true",
		"allow_anonymous true",
		// Replaced ones.
		"listener 41883 127.0.0.1",
		"persistence_location /tmp/x/",
		"log_dest file /tmp/x/m.log",
		"user root",
		"max_queued_messages 7",
		"log_type debug",
		"log_type information",
	} {
		if got[want] != 1 {
			t.Errorf("generated config has %q %d times, want once:\n%s", want, got[want], conf)
		}
	}
	for line := range got {
		k, _ := mosquittoKey(line)
		switch k {
		case "pid_file", "include_dir":
			t.Errorf("generated config keeps %q", line)
		}
		if line == "max_queued_messages 1000000" {
			t.Errorf("overridden option kept: %q", line)
		}
	}

	// The open test broker keeps the deployed plain listener only, and
	// none of the access control.
	for line := range got {
		k, _ := mosquittoKey(line)
		switch {
		case k == "password_file", k == "acl_file", k == "cafile", k == "crlfile", k == "use_username_as_clientid", line == "allow_anonymous false", strings.Contains(line, "8883"):
			t.Errorf("open test broker keeps %q", line)
		}
	}

	// The secure one keeps both listeners, their TLS and the access
	// control, with the files from the test's directory.
	conf, err = renderMosquitto(string(src), mosquittoRender{ports: []int{41883, 48883}, pkiDir: "/tmp/pki", persistDir: "/tmp/x/", logPath: "/tmp/x/m.log", userName: "root"})
	if err != nil {
		t.Fatal(err)
	}
	got = activeMosquittoLines(conf)
	for _, want := range []string{
		"listener 41883 127.0.0.1", "listener 48883 127.0.0.1",
		"cafile /tmp/pki/ca.crt", "certfile /tmp/pki/broker.crt", "keyfile /tmp/pki/broker.key", "crlfile /tmp/pki/crl.pem",
		"require_certificate true", "use_identity_as_username true",
		"allow_anonymous false", "password_file /tmp/pki/passwd", "acl_file /tmp/pki/acl",
		"max_inflight_messages 20000",
	} {
		if got[want] != 1 {
			t.Errorf("secure config has %q %d times, want once:\n%s", want, got[want], conf)
		}
	}
	if strings.Contains(conf, "\ncafile /etc") || strings.Contains(conf, "\nacl_file /etc") {
		t.Errorf("secure config keeps a deployed path:\n%s", conf)
	}
	if _, err := renderMosquitto(string(src), mosquittoRender{ports: []int{1}, pkiDir: "/tmp/pki", persistDir: "/d/", logPath: "/d/l"}); err == nil {
		t.Error("a secure config with fewer ports than listeners was rendered")
	}

	// With a TLS listener after the plain one, the open test broker keeps
	// the plain listener and drops the TLS one with its options.
	withTLS := "listener 1883\nprotocol mqtt\nlistener 8883\ncertfile /etc/c.crt\nkeyfile /etc/k.key\nallow_anonymous false\n"
	conf, err = renderMosquittoConf(withTLS, 5, "/d/", "/d/l", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	got = activeMosquittoLines(conf)
	for _, want := range []string{"listener 5 127.0.0.1", "protocol mqtt", "allow_anonymous true", "persistence_location /d/", "log_dest file /d/l"} {
		if got[want] != 1 {
			t.Errorf("missing %q:\n%s", want, conf)
		}
	}
	for line := range got {
		if strings.Contains(line, "8883") || strings.HasPrefix(line, "certfile") || strings.HasPrefix(line, "user") {
			t.Errorf("kept %q:\n%s", line, conf)
		}
	}
}

func activeMosquittoLines(conf string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(conf, "\n") {
		if k, v := mosquittoKey(l); k != "" {
			m[strings.TrimSpace(k+" "+v)]++
		}
	}
	return m
}

func TestInfluxConfFromDeployed(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(RepoRoot(t), InfluxConfPath))
	if err != nil {
		t.Fatal(err)
	}
	conf := renderInfluxConf(string(src), influxOverrides("/tmp/i", 18086, 18088))
	sections := parseFlatTOML(t, conf)
	for _, c := range []struct{ section, key, want string }{
		{"", "bind-address", `"127.0.0.1:18088"`},
		{"", "reporting-disabled", "true"},
		{"meta", "dir", `"/tmp/i/meta"`},
		{"data", "dir", `"/tmp/i/data"`},
		{"data", "wal-dir", `"/tmp/i/wal"`},
		{"data", "index-version", `"tsi1"`}, // kept from the deployed file
		{"data", "query-log-enabled", "false"},
		{"http", "bind-address", `"127.0.0.1:18086"`},
		{"http", "flux-enabled", "true"},
		{"http", "auth-enabled", "false"},
		{"http", "log-enabled", "false"},
		{"monitor", "store-enabled", "false"},
		{"continuous_queries", "enabled", "false"},
		{"udp", "enabled", "false"},
		{"graphite", "enabled", "false"},
	} {
		if got := sections[c.section][c.key]; len(got) != 1 || got[0] != c.want {
			t.Errorf("[%s] %s = %q, want exactly %s", c.section, c.key, got, c.want)
		}
	}
	// The deployed file itself switches the v2 API on.
	if got := parseFlatTOML(t, string(src))["http"]["flux-enabled"]; len(got) != 1 || got[0] != "true" {
		t.Errorf("deployed %s: [http] flux-enabled = %q, want true", InfluxConfPath, got)
	}
}

// parseFlatTOML returns section -> key -> values (comments stripped).
func parseFlatTOML(t *testing.T, conf string) map[string]map[string][]string {
	out := map[string]map[string][]string{"": {}}
	section := ""
	for _, line := range strings.Split(conf, "\n") {
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if strings.HasPrefix(s, "[") {
			section = strings.Trim(s, "[] ")
			if out[section] == nil {
				out[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		v = strings.TrimSpace(strings.SplitN(v, "#", 2)[0])
		k = strings.TrimSpace(k)
		out[section][k] = append(out[section][k], v)
	}
	return out
}

// ---------------------------------------------------------------------------
// Mosquitto

func TestMosquitto(t *testing.T) {
	m := StartMosquitto(t)
	if m.URL() != "tcp://127.0.0.1:"+strconv.Itoa(m.Port()) || m.Addr() != "127.0.0.1:"+strconv.Itoa(m.Port()) {
		t.Fatalf("URL %q Addr %q Port %d", m.URL(), m.Addr(), m.Port())
	}
	if b, err := os.ReadFile(m.ConfigFile()); err != nil || !strings.Contains(string(b), "max_queued_messages 1000000") {
		t.Fatalf("generated config %s lacks the deployed queue size (err %v)", m.ConfigFile(), err)
	}

	// A persistent QoS 1 subscriber (like the hub) goes offline; a message
	// published meanwhile is queued for it and must survive a clean broker
	// restart on the same port.
	hub := mqttDial(t, m.Addr(), "hub-test", false)
	hub.subscribe(t, "cl/#")
	hub.disconnect()

	pub := mqttDial(t, m.Addr(), "edge-test", true)
	pub.publish(t, "cl/t01/e1/telemetry", `{"v":1,"id":"e1-1"}`, true)
	pub.disconnect()

	m.Stop()
	if c, err := net.DialTimeout("tcp", m.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatalf("broker still accepts connections after Stop")
	}
	m.Start()

	hub = mqttDial(t, m.Addr(), "hub-test", false)
	topic, payload := hub.readPublish(t)
	if topic != "cl/t01/e1/telemetry" || payload != `{"v":1,"id":"e1-1"}` {
		t.Fatalf("after restart the queued message is %q %q", topic, payload)
	}
	hub.disconnect()

	// A retained message survives too: a fresh subscriber gets it.
	sub := mqttDial(t, m.Addr(), "late-test", true)
	sub.subscribe(t, "cl/t01/#")
	if topic, _ := sub.readPublish(t); topic != "cl/t01/e1/telemetry" {
		t.Fatalf("retained message on %q", topic)
	}
	sub.disconnect()

	// Kill, then start again on the same port.
	m.Kill()
	m.Start()
	c := mqttDial(t, m.Addr(), "after-kill", true)
	c.disconnect()

	if log := m.Log(); !strings.Contains(log, "mosquitto version") || !strings.Contains(log, m.ConfigFile()) {
		t.Errorf("broker log does not look like mosquitto's:\n%s", tailFile(filepath.Join(m.Dir(), "mosquitto.log"), 20))
	}
}

// mqttConn is a minimal MQTT 3.1.1 client: enough to prove the broker works
// without depending on a client library.
type mqttConn struct {
	c   net.Conn
	r   *bufio.Reader
	ids uint16
}

func mqttDial(t *testing.T, addr, clientID string, clean bool) *mqttConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	m := &mqttConn{c: c, r: bufio.NewReader(c)}
	var flags byte
	if clean {
		flags = 0x02
	}
	body := append(mqttString("MQTT"), 4, flags, 0, 60)
	body = append(body, mqttString(clientID)...)
	m.write(t, 0x10, body)
	typ, b := m.read(t)
	if typ != 0x20 || len(b) != 2 || b[1] != 0 {
		t.Fatalf("CONNACK: type %#x body %v", typ, b)
	}
	return m
}

func (m *mqttConn) subscribe(t *testing.T, filter string) {
	t.Helper()
	m.ids++
	body := binary.BigEndian.AppendUint16(nil, m.ids)
	body = append(append(body, mqttString(filter)...), 1)
	m.write(t, 0x82, body)
	typ, b := m.read(t)
	if typ != 0x90 || len(b) != 3 || b[2] != 1 {
		t.Fatalf("SUBACK: type %#x body %v", typ, b)
	}
}

func (m *mqttConn) publish(t *testing.T, topic, payload string, retain bool) {
	t.Helper()
	m.ids++
	header := byte(0x32) // PUBLISH, QoS 1
	if retain {
		header |= 1
	}
	body := binary.BigEndian.AppendUint16(mqttString(topic), m.ids)
	m.write(t, header, append(body, payload...))
	typ, b := m.read(t)
	if typ != 0x40 || len(b) != 2 || binary.BigEndian.Uint16(b) != m.ids {
		t.Fatalf("PUBACK: type %#x body %v", typ, b)
	}
}

// readPublish reads the next PUBLISH, acknowledges it if QoS 1, and returns
// its topic and payload.
func (m *mqttConn) readPublish(t *testing.T) (topic, payload string) {
	t.Helper()
	for {
		typ, b := m.read(t)
		if typ&0xf0 != 0x30 {
			continue
		}
		n := int(binary.BigEndian.Uint16(b))
		topic, b = string(b[2:2+n]), b[2+n:]
		if qos := (typ >> 1) & 3; qos > 0 {
			m.write(t, 0x40, b[:2])
			b = b[2:]
		}
		return topic, string(b)
	}
}

func (m *mqttConn) disconnect() {
	m.c.Write([]byte{0xe0, 0})
	m.c.Close()
}

func (m *mqttConn) write(t *testing.T, header byte, body []byte) {
	t.Helper()
	pkt := []byte{header}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		pkt = append(pkt, d)
		if n == 0 {
			break
		}
	}
	if _, err := m.c.Write(append(pkt, body...)); err != nil {
		t.Fatalf("mqtt write: %v", err)
	}
}

func (m *mqttConn) read(t *testing.T) (byte, []byte) {
	t.Helper()
	typ, err := m.r.ReadByte()
	if err != nil {
		t.Fatalf("mqtt read: %v", err)
	}
	n, mul := 0, 1
	for {
		d, err := m.r.ReadByte()
		if err != nil {
			t.Fatalf("mqtt read: %v", err)
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(m.r, b); err != nil {
		t.Fatalf("mqtt read: %v", err)
	}
	return typ, b
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// ---------------------------------------------------------------------------
// InfluxDB

func TestInfluxDB(t *testing.T) {
	db := StartInfluxDB(t)
	if db.Database() != "countylink" || db.Bucket() != "countylink/autogen" || db.Token() != "user:pass" || db.Org() != "" {
		t.Fatalf("Database %q Bucket %q Token %q Org %q", db.Database(), db.Bucket(), db.Token(), db.Org())
	}
	if !strings.HasPrefix(db.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q", db.URL())
	}

	// Write through the v2 API, as the hub does.
	req, err := http.NewRequest(http.MethodPost,
		db.URL()+"/api/v2/write?bucket=countylink/autogen&precision=ms",
		strings.NewReader("coldroom,site=t01 temperature=2.5 1700000000000\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token user:pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /api/v2/write: %s: %s", resp.Status, body)
	}

	// Read it back with InfluxQL.
	checkRow := func(rows []Row) {
		t.Helper()
		if len(rows) != 1 {
			t.Fatalf("rows %+v, want one", rows)
		}
		r := rows[0]
		if r.Measurement != "coldroom" || r.Tags["site"] != "t01" || r.Values["temperature"] != 2.5 ||
			!r.Time.Equal(time.UnixMilli(1700000000000)) {
			t.Fatalf("row %+v, want coldroom site=t01 temperature=2.5 at 1700000000000 ms", r)
		}
	}
	checkRow(db.Query(t, `SELECT * FROM coldroom GROUP BY *`))
	// Without GROUP BY the tag is a column.
	if rows := db.Query(t, `SELECT * FROM coldroom`); len(rows) != 1 || rows[0].Values["site"] != "t01" {
		t.Fatalf("rows without GROUP BY: %+v", rows)
	}

	// And with Flux through the v2 query API.
	flux := `from(bucket: "countylink/autogen")
  |> range(start: 2023-01-01T00:00:00Z, stop: 2024-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "coldroom" and r._field == "temperature")`
	req, err = http.NewRequest(http.MethodPost, db.URL()+"/api/v2/query", strings.NewReader(flux))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token user:pass")
	req.Header.Set("Accept", "application/csv")
	req.Header.Set("Content-type", "application/vnd.flux")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/query: %s: %s", resp.Status, body)
	}
	if v, site, err := fluxValue(string(body)); err != nil || v != "2.5" || site != "t01" {
		t.Fatalf("Flux result: _value %q site %q (%v) in:\n%s", v, site, err, body)
	}

	// WaitRows and WriteLines; then acknowledged writes survive a kill (WAL)
	// and the server comes back on the same port.
	db.WriteLines(t, "ms", "coldroom,site=t02 temperature=-18.5 1700000001000")
	if rows := db.WaitRows(t, `SELECT * FROM coldroom GROUP BY *`, 2, 5*time.Second); len(rows) != 2 {
		t.Fatalf("WaitRows: %+v", rows)
	}
	url := db.URL()
	db.Kill()
	db.Start()
	if db.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, db.URL())
	}
	rows := db.WaitRows(t, `SELECT temperature FROM coldroom WHERE site = 't02'`, 1, 5*time.Second)
	if rows[0].Values["temperature"] != -18.5 {
		t.Fatalf("after kill and restart: %+v", rows)
	}
}

// fluxValue returns _value and site of the only data row of an annotated
// CSV Flux result.
func fluxValue(body string) (value, site string, err error) {
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	var header []string
	found := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", err
		}
		if len(rec) == 0 || strings.HasPrefix(rec[0], "#") || (len(rec) == 1 && rec[0] == "") {
			continue
		}
		if header == nil {
			header = rec
			continue
		}
		for i, col := range header {
			if i < len(rec) {
				switch col {
				case "_value":
					value = rec[i]
				case "site":
					site = rec[i]
				}
			}
		}
		found++
	}
	if found != 1 {
		return value, site, fmt.Errorf("%d data rows, want 1", found)
	}
	return value, site, nil
}

func TestProxyCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c) // echo
		}
	}()
	p := StartProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	c.Write([]byte("ping"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through proxy: %q %v", buf, err)
	}
	p.Cut()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("connection survived the cut")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("pong"))
	if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("new connection after the cut: %q %v", buf, err)
	}
}
