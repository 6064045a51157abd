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
	tlsPort int // the TLS listener's, on a secure broker; 0 otherwise

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
//
// The broker is open: the deployed configuration's first listener only
// (plain MQTT), anonymous clients allowed, no password or ACL file, unless
// extra sets them. StartSecureMosquitto runs the whole deployed access
// control.
func StartMosquittoWith(t testing.TB, extraLines ...string) *Mosquitto {
	t.Helper()
	return startMosquitto(t, "", extraLines)
}

// StartSecureMosquitto starts a broker with the deployed configuration's
// security as it is: its plain listener (Port, URL: loopback, password
// logins) and its TLS listener (TLSPort, TLSURL: client certificates from
// the CA, the certificate's common name as user name, the revocation
// list), anonymous clients refused, the password file and the ACL. The
// files the deployed configuration expects in DeployedPKIDir are taken
// from pkiDir instead, where the test has written them (hub/provision's
// Init, Issue and Save do). extraLines are applied as StartMosquittoWith
// does.
func StartSecureMosquitto(t testing.TB, pkiDir string, extraLines ...string) *Mosquitto {
	t.Helper()
	if pkiDir == "" {
		t.Fatal("testenv: StartSecureMosquitto needs the directory of the CA, certificates, ACL and password file")
		return nil
	}
	return startMosquitto(t, pkiDir, extraLines)
}

func startMosquitto(t testing.TB, pkiDir string, extraLines []string) *Mosquitto {
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
	}
	r := mosquittoRender{persistDir: dir, logPath: m.logPath, userName: currentUser(), extra: extraLines}
	if pkiDir == "" {
		m.port = FreePort(t)
		r.ports = []int{m.port}
	} else {
		ports := freePorts(t, 2)
		m.port, m.tlsPort = ports[0], ports[1]
		r.ports, r.pkiDir = ports, pkiDir
	}
	conf, err := renderMosquitto(string(src), r)
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

// TLSURL is the secure broker's TLS listener for MQTT clients:
// "ssl://127.0.0.1:PORT". Its certificate is the one in the PKI directory
// (hub provision init names the hosts it is valid for).
func (m *Mosquitto) TLSURL() string { return "ssl://127.0.0.1:" + strconv.Itoa(m.tlsPort) }

// TLSPort is the secure broker's TLS port; 0 on an open broker.
func (m *Mosquitto) TLSPort() int { return m.tlsPort }

