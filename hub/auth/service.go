package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/metrics"
)

// Cookie and header names.
const (
	SessionCookie = "countylink_session"
	CSRFCookie    = "countylink_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// How a Principal was authenticated.
const (
	ViaSession = "session" // a person's session cookie
	ViaKiosk   = "kiosk"   // a wall screen's session cookie, from a kiosk token
	ViaToken   = "token"   // an API token
)

// Errors of authentication. Their texts may be shown to the caller.
var (
	// ErrNoCredentials: the request carries neither a session cookie nor
	// a bearer token.
	ErrNoCredentials = errors.New("authentication required: log in, or send an API token as Authorization: Bearer")
	// ErrBadCredentials: wrong name or password (which one is not said).
	ErrBadCredentials = errors.New("wrong name or password")
	// ErrDisabled: the account exists, the password is right, and the
	// account is disabled.
	ErrDisabled = errors.New("this account is disabled")
	// ErrBadToken: a token that is malformed, unknown, revoked, expired
	// or of the wrong kind.
	ErrBadToken = errors.New("the token is not valid: unknown, revoked or expired")
	// ErrSessionEnded: a session cookie of no live session (forged,
	// logged out, idle or too old, its user disabled).
	ErrSessionEnded = errors.New("the session has ended: log in again")
	// ErrCSRF: an unsafe request authenticated by a cookie without the
	// session's CSRF token.
	ErrCSRF = errors.New("the CSRF token (X-CSRF-Token header) is missing or wrong: reload the page")
	// ErrInvalid: a user or token that cannot be made as asked.
	ErrInvalid = errors.New("invalid")
)

// ThrottledError refuses a login over its rate limit.
type ThrottledError struct {
	By         string // "address" or "account"
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many login attempts from this %s: try again in %v", e.By, e.RetryAfter.Round(time.Second))
}

// Principal is who a request acts as.
type Principal struct {
	// Name is what the audit log and the records (runs, scans, alarm
	// acknowledgements) say of them: the user's name, "api:<name>" for
	// an API token, "kiosk:<screen>" for a wall screen.
	Name        string
	User        string // the account's name; "" for a token or a kiosk
	DisplayName string
	Role        hub.Role
	Township    string // "" for the county
	Via         string // ViaSession, ViaKiosk or ViaToken
	TokenID     string // the API or kiosk token's id
	Expires     time.Time

	sessionHash string // the session's store key, for logout
	csrf        string // the session's CSRF token
}

// CSRF is the session's CSRF token, "" for a bearer token.
func (p *Principal) CSRF() string { return p.csrf }

// Service authenticates requests and keeps the accounts.
type Service struct {
	Store  hub.AccountStore
	Config Config
	// PublicHTTPS makes cookies Secure in auto mode even over plain HTTP:
	// the hub's public URL is https (a TLS proxy in front of it).
	PublicHTTPS bool
	// Params hash new passwords; DefaultParams unless a test lowers them.
	Params Params
	Log    *slog.Logger
	Now    func() time.Time

	ipLimit      *limiter
	accountLimit *limiter
	logins       *metrics.CounterVec
	refused      *metrics.CounterVec

	dummyOnce sync.Once
	dummyHash string
}

// New makes a Service over store with cfg; its counters go to reg (nil
// for none), its log lines to log (nil for none).
func New(store hub.AccountStore, cfg Config, reg *metrics.Registry, log *slog.Logger) *Service {
	if reg == nil {
		reg = new(metrics.Registry)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{Store: store, Config: cfg, Params: DefaultParams, Log: log, Now: time.Now,
		ipLimit:      newLimiter(cfg.LoginPerIPPerMinute, time.Minute),
		accountLimit: newLimiter(cfg.LoginFailures, cfg.LoginWindow),
		logins: reg.NewCounterVec("countylink_hub_logins_total",
			"Logins and kiosk exchanges by result: ok, failed (wrong name, password or token, or a disabled account), throttled (over a rate limit).",
			"result", "ok", "failed", "throttled"),
		refused: reg.NewCounterVec("countylink_hub_auth_refused_total",
			"Requests refused by authentication or the route rules, by reason: no_credentials, bad_token, session_ended, csrf, forbidden, other_township.",
			"reason", "no_credentials", "bad_token", "session_ended", "csrf", "forbidden", "other_township"),
	}
}

// Refused counts a refused request under reason (see New).
func (s *Service) Refused(reason string) { s.refused.Inc(reason) }

// RefusedTotal is the count of refused requests, all reasons.
func (s *Service) RefusedTotal() uint64 {
	var n uint64
	for _, r := range []string{"no_credentials", "bad_token", "session_ended", "csrf", "forbidden", "other_township"} {
		n += s.refused.Value(r)
	}
	return n
}

// RefusedCount is the count of refused requests of one reason.
func (s *Service) RefusedCount(reason string) uint64 { return s.refused.Value(reason) }

// Logins is the count of logins with result ok, failed or throttled.
func (s *Service) Logins(result string) uint64 { return s.logins.Value(result) }

func (s *Service) now() time.Time { return s.Now() }

// Authenticate says who r is from its bearer token or its session
// cookie: ErrNoCredentials when it has neither, ErrBadToken or
// ErrSessionEnded when what it has is not valid.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, ErrBadToken
		}
		return s.bearer(ctx, strings.TrimSpace(tok))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, ErrNoCredentials
	}
	return s.session(ctx, c.Value)
}

