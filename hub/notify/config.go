package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// Channel types in the configuration.
const (
	TypeWebhook  = "webhook"
	TypeDingTalk = "dingtalk"
	TypeWeCom    = "wecom"
	TypeEmail    = "email"
)

// Config is the notification configuration: the channels, the groups
// they form, and the routes from alarms to groups. It sits under notify:
// in hub.yaml.
type Config struct {
	// Channels are the places a notification can go, by name (a-z 0-9 - _;
	// the name labels the channel's metrics).
	Channels map[string]ChannelConfig `yaml:"channels"`
	// Groups name lists of channels: a township's duty group, the county
	// office. A channel may be in several groups and still sends each
	// notification once.
	Groups map[string][]string `yaml:"groups"`
	// Routes send each alarm to the group of every route it matches.
	Routes []Route `yaml:"routes"`

	RateLimit    RateLimit     `yaml:"rate_limit"`    // each channel's, unless it sets its own
	Retry        Retry         `yaml:"retry"`         // for failed sends
	QueueSize    int           `yaml:"queue_size"`    // notifications waiting per channel, distinct alarms
	Timeout      time.Duration `yaml:"timeout"`       // one send attempt
	DrainTimeout time.Duration `yaml:"drain_timeout"` // at shutdown, longest spent sending what waits
}

// ChannelConfig is one channel. Type says which fields apply:
//
//	webhook:  url, secret, header
//	dingtalk: url, secret (when the robot signs), at_mobiles, at_all
//	wecom:    url, mention
//	email:    addr, from, to, username, password, tls, hello
//
// Secrets can be kept out of hub.yaml in files read by
// Config.ReadSecretFiles: url_file (the robots' URLs carry their tokens),
// secret_file, password_file.
type ChannelConfig struct {
	Type string `yaml:"type"`

	URL        string            `yaml:"url"`
	URLFile    string            `yaml:"url_file"`
	Secret     string            `yaml:"secret"`
	SecretFile string            `yaml:"secret_file"`
	Header     map[string]string `yaml:"header"`
	AtMobiles  []string          `yaml:"at_mobiles"`
	AtAll      bool              `yaml:"at_all"`
	Mention    []string          `yaml:"mention"`

	Addr         string   `yaml:"addr"` // host:port
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	TLS          string   `yaml:"tls"` // auto (default), starttls, tls, none
	Hello        string   `yaml:"hello"`

	RateLimit *RateLimit `yaml:"rate_limit"` // nil for Config.RateLimit
}

// Route sends alarms of some sites to a group, and escalates those left
// unacknowledged.
type Route struct {
	Sites       []string `yaml:"sites"`        // site IDs, or "*" for every site
	Kinds       []Kind   `yaml:"kinds"`        // empty for every kind
	MinSeverity Severity `yaml:"min_severity"` // empty for every severity
	Group       string   `yaml:"group"`
	// EscalateTo is the group told when an alarm stays neither
	// acknowledged nor cleared for EscalateAfter after it was raised; it
	// then also hears of the alarm's later events until it is cleared.
	EscalateTo    string        `yaml:"escalate_to"`
	EscalateAfter time.Duration `yaml:"escalate_after"`
}

// RateLimit is a token bucket: Burst sends at once, PerMinute on average.
// A send beyond it waits. Keep PerMinute+Burst at or below what the
// receiver allows in a minute: 20 for DingTalk and WeCom robots.
type RateLimit struct {
	PerMinute int `yaml:"per_minute"`
	Burst     int `yaml:"burst"`
}

// Retry is how a failed send is tried again: after Backoff, doubling up to
// MaxBackoff, Attempts times in all; after RateLimitedBackoff at the least
// when the receiver says we send too fast.
type Retry struct {
	Attempts           int           `yaml:"attempts"`
	Backoff            time.Duration `yaml:"backoff"`
	MaxBackoff         time.Duration `yaml:"max_backoff"`
	RateLimitedBackoff time.Duration `yaml:"rate_limited_backoff"`
}

// delay is the wait after the given failed attempt (1 for the first).
func (r Retry) delay(attempt int, rateLimited bool) time.Duration {
	d := r.Backoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	if rateLimited {
		d = max(d, r.RateLimitedBackoff)
	}
	return d
}

// DefaultConfig has no channels, so nothing is sent, and the defaults for
// the rest: 15 a minute with a burst of 5 per channel (under the robots'
// 20 a minute), 5 attempts 2 s, 4 s, 8 s, 16 s apart, a minute's pause when
// a robot says we send too fast.
func DefaultConfig() Config {
	return Config{
		RateLimit:    RateLimit{PerMinute: 15, Burst: 5},
		Retry:        Retry{Attempts: 5, Backoff: 2 * time.Second, MaxBackoff: time.Minute, RateLimitedBackoff: time.Minute},
		QueueSize:    256,
		Timeout:      10 * time.Second,
		DrainTimeout: 5 * time.Second,
	}
}

