package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Cookie security modes (Config.CookieSecure).
const (
	CookieSecureAuto   = "auto"   // Secure when the request came over TLS or the public URL is https
	CookieSecureAlways = "always" // always Secure: the hub is behind a TLS proxy
	CookieSecureNever  = "never"  // never: plain HTTP on a trusted network only
)

// Config is the hub's auth settings (auth: in the hub's YAML).
type Config struct {
	// SessionIdle ends a session after this long without a request.
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionMax ends a session this long after its login, whatever.
	SessionMax time.Duration `yaml:"session_max"`
	// CookieSecure is auto, always or never (see the constants).
	CookieSecure string `yaml:"cookie_secure"`
	// LoginPerIPPerMinute is how many logins and kiosk exchanges one
	// client address may try a minute (also the burst).
	LoginPerIPPerMinute int `yaml:"login_per_ip_per_minute"`
	// LoginFailures is how many failed logins one account takes in
	// LoginWindow before it is refused for the rest of it.
	LoginFailures int           `yaml:"login_failures"`
	LoginWindow   time.Duration `yaml:"login_window"`
	// TrustedProxies are the addresses (CIDR, 10.0.0.0/8, or one
	// address) of reverse proxies whose X-Forwarded-For names the client;
	// empty believes no header, and the client is the connection's peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// DefaultConfig is a working day's session (4 h idle, 12 h at most),
// Secure cookies when the hub is reached over https, 10 logins a minute
// from one address and 5 failures of one account in 15 minutes.
func DefaultConfig() Config {
	return Config{SessionIdle: 4 * time.Hour, SessionMax: 12 * time.Hour, CookieSecure: CookieSecureAuto,
		LoginPerIPPerMinute: 10, LoginFailures: 5, LoginWindow: 15 * time.Minute}
}

// Validate names each bad field, under auth.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.SessionIdle < time.Minute {
		bad("session_idle", "%v is below 1m", c.SessionIdle)
	}
	if c.SessionMax < c.SessionIdle || c.SessionMax > 90*24*time.Hour {
		bad("session_max", "%v must be at least session_idle (%v) and at most 90 days", c.SessionMax, c.SessionIdle)
	}
	switch c.CookieSecure {
	case CookieSecureAuto, CookieSecureAlways, CookieSecureNever:
	default:
		bad("cookie_secure", "%q must be auto, always or never", c.CookieSecure)
	}
	if c.LoginPerIPPerMinute < 1 || c.LoginPerIPPerMinute > 10000 {
		bad("login_per_ip_per_minute", "%d must be 1..10000", c.LoginPerIPPerMinute)
	}
	if c.LoginFailures < 1 || c.LoginFailures > 1000 {
		bad("login_failures", "%d must be 1..1000", c.LoginFailures)
	}
	if c.LoginWindow < time.Minute || c.LoginWindow > 24*time.Hour {
		bad("login_window", "%v must be 1m..24h", c.LoginWindow)
	}
	if _, err := c.Proxies(); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	return errors.Join(errs...)
}

// Proxies are the TrustedProxies as prefixes.
func (c Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, err2 := netip.ParseAddr(v)
			if err2 != nil {
				return nil, fmt.Errorf("%q is no address or CIDR prefix", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
