package testenv

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoConfPath is the deployed broker configuration, relative to the
// repository root. Test brokers are started from it.
const MosquittoConfPath = "deploy/mosquitto/mosquitto.conf"

const (
	mosquittoReadyTimeout = 10 * time.Second
	mosquittoStopGrace    = 10 * time.Second
	logTailLines          = 40
)

// Mosquitto is a running test broker (see StartMosquitto).
type Mosquitto struct {
	t       testing.TB
	bin     string
	dir     string // persistence directory, config and log
	conf    string
	logPath string
	port    int

	mu       sync.Mutex
	proc     *process // nil when stopped
	logShown bool     // the log tail was already reported
}

// StartMosquitto starts a broker configured from the deployed
// deploy/mosquitto/mosquitto.conf, listening on a free port of 127.0.0.1,
// and returns once it accepts connections. t.Cleanup stops it and, if the
// test failed, logs the end of the broker log.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoWith(t)
}

// StartMosquittoWith is StartMosquitto with extra configuration lines
// appended to the generated configuration. An extra line whose option may
// appear only once (max_queued_messages, password_file, ...) replaces that
// option's line from the deployed file; the repeatable options (listener,
// log_dest, log_type, plugin, auth_plugin and their *_opt_ lines) are added.
func StartMosquittoWith(t testing.TB, extraLines ...string) *Mosquitto {
	t.Helper()
	bin := RequireBinary(t, "mosquitto", "/usr/sbin/mosquitto")
	src, err := os.ReadFile(filepath.Join(RepoRoot(t), MosquittoConfPath))
	if err != nil {
		t.Fatalf("testenv: reading the deployed broker config: %v", err)
		return nil
	}
	dir := t.TempDir()
	m := &Mosquitto{
		t:       t,
		bin:     bin,
		dir:     dir,
		conf:    filepath.Join(dir, "mosquitto.conf"),
		logPath: filepath.Join(dir, "mosquitto.log"),
		port:    FreePort(t),
	}
	conf, err := renderMosquittoConf(string(src), m.port, dir, m.logPath, currentUser(), extraLines)
	if err != nil {
		t.Fatalf("testenv: %s: %v", MosquittoConfPath, err)
		return nil
	}
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: writing broker config: %v", err)
		return nil
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() && !m.logShown {
			t.Logf("testenv: mosquitto on %s, config %s, last %d log lines:\n%s",
				m.Addr(), m.conf, logTailLines, tailFile(m.logPath, logTailLines))
		}
	})
	m.Start()
	return m
}

// URL is the broker address for MQTT clients: "tcp://127.0.0.1:PORT".
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr() }

// Addr is "127.0.0.1:PORT".
func (m *Mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// Port is the broker's TCP port. It stays the same across Stop and Start.
func (m *Mosquitto) Port() int { return m.port }

// Dir is the broker's directory: persistence database, config and log.
func (m *Mosquitto) Dir() string { return m.dir }

// ConfigFile is the path of the generated configuration.
func (m *Mosquitto) ConfigFile() string { return m.conf }

// Log returns the whole broker log so far (all runs of this broker).
func (m *Mosquitto) Log() string { return readLog(m.logPath) }

// Start starts the broker again, on the same port with the same persistence
// directory, and waits until it accepts connections. It does nothing if the
// broker is running. StartMosquitto already calls it.
// A failure is reported on the t given to StartMosquitto: call Start, Stop and
// Kill from that test (not from a subtest or another goroutine).
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.exited() {
		return
	}
	p, err := startProcess(m.bin, []string{"-c", m.conf}, m.dir, m.logPath)
	if err != nil {
		m.t.Fatalf("testenv: starting %s: %v", m.bin, err)
		return
	}
	m.proc = p
	if err := waitReady(p, mosquittoReadyTimeout, tcpReady(m.Addr())); err != nil {
		p.stop(syscall.SIGKILL, time.Second)
		m.proc = nil
		m.logShown = true
		m.t.Fatalf("testenv: mosquitto on %s: %v\nlast %d log lines:\n%s",
			m.Addr(), err, logTailLines, tailFile(m.logPath, logTailLines))
	}
}

// Stop stops the broker with SIGTERM, which saves its persistence database,
// and waits until it has exited (killing it after 10 s).
func (m *Mosquitto) Stop() { m.halt(syscall.SIGTERM) }

// Kill kills the broker with SIGKILL, as a power cut would: whatever arrived
// since the last autosave is lost. It waits until the process is gone.
func (m *Mosquitto) Kill() { m.halt(syscall.SIGKILL) }

func (m *Mosquitto) halt(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	m.proc.stop(sig, mosquittoStopGrace)
	m.proc = nil
}

// currentUser is the user the broker must keep running as: run as root,
// mosquitto otherwise switches to the "mosquitto" user, which cannot write
// the test's temporary directory.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return "" // not root: the user option has no effect
}

