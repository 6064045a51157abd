package testenv

// Ports, binaries, the repository root, and the child-process plumbing the
// services share.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free when it was asked
// for. Another process may take it before the caller binds it; the services
// here fail clearly (their log is printed) when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free ports: all listeners are held open until
// every port is known, so the kernel cannot hand out the same port twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: no free TCP port on 127.0.0.1: %v", err)
			return nil
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// installHints says how to get each binary this package uses.
var installHints = map[string]string{
	"mosquitto": "apt-get install mosquitto (Debian/Ubuntu package, 2.0.x)",
	"influxd":   "go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10",
}

// RequireBinary returns the path of the executable name. It looks in PATH,
// then in each candidate (environment variables such as $HOME are
// expanded), then in $(go env GOPATH)/bin and the sbin directories, which
// are not always in PATH.
//
// When it is not found the test is skipped with a message saying how to
// install it (make deps), or, when the environment variable CI is true,
// the test fails with that message.
func RequireBinary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	var searched []string
	seen := map[string]bool{}
	try := func(p string) string {
		if p == "" || seen[p] {
			return ""
		}
		seen[p] = true
		searched = append(searched, p)
		if isExecutable(p) {
			return p
		}
		return ""
	}
	for _, c := range candidates {
		if p := try(os.ExpandEnv(c)); p != "" {
			return p
		}
	}
	dirs := append(goBinDirs(), "/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/sbin")
	for _, d := range dirs {
		if p := try(filepath.Join(d, name)); p != "" {
			return p
		}
	}

	msg := fmt.Sprintf("testenv: %s not found in PATH nor in %s; install the test services with `make deps`",
		name, strings.Join(searched, ", "))
	if hint, ok := installHints[name]; ok {
		msg += " (" + hint + ")"
	}
	if ciEnabled() {
		t.Fatalf("%s; CI=true, so a missing service fails the test instead of skipping it", msg)
	} else {
		t.Skipf("%s; skipping (with CI=true this is a failure)", msg)
	}
	return ""
}

func ciEnabled() bool {
	ci, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("CI")))
	return err == nil && ci
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var goBinDirsOnce = sync.OnceValue(func() []string {
	var gopath string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	if gopath == "" {
		gopath = os.Getenv("GOPATH")
	}
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, p := range filepath.SplitList(gopath) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return dirs
})

// goBinDirs is where "go install" puts binaries: $GOBIN, $(go env GOPATH)/bin.
func goBinDirs() []string { return goBinDirsOnce() }

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory (a package directory under "go test") that holds
// go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: working directory: %v", err)
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod in the working directory or above it")
			return ""
		}
		dir = parent
	}
}

// process is a service child process whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// startProcess starts bin with args in dir, appending its stdout and stderr
// to logPath.
func startProcess(bin string, args []string, dir, logPath string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childAttr asks the kernel to kill the child when the test binary dies
// (for example on a "go test -timeout" panic, which runs no cleanups), so no
// broker or database outlives its test. Pdeathsig exists only on Linux; it
// is set through reflection so that the package builds everywhere.
func childAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(a).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() &&
		f.Type() == reflect.TypeOf(syscall.SIGKILL) {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
	return a
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to exit, then kills
// it. It returns once the process is gone.
func (p *process) stop(sig os.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls ready every 10 ms until it returns nil, the process exits,
// or timeout passes.
func waitReady(p *process, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("process exited before it was ready (%v); last check: %v", p.err, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", timeout, err)
		}
		select {
		case <-tick.C:
		case <-p.done:
		}
	}
}

// tcpReady reports whether addr accepts a TCP connection.
func tcpReady(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log file)"
		}
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