// Reload sends the broker SIGHUP, as "systemctl reload mosquitto" does, and
// waits until it has re-read its configuration (its ACL and password file
// with it). Call it from the test that started the broker.
func (m *Mosquitto) Reload() {
	m.t.Helper()
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p == nil || p.exited() {
		m.t.Fatalf("testenv: mosquitto on %s is not running", m.Addr())
		return
	}
	before := strings.Count(m.Log(), "Reloading config")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		m.t.Fatalf("testenv: SIGHUP to mosquitto: %v", err)
		return
	}
	deadline := time.Now().Add(mosquittoReadyTimeout)
	for strings.Count(m.Log(), "Reloading config") == before {
		if time.Now().After(deadline) {
			m.t.Fatalf("testenv: mosquitto on %s did not reload within %v", m.Addr(), mosquittoReadyTimeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The line is logged as the reload starts, in the broker's one loop:
	// any packet a client sends from now on is handled after the reload.
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
	ready := tcpReady(m.Addr())
	if m.tlsPort != 0 {
		plain, tls := ready, tcpReady("127.0.0.1:"+strconv.Itoa(m.tlsPort))
		ready = func() error {
			if err := plain(); err != nil {
				return err
			}
			return tls()
		}
	}
	if err := waitReady(p, mosquittoReadyTimeout, ready); err != nil {
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

// DeployedPKIDir is where the deployed broker configuration expects the
// files "hub provision" writes (CA, broker certificate, CRL, ACL, password
// file). StartSecureMosquitto points it at a test's own directory.
const DeployedPKIDir = "/etc/countylink/pki/"

// renderMosquittoConf turns the deployed configuration src into an open
// test broker's: the first listener becomes "listener port 127.0.0.1"
// (further listeners and their options are dropped), anonymous clients
// are allowed and the password and ACL files and use_username_as_clientid
// dropped (unless extra sets them), persistence_location becomes persistDir, the log goes to the file
// logPath only, pid_file and include_dir are dropped, user becomes
// userName, then extra is applied. Replaced lines are kept as "# testenv:"
// comments to make the result easy to read next to its source.
func renderMosquittoConf(src string, port int, persistDir, logPath, userName string, extra []string) (string, error) {
	return renderMosquitto(src, mosquittoRender{ports: []int{port}, persistDir: persistDir, logPath: logPath, userName: userName, extra: extra})
}

// mosquittoRender says how to turn the deployed configuration into a test
// broker's.
type mosquittoRender struct {
	// ports are the test's ports for the deployed listeners, in order.
	// An open broker keeps the first listener only.
	ports []int
	// pkiDir, when set, makes the broker secure: every listener is kept
	// with its TLS options and the access control, and the paths under
	// DeployedPKIDir point into pkiDir instead.
	pkiDir                        string
	persistDir, logPath, userName string
	extra                         []string
}

func renderMosquitto(src string, r mosquittoRender) (string, error) {
	if strings.ContainsAny(r.persistDir+r.logPath+r.pkiDir, " \t\n") {
		return "", fmt.Errorf("test paths must not contain white space: %q, %q, %q", r.persistDir, r.logPath, r.pkiDir)
	}
	secure := r.pkiDir != ""
	overridden := map[string]bool{} // options set by extra, dropped from src
	for _, l := range r.extra {
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
		key, value := mosquittoKey(line)
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
			if listeners > len(r.ports) {
				if secure {
					return "", fmt.Errorf("%d listeners, %d test ports", listeners, len(r.ports))
				}
				inDroppedListener = true
				drop(line, "only one listener in tests")
				continue
			}
			drop(line, "replaced")
			out = append(out, fmt.Sprintf("listener %d 127.0.0.1", r.ports[listeners-1]))
		case key == "persistence_location":
			sawPersistDir = true
			drop(line, "replaced")
			out = append(out, "persistence_location "+r.persistDir)
		case key == "log_dest":
			logDests++
			drop(line, "replaced")
			if logDests == 1 {
				out = append(out, "log_dest file "+r.logPath)
			}
		case key == "user":
			sawUser = true
			drop(line, "replaced")
			if r.userName != "" {
				out = append(out, "user "+r.userName)
			}
		case key == "pid_file" || key == "include_dir":
			drop(line, "not in tests")
		case !secure && key == "allow_anonymous":
			drop(line, "an open test broker (StartSecureMosquitto keeps it)")
			out = append(out, "allow_anonymous true")
		case !secure && (key == "password_file" || key == "acl_file" || key == "use_username_as_clientid"):
			// use_username_as_clientid refuses a client without a user name.
			drop(line, "an open test broker (StartSecureMosquitto keeps it)")
		case secure && strings.HasPrefix(value, DeployedPKIDir):
			drop(line, "the test's PKI directory")
			out = append(out, key+" "+filepath.Join(r.pkiDir, strings.TrimPrefix(value, DeployedPKIDir)))
		default:
			out = append(out, line)
		}
	}
	if listeners == 0 {
		out = append(out, fmt.Sprintf("listener %d 127.0.0.1", r.ports[0]))
	}
	if !sawPersistDir {
		out = append(out, "persistence_location "+r.persistDir)
	}
	if logDests == 0 {
		out = append(out, "log_dest file "+r.logPath)
	}
	if !sawUser && r.userName != "" {
		out = append(out, "user "+r.userName)
	}
	if len(r.extra) > 0 {
		out = append(out, "", "# testenv: extra lines from the test")
		out = append(out, r.extra...)
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
