package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/sqlite"
	"github.com/countylink/countylink/hub/state"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

func TestMain(m *testing.M) {
	http.DefaultClient.Transport = authTransport{base: http.DefaultTransport}
	dir, err := os.MkdirTemp("", "countylink-e2e-bin")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds the command at pkg (e.g. ./edge/cmd/edge-agent) for goarch
// once per test run and returns its path.
func binary(t testing.TB, pkg, goarch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "@" + goarch
	if p, ok := built[key]; ok {
		return p
	}
	out := filepath.Join(buildDir, goarch, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if goarch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for %s: %v\n%s", pkg, goarch, err, b)
	}
	built[key] = out
	return out
}

// startHub starts the hub's production wiring (server.Main) on free ports.
func startHub(t *testing.T, mutate func(*server.Config)) *server.Main {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.MQTT.ClientID = "hub-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := &server.Main{Config: cfg, Log: testLogger(t)}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	authorize(t, m)
	waitHealthy(t, m.HTTPAddr)
	return m
}

// hubTokens are the admin API tokens of the hubs the tests started, by
// their HTTP address (host:port).
var hubTokens sync.Map

// authTransport is http.DefaultClient's transport in these tests: a
// request to a hub the test started, carrying no credentials of its own,
// goes with that hub's admin token, so the tests read and drive the API
// as an admin's integration would. The route rules themselves are
// tested in hub/httpapi.
type authTransport struct{ base http.RoundTripper }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := hubTokens.Load(r.URL.Host); ok && r.Header.Get("Authorization") == "" && r.Header.Get("Cookie") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok.(string))
	}
	return a.base.RoundTrip(r)
}

// authorize issues an admin API token of hub m for the tests' requests
// to it (authTransport).
func authorize(t testing.TB, m *server.Main) {
	t.Helper()
	tok, _, err := m.Auth.IssueToken(context.Background(), hub.TokenAPI, "e2e", hub.RoleAdmin, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	hubTokens.Store(m.HTTPAddr, tok)
}

// seedToken puts an admin API token in the SQLite store of a hub process
// not started yet (data_dir dataDir) and uses it for the tests' requests
// to addr.
func seedToken(t testing.TB, addr, dataDir string) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(dataDir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok, _, err := auth.New(db, auth.DefaultConfig(), nil, nil).IssueToken(context.Background(), hub.TokenAPI, "e2e", hub.RoleAdmin, "", time.Time{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	hubTokens.Store(addr, tok)
}

// personSessions are the sessions asPerson made, by hub address and name.
var personSessions sync.Map

type personSession struct{ id, csrf string }

// asPerson makes req act as the person name at hub m, as the dashboard's
// pages do: the session cookie and the CSRF token of a county
// coordinator, made when new.
func asPerson(t testing.TB, m *server.Main, req *http.Request, name string) {
	t.Helper()
	key := m.HTTPAddr + "/" + name
	v, ok := personSessions.Load(key)
	if !ok {
		ctx := context.Background()
		if u, err := m.Auth.Store.User(ctx, name); err != nil {
			t.Fatal(err)
		} else if u == nil {
			if _, err := m.Auth.CreateUser(ctx, hub.User{Name: name, Role: hub.RoleCounty}, "a password for "+name, "test"); err != nil {
				t.Fatal(err)
			}
		}
		p, id, err := m.Auth.StartSession(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		v = personSession{id: id, csrf: p.CSRF()}
		personSessions.Store(key, v)
	}
	s := v.(personSession)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: s.id})
	req.Header.Set(auth.CSRFHeader, s.csrf)
}

// authorizeFile waits for the API token a hub process wrote (hub -demo's
// data/demo-api-token) and uses it for the tests' requests to addr.
func authorizeFile(t testing.TB, addr, path string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the hub's API token in "+path, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			hubTokens.Store(addr, tok)
			return nil
		}
		return fmt.Errorf("%s is empty", path)
	})
}

// waitHealthy waits until the hub at addr answers /healthz with 200: it has
// subscribed, so its session at the broker exists.
func waitHealthy(t testing.TB, addr string) {
	t.Helper()
	waitFor(t, 15*time.Second, "hub ready", func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
}

// quietLogger discards everything: for benchmarks.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// testWriter logs through the test until it ends; a hub goroutine still
// finishing after that writes nowhere (t.Log would panic).
type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// waitFor polls f until it succeeds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
}

func getJSON(t testing.TB, url string, v any) error {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func coldRoom(t *testing.T, m *server.Main, site, room string) (state.RoomView, error) {
	var rooms []state.RoomView
	if err := getJSON(t, "http://"+m.HTTPAddr+"/api/v1/coldrooms", &rooms); err != nil {
		return state.RoomView{}, err
	}
	for _, r := range rooms {
		if r.Site == site && r.Room == room {
			return r, nil
		}
	}
	return state.RoomView{}, fmt.Errorf("no room %s/%s", site, room)
}

func siteView(t *testing.T, m *server.Main, id string) (state.SiteView, error) {
	var sites []state.SiteView
	if err := getJSON(t, "http://"+m.HTTPAddr+"/api/v1/sites", &sites); err != nil {
		return state.SiteView{}, err
	}
	for _, s := range sites {
		if s.ID == id {
			return s, nil
		}
	}
	return state.SiteView{}, fmt.Errorf("no site %s", id)
}

// agentProc is a running edge-agent binary.
type agentProc struct {
	cmd *exec.Cmd
	log *logBuf
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeAgentConfig writes an edge config with one device per address/unit.
func writeAgentConfig(t *testing.T, site, edge, broker string, devices string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	y := fmt.Sprintf("site: %s\nedge: %s\nstate_dir: %s\nlog_level: info\nmqtt:\n  broker: %s\n  keepalive: 5s\ndevices:\n%s",
		site, edge, filepath.Join(dir, "state"), broker, devices)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent runs bin (through runner, e.g. qemu, when set) with config.
func startAgent(t testing.TB, runner, bin, config string) *agentProc {
	t.Helper()
	argv := []string{bin, "-config", config}
	if runner != "" {
		argv = append([]string{runner}, argv...)
	}
	return startProc(t, "", argv...)
}

// startProc runs argv in dir until the test ends (SIGINT, then SIGKILL),
// keeping its output, which is printed if the test fails.
func startProc(t testing.TB, dir string, argv ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	p := &agentProc{cmd: cmd, log: &logBuf{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(os.Interrupt)
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(argv[0]), p.log.String())
		}
	})
	return p
}

func (p *agentProc) stop(sig os.Signal) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		return <-done
	}
}

// sseClient reads the hub's event stream and hands each event to the channel.
type sseEvent struct {
	typ, data string
	at        time.Time
}

func subscribeSSE(t testing.TB, url string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 1024)
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(ch)
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				if err != io.EOF {
					return
				}
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "" && ev.typ != "":
				ev.at = time.Now()
				select {
				case ch <- ev:
				default:
				}
				ev = sseEvent{}
			}
		}
	}()
	return ch
}