// repeatableMosquittoOptions may appear several times in a configuration.
var repeatableMosquittoOptions = map[string]bool{
	"listener": true, "log_dest": true, "log_type": true, "include_dir": true,
	"plugin": true, "auth_plugin": true, "connection": true, "address": true,
	"addresses": true, "topic": true,
}

func repeatableMosquittoOption(key string) bool {
	return repeatableMosquittoOptions[key] ||
		strings.HasPrefix(key, "plugin_opt_") || strings.HasPrefix(key, "auth_opt_")
}

// listenerMosquittoOptions configure the listener defined before them.
var listenerMosquittoOptions = map[string]bool{
	"bind_interface": true, "cafile": true, "capath": true, "certfile": true,
	"ciphers": true, "ciphers_tls1.3": true, "crlfile": true, "dhparamfile": true,
	"http_dir": true, "keyfile": true, "max_connections": true, "max_topic_alias": true,
	"mount_point": true, "protocol": true, "psk_hint": true, "require_certificate": true,
	"socket_domain": true, "tls_engine": true, "tls_engine_kpass_sha1": true,
	"tls_keyform": true, "tls_version": true, "use_identity_as_username": true,
	"use_subject_as_username": true, "use_username_as_clientid": true,
	"websockets_headers_size": true, "websockets_log_level": true,
}

// renderMosquittoConf turns the deployed configuration src into a test
// broker's: the first listener becomes "listener port 127.0.0.1" (further
// listeners and their options are dropped), persistence_location becomes
// persistDir, the log goes to the file logPath only, pid_file and
// include_dir are dropped, user becomes userName, then extra is applied.
// Replaced lines are kept as "# testenv:" comments to make the result easy
// to read next to its source.
func renderMosquittoConf(src string, port int, persistDir, logPath, userName string, extra []string) (string, error) {
	if strings.ContainsAny(persistDir+logPath, " \t\n") {
		return "", fmt.Errorf("test paths must not contain white space: %q, %q", persistDir, logPath)
	}
	overridden := map[string]bool{} // options set by extra, dropped from src
	for _, l := range extra {
		if k, _ := mosquittoKey(l); k != "" && !repeatableMosquittoOption(k) {
			overridden[k] = true
		}
	}

	var out []string
	out = append(out, "# Generated by deploy/testenv from "+MosquittoConfPath+".", "")
	drop := func(line, why string) { out = append(out, "# testenv: "+why+": "+line) }
	listeners, logDests := 0, 0
	inDroppedListener, sawPersistDir, sawUser := false, false, false
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, "\r")
		key, _ := mosquittoKey(line)
		if key == "" {
			out = append(out, line)
			continue
		}
		if inDroppedListener && listenerMosquittoOptions[key] {
			drop(line, "option of a dropped listener")
			continue
		}
		inDroppedListener = false
		if overridden[key] {
			sawPersistDir = sawPersistDir || key == "persistence_location"
			sawUser = sawUser || key == "user"
			drop(line, "overridden below")
			continue
		}
		switch {
		case key == "listener":
			listeners++
			if listeners > 1 {
				inDroppedListener = true
				drop(line, "only one listener in tests")
				continue
			}
			drop(line, "replaced")
			out = append(out, fmt.Sprintf("listener %d 127.0.0.1", port))
		case key == "persistence_location":
			sawPersistDir = true
			drop(line, "replaced")
			out = append(out, "persistence_location "+persistDir)
		case key == "log_dest":
			logDests++
			drop(line, "replaced")
			if logDests == 1 {
				out = append(out, "log_dest file "+logPath)
			}
		case key == "user":
			sawUser = true
			drop(line, "replaced")
			if userName != "" {
				out = append(out, "user "+userName)
			}
		case key == "pid_file" || key == "include_dir":
			drop(line, "not in tests")
		default:
			out = append(out, line)
		}
	}
	if listeners == 0 {
		out = append(out, fmt.Sprintf("listener %d 127.0.0.1", port))
	}
	if !sawPersistDir {
		out = append(out, "persistence_location "+persistDir)
	}
	if logDests == 0 {
		out = append(out, "log_dest file "+logPath)
	}
	if !sawUser && userName != "" {
		out = append(out, "user "+userName)
	}
	if len(extra) > 0 {
		out = append(out, "", "# testenv: extra lines from the test")
		out = append(out, extra...)
	}
	return strings.Join(out, "\n") + "\n", nil
}

// mosquittoKey returns the option name and the rest of a configuration
// line, or "" for a blank or comment line.
func mosquittoKey(line string) (key, value string) {
	s := strings.TrimSpace(line)
	if s == "" || strings.HasPrefix(s, "#") {
		return "", ""
	}
	key = strings.Fields(s)[0]
	return key, strings.TrimSpace(s[len(key):])
}