// URLHoldsSecret reports whether a channel's URL carries a secret: the
// robots' (DingTalk's access_token, WeCom's key in the query), a webhook's
// with a password or a query.
func URLHoldsSecret(typ, raw string) bool {
	switch typ {
	case TypeDingTalk, TypeWeCom:
		return true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	_, pw := u.User.Password()
	return pw || u.RawQuery != ""
}

// ReadSecretFiles reads url_file, secret_file and password_file into url,
// secret and password, trimming white space.
func (c *Config) ReadSecretFiles() error {
	var errs []error
	for _, name := range sortedKeys(c.Channels) {
		ch := c.Channels[name]
		for _, s := range []struct {
			field, file string
			dst         *string
		}{{"url_file", ch.URLFile, &ch.URL}, {"secret_file", ch.SecretFile, &ch.Secret}, {"password_file", ch.PasswordFile, &ch.Password}} {
			if s.file == "" {
				continue
			}
			b, err := os.ReadFile(s.file)
			if err != nil {
				errs = append(errs, fmt.Errorf("notify.channels.%s.%s: %w", name, s.field, err))
				continue
			}
			*s.dst = strings.TrimSpace(string(b))
		}
		c.Channels[name] = ch
	}
	return errors.Join(errs...)
}

// Validate checks the configuration and names each bad field.
func (c *Config) Validate() error { return c.validate(nil) }

// validate checks the configuration; extra are channel names given to New
// besides the configured ones.
func (c *Config) validate(extra map[string]bool) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("notify.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, name := range sortedKeys(c.Channels) {
		ch := c.Channels[name]
		f := "channels." + name
		if !validName(name) {
			bad(f, "name must be 1-64 of a-z 0-9 - _")
		}
		if extra[name] {
			bad(f, "name is taken by a channel given in code")
		}
		ch.validate(f, bad)
	}
	for _, name := range sortedKeys(c.Groups) {
		f := "groups." + name
		if !validName(name) {
			bad(f, "name must be 1-64 of a-z 0-9 - _")
		}
		if len(c.Groups[name]) == 0 {
			bad(f, "lists no channel")
		}
		for _, ch := range c.Groups[name] {
			if _, ok := c.Channels[ch]; !ok && !extra[ch] {
				bad(f, "channel %q is not under notify.channels", ch)
			}
		}
	}
	for i, r := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if len(r.Sites) == 0 {
			bad(f+".sites", `must list site IDs or "*"`)
		}
		for _, s := range r.Sites {
			if s != "*" && !validName(s) {
				bad(f+".sites", "%q is not a site ID", s)
			}
		}
		for _, k := range r.Kinds {
			if _, ok := kindText[k]; !ok {
				bad(f+".kinds", "%q must be high, low, door_open, sensor_fault, no_data, edge_offline or edge_flood", k)
			}
		}
		if r.MinSeverity != "" && r.MinSeverity.Rank() == 0 {
			bad(f+".min_severity", "%q must be minor, major or critical", r.MinSeverity)
		}
		if _, ok := c.Groups[r.Group]; !ok {
			bad(f+".group", "%q is not under notify.groups", r.Group)
		}
		switch {
		case r.EscalateTo == "" && r.EscalateAfter != 0:
			bad(f+".escalate_after", "is set without escalate_to")
		case r.EscalateTo == "":
		case r.EscalateTo == r.Group:
			bad(f+".escalate_to", "must be another group than group")
		case r.EscalateAfter <= 0:
			bad(f+".escalate_after", "must be positive with escalate_to")
		default:
			if _, ok := c.Groups[r.EscalateTo]; !ok {
				bad(f+".escalate_to", "%q is not under notify.groups", r.EscalateTo)
			}
		}
	}
	c.RateLimit.validate("rate_limit", bad)
	if c.Retry.Attempts < 1 {
		bad("retry.attempts", "%d must be at least 1", c.Retry.Attempts)
	}
	if c.Retry.Backoff <= 0 {
		bad("retry.backoff", "must be positive")
	}
	if c.Retry.MaxBackoff < c.Retry.Backoff {
		bad("retry.max_backoff", "%v is below retry.backoff", c.Retry.MaxBackoff)
	}
	if c.Retry.RateLimitedBackoff < 0 {
		bad("retry.rate_limited_backoff", "must not be negative")
	}
	if c.QueueSize < 1 {
		bad("queue_size", "%d must be at least 1", c.QueueSize)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if c.DrainTimeout < 0 {
		bad("drain_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

func (r RateLimit) validate(f string, bad func(field, format string, args ...any)) {
	if r.PerMinute < 1 || r.PerMinute > 60000 {
		bad(f+".per_minute", "%d must be 1..60000", r.PerMinute)
	}
	if r.Burst < 1 {
		bad(f+".burst", "%d must be at least 1", r.Burst)
	}
}

func (ch *ChannelConfig) validate(f string, bad func(field, format string, args ...any)) {
	httpURL := func(required bool) {
		if ch.URL == "" {
			if ch.URLFile == "" && required {
				bad(f+".url", "must be set (or url_file)")
			}
			return
		}
		if u, err := url.Parse(ch.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f+".url", "must be an http(s) URL") // not quoted: it may hold a token
		}
	}
	notFor := func(fields map[string]bool) {
		for _, name := range sortedKeys(fields) {
			if fields[name] {
				bad(f+"."+name, "does not apply to type %s", ch.Type)
			}
		}
	}
	email := map[string]bool{"addr": ch.Addr != "", "from": ch.From != "", "to": len(ch.To) > 0,
		"username": ch.Username != "", "password": ch.Password != "" || ch.PasswordFile != "", "tls": ch.TLS != "", "hello": ch.Hello != ""}
	switch ch.Type {
	case TypeWebhook:
		httpURL(true)
		if ch.Secret == "" && ch.SecretFile == "" {
			bad(f+".secret", "must be set (or secret_file): receivers check the signature")
		}
		notFor(email)
		notFor(map[string]bool{"at_mobiles": len(ch.AtMobiles) > 0, "at_all": ch.AtAll, "mention": len(ch.Mention) > 0})
	case TypeDingTalk:
		httpURL(true)
		notFor(email)
		notFor(map[string]bool{"header": len(ch.Header) > 0, "mention": len(ch.Mention) > 0})
	case TypeWeCom:
		httpURL(true)
		notFor(email)
		notFor(map[string]bool{"header": len(ch.Header) > 0, "secret": ch.Secret != "" || ch.SecretFile != "",
			"at_mobiles": len(ch.AtMobiles) > 0, "at_all": ch.AtAll})
	case TypeEmail:
		host, _, err := net.SplitHostPort(ch.Addr)
		if err != nil || host == "" {
			bad(f+".addr", "%q must be host:port of the SMTP server", ch.Addr)
		}
		if _, err := mail.ParseAddress(ch.From); err != nil {
			bad(f+".from", "%q is not an address: %v", ch.From, err)
		}
		if len(ch.To) == 0 {
			bad(f+".to", "must list at least one address")
		}
		for _, t := range ch.To {
			if _, err := mail.ParseAddress(t); err != nil {
				bad(f+".to", "%q is not an address: %v", t, err)
			}
		}
		switch ch.TLS {
		case "", TLSAuto, TLSStartTLS, TLSImplicit:
		case TLSNone:
			if ch.Username != "" && !isLocalhost(host) {
				bad(f+".tls", "none would send the password in the clear; use starttls or tls")
			}
		default:
			bad(f+".tls", "%q must be auto, starttls, tls or none", ch.TLS)
		}
		if ch.Username == "" && (ch.Password != "" || ch.PasswordFile != "") {
			bad(f+".username", "must be set with a password")
		}
		notFor(map[string]bool{"url": ch.URL != "" || ch.URLFile != "", "secret": ch.Secret != "" || ch.SecretFile != "",
			"header": len(ch.Header) > 0, "at_mobiles": len(ch.AtMobiles) > 0, "at_all": ch.AtAll, "mention": len(ch.Mention) > 0})
	default:
		bad(f+".type", "%q must be webhook, dingtalk, wecom or email", ch.Type)
	}
	if ch.RateLimit != nil {
		ch.RateLimit.validate(f+".rate_limit", bad)
	}
}

// Channel builds the named channel, for the dispatcher or for a command
// that sends an installer's test message. Secret files must have been
// read.
func (c *Config) Channel(name string) (Channel, error) {
	ch, ok := c.Channels[name]
	if !ok {
		return nil, fmt.Errorf("notify.channels.%s: no such channel", name)
	}
	f := "notify.channels." + name
	for _, s := range []struct{ file, value, field string }{
		{ch.URLFile, ch.URL, "url_file"}, {ch.SecretFile, ch.Secret, "secret_file"}, {ch.PasswordFile, ch.Password, "password_file"},
	} {
		if s.file != "" && s.value == "" {
			return nil, fmt.Errorf("%s.%s: %s is not read (Config.ReadSecretFiles) or empty", f, s.field, s.file)
		}
	}
	switch ch.Type {
	case TypeWebhook:
		return &Webhook{ID: name, URL: ch.URL, Secret: ch.Secret, Header: ch.Header}, nil
	case TypeDingTalk:
		return &DingTalk{ID: name, URL: ch.URL, Secret: ch.Secret, AtMobiles: ch.AtMobiles, AtAll: ch.AtAll}, nil
	case TypeWeCom:
		return &WeCom{ID: name, URL: ch.URL, Mention: ch.Mention}, nil
	case TypeEmail:
		return &Email{ID: name, Addr: ch.Addr, From: ch.From, To: ch.To, Username: ch.Username, Password: ch.Password,
			TLS: ch.TLS, Hello: ch.Hello}, nil
	}
	return nil, fmt.Errorf("%s.type: %q is not a channel type", f, ch.Type)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validName is 1-64 of a-z 0-9 - _, not starting with - or _: the rule of
// contract.ValidID for site IDs, which channel and group names follow too
// (they label metrics).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