func (s *Service) bearer(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || !wellFormed(secret) {
		return nil, ErrBadToken
	}
	t, err := s.Store.TokenByHash(ctx, HashSecret(secret))
	if err != nil {
		return nil, err
	}
	now := s.now()
	if t == nil || t.Kind != hub.TokenAPI || !t.Active(now) {
		return nil, ErrBadToken
	}
	if now.Sub(t.LastUsed) > 5*time.Minute {
		if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
			s.Log.Warn("token use not recorded", "token", t.ID, "err", err)
		}
	}
	return &Principal{Name: "api:" + t.Name, Role: t.Role, Township: t.Township, Via: ViaToken, TokenID: t.ID, Expires: t.Expires}, nil
}

func (s *Service) session(ctx context.Context, id string) (*Principal, error) {
	if !wellFormed(id) {
		return nil, ErrSessionEnded
	}
	key := HashSecret(id)
	se, err := s.Store.Session(ctx, key)
	if err != nil {
		return nil, err
	}
	if se == nil {
		return nil, ErrSessionEnded
	}
	now := s.now()
	end := func() (*Principal, error) {
		if err := s.Store.DeleteSession(ctx, key); err != nil {
			s.Log.Warn("ended session not removed", "err", err)
		}
		return nil, ErrSessionEnded
	}
	if !now.Before(se.Expires) || now.Sub(se.LastSeen) > s.Config.SessionIdle {
		return end()
	}
	p := &Principal{Expires: se.Expires, sessionHash: key, csrf: csrfFor(id)}
	if se.Token != "" {
		t, err := s.Store.Token(ctx, se.Token)
		if err != nil {
			return nil, err
		}
		if t == nil || t.Kind != hub.TokenKiosk || !t.Active(now) {
			return end()
		}
		p.Name, p.DisplayName, p.Role, p.Township, p.Via, p.TokenID = "kiosk:"+t.Name, t.Name, t.Role, t.Township, ViaKiosk, t.ID
	} else {
		u, err := s.Store.User(ctx, se.User)
		if err != nil {
			return nil, err
		}
		if u == nil || u.Disabled {
			return end()
		}
		p.Name, p.User, p.DisplayName, p.Role, p.Township, p.Via = u.Name, u.Name, u.DisplayName, u.Role, u.Township, ViaSession
	}
	if now.Sub(se.LastSeen) >= time.Minute {
		if err := s.Store.TouchSession(ctx, key, now); err != nil {
			s.Log.Warn("session use not recorded", "err", err)
		}
	}
	return p, nil
}

// CheckCSRF checks an unsafe request of p: nil for a bearer token, else
// the X-CSRF-Token header must be the session's token.
func (s *Service) CheckCSRF(r *http.Request, p *Principal) error {
	if p.Via == ViaToken {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || p.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
		return ErrCSRF
	}
	return nil
}

// throttle takes a login attempt of ip, and checks that account (when
// given) may try: a *ThrottledError when not.
func (s *Service) throttle(ip, account string) error {
	now := s.now()
	if ok, wait := s.ipLimit.take(ip, now); !ok {
		s.logins.Inc("throttled")
		s.Log.Warn("login refused: too many attempts from this address", "ip", ip, "account", account, "retry_after", wait.Round(time.Second))
		return &ThrottledError{By: "address", RetryAfter: wait}
	}
	if account != "" {
		if wait := s.accountLimit.wait(account, now); wait > 0 {
			s.logins.Inc("throttled")
			s.Log.Warn("login refused: too many failures of this account", "ip", ip, "account", account, "retry_after", wait.Round(time.Second))
			return &ThrottledError{By: "account", RetryAfter: wait}
		}
	}
	return nil
}

