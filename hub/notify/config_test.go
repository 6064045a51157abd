package notify_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/hub/notify"
)

// exampleYAML is the configuration shown in the package documentation,
// with its secret files under dir.
func exampleYAML(dir string) string {
	return strings.ReplaceAll(`
channels:
  tw01-dingtalk:
    type: dingtalk
    url_file: DIR/tw01-dingtalk-url
    secret_file: DIR/tw01-dingtalk-secret
    at_mobiles: ["13800000001"]
  county-wecom:
    type: wecom
    url_file: DIR/county-wecom-url
  duty-webhook:
    type: webhook
    url: https://duty.county.example.cn/countylink
    secret_file: DIR/duty-webhook
    rate_limit: {per_minute: 120, burst: 20}
  county-mail:
    type: email
    addr: smtp.163.com:465
    tls: tls
    from: 冷链告警 <coldchain@county.example.cn>
    to: [office@county.example.cn]
    username: coldchain@county.example.cn
    password_file: DIR/smtp
groups:
  tw01: [tw01-dingtalk]
  county: [county-wecom, duty-webhook, county-mail]
routes:
  - sites: [tw01]
    group: tw01
    escalate_to: county
    escalate_after: 15m
  - sites: ["*"]
    min_severity: critical
    group: county
rate_limit: {per_minute: 15, burst: 5}
retry: {attempts: 5, backoff: 2s, max_backoff: 1m, rate_limited_backoff: 1m}
queue_size: 256
timeout: 10s
drain_timeout: 5s
`, "DIR", dir)
}

