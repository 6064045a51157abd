package server

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log the hub writes from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretsInLogs starts a hub whose configuration holds every kind
// of secret (the broker's password, InfluxDB's token and the password in
// its URL, the robots' keys in their URLs, a signing secret, an SMTP
// password, a webhook's Authorization header), with nothing reachable,
// sends it a failed login, a forged token and a forged cookie, and finds
// none of them in its debug log.
func TestNoSecretsInLogs(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String() // nothing listens there once closed
	closed.Close()
	secrets := []string{"MQTTPASSWORDx1", "INFLUXTOKENx2", "INFLUXURLPWx3", "INFLUXQUERYx4", "WECOMKEYx5", "DINGTOKENx6",
		"SECDINGSECRETx7", "SMTPPASSWORDx8", "WEBHOOKSECRETx9", "WEBHOOKBEARERx10", "LOGINPASSWORDx11", "FORGEDTOKENx12", "COOKIEx13", "CSRFx14"}
	dir := t.TempDir()
	y := `listen: 127.0.0.1:0
data_dir: ` + filepath.Join(dir, "data") + `
log_level: debug
time_zone: Asia/Shanghai
mqtt:
  broker: tcp://` + dead + `
  username: _hub.hub
  password: MQTTPASSWORDx1
influx:
  url: http://hub:INFLUXURLPWx3@` + dead + `/?db=INFLUXQUERYx4
  bucket: countylink/autogen
  token: INFLUXTOKENx2
  timeout: 200ms
notify:
  timeout: 200ms
  retry: {attempts: 2, backoff: 10ms, max_backoff: 10ms, rate_limited_backoff: 10ms}
  channels:
    wecom: {type: wecom, url: 'http://` + dead + `/cgi-bin/webhook/send?key=WECOMKEYx5'}
    ding: {type: dingtalk, url: 'http://` + dead + `/robot/send?access_token=DINGTOKENx6', secret: SECDINGSECRETx7}
    mail: {type: email, addr: '` + dead + `', from: hub@example.cn, to: [duty@example.cn], username: hub, password: SMTPPASSWORDx8, tls: none}
    hook: {type: webhook, url: 'http://` + dead + `/alarms', secret: WEBHOOKSECRETx9, header: {Authorization: Bearer WEBHOOKBEARERx10}}
  groups:
    all: [wecom, ding, mail, hook]
  routes:
    - {sites: ["*"], group: all}
`
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	send := func(method, p, body string, set func(*http.Request)) {
		req, _ := http.NewRequest(method, "http://"+m.HTTPAddr+p, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("POST", "/api/v1/auth/login", `{"name": "admin", "password": "LOGINPASSWORDx11"}`, func(*http.Request) {})
	send("GET", "/api/v1/sites", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer clk_FORGEDTOKENx12") })
	send("POST", "/api/v1/sites/tw01/runs", `{}`, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "countylink_session", Value: "COOKIEx13"})
		r.Header.Set("X-CSRF-Token", "CSRFx14")
	})
	// An alarm for every channel to fail to send, with the broker and
	// InfluxDB unreachable meanwhile.
	m.Alarms.Engine.EdgeFlood("tw01", "tw01-e1", 1000, time.Now())
	poll(t, "the notifications failed", func() error {
		if n := strings.Count(logs.String(), "notification failed"); n < 4 {
			return io.ErrNoProgress
		}
		return nil
	})
	m.Close()
	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s is in the log", s)
		}
	}
	for _, want := range []string{"hub started", "login failed", "reason=bad_token", "notification failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log(out)
	}
}
