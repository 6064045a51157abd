package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InfluxConfPath is the deployed InfluxDB configuration, relative to the
// repository root. Test databases are started from it.
const InfluxConfPath = "deploy/influxdb/influxdb.conf"

const (
	influxDatabase     = "countylink"
	influxReadyTimeout = 60 * time.Second
	influxStopGrace    = 30 * time.Second
)

// InfluxDB is a running test InfluxDB 1.8 server (see StartInfluxDB).
type InfluxDB struct {
	t        testing.TB
	bin      string
	dir      string
	conf     string
	logPath  string
	httpPort int
	rpcPort  int
	client   *http.Client

	mu       sync.Mutex
	proc     *process // nil when stopped
	logShown bool     // the log tail was already reported
}

// Row is one value row of an InfluxQL result.
type Row struct {
	Measurement string
	// Tags are the series' tags: those named in GROUP BY (use "GROUP BY *"
	// to get all of them here). Without GROUP BY a tag comes back as a
	// string column in Values.
	Tags map[string]string
	// Time is the "time" column, zero if the result has none (SHOW ...).
	Time time.Time
	// Values maps the other column names to their values as decoded from
	// JSON: float64 for every number (integer fields too), string, bool or
	// nil for a missing value.
	Values map[string]any
}

// StartInfluxDB starts influxd (v1.8.10) configured from the deployed
// deploy/influxdb/influxdb.conf with ports and directories of its own,
// waits until GET /health answers 200, and creates the database
// "countylink". t.Cleanup stops it and, if the test failed, logs the end of
// its log.
func StartInfluxDB(t testing.TB) *InfluxDB {
	t.Helper()
	bin := RequireBinary(t, "influxd")
	src, err := os.ReadFile(filepath.Join(RepoRoot(t), InfluxConfPath))
	if err != nil {
		t.Fatalf("testenv: reading the deployed InfluxDB config: %v", err)
		return nil
	}
	dir := t.TempDir()
	ports := freePorts(t, 2)
	db := &InfluxDB{
		t:        t,
		bin:      bin,
		dir:      dir,
		conf:     filepath.Join(dir, "influxdb.conf"),
		logPath:  filepath.Join(dir, "influxd.log"),
		httpPort: ports[0],
		rpcPort:  ports[1],
		client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}},
	}
	conf := renderInfluxConf(string(src), influxOverrides(dir, db.httpPort, db.rpcPort))
	if err := os.WriteFile(db.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: writing InfluxDB config: %v", err)
		return nil
	}
	t.Cleanup(func() {
		db.Stop()
		if t.Failed() && !db.logShown {
			t.Logf("testenv: influxd on %s, config %s, last %d log lines:\n%s",
				db.URL(), db.conf, logTailLines, tailFile(db.logPath, logTailLines))
		}
	})
	db.Start()
	if _, err := db.query("", "CREATE DATABASE "+influxDatabase); err != nil {
		t.Fatalf("testenv: creating database %s: %v", influxDatabase, err)
	}
	return db
}

// URL is the HTTP API base URL, "http://127.0.0.1:PORT".
func (db *InfluxDB) URL() string { return "http://127.0.0.1:" + strconv.Itoa(db.httpPort) }

// Database is the InfluxQL database, "countylink".
func (db *InfluxDB) Database() string { return influxDatabase }

// Bucket is the v2 API bucket for the database: "countylink/autogen".
func (db *InfluxDB) Bucket() string { return influxDatabase + "/autogen" }

// Token is a v2 API token. Authentication is off, so InfluxDB 1.8 accepts
// any "user:password" token; the hub sends one as it would in production.
func (db *InfluxDB) Token() string { return "user:pass" }

// Org is the v2 API organisation, empty for InfluxDB 1.8.
func (db *InfluxDB) Org() string { return "" }

// Dir is the server's directory: meta, data, wal, config and log.
func (db *InfluxDB) Dir() string { return db.dir }

// ConfigFile is the path of the generated configuration.
func (db *InfluxDB) ConfigFile() string { return db.conf }

// Log returns the server's log so far (all runs).
func (db *InfluxDB) Log() string { return readLog(db.logPath) }