func decode(t *testing.T, text string) notify.Config {
	t.Helper()
	c := notify.DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExampleConfig(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"tw01-dingtalk-url":    "https://oapi.dingtalk.com/robot/send?access_token=abc\n",
		"tw01-dingtalk-secret": "SECabc\n",
		"county-wecom-url":     " https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1 ",
		"duty-webhook":         "whsec",
		"smtp":                 "pw\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := decode(t, exampleYAML(dir))
	if err := c.Validate(); err != nil {
		t.Fatalf("before reading the files: %v", err)
	}
	if _, err := notify.New(c, nil); err == nil || !strings.Contains(err.Error(), "notify.channels.county-mail.password_file") {
		t.Errorf("New with unread secret files: %v", err)
	}
	if err := c.ReadSecretFiles(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := c.Routes[0]; r.EscalateAfter != 15*time.Minute || r.EscalateTo != "county" {
		t.Errorf("route %+v", r)
	}
	ch, err := c.Channel("tw01-dingtalk")
	if d, ok := ch.(*notify.DingTalk); err != nil || !ok || d.URL != "https://oapi.dingtalk.com/robot/send?access_token=abc" ||
		d.Secret != "SECabc" || d.AtMobiles[0] != "13800000001" || d.Name() != "tw01-dingtalk" {
		t.Errorf("dingtalk %#v %v", ch, err)
	}
	ch, err = c.Channel("county-wecom")
	if w, ok := ch.(*notify.WeCom); err != nil || !ok || w.URL != "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1" {
		t.Errorf("wecom %#v %v", ch, err)
	}
	ch, err = c.Channel("duty-webhook")
	if w, ok := ch.(*notify.Webhook); err != nil || !ok || w.Secret != "whsec" {
		t.Errorf("webhook %#v %v", ch, err)
	}
	ch, err = c.Channel("county-mail")
	if e, ok := ch.(*notify.Email); err != nil || !ok || e.Password != "pw" || e.TLS != notify.TLSImplicit || e.To[0] != "office@county.example.cn" {
		t.Errorf("email %#v %v", ch, err)
	}
	d, err := notify.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Stats()); n != 4 {
		t.Errorf("%d channels", n)
	}

	// A missing secret file names its field.
	c = decode(t, exampleYAML(filepath.Join(dir, "nowhere")))
	if err := c.ReadSecretFiles(); err == nil || !strings.Contains(err.Error(), "notify.channels.county-mail.password_file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := notify.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// With nothing configured the dispatcher sends nothing, and says so
	// only at debug level.
	d, err := notify.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(notify.Alarm{ID: "a", Site: "tw01", Severity: notify.Critical, Event: notify.EventRaised})
	if d.Unrouted() != 1 {
		t.Errorf("unrouted %d", d.Unrouted())
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, c := range []struct {
		name, yaml, field string
	}{
		{"unknown type", "channels: {x: {type: sms}}", "notify.channels.x.type"},
		{"bad channel name", "channels: {X Y: {type: wecom, url: 'https://q/x'}}", "notify.channels.X Y"},
		{"webhook without url", "channels: {x: {type: webhook, secret: s}}", "notify.channels.x.url"},
		{"webhook without secret", "channels: {x: {type: webhook, url: 'https://h/x'}}", "notify.channels.x.secret"},
		{"url not http", "channels: {x: {type: dingtalk, url: 'ftp://h/x'}}", "notify.channels.x.url"},
		{"field of another type", "channels: {x: {type: wecom, url: 'https://q/x', at_mobiles: ['1']}}", "notify.channels.x.at_mobiles"},
		{"email addr", "channels: {x: {type: email, addr: smtp.example.cn, from: a@b.cn, to: [c@d.cn]}}", "notify.channels.x.addr"},
		{"email from", "channels: {x: {type: email, addr: 'h:25', from: nobody, to: [c@d.cn]}}", "notify.channels.x.from"},
		{"email to", "channels: {x: {type: email, addr: 'h:25', from: a@b.cn}}", "notify.channels.x.to"},
		{"email tls", "channels: {x: {type: email, addr: 'h:25', from: a@b.cn, to: [c@d.cn], tls: ssl}}", "notify.channels.x.tls"},
		{"password in clear", "channels: {x: {type: email, addr: 'smtp.example.cn:25', from: a@b.cn, to: [c@d.cn], tls: none, username: u, password: p}}", "notify.channels.x.tls"},
		{"channel rate", "channels: {x: {type: wecom, url: 'https://q/x', rate_limit: {per_minute: 0, burst: 1}}}", "notify.channels.x.rate_limit.per_minute"},
		{"group member", "groups: {g: [nope]}", "notify.groups.g"},
		{"empty group", "groups: {g: []}", "notify.groups.g"},
		{"route group", "routes: [{sites: ['*'], group: nope}]", "notify.routes[0].group"},
		{"route sites", "groups: {g: [x]}\nchannels: {x: {type: wecom, url: 'https://q/x'}}\nroutes: [{group: g}]", "notify.routes[0].sites"},
		{"route site id", "routes: [{sites: ['Tw 01'], group: g}]", "notify.routes[0].sites"},
		{"route kind", "routes: [{sites: ['*'], kinds: [fire], group: g}]", "notify.routes[0].kinds"},
		{"route severity", "routes: [{sites: ['*'], min_severity: high, group: g}]", "notify.routes[0].min_severity"},
		{"escalate without after", "routes: [{sites: ['*'], group: g, escalate_to: h}]", "notify.routes[0].escalate_after"},
		{"after without escalate", "routes: [{sites: ['*'], group: g, escalate_after: 5m}]", "notify.routes[0].escalate_after"},
		{"escalate to itself", "groups: {g: [x]}\nchannels: {x: {type: wecom, url: 'https://q/x'}}\nroutes: [{sites: ['*'], group: g, escalate_to: g, escalate_after: 5m}]", "notify.routes[0].escalate_to"},
		{"escalate to nowhere", "routes: [{sites: ['*'], group: g, escalate_to: h, escalate_after: 5m}]", "notify.routes[0].escalate_to"},
		{"rate", "rate_limit: {per_minute: 15, burst: 0}", "notify.rate_limit.burst"},
		{"attempts", "retry: {attempts: 0}", "notify.retry.attempts"},
		{"max backoff", "retry: {backoff: 10s, max_backoff: 1s}", "notify.retry.max_backoff"},
		{"queue", "queue_size: 0", "notify.queue_size"},
		{"timeout", "timeout: 0s", "notify.timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := decode(t, c.yaml)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.field+":") {
				t.Errorf("error %v, want one naming %s", err, c.field)
			}
		})
	}
}

func TestValidateHidesURLs(t *testing.T) {
	cfg := decode(t, "channels: {x: {type: dingtalk, url: 'ftp://h/robot?access_token=SECRET'}}")
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %v", err)
	}
}

func TestNewChannelsInCode(t *testing.T) {
	cfg := notify.DefaultConfig()
	cfg.Groups = map[string][]string{"g": {"custom"}}
	cfg.Routes = []notify.Route{{Sites: []string{"*"}, Group: "g"}}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted a group naming an unknown channel")
	}
	if _, err := notify.New(cfg, nil, newGate("custom")); err != nil {
		t.Errorf("New with the channel in code: %v", err)
	}
	if _, err := notify.New(cfg, nil, newGate("custom"), newGate("custom")); err == nil {
		t.Error("New accepted two channels of one name")
	}
}