func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword("not the password of anyone", s.Params)
		if err != nil {
			panic("auth: dummy hash: " + err.Error())
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// Login checks a name and password from the client address ip and starts
// a session: the Principal and the session's id for the cookie.
// ErrBadCredentials for a wrong name or password, ErrDisabled, or a
// *ThrottledError over the rate limits; each is counted and logged.
func (s *Service) Login(ctx context.Context, name, password, ip string) (*Principal, string, error) {
	if err := s.throttle(ip, name); err != nil {
		return nil, "", err
	}
	fail := func(err error, why string) (*Principal, string, error) {
		s.accountLimit.spend(name, s.now())
		s.logins.Inc("failed")
		s.Log.Warn("login failed", "account", name, "ip", ip, "why", why)
		return nil, "", err
	}
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if u == nil {
		VerifyPassword(s.dummy(), password) // as long as a known name takes
		return fail(ErrBadCredentials, "unknown account")
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		s.Log.Error("stored password hash unreadable", "account", name, "err", err)
		return fail(ErrBadCredentials, "unreadable hash")
	}
	if !ok {
		return fail(ErrBadCredentials, "wrong password")
	}
	if u.Disabled {
		return fail(ErrDisabled, "disabled account")
	}
	now := s.now()
	id, se, err := s.newSession(ctx, now)
	if err != nil {
		return nil, "", err
	}
	se.User = u.Name
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return nil, "", err
	}
	u.LastLogin = now
	if err := s.Store.UpdateUser(ctx, *u); err != nil {
		s.Log.Warn("last login not recorded", "account", name, "err", err)
	}
	s.logins.Inc("ok")
	s.Log.Info("login", "account", name, "role", u.Role, "township", u.Township, "ip", ip)
	return &Principal{Name: u.Name, User: u.Name, DisplayName: u.DisplayName, Role: u.Role, Township: u.Township, Via: ViaSession,
		Expires: se.Expires, sessionHash: se.IDHash, csrf: csrfFor(id)}, id, nil
}

func (s *Service) newSession(ctx context.Context, now time.Time) (string, hub.Session, error) {
	id, err := newSecret()
	if err != nil {
		return "", hub.Session{}, err
	}
	return id, hub.Session{IDHash: HashSecret(id), Created: now, LastSeen: now, Expires: now.Add(s.Config.SessionMax)}, nil
}

// KioskLogin exchanges a kiosk token, from the client address ip, for a
// read-only session of its screen: the Principal and the session's id.
// ErrBadToken for anything but an active kiosk token; rate-limited as
// logins are, per address.
func (s *Service) KioskLogin(ctx context.Context, secret, ip string) (*Principal, string, error) {
	if err := s.throttle(ip, ""); err != nil {
		return nil, "", err
	}
	now := s.now()
	var t *hub.APIToken
	if strings.HasPrefix(secret, TokenPrefix) && wellFormed(secret) {
		var err error
		if t, err = s.Store.TokenByHash(ctx, HashSecret(secret)); err != nil {
			return nil, "", err
		}
	}
	if t == nil || t.Kind != hub.TokenKiosk || !t.Active(now) {
		s.logins.Inc("failed")
		s.Log.Warn("kiosk login failed", "ip", ip, "why", "unknown, revoked or expired kiosk token")
		return nil, "", ErrBadToken
	}
	id, se, err := s.newSession(ctx, now)
	if err != nil {
		return nil, "", err
	}
	se.Token = t.ID
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return nil, "", err
	}
	if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
		s.Log.Warn("token use not recorded", "token", t.ID, "err", err)
	}
	s.logins.Inc("ok")
	s.Log.Info("kiosk login", "screen", t.Name, "token", t.ID, "ip", ip)
	return &Principal{Name: "kiosk:" + t.Name, DisplayName: t.Name, Role: t.Role, Township: t.Township, Via: ViaKiosk, TokenID: t.ID,
		Expires: se.Expires, sessionHash: se.IDHash, csrf: csrfFor(id)}, id, nil
}

// Logout ends p's session; nothing for a bearer token.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.sessionHash == "" {
		return nil
	}
	return s.Store.DeleteSession(ctx, p.sessionHash)
}

// secure says whether the cookies of a response to r are Secure.
func (s *Service) secure(r *http.Request) bool {
	switch s.Config.CookieSecure {
	case CookieSecureAlways:
		return true
	case CookieSecureNever:
		return false
	}
	return r.TLS != nil || s.PublicHTTPS
}

// SetCookies sets the session cookie (HttpOnly) and the CSRF cookie
// (readable by the pages' scripts) of session id, until expires.
func (s *Service) SetCookies(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	sec := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: expires, HttpOnly: true, Secure: sec, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrfFor(id), Path: "/", Expires: expires, Secure: sec, SameSite: http.SameSiteLaxMode})
}

// ClearCookies removes both cookies.
func (s *Service) ClearCookies(w http.ResponseWriter, r *http.Request) {
	sec := s.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: sec, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1, Secure: sec, SameSite: http.SameSiteLaxMode})
}

// Sweep removes the sessions that have ended, and answers how many.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	return s.Store.DeleteExpiredSessions(ctx, now, now.Add(-s.Config.SessionIdle))
}

// Run sweeps the ended sessions every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("ended sessions not swept", "err", err)
			} else if n > 0 {
				s.Log.Debug("ended sessions swept", "sessions", n)
			}
		}
	}
}