// Start starts the server again, on the same ports with the same data, and
// waits until /health answers 200. It does nothing if the server is
// running. StartInfluxDB already calls it.
// A failure is reported on the t given to StartInfluxDB: call Start, Stop and
// Kill from that test (not from a subtest or another goroutine).
func (db *InfluxDB) Start() {
	db.t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.proc != nil && !db.proc.exited() {
		return
	}
	p, err := startProcess(db.bin, []string{"run", "-config", db.conf}, db.dir, db.logPath)
	if err != nil {
		db.t.Fatalf("testenv: starting %s: %v", db.bin, err)
		return
	}
	db.proc = p
	if err := waitReady(p, influxReadyTimeout, db.healthy); err != nil {
		p.stop(syscall.SIGKILL, time.Second)
		db.proc = nil
		db.logShown = true
		db.t.Fatalf("testenv: influxd on %s: %v\nlast %d log lines:\n%s",
			db.URL(), err, logTailLines, tailFile(db.logPath, logTailLines))
	}
}

// Stop stops the server with SIGTERM and waits until it has exited
// (killing it after 30 s).
func (db *InfluxDB) Stop() { db.halt(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a power cut would; acknowledged
// writes survive in the WAL. It waits until the process is gone.
func (db *InfluxDB) Kill() { db.halt(syscall.SIGKILL) }

func (db *InfluxDB) halt(sig os.Signal) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.proc == nil {
		return
	}
	db.proc.stop(sig, influxStopGrace)
	db.proc = nil
	db.client.CloseIdleConnections()
}

func (db *InfluxDB) healthy() error {
	resp, err := db.client.Get(db.URL() + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /health: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// WriteLines writes line protocol through the v2 API
// (POST /api/v2/write?bucket=countylink/autogen) with the given timestamp
// precision ("ns", "us", "ms" or "s"), failing the test on an error.
func (db *InfluxDB) WriteLines(t testing.TB, precision string, lines ...string) {
	t.Helper()
	u := db.URL() + "/api/v2/write?" + url.Values{
		"bucket": {db.Bucket()}, "precision": {precision},
	}.Encode()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("testenv: %v", err)
		return
	}
	req.Header.Set("Authorization", "Token "+db.Token())
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := db.client.Do(req)
	if err != nil {
		t.Fatalf("testenv: write: %v", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("testenv: write: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
}

// Query runs an InfluxQL query against the database "countylink" through
// the v1 /query endpoint (epoch=ms) and returns one Row per value row of
// every statement's series, failing the test on an error.
func (db *InfluxDB) Query(t testing.TB, influxql string) []Row {
	t.Helper()
	rows, err := db.query(influxDatabase, influxql)
	if err != nil {
		t.Fatalf("testenv: query %q: %v", influxql, err)
	}
	return rows
}

// WaitRows runs the query every 50 ms until it returns at least n rows and
// returns them, or fails the test after timeout. Query errors (for example
// while the server restarts) are retried until the timeout.
func (db *InfluxDB) WaitRows(t testing.TB, influxql string, n int, timeout time.Duration) []Row {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows, err := db.query(influxDatabase, influxql)
		if err == nil && len(rows) >= n {
			return rows
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("testenv: query %q: no %d rows after %v, last error: %v", influxql, n, timeout, err)
			} else {
				t.Fatalf("testenv: query %q: %d rows after %v, want at least %d: %+v", influxql, len(rows), timeout, n, rows)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// influxResponse is the JSON of the v1 /query endpoint.
type influxResponse struct {
	Results []struct {
		StatementID int `json:"statement_id"`
		Series      []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func (db *InfluxDB) query(database, influxql string) ([]Row, error) {
	form := url.Values{"q": {influxql}, "epoch": {"ms"}}
	if database != "" {
		form.Set("db", database)
	}
	resp, err := db.client.PostForm(db.URL()+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r influxResponse
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %v: %.500s", resp.Status, err, body)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.500s", resp.Status, body)
	}
	var rows []Row
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("statement %d: %s", res.StatementID, res.Error)
		}
		for _, s := range res.Series {
			for _, vals := range s.Values {
				row := Row{Measurement: s.Name, Tags: map[string]string{}, Values: map[string]any{}}
				for k, v := range s.Tags {
					row.Tags[k] = v
				}
				for i, col := range s.Columns {
					if i >= len(vals) {
						break
					}
					v := vals[i]
					if col == "time" {
						row.Time = influxTime(v)
						continue
					}
					if n, ok := v.(json.Number); ok {
						f, err := n.Float64()
						if err != nil {
							return nil, fmt.Errorf("column %s: %v", col, err)
						}
						v = f
					}
					row.Values[col] = v
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// influxTime converts a "time" value: milliseconds with epoch=ms, or an
// RFC 3339 string.
func influxTime(v any) time.Time {
	switch v := v.(type) {
	case json.Number:
		if ms, err := v.Int64(); err == nil {
			return time.UnixMilli(ms)
		}
		if f, err := v.Float64(); err == nil {
			return time.UnixMilli(int64(f))
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return tm
		}
	}
	return time.Time{}
}

// influxOverrides are the settings a test server changes in the deployed
// configuration, by section ("" is the top level); values are TOML.
func influxOverrides(dir string, httpPort, rpcPort int) map[string]map[string]string {
	q := strconv.Quote
	return map[string]map[string]string{
		"": {
			"reporting-disabled": "true",
			"bind-address":       q(fmt.Sprintf("127.0.0.1:%d", rpcPort)),
		},
		"meta": {"dir": q(filepath.Join(dir, "meta"))},
		"data": {
			"dir":               q(filepath.Join(dir, "data")),
			"wal-dir":           q(filepath.Join(dir, "wal")),
			"query-log-enabled": "false",
		},
		"http": {
			"enabled":             "true",
			"bind-address":        q(fmt.Sprintf("127.0.0.1:%d", httpPort)),
			"flux-enabled":        "true",
			"auth-enabled":        "false",
			"log-enabled":         "false",
			"https-enabled":       "false",
			"unix-socket-enabled": "false",
		},
		"monitor":            {"store-enabled": "false"},
		"continuous_queries": {"enabled": "false"},
		"subscriber":         {"enabled": "false"},
		"logging":            {"suppress-logo": "true"},
		// Array tables: every [[name]] block present is disabled.
		"graphite": {"enabled": "false"},
		"collectd": {"enabled": "false"},
		"opentsdb": {"enabled": "false"},
		"udp":      {"enabled": "false"},
	}
}

// influxArrayTables are the input plugins configured as [[name]] blocks;
// they are only disabled, never added.
var influxArrayTables = map[string]bool{"graphite": true, "collectd": true, "opentsdb": true, "udp": true}

// renderInfluxConf applies overrides to a TOML configuration line by line:
// a key of an overridden section is replaced, a missing key is added at the
// end of its section, a missing section is appended. It handles the flat
// "key = value" TOML InfluxDB uses (no multi-line values).
func renderInfluxConf(src string, overrides map[string]map[string]string) string {
	type block struct {
		name  string // "" for the top level
		array bool
		lines []string
	}
	blocks := []*block{{}}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, "\r")
		s := strings.TrimSpace(line)
		if strings.HasPrefix(s, "[") {
			array := strings.HasPrefix(s, "[[")
			name := strings.Trim(strings.TrimSpace(strings.SplitN(s, "#", 2)[0]), "[] ")
			blocks = append(blocks, &block{name: name, array: array})
		}
		b := blocks[len(blocks)-1]
		b.lines = append(b.lines, line)
	}

	seenSection := map[string]bool{}
	var out []string
	out = append(out, "# Generated by deploy/testenv from "+InfluxConfPath+".", "")
	emit := func(b *block) {
		ov := overrides[b.name]
		done := map[string]bool{}
		for _, line := range b.lines {
			s := strings.TrimSpace(line)
			key, _, isKV := strings.Cut(s, "=")
			key = strings.TrimSpace(key)
			if isKV && !strings.HasPrefix(s, "#") {
				if v, ok := ov[key]; ok {
					indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
					out = append(out, indent+key+" = "+v+"  # testenv: was "+strings.TrimSpace(strings.SplitN(s, "=", 2)[1]))
					done[key] = true
					continue
				}
			}
			out = append(out, line)
		}
		if b.array {
			return
		}
		for _, key := range slices.Sorted(maps.Keys(ov)) {
			if !done[key] {
				out = append(out, "  "+key+" = "+ov[key]+"  # testenv")
			}
		}
	}
	for _, b := range blocks {
		seenSection[b.name] = true
		emit(b)
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		if seenSection[name] || influxArrayTables[name] {
			continue
		}
		out = append(out, "", "["+name+"]")
		emit(&block{name: name})
	}
	return strings.Join(out, "\n") + "\n"
}
